"""What the protocol modules share: the adapter seam, per-call context, JSON encoder, SSE frames and ids.

The server talks to every protocol through `Adapter`: `parse` turns a native body into a `SimRequest` (raising
`SimError` for what the real API rejects), `render` and `render_stream` turn the planned `Reply` into the native
body or event frames, and `render_error` writes the native error envelope.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from ._errors import SimError
from ._plan import Reply, SimRequest
from ._signing import Signer
from .config import SimBehaviour, SimProtocol

__all__ = [
    "ENCODER",
    "Adapter",
    "CallContext",
    "Frame",
    "RenderedStream",
    "corrupt_frame",
    "new_id",
    "sse_data",
    "sse_event",
]

ENCODER = msgspec.json.Encoder()

Frame = tuple[bytes, int]
"""One event's bytes and the number of tokens it carries (0 for framing events)."""


@dataclass(frozen=True, slots=True)
class CallContext:
    """Facts about one HTTP call besides its body: headers, query, path model, behaviour, signer, clock."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    behaviour: SimBehaviour
    signer: Signer
    created: int
    path_model: str = ""
    stream: bool = False


@dataclass(frozen=True, slots=True)
class RenderedStream:
    """A stream ready to write: its frames, content type, and the in-stream error after `n` frames."""

    frames: list[Frame]
    content_type: str
    error_frames: Callable[[int], bytes]


class Adapter(Protocol):
    """One upstream protocol as the simulator speaks it."""

    protocol: SimProtocol

    def parse(self, body: dict[str, Any], call: CallContext) -> SimRequest: ...

    def render(self, reply: Reply, request: SimRequest, call: CallContext) -> bytes: ...

    def render_stream(self, reply: Reply, request: SimRequest, call: CallContext) -> RenderedStream: ...

    def render_error(self, error: SimError) -> bytes: ...


def new_id(prefix: str, size: int = 24) -> str:
    """A fresh random id such as `msg_1f0c...`; ids need not repeat across runs, only text does."""
    return prefix + os.urandom(size // 2 + 1).hex()[:size]


def sse_event(name: str, payload: Any) -> bytes:
    """An SSE frame with an `event:` line (OpenAI Responses, Anthropic)."""
    return b"event: " + name.encode() + b"\ndata: " + ENCODER.encode(payload) + b"\n\n"


def sse_data(payload: Any) -> bytes:
    """A data-only SSE frame (Chat Completions, Gemini)."""
    return b"data: " + ENCODER.encode(payload) + b"\n\n"


def corrupt_frame(frame: bytes) -> bytes:
    """Cut the JSON of a frame in half, keeping its framing, so the client sees invalid JSON."""
    start = frame.find(b"data: ")
    start = 0 if start < 0 else start + len(b"data: ")
    end = frame.rfind(b"}") + 1 or len(frame)
    body = frame[start:end]
    return frame[:start] + body[: max(1, len(body) // 2)] + frame[end:]
