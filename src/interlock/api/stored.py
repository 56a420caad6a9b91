"""Stored responses on the API: ``GET /v1/responses/{id}`` and ``previous_response_id`` for every upstream.

Only OpenAI keeps conversation state, so the gateway keeps its own (protocols.md 1.9): unless the request
says ``store: false``, a response's effective input items and output items are stored under its ``resp_`` id
(``store.responses``), and a later request naming it as ``previous_response_id`` is expanded into the full
input *before* routing, so the chain can continue on any upstream. ``instructions`` are not inherited. A
response is visible only to keys of the workspace that created it; an unknown, expired or foreign id is 404
``resource_not_found`` (param ``previous_response_id`` on a create). With ``store_responses: false`` nothing
is stored, ``store: true`` is refused (400, as Auriko does) and so is ``previous_response_id``.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from interlock.api.auth import authenticate
from interlock.api.context import AppContext
from interlock.api.http import Request, Response, json_response
from interlock.ir.errors import GatewayError
from interlock.ir.parse import parse_response_request
from interlock.ir.request import ResponseRequest
from interlock.store.keys import KeyRecord
from interlock.store.responses import ResponseStore

__all__ = ["get_response", "replayable", "resolve_chain", "save_response"]

log = logging.getLogger("interlock.api")

_KEPT_STATUSES = frozenset({"completed", "incomplete"})


def _store(ctx: AppContext) -> ResponseStore | None:
    accounting = ctx.extras.get("accounting")
    return accounting.responses if accounting is not None else None


def _input_list(data: dict[str, Any]) -> list[Any]:
    value = data.get("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


def replayable(output: list[Any]) -> list[Any]:
    """A response's output items as input items for the next turn.

    Item ids and statuses are dropped (they name objects of the upstream that produced them); a reasoning item
    is kept only with its ``encrypted_content`` (the only part any upstream can replay); items the IR does not
    model (hosted tool calls) are passed through as they were.
    """
    items: list[Any] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            content = [
                {"type": "output_text", "text": p.get("text", "")}
                if p.get("type") == "output_text"
                else {k: v for k, v in p.items() if k != "logprobs"}
                for p in item.get("content") or []
                if isinstance(p, dict)
            ]
            items.append({"type": "message", "role": item.get("role", "assistant"), "content": content})
        elif kind == "function_call":
            items.append(
                {
                    "type": "function_call",
                    "call_id": item.get("call_id"),
                    "name": item.get("name"),
                    "arguments": item.get("arguments", ""),
                }
            )
        elif kind == "reasoning":
            if item.get("encrypted_content"):
                kept = {k: item[k] for k in ("id", "summary", "encrypted_content") if k in item}
                items.append({"type": "reasoning", **kept})
        else:
            items.append(item)
    return items


async def resolve_chain(
    ctx: AppContext, key: KeyRecord, data: dict[str, Any], req: ResponseRequest
) -> tuple[ResponseRequest, list[Any] | None]:
    """The request to route (``previous_response_id`` expanded) and the input items to store with its response.

    The second value is ``None`` when nothing is to be stored (``store: false``, or storing is off).
    """
    store = _store(ctx)
    if store is None:
        if req.store is True:
            raise GatewayError(
                "invalid_parameter_value",
                "This gateway does not store responses: omit 'store' or set it to false.",
                param="store",
            )
        if req.previous_response_id is not None:
            raise GatewayError(
                "invalid_parameter_value",
                "This gateway does not store responses, so 'previous_response_id' cannot be resolved.",
                param="previous_response_id",
            )
        return req, None
    effective = _input_list(data)
    routed = req
    if req.previous_response_id is not None:
        previous = await store.get(req.previous_response_id, key.workspace_id)
        if previous is None:
            raise GatewayError(
                "resource_not_found",
                f"Previous response with id '{req.previous_response_id}' not found.",
                param="previous_response_id",
            )
        effective = [*previous.input_items, *replayable(previous.output_items), *effective]
        expanded = {k: v for k, v in data.items() if k != "previous_response_id"}
        expanded["input"] = effective
        routed, _ = parse_response_request(expanded)
    if routed.store is True:  # the gateway keeps it; no upstream needs to (and Chat upstreams would warn)
        routed = msgspec.structs.replace(routed, store=None)
    return routed, (effective if req.store is not False else None)


async def save_response(ctx: AppContext, key: KeyRecord, effective: list[Any] | None, response: dict[str, Any]) -> None:
    """Store a finished response for later turns (no-op when ``effective`` is None or it did not complete)."""
    store = _store(ctx)
    if store is None or effective is None or response.get("status") not in _KEPT_STATUSES:
        return
    body = msgspec.to_builtins(response)
    try:
        await store.put(
            body["id"],
            workspace_id=key.workspace_id,
            key_id=key.id,
            input_items=effective,
            output_items=body.get("output") or [],
            body=body,
        )
    except Exception:  # the client still gets its answer; only the continuation is lost
        log.exception("could not store response %s", body.get("id"))


async def get_response(ctx: AppContext, request: Request) -> Response:
    """``GET /v1/responses/{response_id}``: a stored response of the caller's workspace."""
    key = await authenticate(request, ctx.authenticator)
    response_id = request.path_params.get("response_id", "")
    store = _store(ctx)
    stored = await store.get(response_id, key.workspace_id) if store is not None else None
    if stored is None:
        raise GatewayError("resource_not_found", f"Response with id '{response_id}' not found.")
    return json_response(stored.body)
