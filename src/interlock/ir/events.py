"""The internal stream event vocabulary: what every provider adapter emits and every builder consumes.

Adapters never write client events. They turn an upstream response (streamed or not) into these small,
frozen values; ``ir.builder`` (Response API events), ``ir.chat_builder`` (Chat chunks) and
``ir.messages_builder`` (Anthropic events) render them. A non-streaming upstream response is the same events
in one batch.

Items are sequential: an event that belongs to a different kind of item than the open one closes the open item
first (the builders do that), so adapters only need ``ItemEnd`` to split two items of the same kind (two text
blocks that must stay separate, two reasoning blocks).
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import Struct

from interlock.ir.errors import GatewayError

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "refusal", "pause", "error"]


class Event(Struct, frozen=True, kw_only=True):
    """Base of internal stream events."""


class ResponseInfo(Event, frozen=True):
    """What the upstream said about itself: its response id and the exact model version that answered."""

    upstream_id: str | None = None
    model: str | None = None


class TextDelta(Event, frozen=True):
    text: str


class RefusalDelta(Event, frozen=True):
    text: str


class Annotation(Event, frozen=True):
    """A citation on the open message's text (url_citation...), passed through verbatim."""

    annotation: dict[str, Any]


class ReasoningStart(Event, frozen=True):
    """Opens a reasoning item explicitly (a new thinking block); deltas open one implicitly too."""

    id: str | None = None


class ReasoningDelta(Event, frozen=True):
    """Reasoning text shown to the client as a summary (Anthropic thinking, Gemini thoughts...)."""

    text: str


class ReasoningSignature(Event, frozen=True):
    """Opaque replay data for the open reasoning item (carried in ``encrypted_content``)."""

    encrypted_content: str


class ToolCallStart(Event, frozen=True):
    call_id: str
    name: str
    id: str | None = None


class ToolCallDelta(Event, frozen=True):
    arguments: str


class ToolCallEnd(Event, frozen=True):
    """Closes the open tool call; ``arguments`` (when given) is authoritative over the deltas."""

    arguments: str | None = None


class ItemEnd(Event, frozen=True):
    """Closes whatever item is open (no-op when none is)."""


class NativeItemStart(Event, frozen=True):
    """A hosted-tool (or other unmodelled) output item from a Responses upstream, passed through."""

    item: dict[str, Any]


class NativeEvent(Event, frozen=True):
    """An upstream event we do not model, for the open native item (or none); passed through."""

    payload: dict[str, Any]


class NativeItemDone(Event, frozen=True):
    item: dict[str, Any]


class Usage(Event, frozen=True):
    """Cumulative usage so far; the last one wins. ``None`` means not reported (distinct from 0)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None


class Finish(Event, frozen=True):
    reason: FinishReason
    native_reason: str | None = None


class StreamError(Event, frozen=True):
    """The upstream failed mid-stream."""

    error: GatewayError


AnyEvent = (
    ResponseInfo
    | TextDelta
    | RefusalDelta
    | Annotation
    | ReasoningStart
    | ReasoningDelta
    | ReasoningSignature
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | ItemEnd
    | NativeItemStart
    | NativeEvent
    | NativeItemDone
    | Usage
    | Finish
    | StreamError
)

CONTENT_EVENTS: tuple[type[Event], ...] = (
    TextDelta,
    RefusalDelta,
    ReasoningStart,
    ReasoningDelta,
    ToolCallStart,
    NativeItemStart,
)
"""Events that put something in front of the client: the first one marks time to first token."""


__all__ = [
    "CONTENT_EVENTS",
    "Annotation",
    "AnyEvent",
    "Event",
    "Finish",
    "FinishReason",
    "ItemEnd",
    "NativeEvent",
    "NativeItemDone",
    "NativeItemStart",
    "ReasoningDelta",
    "ReasoningSignature",
    "ReasoningStart",
    "RefusalDelta",
    "ResponseInfo",
    "StreamError",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "Usage",
]
