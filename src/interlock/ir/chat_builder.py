"""The Chat Completions builder: internal events in, ``chat.completion.chunk`` objects out (and the completion).

Theory of operation
-------------------
This is a sibling of ``ir.builder.ResponseBuilder`` and walks the *same* transition table
(:data:`interlock.ir.builder.TRANSITIONS`): the builder is in one of the states IDLE, READY, MESSAGE,
REASONING, TOOL, NATIVE, DONE, and an event the table has no row for raises :class:`BuilderError` without
changing the state. Only the rendering differs. A Chat message has no items, so "closing the open item" means:

* REASONING: the reasoning block ends; its signature goes out now, in one ``reasoning_signature`` delta (or
  ``reasoning_redacted_data`` when the block had no text, i.e. redacted thinking), so each block's opaque replay
  data follows its text exactly as Anthropic's ``signature_delta`` does;
* TOOL: the tool call ends; if the upstream's authoritative arguments extend what was streamed the rest is sent,
  and a call that streamed nothing gets ``"{}"`` so every call's arguments parse as JSON (protocols.md 5.12 #3);
* NATIVE: hosted-tool items have no Chat representation and are skipped.

Rules the chunks follow (protocols.md 2.3, auriko-api.md 5.1, openai-python ``accumulate_delta``):

* ``role`` is sent once, on the first chunk; every chunk has exactly one choice with ``index`` 0 except the
  final usage chunk, whose ``choices`` is empty;
* a tool call's first delta carries ``index``, ``id``, ``type`` and ``function.name`` with ``arguments: ""``;
  later deltas carry only ``index`` and ``function.arguments``. ``index`` is the 0-based count of function
  calls in this message, never an output_index (pitfall 5.12 #1): the accumulator concatenates every string it
  sees, so ids and names are never repeated;
* reasoning text goes out as ``reasoning_content`` deltas unless the client asked for ``reasoning.exclude``;
* the end is one chunk with ``finish_reason`` (and ``native_finish_reason``), then one chunk with
  ``choices: []``, the usage and ``routing_metadata`` (include_usage is always on), then the caller writes
  ``data: [DONE]``; a failure after the first byte is a chunk ``{"error": {...}}`` instead.

While rendering chunks the builder keeps the message they add up to, so the non-streaming ``chat.completion``
(:meth:`ChatBuilder.completion`) is the same events accumulated, never a second code path.
"""

from __future__ import annotations

import time
from typing import Any

from interlock.ir import events as ev
from interlock.ir.builder import Kind, State, new_id, step
from interlock.ir.errors import GatewayError

# Which Chat finish_reason each internal finish reason becomes (protocols.md 5.9).
FINISH_REASONS: dict[ev.FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "pause": "stop",
    "error": "stop",
}


def new_completion_id() -> str:
    return "chatcmpl-" + new_id("x")[2:]


def chat_usage(usage: ev.Usage | None) -> dict[str, Any]:
    """Chat ``usage`` (prompt includes cached tokens; completion includes reasoning, protocols.md 2.2)."""
    u = usage or ev.Usage()
    prompt = u.input_tokens or 0
    completion = u.output_tokens or 0
    prompt_details: dict[str, int] = {"cached_tokens": u.cached_tokens or 0}
    if u.cache_write_tokens:
        prompt_details["cache_write_tokens"] = u.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens or 0},
    }


def chat_annotation(annotation: dict[str, Any]) -> dict[str, Any] | None:
    """A Response API annotation in Chat's shape: ``url_citation`` nests its fields; other kinds have no form."""
    if annotation.get("type") != "url_citation":
        return None
    if isinstance(annotation.get("url_citation"), dict):
        return annotation
    fields = {k: v for k, v in annotation.items() if k != "type"}
    return {"type": "url_citation", "url_citation": fields}


class _Call:
    """The open tool call: its position among the message's calls and what was streamed of its arguments."""

    __slots__ = ("index", "sent")

    def __init__(self, index: int) -> None:
        self.index = index
        self.sent: list[str] = []


class _Thought:
    """The open reasoning block."""

    __slots__ = ("signature", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.signature: str | None = None


class ChatBuilder:
    """Turns internal events into Chat chunks for one completion; see the module docstring."""

    def __init__(
        self, completion_id: str, model: str, *, created: int | None = None, include_reasoning: bool = True
    ) -> None:
        self.id = completion_id
        self.model = model
        self.created = int(time.time()) if created is None else created
        self.state = State.IDLE
        self.usage: ev.Usage | None = None
        self.finish: ev.Finish | None = None
        self.info = ev.ResponseInfo()
        self.error: GatewayError | None = None
        self._include_reasoning = include_reasoning
        self._role_sent = False
        self._content: list[str] = []
        self._refusal: list[str] = []
        self._annotations: list[dict[str, Any]] = []
        self._reasoning_text: list[str] = []
        self._blocks: list[dict[str, str]] = []
        self._calls: list[dict[str, Any]] = []
        self._call: _Call | None = None
        self._thought: _Thought | None = None

    # -- public API ----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._role_sent

    def feed(self, event: ev.Event) -> list[dict[str, Any]]:
        """Chunks caused by one internal event."""
        if isinstance(event, ev.StreamError):
            return self.fail(event.error)
        kind, nxt, close_first = step(self.state, event)
        out: list[dict[str, Any]] = self._close() if close_first else []
        out.extend(_HANDLERS[kind](self, event))
        self.state = nxt
        return out

    def complete(self, routing_metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Close the open item, then the finish chunk and the usage chunk (the caller writes ``[DONE]``)."""
        if self.state is State.DONE:
            return []
        out = self._close()
        choice: dict[str, Any] = {
            "index": 0,
            "delta": self._delta({}),
            "logprobs": None,
            "finish_reason": self.finish_reason,
        }
        if self._annotations:
            choice["delta"]["annotations"] = self._annotations
        if self.finish is not None and self.finish.native_reason is not None:
            choice["native_finish_reason"] = self.finish.native_reason
        out.append(self._chunk([choice]))
        final = self._chunk([])
        final["usage"] = chat_usage(self.usage)
        if routing_metadata is not None:
            final["routing_metadata"] = routing_metadata
        out.append(final)
        self.state = State.DONE
        return out

    def fail(self, error: GatewayError) -> list[dict[str, Any]]:
        """The in-stream error chunk ``{"error": {...}}`` (auriko-api.md 5.1); nothing after it but ``[DONE]``."""
        if self.state is State.DONE:
            return []
        self.error = error
        self.state = State.DONE
        return [{"error": error.to_dict()}]

    @property
    def finish_reason(self) -> str:
        reason = self.finish.reason if self.finish is not None else "stop"
        if self._calls and reason in ("stop", "tool_calls", "pause", "error"):
            return "tool_calls"
        if reason == "tool_calls" and not self._calls:
            return "stop"
        return FINISH_REASONS[reason]

    def message(self) -> dict[str, Any]:
        """The assistant message the chunks so far add up to."""
        msg: dict[str, Any] = {"role": "assistant"}
        msg["content"] = "".join(self._content) if self._content else None
        msg["refusal"] = "".join(self._refusal) if self._refusal else None
        if self._calls:
            msg["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": dict(c["function"])} for c in self._calls
            ]
        if self._include_reasoning:
            if self._reasoning_text:
                msg["reasoning_content"] = "".join(self._reasoning_text)
            if self._blocks:
                msg["reasoning"] = [dict(b) for b in self._blocks]
        if self._annotations:
            msg["annotations"] = list(self._annotations)
        return msg

    def completion(self, routing_metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """The non-streaming ``chat.completion`` (call after :meth:`complete`)."""
        choice: dict[str, Any] = {
            "index": 0,
            "message": self.message(),
            "finish_reason": self.finish_reason,
            "logprobs": None,
        }
        if self.finish is not None and self.finish.native_reason is not None:
            choice["native_finish_reason"] = self.finish.native_reason
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": chat_usage(self.usage),
        }
        if routing_metadata is not None:
            body["routing_metadata"] = routing_metadata
        return body

    # -- rendering -----------------------------------------------------------------------------------

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return delta

    def _emit(self, delta: dict[str, Any]) -> dict[str, Any]:
        return self._chunk([{"index": 0, "delta": self._delta(delta), "logprobs": None, "finish_reason": None}])

    def _close(self) -> list[dict[str, Any]]:
        """Close the open item (see the module docstring)."""
        if self.state is State.REASONING:
            return self._close_thought()
        if self.state is State.TOOL:
            return self._close_call(None)
        return []

    def _close_thought(self) -> list[dict[str, Any]]:
        t = self._thought
        self._thought = None
        if t is None or not self._include_reasoning:
            return []
        text = "".join(t.text)
        if t.signature is None:
            if text:
                self._blocks.append({"type": "thinking", "thinking": text, "signature": ""})
            return []
        if text:
            self._blocks.append({"type": "thinking", "thinking": text, "signature": t.signature})
            return [self._emit({"reasoning_signature": t.signature})]
        self._blocks.append({"type": "redacted", "data": t.signature})
        return [self._emit({"reasoning_redacted_data": t.signature})]

    def _close_call(self, final: str | None) -> list[dict[str, Any]]:
        c = self._call
        self._call = None
        if c is None:
            return []
        sent = "".join(c.sent)
        rest = ""
        if final is not None and final != sent:
            if final.startswith(sent):
                rest = final[len(sent) :]
            # else: the upstream contradicted its own deltas; the stream cannot take them back, the
            # non-streaming message below carries the authoritative arguments.
        else:
            final = sent
        if not final.strip():
            final, rest = "{}", "{}"
        self._calls[c.index]["function"]["arguments"] = final
        if not rest:
            return []
        return [self._emit({"tool_calls": [{"index": c.index, "function": {"arguments": rest}}]})]

    # -- handlers (one per Kind) ---------------------------------------------------------------------

    def _on_info(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ResponseInfo)
        self.info = ev.ResponseInfo(
            upstream_id=e.upstream_id or self.info.upstream_id, model=e.model or self.info.model
        )
        return []

    def _on_text(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.TextDelta)
        if not e.text:
            return []
        self._content.append(e.text)
        return [self._emit({"content": e.text})]

    def _on_refusal(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.RefusalDelta)
        if not e.text:
            return []
        self._refusal.append(e.text)
        return [self._emit({"refusal": e.text})]

    def _on_annotation(self, e: ev.Event) -> list[dict[str, Any]]:
        # Sent once, on the finish chunk: the accumulator cannot merge un-indexed lists across chunks.
        assert isinstance(e, ev.Annotation)
        note = chat_annotation(e.annotation)
        if note is not None:
            self._annotations.append(note)
        return []

    def _on_reasoning_start(self, e: ev.Event) -> list[dict[str, Any]]:
        self._thought = _Thought()
        return []

    def _on_reasoning_delta(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ReasoningDelta)
        if self._thought is None:
            self._thought = _Thought()
        if not e.text or not self._include_reasoning:
            return []
        self._thought.text.append(e.text)
        self._reasoning_text.append(e.text)
        return [self._emit({"reasoning_content": e.text})]

    def _on_reasoning_signature(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ReasoningSignature)
        if self._thought is None:
            self._thought = _Thought()
        self._thought.signature = e.encrypted_content
        return []

    def _on_tool_start(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallStart)
        index = len(self._calls)
        self._calls.append({"id": e.call_id, "function": {"name": e.name, "arguments": ""}})
        self._call = _Call(index)
        call = {"index": index, "id": e.call_id, "type": "function", "function": {"name": e.name, "arguments": ""}}
        return [self._emit({"tool_calls": [call]})]

    def _on_tool_delta(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallDelta) and self._call is not None
        if not e.arguments:
            return []
        self._call.sent.append(e.arguments)
        return [self._emit({"tool_calls": [{"index": self._call.index, "function": {"arguments": e.arguments}}]})]

    def _on_tool_end(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.ToolCallEnd)
        return self._close_call(e.arguments)

    def _on_item_end(self, e: ev.Event) -> list[dict[str, Any]]:
        return []  # the open item was closed before the handler ran

    def _on_native_start(self, e: ev.Event) -> list[dict[str, Any]]:
        return []

    def _on_native_event(self, e: ev.Event) -> list[dict[str, Any]]:
        return []

    def _on_native_done(self, e: ev.Event) -> list[dict[str, Any]]:
        return []

    def _on_usage(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.Usage)
        self.usage = merge_usage(self.usage, e)
        return []

    def _on_finish(self, e: ev.Event) -> list[dict[str, Any]]:
        assert isinstance(e, ev.Finish)
        self.finish = e
        return []


def merge_usage(prev: ev.Usage | None, new: ev.Usage) -> ev.Usage:
    """Cumulative usage: the newest value of each field wins; a field the upstream left out keeps its value."""
    if prev is None:
        return new
    return ev.Usage(
        input_tokens=new.input_tokens if new.input_tokens is not None else prev.input_tokens,
        output_tokens=new.output_tokens if new.output_tokens is not None else prev.output_tokens,
        cached_tokens=new.cached_tokens if new.cached_tokens is not None else prev.cached_tokens,
        cache_write_tokens=new.cache_write_tokens if new.cache_write_tokens is not None else prev.cache_write_tokens,
        reasoning_tokens=new.reasoning_tokens if new.reasoning_tokens is not None else prev.reasoning_tokens,
    )


_HANDLERS = {
    Kind.INFO: ChatBuilder._on_info,
    Kind.TEXT: ChatBuilder._on_text,
    Kind.REFUSAL: ChatBuilder._on_refusal,
    Kind.ANNOTATION: ChatBuilder._on_annotation,
    Kind.REASONING_START: ChatBuilder._on_reasoning_start,
    Kind.REASONING_DELTA: ChatBuilder._on_reasoning_delta,
    Kind.REASONING_SIGNATURE: ChatBuilder._on_reasoning_signature,
    Kind.TOOL_START: ChatBuilder._on_tool_start,
    Kind.TOOL_DELTA: ChatBuilder._on_tool_delta,
    Kind.TOOL_END: ChatBuilder._on_tool_end,
    Kind.ITEM_END: ChatBuilder._on_item_end,
    Kind.NATIVE_START: ChatBuilder._on_native_start,
    Kind.NATIVE_EVENT: ChatBuilder._on_native_event,
    Kind.NATIVE_DONE: ChatBuilder._on_native_done,
    Kind.USAGE: ChatBuilder._on_usage,
    Kind.FINISH: ChatBuilder._on_finish,
}

__all__ = ["FINISH_REASONS", "ChatBuilder", "chat_annotation", "chat_usage", "merge_usage", "new_completion_id"]
