"""The Anthropic Messages builder: internal events in, Anthropic stream events out (and the final ``Message``).

Theory of operation
-------------------
A sibling of ``ir.builder.ResponseBuilder`` on the *same* transition table
(:data:`interlock.ir.builder.TRANSITIONS`); an event with no row raises :class:`BuilderError` and leaves the
state unchanged. Each item of the Response model becomes one content block (protocols.md 3.5, 5.10 read
backwards): a message's text and refusal text -> a ``text`` block, a reasoning item -> a ``thinking`` block
(``redacted_thinking`` when it carries replay data but no text), a function call -> a ``tool_use`` block;
hosted-tool items have no client-side block and are skipped.

The stream the builder writes, as the anthropic SDK's accumulator needs it:

* ``message_start`` first (``content: []``, ``stop_reason: null``, usage known so far), sent on the first
  event that puts something in front of the client;
* per block, strictly sequential, ``index`` dense from 0: ``content_block_start`` -> deltas ->
  ``content_block_stop``. ``ping`` follows the first block's start, as Anthropic sends it;
* text -> ``text_delta``; reasoning -> ``thinking_delta``, then one ``signature_delta`` just before the
  block's stop; tool arguments -> ``input_json_delta`` fragments. A ``tool_use`` block never closes without a
  fragment: arguments that arrived only at the end are sent whole, and a call with no arguments sends ``{}``
  (pitfall 5.12 #4);
* blocks open lazily: a text block on the first non-empty text, a thinking block on the first non-empty
  reasoning text or signature (which decides ``thinking`` vs ``redacted_thinking``), so no empty block is
  ever sent;
* ``message_delta`` with ``stop_reason`` and cumulative usage, then ``message_stop``. A failure after the
  first byte is one ``error`` event and nothing after it.

Usage is mapped back per protocols.md 5.8: ``input_tokens`` = prompt - cache reads - cache writes,
``cache_read_input_tokens`` = cached, ``cache_creation_input_tokens`` = cache writes. The builder keeps the
``Message`` its events add up to; the non-streaming answer is that snapshot (:attr:`MessagesBuilder.message`).
"""

from __future__ import annotations

import json
from typing import Any

from interlock.ir import events as ev
from interlock.ir.builder import Kind, State, step
from interlock.ir.chat_builder import merge_usage

# Which Anthropic stop_reason each internal finish reason becomes (protocols.md 5.9).
STOP_REASONS: dict[ev.FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "refusal": "refusal",
    "pause": "pause_turn",
    "error": "end_turn",
}


def anthropic_usage(usage: ev.Usage | None) -> dict[str, int]:
    """Anthropic usage: ``input_tokens`` excludes cache reads and writes (protocols.md 5.8)."""
    u = usage or ev.Usage()
    cached = u.cached_tokens or 0
    written = u.cache_write_tokens or 0
    return {
        "input_tokens": max(0, (u.input_tokens or 0) - cached - written),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": u.output_tokens or 0,
    }


class _Thought:
    __slots__ = ("index", "signature", "text")

    def __init__(self) -> None:
        self.index: int | None = None  # the block index once started
        self.text: list[str] = []
        self.signature: str | None = None


class _Tool:
    __slots__ = ("index", "sent")

    def __init__(self, index: int) -> None:
        self.index = index
        self.sent: list[str] = []


class MessagesBuilder:
    """Turns internal events into Anthropic Messages stream events; see the module docstring."""

    def __init__(self, message_id: str, model: str, *, include_thinking_text: bool = True) -> None:
        self.state = State.IDLE
        self.usage: ev.Usage | None = None
        self.finish: ev.Finish | None = None
        self.info = ev.ResponseInfo()
        self.message: dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": anthropic_usage(None),
        }
        self._include_text = include_thinking_text
        self._started = False
        self._text_index: int | None = None  # index of the open text block
        self._thought: _Thought | None = None
        self._tool: _Tool | None = None
        self._calls = 0

    # -- public API ----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> list[dict[str, Any]]:
        """``message_start`` (idempotent)."""
        if self._started:
            return []
        self._started = True
        self.message["usage"] = anthropic_usage(self.usage)
        snapshot = {**self.message, "content": [], "usage": dict(self.message["usage"])}
        return [{"type": "message_start", "message": snapshot}]

    def feed(self, event: ev.Event) -> list[dict[str, Any]]:
        """Stream events caused by one internal event."""
        if isinstance(event, ev.StreamError):
            raise TypeError("render StreamError with fail(): the Anthropic error body belongs to the api layer")
        kind, nxt, close_first = step(self.state, event)
        out: list[dict[str, Any]] = self._close() if close_first else []
        out.extend(_HANDLERS[kind](self, event))
        self.state = nxt
        return out

    def complete(self, routing_metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Close the open block, then ``message_delta`` and ``message_stop``."""
        if self.state is State.DONE:
            return []
        out = self.start()
        out.extend(self._close())
        usage = anthropic_usage(self.usage)
        self.message["stop_reason"] = self.stop_reason
        self.message["usage"] = usage
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
            "usage": dict(usage),
        }
        if routing_metadata is not None:
            delta["routing_metadata"] = routing_metadata
            self.message["routing_metadata"] = routing_metadata
        out.append(delta)
        out.append({"type": "message_stop"})
        self.state = State.DONE
        return out

    def fail(self, error_body: dict[str, Any]) -> list[dict[str, Any]]:
        """The in-stream ``error`` event (``error_body`` is the Anthropic envelope); nothing may follow it."""
        if self.state is State.DONE:
            return []
        self.state = State.DONE
        return [error_body]

    @property
    def stop_reason(self) -> str:
        finish = self.finish
        reason = finish.reason if finish is not None else "stop"
        if finish is not None and finish.native_reason == "stop_sequence":
            return "stop_sequence"
        if self._calls and reason in ("stop", "tool_calls", "error"):
            return "tool_use"
        if reason == "tool_calls" and not self._calls:
            return "end_turn"
        return STOP_REASONS[reason]

    # -- blocks --------------------------------------------------------------------------------------

    def _open_block(self, block: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        out = self.start()
        index = len(self.message["content"])
        self.message["content"].append(block)
        out.append({"type": "content_block_start", "index": index, "content_block": dict(block)})
        if index == 0:
            out.append({"type": "ping"})
        return index, out

    def _delta(self, index: int, delta: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": delta}

    def _close(self) -> list[dict[str, Any]]:
        if self._text_index is not None:
            index, self._text_index = self._text_index, None
            return [{"type": "content_block_stop", "index": index}]
        if self._thought is not None:
            return self._close_thought()
        if self._tool is not None:
            return self._close_tool(None)
        return []

    def _close_thought(self) -> list[dict[str, Any]]:
        t, self._thought = self._thought, None
        assert t is not None
        out: list[dict[str, Any]] = []
        if t.index is None:
            if t.signature is None:
                return []  # nothing to show and nothing to replay: no block at all
            # Replay data without visible text: redacted thinking, a complete block with no deltas.
            index, out = self._open_block({"type": "redacted_thinking", "data": t.signature})
        else:
            index = t.index
            if t.signature is not None:
                self.message["content"][index]["signature"] = t.signature
                out.append(self._delta(index, {"type": "signature_delta", "signature": t.signature}))
        out.append({"type": "content_block_stop", "index": index})
        return out

    def _close_tool(self, final: str | None) -> list[dict[str, Any]]:
        tool, self._tool = self._tool, None
        assert tool is not None
        sent = "".join(tool.sent)
        rest = ""
        if final is not None and final != sent:
            if final.startswith(sent):
                rest = final[len(sent) :]
            # else: the upstream contradicted its own deltas; the final Message keeps the authoritative input.
        else:
            final = sent
        if not final.strip():
            final, rest = "{}", "{}"
        if not sent.strip() and not rest:
            rest = final
        out: list[dict[str, Any]] = []
        if rest:
            out.append(self._delta(tool.index, {"type": "input_json_delta", "partial_json": rest}))
        self.message["content"][tool.index]["input"] = _parse_input(final)
        out.append({"type": "content_block_stop", "index": tool.index})
        return out

    def _text(self, text: str) -> list[dict[str, Any]]:
        if not text:
            return []
        out: list[dict[str, Any]] = []
        if self._text_index is None:
            self._text_index, out = self._open_block({"type": "text", "text": ""})
        self.message["content"][self._text_index]["text"] += text
        out.append(self._delta(self._text_index, {"type": "text_delta", "text": text}))
        return out

    # -- handlers (one per Kind) ---------------------------------------------------------------------

    def _on_info(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ResponseInfo)
        self.info = ev.ResponseInfo(
            upstream_id=e.upstream_id or self.info.upstream_id, model=e.model or self.info.model
        )
        return []

    def _on_text(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.TextDelta)
        return self._text(e.text)

    def _on_refusal(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.RefusalDelta)
        return self._text(e.text)  # Anthropic has no refusal part: the text, with stop_reason "refusal"

    def _on_annotation(self, e: ev.Event) -> list[dict[str, Any]]:
        return []  # url citations have no Anthropic citation type; dropped

    def _on_reasoning_start(self, e: ev.Event) -> list[dict[str, Any]]:
        self._thought = _Thought()
        return []

    def _on_reasoning_delta(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ReasoningDelta)
        t = self._thought = self._thought or _Thought()
        text = e.text if self._include_text else ""
        out: list[dict[str, Any]] = []
        if t.index is None and (text or (not self._include_text and e.text)):
            t.index, out = self._open_block({"type": "thinking", "thinking": "", "signature": ""})
        if text and t.index is not None:
            t.text.append(text)
            self.message["content"][t.index]["thinking"] += text
            out.append(self._delta(t.index, {"type": "thinking_delta", "thinking": text}))
        return out

    def _on_reasoning_signature(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ReasoningSignature)
        t = self._thought = self._thought or _Thought()
        t.signature = e.encrypted_content
        return []

    def _on_tool_start(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallStart)
        index, out = self._open_block({"type": "tool_use", "id": e.call_id, "name": e.name, "input": {}})
        self._tool = _Tool(index)
        self._calls += 1
        return out

    def _on_tool_delta(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallDelta) and self._tool is not None
        if not e.arguments:
            return []
        self._tool.sent.append(e.arguments)
        return [self._delta(self._tool.index, {"type": "input_json_delta", "partial_json": e.arguments})]

    def _on_tool_end(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallEnd)
        return self._close_tool(e.arguments)

    def _on_item_end(self, e: ev.Event) -> list[dict[str, Any]]:
        return []  # the open block was closed before the handler ran

    def _on_native(self, e: ev.Event) -> list[dict[str, Any]]:
        return []  # hosted-tool items have no Anthropic client block

    def _on_usage(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.Usage)
        self.usage = merge_usage(self.usage, e)
        return []

    def _on_finish(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.Finish)
        self.finish = e
        return []


def _parse_input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_HANDLERS = {
    Kind.INFO: MessagesBuilder._on_info,
    Kind.TEXT: MessagesBuilder._on_text,
    Kind.REFUSAL: MessagesBuilder._on_refusal,
    Kind.ANNOTATION: MessagesBuilder._on_annotation,
    Kind.REASONING_START: MessagesBuilder._on_reasoning_start,
    Kind.REASONING_DELTA: MessagesBuilder._on_reasoning_delta,
    Kind.REASONING_SIGNATURE: MessagesBuilder._on_reasoning_signature,
    Kind.TOOL_START: MessagesBuilder._on_tool_start,
    Kind.TOOL_DELTA: MessagesBuilder._on_tool_delta,
    Kind.TOOL_END: MessagesBuilder._on_tool_end,
    Kind.ITEM_END: MessagesBuilder._on_item_end,
    Kind.NATIVE_START: MessagesBuilder._on_native,
    Kind.NATIVE_EVENT: MessagesBuilder._on_native,
    Kind.NATIVE_DONE: MessagesBuilder._on_native,
    Kind.USAGE: MessagesBuilder._on_usage,
    Kind.FINISH: MessagesBuilder._on_finish,
}

__all__ = ["STOP_REASONS", "MessagesBuilder", "anthropic_usage"]
