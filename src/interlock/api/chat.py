"""``POST /v1/chat/completions``: Chat Completions ingress, streaming and not, through the ChatBuilder.

Same trip as ``/v1/responses``: authenticate -> read body -> Chat body to IR -> ``gateway.prepare`` ->
``trip.open()`` -> relay ``trip.events()`` through :class:`~interlock.ir.chat_builder.ChatBuilder` ->
``routing_metadata``. The stream is ``data:`` frames only and ends with ``data: [DONE]``; usage and
routing_metadata ride on the last chunk before it (include_usage is always on, auriko-api.md 5.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec

from interlock.api.auth import authenticate
from interlock.api.context import AppContext
from interlock.api.http import Request, Response, StreamingResponse, json_response
from interlock.api.sse import DONE, data_frame
from interlock.engine import Trip, split_suffix
from interlock.ir import BuilderError, ChatBuilder, parse_chat_request
from interlock.ir.chat_builder import new_completion_id
from interlock.ir.errors import GatewayError
from interlock.ir.events import StreamError
from interlock.ir.parse import decode_json
from interlock.ir.request import ResponseRequest
from interlock.ir.warnings import RoutingWarning


def require_chat_format_models(ctx: AppContext, req: ResponseRequest) -> ResponseRequest:
    """Refuse Response-API-only models on chat-format endpoints (``response_api_only``, auriko-api.md 1.2).

    With ``gateway.models``, Response-only entries are removed (with a warning) as long as another model is
    left; the request fails only when every requested model is Response-only.
    """
    catalog = ctx.gateway.catalog
    if req.model is not None:
        entry = catalog.resolve(split_suffix(req.model)[0])
        if entry is not None and entry.responses_only:
            raise _response_only(entry.id, "model")
        return req
    models = req.gateway.models if req.gateway is not None else None
    if not models:
        return req
    keep: list[str] = []
    dropped: list[str] = []
    for name in models:
        entry = catalog.resolve(split_suffix(name)[0])
        (dropped if entry is not None and entry.responses_only else keep).append(name)
    if not dropped:
        return req
    if not keep:
        raise _response_only(dropped[0], "gateway.models")
    assert req.gateway is not None
    gateway = msgspec.structs.replace(req.gateway, models=keep)
    return msgspec.structs.replace(req, gateway=gateway)


def response_only_warnings(before: ResponseRequest, after: ResponseRequest) -> list[RoutingWarning]:
    """The warning for models :func:`require_chat_format_models` removed from ``gateway.models``."""
    old = before.gateway.models if before.gateway is not None else None
    new = after.gateway.models if after.gateway is not None else None
    removed = [m for m in old or [] if m not in (new or [])]
    return [
        RoutingWarning(
            type="unsupported_feature",
            code="response_api_only_model_skipped",
            message=f"Skipped Response-API-only model '{name}' (use POST /v1/responses for it).",
        )
        for name in removed
    ]


def _response_only(model: str, param: str) -> GatewayError:
    return GatewayError(
        "response_api_only",
        f"The model '{model}' is only available on the Responses API.",
        param=param,
        suggestion="Send this request to POST /v1/responses instead.",
    )


# IR field paths -> the Chat request field a client sent (errors raised below the api layer name IR fields).
CHAT_PARAMS: dict[str, str] = {
    "input": "messages",
    "instructions": "messages",
    "max_output_tokens": "max_completion_tokens",
    "reasoning": "reasoning_effort",
    "reasoning.effort": "reasoning_effort",
    "text.format": "response_format",
    "text.verbosity": "verbosity",
    "extra_params": "messages",
}


def client_param(param: str | None, table: dict[str, str]) -> str | None:
    """``param`` renamed to the client format's field (``input[3].content`` -> ``messages`` for Chat)."""
    if param is None:
        return None
    if param in table:
        return table[param]
    head = param.split(".", 1)[0].split("[", 1)[0]
    if head in table:
        return table[head]
    if head == "extra_params":
        return param.split(".", 1)[1] if "." in param else None
    return param


def rename_param(err: GatewayError, table: dict[str, str]) -> GatewayError:
    """``err`` with its ``param`` in the client's terms (the same exception object, so its type is kept)."""
    err.param = client_param(err.param, table)
    return err


def close_on_disconnect(trip: Trip) -> Callable[[bool], Awaitable[None]]:
    """The ``on_close`` hook of a streaming response: stop the upstream call when the client hangs up."""

    async def close(disconnected: bool) -> None:
        if disconnected:
            await trip.cancel()

    return close


def wants_explain(request: Request) -> bool:
    return request.headers.get("x-interlock-explain", "").lower() in ("1", "true", "yes")


async def create_chat_completion(ctx: AppContext, request: Request) -> Response | StreamingResponse:
    await authenticate(request, ctx.authenticator)
    body = await ctx.read_body(request)
    parsed, warnings = parse_chat_request(decode_json(body))
    req = require_chat_format_models(ctx, parsed)
    try:
        trip = ctx.gateway.prepare(req, endpoint="chat_completions")
        trip.warnings.extend(warnings)
        trip.warnings.extend(response_only_warnings(parsed, req))
        await trip.open()
    except GatewayError as err:
        raise rename_param(err, CHAT_PARAMS) from None
    explain = wants_explain(request)
    model = trip.target.provider_model_id if trip.target else req.model or ""
    include_reasoning = not (req.reasoning is not None and req.reasoning.exclude)
    builder = ChatBuilder(new_completion_id(), model, include_reasoning=include_reasoning)
    if not req.stream:
        async for event in trip.events():
            if isinstance(event, StreamError):
                raise rename_param(event.error, CHAT_PARAMS)
            builder.feed(event)
        meta = ctx.gateway.routing_metadata(trip, explain=explain)
        builder.complete(meta)
        return json_response(builder.completion(meta))
    return StreamingResponse(_stream(ctx, trip, builder, explain), on_close=close_on_disconnect(trip))


async def _stream(ctx: AppContext, trip: Trip, builder: ChatBuilder, explain: bool) -> AsyncIterator[bytes]:
    """Relay the trip's events as chunks; after the first byte a failure is an ``{"error": ...}`` chunk."""
    try:
        async for event in trip.events():
            if isinstance(event, StreamError):
                for chunk in builder.fail(event.error):
                    yield data_frame(chunk)
                yield DONE
                return
            for chunk in builder.feed(event):
                yield data_frame(chunk)
        for chunk in builder.complete(ctx.gateway.routing_metadata(trip, explain=explain)):
            yield data_frame(chunk)
    except BuilderError as exc:
        ctx.log_internal(exc)
        for chunk in builder.fail(GatewayError("upstream_error", "The upstream sent an invalid event sequence.")):
            yield data_frame(chunk)
    yield DONE


__all__ = [
    "CHAT_PARAMS",
    "client_param",
    "close_on_disconnect",
    "create_chat_completion",
    "rename_param",
    "require_chat_format_models",
    "response_only_warnings",
    "wants_explain",
]
