"""The one Response API stream builder: internal events in, Response API stream events out.

Theory of operation
-------------------
Every Response API stream must satisfy the lifecycle of protocols.md 1.7/1.8:

* ``response.created`` comes first (sequence_number 0), then ``response.in_progress``;
* items are strictly sequential: item N's ``output_item.done`` precedes item N+1's ``output_item.added``, and
  ``output_index`` is dense, 0-based, in arrival order;
* an item is announced (``output_item.added``) before any event that references it, and a content part is
  announced (``content_part.added``) before its deltas;
* ``sequence_number`` grows by one on every event, ``error`` included;
* exactly one terminal event (``response.completed`` | ``response.incomplete`` | ``response.failed``) ends the
  stream, carrying the complete response: every done item in ``output``, ``usage`` and ``routing_metadata``.

The builder is sans-IO. It keeps at most one open item. :data:`TRANSITIONS` says, for the state the builder is
in and the kind of event that arrives, which state it moves to; the handler for the kind does the work
(closing the open item first when the event belongs to a different item). An event the table has no row for
raises :class:`BuilderError` naming the state and the kind, and leaves the state unchanged. The Chat and
Anthropic builders are siblings that read the same events; the non-streaming response is this builder's
final ``response`` (events accumulated, never a second code path).
"""

from __future__ import annotations

import enum
import time
import uuid
from typing import Any

from interlock.ir import events as ev
from interlock.ir.errors import GatewayError


class State(enum.Enum):
    IDLE = "idle"  # nothing sent yet
    READY = "ready"  # created + in_progress sent, no open item
    MESSAGE = "message"
    REASONING = "reasoning"
    TOOL = "tool"
    NATIVE = "native"
    DONE = "done"  # terminal event sent


class Kind(enum.Enum):
    INFO = "info"
    TEXT = "text"
    REFUSAL = "refusal"
    ANNOTATION = "annotation"
    REASONING_START = "reasoning_start"
    REASONING_DELTA = "reasoning_delta"
    REASONING_SIGNATURE = "reasoning_signature"
    TOOL_START = "tool_start"
    TOOL_DELTA = "tool_delta"
    TOOL_END = "tool_end"
    ITEM_END = "item_end"
    NATIVE_START = "native_start"
    NATIVE_EVENT = "native_event"
    NATIVE_DONE = "native_done"
    USAGE = "usage"
    FINISH = "finish"


KIND_OF: dict[type[ev.Event], Kind] = {
    ev.ResponseInfo: Kind.INFO,
    ev.TextDelta: Kind.TEXT,
    ev.RefusalDelta: Kind.REFUSAL,
    ev.Annotation: Kind.ANNOTATION,
    ev.ReasoningStart: Kind.REASONING_START,
    ev.ReasoningDelta: Kind.REASONING_DELTA,
    ev.ReasoningSignature: Kind.REASONING_SIGNATURE,
    ev.ToolCallStart: Kind.TOOL_START,
    ev.ToolCallDelta: Kind.TOOL_DELTA,
    ev.ToolCallEnd: Kind.TOOL_END,
    ev.ItemEnd: Kind.ITEM_END,
    ev.NativeItemStart: Kind.NATIVE_START,
    ev.NativeEvent: Kind.NATIVE_EVENT,
    ev.NativeItemDone: Kind.NATIVE_DONE,
    ev.Usage: Kind.USAGE,
    ev.Finish: Kind.FINISH,
}

_LIVE = (State.IDLE, State.READY, State.MESSAGE, State.REASONING, State.TOOL, State.NATIVE)
_S = State
_K = Kind


def _rows() -> dict[tuple[State, Kind], State]:
    table: dict[tuple[State, Kind], State] = {}
    for state in _LIVE:
        # Bookkeeping events never change the item state (INFO and USAGE do not even start the stream).
        for kind in (_K.INFO, _K.USAGE):
            table[(state, kind)] = state
        for kind in (_K.FINISH, _K.NATIVE_EVENT):
            table[(state, kind)] = State.READY if state is State.IDLE else state
        # Events that open (or continue) an item of their kind.
        table[(state, _K.TEXT)] = _S.MESSAGE
        table[(state, _K.REFUSAL)] = _S.MESSAGE
        table[(state, _K.ANNOTATION)] = _S.MESSAGE
        table[(state, _K.REASONING_START)] = _S.REASONING
        table[(state, _K.REASONING_DELTA)] = _S.REASONING
        table[(state, _K.REASONING_SIGNATURE)] = _S.REASONING
        table[(state, _K.TOOL_START)] = _S.TOOL
        table[(state, _K.NATIVE_START)] = _S.NATIVE
        table[(state, _K.ITEM_END)] = _S.READY
    # Events that only make sense inside their own item.
    table[(_S.TOOL, _K.TOOL_DELTA)] = _S.TOOL
    table[(_S.TOOL, _K.TOOL_END)] = _S.READY
    table[(_S.NATIVE, _K.NATIVE_DONE)] = _S.READY
    return table


TRANSITIONS: dict[tuple[State, Kind], State] = _rows()

# For the sibling builders (Chat chunks, Anthropic events), which keep one open block like this builder does:
# (state, kind) pairs that continue the open item (or whose handler closes it) instead of closing it first,
# and the kinds that never touch the open item.
CONTINUES: frozenset[tuple[State, Kind]] = frozenset(
    {
        (State.MESSAGE, Kind.TEXT),
        (State.MESSAGE, Kind.REFUSAL),
        (State.MESSAGE, Kind.ANNOTATION),
        (State.REASONING, Kind.REASONING_DELTA),
        (State.REASONING, Kind.REASONING_SIGNATURE),
        (State.TOOL, Kind.TOOL_DELTA),
        (State.TOOL, Kind.TOOL_END),
        (State.NATIVE, Kind.NATIVE_EVENT),
    }
)
BOOKKEEPING: frozenset[Kind] = frozenset({Kind.INFO, Kind.USAGE, Kind.FINISH, Kind.NATIVE_EVENT})


def step(state: State, event: ev.Event) -> tuple[Kind, State, bool]:
    """For a sibling builder: the event's kind, the next state, and whether the open block closes first.

    Raises :class:`BuilderError` (leaving the caller's state alone) when the lifecycle forbids the event.
    """
    kind = KIND_OF[type(event)]
    nxt = TRANSITIONS.get((state, kind))
    if nxt is None:
        raise BuilderError(state, kind)
    return kind, nxt, kind not in BOOKKEEPING and (state, kind) not in CONTINUES


class BuilderError(Exception):
    """An internal event arrived that the lifecycle does not allow in the current state."""

    def __init__(self, state: State, kind: Kind) -> None:
        super().__init__(f"event {kind.value!r} is not allowed in builder state {state.value!r}")
        self.state = state
        self.kind = kind


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def usage_dict(usage: ev.Usage | None) -> dict[str, Any]:
    """Response API usage with both details objects always present (typed clients need them)."""
    u = usage or ev.Usage()
    inp = u.input_tokens or 0
    out = u.output_tokens or 0
    details: dict[str, Any] = {"cached_tokens": u.cached_tokens or 0, "cache_write_tokens": u.cache_write_tokens or 0}
    return {
        "input_tokens": inp,
        "input_tokens_details": details,
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens or 0},
        "total_tokens": inp + out,
    }


class _Open:
    """The open item: its wire dict plus the running state of its content."""

    __slots__ = ("annotations", "args", "index", "item", "part_kind", "part_text", "parts", "summary")

    def __init__(self, item: dict[str, Any], index: int) -> None:
        self.item = item
        self.index = index
        self.parts: list[dict[str, Any]] = []  # finished content parts (message)
        self.part_kind: str | None = None  # "output_text" | "refusal" when a part is open
        self.part_text: list[str] = []
        self.summary: list[str] = []  # reasoning summary text chunks
        self.args: list[str] = []  # tool arguments chunks
        self.annotations: list[dict[str, Any]] = []  # annotations on the open output_text part


class ResponseBuilder:
    """Turns internal events into Response API events for one response; see the module docstring."""

    def __init__(
        self,
        shell: dict[str, Any],
        *,
        include_encrypted_reasoning: bool = False,
        emit_reasoning_text: bool = True,
    ) -> None:
        self.response = shell
        self.state = State.IDLE
        self.usage: ev.Usage | None = None
        self.finish: ev.Finish | None = None
        self.info = ev.ResponseInfo()
        self.error: GatewayError | None = None
        self._seq = 0
        self._open: _Open | None = None
        self._output: list[dict[str, Any]] = []
        self._include_encrypted = include_encrypted_reasoning
        self._emit_reasoning_text = emit_reasoning_text
        self._native_index: dict[int, int] = {}

    # -- public API ----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self.state is not State.IDLE

    @property
    def output(self) -> list[dict[str, Any]]:
        return self._output

    def start(self) -> list[dict[str, Any]]:
        """``response.created`` + ``response.in_progress`` (idempotent)."""
        if self.state is not State.IDLE:
            return []
        self.state = State.READY
        snap = self._snapshot()
        return [
            self._emit({"type": "response.created", "response": snap}),
            self._emit({"type": "response.in_progress", "response": snap}),
        ]

    def feed(self, event: ev.Event) -> list[dict[str, Any]]:
        """Client events caused by one internal event."""
        if isinstance(event, ev.StreamError):
            return self.fail(event.error)
        kind = KIND_OF[type(event)]
        nxt = TRANSITIONS.get((self.state, kind))
        if nxt is None:
            raise BuilderError(self.state, kind)
        out = self.start() if self.state is State.IDLE and kind not in (Kind.INFO, Kind.USAGE) else []
        out.extend(_HANDLERS[kind](self, event))
        assert self.state is nxt, (self.state, kind, nxt)
        return out

    def complete(self, routing_metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Close the open item and emit the terminal event chosen by the finish reason."""
        if self.state is State.DONE:
            return []
        out = self.start()
        reason = self.finish.reason if self.finish else "stop"
        incomplete = reason in ("length", "content_filter", "pause")
        out.extend(self._close_open("incomplete" if incomplete else "completed"))
        resp = self.response
        resp["output"] = self._output
        resp["usage"] = usage_dict(self.usage)
        resp["completed_at"] = int(time.time())
        if routing_metadata is not None:
            resp["routing_metadata"] = routing_metadata
        if incomplete:
            resp["status"] = "incomplete"
            resp["incomplete_details"] = {
                "reason": "content_filter" if reason == "content_filter" else "max_output_tokens"
            }
            kind = "response.incomplete"
        else:
            resp["status"] = "completed"
            kind = "response.completed"
        self.state = State.DONE
        out.append(self._emit({"type": kind, "response": resp}))
        return out

    def fail(self, error: GatewayError, routing_metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Close open items as incomplete, then a flat ``error`` event and ``response.failed``."""
        if self.state is State.DONE:
            return []
        self.error = error
        out = self.start()
        out.extend(self._close_open("incomplete"))
        flat: dict[str, Any] = {
            "type": "error",
            "code": error.code,
            "message": error.message,
            "param": error.param,
        }
        if error.provider:
            flat["provider"] = error.provider
        out.append(self._emit(flat))
        resp = self.response
        resp["status"] = "failed"
        resp["output"] = self._output
        resp["usage"] = usage_dict(self.usage)
        resp["error"] = {
            "code": error.code,
            "message": error.message,
            "type": error.type,
            "param": error.param,
        }
        if routing_metadata is not None:
            resp["routing_metadata"] = routing_metadata
        self.state = State.DONE
        out.append(self._emit({"type": "response.failed", "response": resp}))
        return out

    # -- helpers -------------------------------------------------------------------------------------

    def _emit(self, event: dict[str, Any]) -> dict[str, Any]:
        event["sequence_number"] = self._seq
        self._seq += 1
        return event

    def _snapshot(self) -> dict[str, Any]:
        snap = dict(self.response)
        snap["output"] = []
        snap["usage"] = None
        snap["status"] = "in_progress"
        return snap

    def _open_item(self, item: dict[str, Any], state: State) -> tuple[_Open, list[dict[str, Any]]]:
        out = self._close_open("completed")
        opened = _Open(item, len(self._output))
        self._open = opened
        self.state = state
        out.append(self._emit({"type": "response.output_item.added", "output_index": opened.index, "item": dict(item)}))
        return opened, out

    def _close_open(self, status: str) -> list[dict[str, Any]]:
        o = self._open
        if o is None:
            return []
        out: list[dict[str, Any]] = []
        kind = o.item["type"]
        item_id = o.item.get("id")
        if kind == "message":
            out.extend(self._close_part(o))
            done = {**o.item, "status": status, "content": o.parts}
        elif kind == "reasoning":
            summary: list[dict[str, Any]] = []
            if o.summary:
                text = "".join(o.summary)
                part = {"type": "summary_text", "text": text}
                base = {"item_id": item_id, "output_index": o.index, "summary_index": 0}
                out.append(self._emit({"type": "response.reasoning_summary_text.done", **base, "text": text}))
                out.append(self._emit({"type": "response.reasoning_summary_part.done", **base, "part": part}))
                summary.append(part)
            done = {**o.item, "summary": summary, "status": status}
        elif kind == "function_call":
            args = "".join(o.args) if o.args else ""
            if o.item.get("arguments"):
                args = o.item["arguments"]
            if not args.strip():
                args = "{}"
            out.append(
                self._emit(
                    {
                        "type": "response.function_call_arguments.done",
                        "item_id": item_id,
                        "output_index": o.index,
                        "arguments": args,
                        "name": o.item["name"],
                    }
                )
            )
            done = {**o.item, "arguments": args, "status": status}
        else:  # native item closed by something other than its own done event
            done = o.item
        self._output.append(done)
        out.append(self._emit({"type": "response.output_item.done", "output_index": o.index, "item": done}))
        self._open = None
        self.state = State.READY
        return out

    def _close_part(self, o: _Open) -> list[dict[str, Any]]:
        if o.part_kind is None:
            return []
        text = "".join(o.part_text)
        base = {"item_id": o.item["id"], "output_index": o.index, "content_index": len(o.parts)}
        if o.part_kind == "output_text":
            part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": o.annotations, "logprobs": []}
            o.annotations = []
            first = self._emit({"type": "response.output_text.done", **base, "text": text, "logprobs": []})
        else:
            part = {"type": "refusal", "refusal": text}
            first = self._emit({"type": "response.refusal.done", **base, "refusal": text})
        o.parts.append(part)
        o.part_kind = None
        o.part_text = []
        return [first, self._emit({"type": "response.content_part.done", **base, "part": part})]

    def _message(self, part_kind: str) -> tuple[_Open, list[dict[str, Any]]]:
        """The open message with an open part of ``part_kind``, opening either as needed."""
        out: list[dict[str, Any]] = []
        o = self._open
        if o is None or o.item["type"] != "message":
            item = {
                "id": new_id("msg"),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            o, out = self._open_item(item, State.MESSAGE)
        if o.part_kind != part_kind:
            out.extend(self._close_part(o))
            o.part_kind = part_kind
            empty: dict[str, Any] = (
                {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                if part_kind == "output_text"
                else {"type": "refusal", "refusal": ""}
            )
            out.append(
                self._emit(
                    {
                        "type": "response.content_part.added",
                        "item_id": o.item["id"],
                        "output_index": o.index,
                        "content_index": len(o.parts),
                        "part": empty,
                    }
                )
            )
        return o, out

    def _reasoning(self, new: bool, rid: str | None = None) -> tuple[_Open, list[dict[str, Any]]]:
        o = self._open
        if new or o is None or o.item["type"] != "reasoning":
            item = {"id": rid or new_id("rs"), "type": "reasoning", "summary": []}
            return self._open_item(item, State.REASONING)
        return o, []

    # -- handlers (one per Kind) ---------------------------------------------------------------------

    def _on_info(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ResponseInfo)
        self.info = ev.ResponseInfo(
            upstream_id=e.upstream_id or self.info.upstream_id, model=e.model or self.info.model
        )
        return []

    def _on_text(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.TextDelta)
        o, out = self._message("output_text")
        if e.text:
            o.part_text.append(e.text)
            out.append(
                self._emit(
                    {
                        "type": "response.output_text.delta",
                        "item_id": o.item["id"],
                        "output_index": o.index,
                        "content_index": len(o.parts),
                        "delta": e.text,
                        "logprobs": [],
                    }
                )
            )
        return out

    def _on_refusal(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.RefusalDelta)
        o, out = self._message("refusal")
        if e.text:
            o.part_text.append(e.text)
            out.append(
                self._emit(
                    {
                        "type": "response.refusal.delta",
                        "item_id": o.item["id"],
                        "output_index": o.index,
                        "content_index": len(o.parts),
                        "delta": e.text,
                    }
                )
            )
        return out

    def _on_annotation(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.Annotation)
        o, out = self._message("output_text")
        notes = o.annotations
        notes.append(e.annotation)
        out.append(
            self._emit(
                {
                    "type": "response.output_text.annotation.added",
                    "item_id": o.item["id"],
                    "output_index": o.index,
                    "content_index": len(o.parts),
                    "annotation_index": len(notes) - 1,
                    "annotation": e.annotation,
                }
            )
        )
        return out

    def _on_reasoning_start(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ReasoningStart)
        _, out = self._reasoning(True, e.id)
        return out

    def _on_reasoning_delta(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ReasoningDelta)
        o, out = self._reasoning(False)
        if not e.text or not self._emit_reasoning_text:
            return out
        base = {"item_id": o.item["id"], "output_index": o.index, "summary_index": 0}
        if not o.summary:
            part = {"type": "summary_text", "text": ""}
            out.append(self._emit({"type": "response.reasoning_summary_part.added", **base, "part": part}))
        o.summary.append(e.text)
        out.append(self._emit({"type": "response.reasoning_summary_text.delta", **base, "delta": e.text}))
        return out

    def _on_reasoning_signature(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ReasoningSignature)
        o, out = self._reasoning(False)
        if self._include_encrypted:
            o.item["encrypted_content"] = e.encrypted_content
        return out

    def _on_tool_start(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallStart)
        item = {
            "id": e.id or new_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": e.call_id,
            "name": e.name,
            "arguments": "",
        }
        _, out = self._open_item(item, State.TOOL)
        return out

    def _on_tool_delta(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallDelta) and self._open is not None
        if not e.arguments:
            return []
        o = self._open
        o.args.append(e.arguments)
        return [
            self._emit(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": o.item["id"],
                    "output_index": o.index,
                    "delta": e.arguments,
                }
            )
        ]

    def _on_tool_end(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallEnd) and self._open is not None
        o = self._open
        out: list[dict[str, Any]] = []
        if e.arguments is not None and e.arguments != "".join(o.args):
            if not o.args:
                # Upstream sent no deltas (protocols.md 5.12 #3): stream the whole arguments once.
                out.extend(self._on_tool_delta(ev.ToolCallDelta(arguments=e.arguments)))
            o.item["arguments"] = e.arguments
        out.extend(self._close_open("completed"))
        return out

    def _on_item_end(self, e: ev.Event) -> list[dict[str, Any]]:
        return self._close_open("completed")

    def _on_native_start(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.NativeItemStart)
        _, out = self._open_item(dict(e.item), State.NATIVE)
        return out

    def _on_native_event(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.NativeEvent)
        payload = dict(e.payload)
        if "output_index" in payload:
            if self._open is None:
                return []  # refers to an item we never announced: dropping keeps the stream valid
            payload["output_index"] = self._open.index
            if "item_id" in payload and self._open.item.get("id"):
                payload["item_id"] = self._open.item["id"]
        return [self._emit(payload)]

    def _on_native_done(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.NativeItemDone) and self._open is not None
        self._open.item = dict(e.item)
        return self._close_open(str(e.item.get("status", "completed")))

    def _on_usage(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.Usage)
        prev = self.usage
        if prev is None:
            self.usage = e
        else:  # cumulative: a field the upstream left out keeps its earlier value
            self.usage = ev.Usage(
                input_tokens=e.input_tokens if e.input_tokens is not None else prev.input_tokens,
                output_tokens=e.output_tokens if e.output_tokens is not None else prev.output_tokens,
                cached_tokens=e.cached_tokens if e.cached_tokens is not None else prev.cached_tokens,
                cache_write_tokens=(
                    e.cache_write_tokens if e.cache_write_tokens is not None else prev.cache_write_tokens
                ),
                reasoning_tokens=e.reasoning_tokens if e.reasoning_tokens is not None else prev.reasoning_tokens,
            )
        return []

    def _on_finish(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.Finish)
        self.finish = e
        return []


_HANDLERS = {
    Kind.INFO: ResponseBuilder._on_info,
    Kind.TEXT: ResponseBuilder._on_text,
    Kind.REFUSAL: ResponseBuilder._on_refusal,
    Kind.ANNOTATION: ResponseBuilder._on_annotation,
    Kind.REASONING_START: ResponseBuilder._on_reasoning_start,
    Kind.REASONING_DELTA: ResponseBuilder._on_reasoning_delta,
    Kind.REASONING_SIGNATURE: ResponseBuilder._on_reasoning_signature,
    Kind.TOOL_START: ResponseBuilder._on_tool_start,
    Kind.TOOL_DELTA: ResponseBuilder._on_tool_delta,
    Kind.TOOL_END: ResponseBuilder._on_tool_end,
    Kind.ITEM_END: ResponseBuilder._on_item_end,
    Kind.NATIVE_START: ResponseBuilder._on_native_start,
    Kind.NATIVE_EVENT: ResponseBuilder._on_native_event,
    Kind.NATIVE_DONE: ResponseBuilder._on_native_done,
    Kind.USAGE: ResponseBuilder._on_usage,
    Kind.FINISH: ResponseBuilder._on_finish,
}

__all__ = [
    "BOOKKEEPING",
    "CONTINUES",
    "KIND_OF",
    "TRANSITIONS",
    "BuilderError",
    "Kind",
    "ResponseBuilder",
    "State",
    "new_id",
    "step",
    "usage_dict",
]
