"""Adapter for the OpenAI Responses API (``POST {base_url}/responses``), the gateway's native protocol.

The request is the IR re-encoded (the IR *is* the Response API model): the model id is rewritten, the Chat-only
extras the Responses API lacks are dropped with a warning, wrapped native items and tools are unwrapped, and
history the API would reject is cleaned: ``function_call`` ids not starting with ``fc`` (pitfall 5.12 #13) and
reasoning items carrying another provider's signatures in the gateway envelope (pitfall 5.12 #11).

Theory of operation (stream parser)
-----------------------------------
OpenAI streams items strictly one after another (protocols.md 1.7): ``output_item.added``, the item's own events,
``output_item.done``. The parser keeps the one open upstream item and turns its events into internal events:

* ``message``: a ``TextDelta("")`` / ``RefusalDelta("")`` for each ``content_part.added`` (so empty parts
  survive), the deltas, ``Annotation`` for each citation, and ``ItemEnd`` at ``output_item.done``;
* ``reasoning``: ``ReasoningStart(id)``, ``ReasoningDelta`` from summary deltas (several summary parts are joined
  with a blank line) or raw ``reasoning_text`` deltas (the first kind seen wins, so a server sending both does
  not duplicate the text: pitfall 5.12 #7), ``ReasoningSignature`` when the done item carries
  ``encrypted_content``, then ``ItemEnd``;
* ``function_call``: ``ToolCallStart`` / ``ToolCallDelta`` / ``ToolCallEnd`` whose ``arguments`` come from the done
  item or ``function_call_arguments.done``, so arguments sent without deltas are not lost (pitfall 5.12 #3);
* anything else (hosted tools, custom tools, MCP...): ``NativeItemStart``, its events as ``NativeEvent``,
  ``NativeItemDone``.

Every ``.done`` is reconciled with what was streamed: text, annotations or reasoning the upstream put only in
the done payload are emitted then (the builder cannot take them back, so a mismatch that is not a pure
extension is ignored). A ``done`` for an item never announced is replayed as a whole item; a non-streaming
``Response`` is exactly that for every output item, so :func:`parse_response` shares the code path. The
terminal event closes whatever is still open and yields ``Usage`` and ``Finish``; ``error`` (flat or nested
shape) and ``response.failed`` yield one ``StreamError``; after either, the parser ignores the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from interlock.ir import events as ev
from interlock.ir.errors import UpstreamError
from interlock.ir.request import FunctionCall, NativeItem, NativeTool, Reasoning, ResponseRequest
from interlock.ir.warnings import RoutingWarning
from interlock.providers import _openai_common as common
from interlock.providers import _signatures
from interlock.providers.base import NativeRequest, ProtocolName, SSEEvent, Target
from interlock.providers.normalise import CODE, GATEWAY, UNSUPPORTED, Param, apply_params, maps_to

PROTOCOL: ProtocolName = "openai-responses"

CAPABILITIES: frozenset[str] = frozenset(
    {
        "tools",
        "tool_choice_required",
        "parallel_tool_calls",
        "vision",
        "pdf",
        "json_object",
        "json_schema",
        "reasoning",
        "streaming",
        "hosted_tools",
    }
)

_NO_PARAMS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}

# One row per ResponseRequest field (protocols.md 1.1): the IR *is* this API, so most fields copy. The API rejects
# unknown keys, so the Chat-only extras are dropped with a warning (``apply_params``; n=1 and logprobs=false are
# defaults and pass silently).
PARAMS: dict[str, Param] = {
    "model": CODE,  # target.provider_model_id
    "input": CODE,  # _input: native items unwrapped, foreign function_call ids and reasoning envelopes dropped
    "instructions": maps_to("instructions"),
    "tools": CODE,  # _tools: native tools unwrapped, a missing parameters schema filled in
    "tool_choice": maps_to("tool_choice"),
    "parallel_tool_calls": maps_to("parallel_tool_calls"),
    "max_output_tokens": maps_to("max_output_tokens"),
    "temperature": maps_to("temperature"),
    "top_p": maps_to("top_p"),
    "top_k": UNSUPPORTED,
    "top_logprobs": maps_to("top_logprobs"),
    "frequency_penalty": UNSUPPORTED,
    "presence_penalty": UNSUPPORTED,
    "max_tool_calls": maps_to("max_tool_calls"),
    "stream": CODE,  # build_request(stream=...)
    "text": CODE,  # _text: the format's default type restored
    "reasoning": CODE,  # _reasoning: "off" -> "none", gateway-only "exclude" removed
    "truncation": maps_to("truncation"),
    "metadata": maps_to("metadata"),
    "include": maps_to("include"),
    "user": maps_to("user"),
    "store": maps_to("store"),
    "previous_response_id": maps_to("previous_response_id"),
    "prompt_cache_key": maps_to("prompt_cache_key"),
    "safety_identifier": maps_to("safety_identifier"),
    "service_tier": maps_to("service_tier"),
    "background": CODE,  # build_request: dropped with a warning when true (the gateway does not poll)
    "gateway": GATEWAY,
    "extensions": GATEWAY,  # merged into the body by the engine
    "stop": UNSUPPORTED,
    "seed": UNSUPPORTED,
    "n": UNSUPPORTED,
    "logit_bias": UNSUPPORTED,
    "logprobs": UNSUPPORTED,
    "extra_params": CODE,  # _extra_params: verbosity -> text.verbosity, the rest dropped with a warning
}

# response.incomplete ``incomplete_details.reason`` -> finish reason.
# https://platform.openai.com/docs/api-reference/responses/object#responses/object-incomplete_details
FINISH_REASONS: dict[str, ev.FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
    "max_messages": "length",
}

# --- request ------------------------------------------------------------------------------------------------


def build_request(req: ResponseRequest, target: Target, *, stream: bool) -> NativeRequest:
    """The Responses API request for ``req`` at ``target``."""
    body: dict[str, Any] = {"model": target.provider_model_id, "input": _input(req)}
    warnings = apply_params(req, PARAMS, body, target)
    if req.background:
        warnings.append(common.unsupported("background", target, "the gateway does not poll background responses"))
    if req.tools is not None:
        body["tools"] = _tools(req)
    text = _text(req)
    if text:
        body["text"] = text
    if req.reasoning is not None:
        body["reasoning"] = _reasoning(req)
    warnings.extend(_extra_params(req, body, target))
    body["stream"] = stream
    return NativeRequest(
        url=common.endpoint(target, "responses"),
        headers=common.request_headers(target, stream=stream),
        body=body,
        stream=stream,
        warnings=warnings,
    )


def _input(req: ResponseRequest) -> str | list[dict[str, Any]]:
    if isinstance(req.input, str):
        return req.input
    out: list[dict[str, Any]] = []
    for item in req.input:
        if isinstance(item, NativeItem):
            out.append(item.raw)  # hosted-tool replays, item_reference...: verbatim
            continue
        if isinstance(item, Reasoning) and _signatures.is_envelope(item.encrypted_content):
            continue  # another provider's reasoning (pitfall 5.12 #11): OpenAI would reject its encrypted_content
        wire: dict[str, Any] = msgspec.to_builtins(item)
        if isinstance(item, FunctionCall) and item.id is not None and not item.id.startswith("fc"):
            del wire["id"]  # the API rejects foreign ids here; call_id is the correlation key (pitfall 5.12 #13)
        elif isinstance(item, Reasoning):
            wire.setdefault("summary", [])  # required, even when empty
        content = wire.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") == "output_text":
                    part.setdefault("annotations", [])  # required on replayed output_text parts
        out.append(wire)
    return out


def _tools(req: ResponseRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in req.tools or []:
        if isinstance(tool, NativeTool):
            out.append(tool.raw)
            continue
        wire: dict[str, Any] = msgspec.to_builtins(tool)
        # ``parameters`` is required; an empty object schema is valid in strict and non-strict mode alike.
        wire.setdefault("parameters", dict(_NO_PARAMS_SCHEMA))
        out.append(wire)
    return out


def _text(req: ResponseRequest) -> dict[str, Any]:
    if req.text is None:
        return {}
    text: dict[str, Any] = msgspec.to_builtins(req.text)
    if req.text.format is not None:
        text["format"] = {"type": req.text.format.type, **text.get("format", {})}
    return text


def _reasoning(req: ResponseRequest) -> dict[str, Any]:
    assert req.reasoning is not None
    reasoning: dict[str, Any] = msgspec.to_builtins(req.reasoning)
    reasoning.pop("exclude", None)  # gateway-only: hide reasoning text from the client
    if reasoning.get("effort") == "off":
        reasoning["effort"] = "none"
    return reasoning


def _extra_params(req: ResponseRequest, body: dict[str, Any], target: Target) -> list[RoutingWarning]:
    warnings: list[RoutingWarning] = []
    for key, value in (req.extra_params or {}).items():
        if key == "verbosity" and isinstance(value, str):
            body.setdefault("text", {}).setdefault("verbosity", value)
        else:
            warnings.append(common.unsupported(key, target, "the Responses API has no such parameter"))
    return warnings


# --- stream parser ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Part:
    """One content part of the open message: what was streamed of it so far."""

    kind: str  # "output_text" | "refusal"
    text: list[str] = field(default_factory=list)
    annotations: int = 0


@dataclass(slots=True)
class _Item:
    """The open upstream output item."""

    kind: str  # "message" | "reasoning" | "function_call" | "native"
    index: int
    item: dict[str, Any]
    parts: dict[int, _Part] = field(default_factory=dict)
    reasoning_kind: str | None = None  # "summary" | "text": the first kind of reasoning delta seen
    reasoning: list[str] = field(default_factory=list)
    summary_parts: int = 0
    arguments: str | None = None  # from function_call_arguments.done


_MODELLED_ITEMS = ("message", "reasoning", "function_call")
_LIFECYCLE = ("response.created", "response.in_progress", "response.queued")


def _delta(kind: str, text: str) -> ev.Event:
    return ev.RefusalDelta(text=text) if kind == "refusal" else ev.TextDelta(text=text)


def _part_text(part: dict[str, Any]) -> str:
    value = part.get("refusal") if part.get("type") == "refusal" else part.get("text")
    return value if isinstance(value, str) else ""


class ResponsesStreamParser:
    """Sans-IO parser of one Responses API stream; see the module docstring."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._open: _Item | None = None
        self._info: tuple[str | None, str | None] = (None, None)
        self._saw_item = False
        self._saw_call = False
        self._finished = False
        # An item the upstream finished as "incomplete" (token cap) stays open in the builder, which then closes
        # it with that status at the terminal event; anything that arrives before that closes it first.
        self._dangling = False

    # -- protocol ----------------------------------------------------------------------------------------

    def feed(self, event: SSEEvent) -> list[ev.Event]:
        if self._finished:
            return []
        data = event.data.strip()
        if not data or data == "[DONE]":
            return []
        payload = common.decode_object(data, self._target)
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind:
            return []  # keep-alives and other untyped payloads carry nothing to relay
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return handler(self, payload)
        return self._other(kind, payload)

    def close(self) -> list[ev.Event]:
        if self._finished:
            return []
        self._finished = True
        error = UpstreamError(
            "upstream_error",
            f"{self._target.provider} stream ended before completion.",
            provider=self._target.provider,
            upstream_status=200,
            retryable=True,
        )
        return [ev.StreamError(error=error)]

    def replay(self, response: dict[str, Any]) -> list[ev.Event]:
        """A complete ``Response`` object as one batch of events (the non-streaming path)."""
        out = self._info_event(response)
        status = response.get("status")
        if status == "failed" or response.get("error"):
            return out + self._failed({"response": response})
        if status == "incomplete":
            return out + self._terminal({"response": response}, incomplete=True)
        if status in (None, "completed"):
            return out + self._terminal({"response": response}, incomplete=False)
        self._finished = True
        error = UpstreamError(
            "upstream_error",
            f"{self._target.provider} returned an unfinished response (status {status!r}).",
            provider=self._target.provider,
            upstream_status=200,
            retryable=status != "cancelled",
        )
        return [*out, ev.StreamError(error=error)]

    # -- lifecycle ---------------------------------------------------------------------------------------

    def _info_event(self, response: Any) -> list[ev.Event]:
        if not isinstance(response, dict):
            return []
        rid, model = response.get("id"), response.get("model")
        info = (
            rid if isinstance(rid, str) and rid else self._info[0],
            model if isinstance(model, str) and model else self._info[1],
        )
        if info == self._info:
            return []
        self._info = info
        return [ev.ResponseInfo(upstream_id=info[0], model=info[1])]

    def _lifecycle(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._info_event(payload.get("response"))

    def _terminal(self, payload: dict[str, Any], *, incomplete: bool) -> list[ev.Event]:
        response = payload.get("response")
        response = response if isinstance(response, dict) else {}
        out = self._info_event(response)
        # Cut off by the token cap: what is still open stays open for the builder to close as "incomplete".
        out.extend(self._close_open("incomplete" if incomplete else None))
        if not incomplete:
            out.extend(self._end_dangling())
        output = response.get("output")
        if not self._saw_item and isinstance(output, list):
            # Nothing was streamed (or a non-streaming body): the final output is the only source.
            for item in output:
                if isinstance(item, dict):
                    out.extend(self._output_item_done({"item": item, "output_index": None}))
        usage = response.get("usage")
        if isinstance(usage, dict):
            out.append(_usage(usage))
        if incomplete:
            details = response.get("incomplete_details")
            native = details.get("reason") if isinstance(details, dict) else None
            reason = FINISH_REASONS.get(native, "length") if isinstance(native, str) else "length"
            out.append(ev.Finish(reason=reason, native_reason=native if isinstance(native, str) else None))
        else:
            out.append(ev.Finish(reason="tool_calls" if self._saw_call else "stop", native_reason="completed"))
        self._finished = True
        return out

    def _completed(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._terminal(payload, incomplete=False)

    def _incomplete(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._terminal(payload, incomplete=True)

    def _failed(self, payload: dict[str, Any]) -> list[ev.Event]:
        response = payload.get("response")
        err = response.get("error") if isinstance(response, dict) else None
        return self._stream_error(err if isinstance(err, dict) else {"message": "The response failed."})

    def _error(self, payload: dict[str, Any]) -> list[ev.Event]:
        nested = payload.get("error")  # {"type":"error","error":{...}} as recorded, or the SDK's flat shape
        return self._stream_error(nested if isinstance(nested, dict) else payload)

    def _stream_error(self, err: dict[str, Any]) -> list[ev.Event]:
        self._finished = True
        return [ev.StreamError(error=common.error_from_object(err, self._target))]

    # -- items -------------------------------------------------------------------------------------------

    def _output_item_added(self, payload: dict[str, Any]) -> list[ev.Event]:
        item = payload.get("item")
        if not isinstance(item, dict):
            return []
        out = self._close_open()  # items never interleave; a new one closes an unfinished one
        out.extend(self._start(item, payload.get("output_index")))
        return out

    def _start(self, item: dict[str, Any], index: Any) -> list[ev.Event]:
        out = self._end_dangling()
        out.extend(self._open_item(item, index))
        return out

    def _end_dangling(self) -> list[ev.Event]:
        if not self._dangling:
            return []
        self._dangling = False
        return [ev.ItemEnd()]

    def _open_item(self, item: dict[str, Any], index: Any) -> list[ev.Event]:
        self._saw_item = True
        kind = item.get("type")
        kind = kind if kind in _MODELLED_ITEMS else "native"
        opened = _Item(kind=str(kind), index=index if isinstance(index, int) else -1, item=item)
        self._open = opened
        if kind == "reasoning":
            rid = item.get("id")
            return [ev.ReasoningStart(id=rid if isinstance(rid, str) else None)]
        if kind == "function_call":
            self._saw_call = True
            fid, call_id, name = item.get("id"), item.get("call_id"), item.get("name")
            call_id = call_id if isinstance(call_id, str) and call_id else (fid if isinstance(fid, str) else "")
            return [
                ev.ToolCallStart(
                    call_id=call_id or f"call_{opened.index}",
                    name=name if isinstance(name, str) else "",
                    id=fid if isinstance(fid, str) else None,
                )
            ]
        if kind == "native":
            return [ev.NativeItemStart(item=item)]
        return []  # a message opens in the builder with its first content part

    def _output_item_done(self, payload: dict[str, Any]) -> list[ev.Event]:
        item = payload.get("item")
        if not isinstance(item, dict):
            return []
        out: list[ev.Event] = []
        o = self._open
        if o is None or not self._same(o, item, payload.get("output_index")):
            out.extend(self._close_open())
            out.extend(self._start(item, payload.get("output_index")))  # a "ghost" done: replay it whole
        out.extend(self._finish(item))
        return out

    @staticmethod
    def _same(o: _Item, item: dict[str, Any], index: Any) -> bool:
        if isinstance(index, int) and o.index >= 0:
            return index == o.index
        return o.item.get("id") == item.get("id") and o.item.get("type") == item.get("type")

    def _close_open(self, status: str | None = None) -> list[ev.Event]:
        """Close the open item with what is known of it (no done item arrived)."""
        o = self._open
        if o is None:
            return []
        return self._finish(o.item if status is None else {**o.item, "status": status})

    def _finish(self, done: dict[str, Any]) -> list[ev.Event]:
        o = self._open
        assert o is not None
        self._open = None
        if o.kind == "message":
            out: list[ev.Event] = []
            content = done.get("content")
            for index, part in enumerate(content if isinstance(content, list) else []):
                if isinstance(part, dict) and part.get("type") in ("output_text", "refusal"):
                    out.extend(self._reconcile_part(o, index, part))
            return out + self._item_end(done)
        if o.kind == "reasoning":
            return self._finish_reasoning(o, done) + self._item_end(done)
        if o.kind == "function_call":
            arguments = done.get("arguments")
            final = arguments if isinstance(arguments, str) else o.arguments
            return [ev.ToolCallEnd(arguments=final)]
        return [ev.NativeItemDone(item=done)]

    # -- message content ---------------------------------------------------------------------------------

    def _message(self, payload: dict[str, Any]) -> _Item | None:
        o = self._open
        if o is None or o.kind != "message":
            return None  # content for an item never announced: the done item reconciles it
        index = payload.get("output_index")
        if isinstance(index, int) and o.index >= 0 and index != o.index:
            return None
        return o

    def _part(self, o: _Item, payload: dict[str, Any], kind: str) -> tuple[_Part, list[ev.Event]]:
        index = payload.get("content_index")
        index = index if isinstance(index, int) else 0
        part = o.parts.get(index)
        if part is not None:
            return part, []
        part = o.parts[index] = _Part(kind=kind)
        return part, [_delta(kind, "")]  # opens the part in the builder even when it stays empty

    def _content_part_added(self, payload: dict[str, Any]) -> list[ev.Event]:
        o = self._message(payload)
        raw = payload.get("part")
        if o is None or not isinstance(raw, dict) or raw.get("type") not in ("output_text", "refusal"):
            return []
        part, out = self._part(o, payload, str(raw["type"]))
        return out + self._extend(part, _part_text(raw))

    def _text_delta(self, payload: dict[str, Any], kind: str) -> list[ev.Event]:
        o = self._message(payload)
        delta = payload.get("delta")
        if o is None or not isinstance(delta, str):
            return []
        part, out = self._part(o, payload, kind)
        if delta:
            part.text.append(delta)
            out.append(_delta(part.kind, delta))
        return out

    def _output_text_delta(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._text_delta(payload, "output_text")

    def _refusal_delta(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._text_delta(payload, "refusal")

    def _output_text_done(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._part_done(payload, {"type": "output_text", "text": payload.get("text")})

    def _refusal_done(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._part_done(payload, {"type": "refusal", "refusal": payload.get("refusal")})

    def _content_part_done(self, payload: dict[str, Any]) -> list[ev.Event]:
        part = payload.get("part")
        return self._part_done(payload, part) if isinstance(part, dict) else []

    def _part_done(self, payload: dict[str, Any], part: dict[str, Any]) -> list[ev.Event]:
        o = self._message(payload)
        if o is None or part.get("type") not in ("output_text", "refusal"):
            return []
        index = payload.get("content_index")
        return self._reconcile_part(o, index if isinstance(index, int) else 0, part)

    def _annotation(self, payload: dict[str, Any]) -> list[ev.Event]:
        o = self._message(payload)
        annotation = payload.get("annotation")
        if o is None or not isinstance(annotation, dict):
            return []
        part, out = self._part(o, payload, "output_text")
        part.annotations += 1
        out.append(ev.Annotation(annotation=annotation))
        return out

    def _reconcile_part(self, o: _Item, index: int, done: dict[str, Any]) -> list[ev.Event]:
        """Emit what ``done`` holds beyond what was streamed for content part ``index``."""
        part = o.parts.get(index)
        out: list[ev.Event] = []
        if part is None:
            part = o.parts[index] = _Part(kind=str(done.get("type")))
            out.append(_delta(part.kind, ""))
        out.extend(self._extend(part, _part_text(done)))
        annotations = done.get("annotations")
        if isinstance(annotations, list):
            for annotation in annotations[part.annotations :]:
                if isinstance(annotation, dict):
                    out.append(ev.Annotation(annotation=annotation))
            part.annotations = max(part.annotations, len(annotations))
        return out

    @staticmethod
    def _extend(part: _Part, full: str) -> list[ev.Event]:
        streamed = "".join(part.text)
        if len(full) <= len(streamed) or not full.startswith(streamed):
            return []
        rest = full[len(streamed) :]
        part.text = [full]
        return [_delta(part.kind, rest)]

    # -- reasoning ---------------------------------------------------------------------------------------

    def _reasoning_item(self, payload: dict[str, Any]) -> _Item | None:
        o = self._open
        if o is None or o.kind != "reasoning":
            return None
        index = payload.get("output_index")
        if isinstance(index, int) and o.index >= 0 and index != o.index:
            return None
        return o

    def _summary_part_added(self, payload: dict[str, Any]) -> list[ev.Event]:
        o = self._reasoning_item(payload)
        if o is None or o.reasoning_kind == "text":
            return []
        o.summary_parts += 1
        if o.summary_parts > 1 and o.reasoning:
            o.reasoning.append("\n\n")  # the builder keeps one summary part: separate the upstream's parts
            return [ev.ReasoningDelta(text="\n\n")]
        return []

    def _reasoning_delta(self, payload: dict[str, Any], kind: str) -> list[ev.Event]:
        o = self._reasoning_item(payload)
        delta = payload.get("delta")
        if o is None or not isinstance(delta, str) or not delta:
            return []
        if o.reasoning_kind is None:
            o.reasoning_kind = kind
        elif o.reasoning_kind != kind:
            return []  # the same reasoning in the other kind (pitfall 5.12 #7)
        o.reasoning.append(delta)
        return [ev.ReasoningDelta(text=delta)]

    def _summary_delta(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._reasoning_delta(payload, "summary")

    def _reasoning_text_delta(self, payload: dict[str, Any]) -> list[ev.Event]:
        return self._reasoning_delta(payload, "text")

    def _finish_reasoning(self, o: _Item, done: dict[str, Any]) -> list[ev.Event]:
        summary = [p.get("text") for p in done.get("summary") or [] if isinstance(p, dict)]
        content = [p.get("text") for p in done.get("content") or [] if isinstance(p, dict)]
        summary_text = "\n\n".join(t for t in summary if isinstance(t, str))
        content_text = "".join(t for t in content if isinstance(t, str))
        use_text = o.reasoning_kind == "text" or (o.reasoning_kind is None and not summary_text)
        full = content_text if use_text else summary_text
        streamed = "".join(o.reasoning)
        out: list[ev.Event] = []
        if len(full) > len(streamed) and full.startswith(streamed):
            out.append(ev.ReasoningDelta(text=full[len(streamed) :]))
        encrypted = done.get("encrypted_content") or o.item.get("encrypted_content")
        if isinstance(encrypted, str) and encrypted:
            out.append(ev.ReasoningSignature(encrypted_content=encrypted))
        return out

    def _item_end(self, done: dict[str, Any]) -> list[ev.Event]:
        if done.get("status") == "incomplete":
            self._dangling = True
            return []
        return [ev.ItemEnd()]

    # -- function calls ----------------------------------------------------------------------------------

    def _call_item(self, payload: dict[str, Any]) -> _Item | None:
        o = self._open
        if o is None or o.kind != "function_call":
            return None
        index = payload.get("output_index")
        if isinstance(index, int) and o.index >= 0 and index != o.index:
            return None
        return o

    def _arguments_delta(self, payload: dict[str, Any]) -> list[ev.Event]:
        o = self._call_item(payload)
        delta = payload.get("delta")
        if o is None or not isinstance(delta, str) or not delta:
            return []
        return [ev.ToolCallDelta(arguments=delta)]

    def _arguments_done(self, payload: dict[str, Any]) -> list[ev.Event]:
        o = self._call_item(payload)
        arguments = payload.get("arguments")
        if o is not None and isinstance(arguments, str):
            o.arguments = arguments
        return []

    # -- everything else ---------------------------------------------------------------------------------

    def _ignore(self, payload: dict[str, Any]) -> list[ev.Event]:
        return []  # ".done" events whose content the item's own done event reconciles

    def _other(self, kind: str, payload: dict[str, Any]) -> list[ev.Event]:
        if kind.startswith("response.") and isinstance(payload.get("response"), dict):
            return self._info_event(payload["response"])  # an unmodelled lifecycle event
        if "output_index" not in payload:
            return [ev.NativeEvent(payload=payload)]
        o = self._open
        if o is None or o.kind != "native" or payload.get("output_index") != o.index:
            return []  # belongs to an item the builder renders from our own events
        return [ev.NativeEvent(payload=payload)]


_Handler = Callable[[ResponsesStreamParser, dict[str, Any]], list[ev.Event]]

# Upstream event type -> handler; any other type goes to ``_other`` (passed through as NativeEvent).
_HANDLERS: dict[str, _Handler] = {
    "response.created": ResponsesStreamParser._lifecycle,
    "response.in_progress": ResponsesStreamParser._lifecycle,
    "response.queued": ResponsesStreamParser._lifecycle,
    "response.completed": ResponsesStreamParser._completed,
    "response.incomplete": ResponsesStreamParser._incomplete,
    "response.failed": ResponsesStreamParser._failed,
    "error": ResponsesStreamParser._error,
    "response.output_item.added": ResponsesStreamParser._output_item_added,
    "response.output_item.done": ResponsesStreamParser._output_item_done,
    "response.content_part.added": ResponsesStreamParser._content_part_added,
    "response.content_part.done": ResponsesStreamParser._content_part_done,
    "response.output_text.delta": ResponsesStreamParser._output_text_delta,
    "response.output_text.done": ResponsesStreamParser._output_text_done,
    "response.output_text.annotation.added": ResponsesStreamParser._annotation,
    "response.refusal.delta": ResponsesStreamParser._refusal_delta,
    "response.refusal.done": ResponsesStreamParser._refusal_done,
    "response.reasoning_summary_part.added": ResponsesStreamParser._summary_part_added,
    "response.reasoning_summary_part.done": ResponsesStreamParser._ignore,
    "response.reasoning_summary_text.delta": ResponsesStreamParser._summary_delta,
    "response.reasoning_summary_text.done": ResponsesStreamParser._ignore,
    "response.reasoning_text.delta": ResponsesStreamParser._reasoning_text_delta,
    "response.reasoning_text.done": ResponsesStreamParser._ignore,
    "response.function_call_arguments.delta": ResponsesStreamParser._arguments_delta,
    "response.function_call_arguments.done": ResponsesStreamParser._arguments_done,
}


def _usage(usage: dict[str, Any]) -> ev.Usage:
    """ResponseUsage -> Usage; ``input_tokens`` already includes cached tokens (protocols.md 1.4)."""
    inp = usage.get("input_tokens_details")
    out = usage.get("output_tokens_details")
    inp = inp if isinstance(inp, dict) else {}
    out = out if isinstance(out, dict) else {}
    return ev.Usage(
        input_tokens=common.as_int(usage.get("input_tokens")),
        output_tokens=common.as_int(usage.get("output_tokens")),
        cached_tokens=common.as_int(inp.get("cached_tokens")),
        cache_write_tokens=common.as_int(inp.get("cache_write_tokens")),
        reasoning_tokens=common.as_int(out.get("reasoning_tokens")),
    )


def stream_parser(target: Target) -> ResponsesStreamParser:
    """A fresh parser for one streamed response."""
    return ResponsesStreamParser(target)


def parse_response(body: bytes, target: Target) -> list[ev.Event]:
    """A non-streaming ``Response`` body as the same events a stream would give, in one batch."""
    response = common.decode_object(body, target)
    parser = ResponsesStreamParser(target)
    if "output" not in response and isinstance(response.get("error"), dict):
        return parser._stream_error(response["error"])
    return parser.replay(response)


map_error = common.map_error

__all__ = [
    "CAPABILITIES",
    "FINISH_REASONS",
    "PARAMS",
    "PROTOCOL",
    "ResponsesStreamParser",
    "build_request",
    "map_error",
    "parse_response",
    "stream_parser",
]
