"""The provider seam: what an adapter module must offer, and the call target it is given.

An adapter is one module per upstream protocol (``openai_responses``, ``openai_chat``, ``anthropic``,
``gemini``). It is sans-IO: it builds the native request from the IR, parses native responses and stream
events into internal events (``ir.events``), and maps native errors to documented codes. The HTTP exchange
itself is ``providers.transport``; adapters never import ``api`` or ``engine``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from interlock.ir.errors import UpstreamError
from interlock.ir.events import Event
from interlock.ir.request import ResponseRequest
from interlock.ir.warnings import RoutingWarning

ProtocolName = Literal["openai-responses", "openai-chat", "anthropic", "gemini"]


@dataclass(frozen=True, slots=True)
class Target:
    """Everything an adapter needs to know about the offering it calls (built by the engine from the catalog)."""

    provider: str
    protocol: ProtocolName
    base_url: str
    api_key: str | None
    provider_model_id: str
    model_canonical: str
    max_output_tokens: int | None = None
    capabilities: frozenset[str] = frozenset()
    accepted_params: frozenset[str] | None = None  # None = the protocol's defaults
    reasoning: Mapping[str, Any] | None = None  # the model's reasoning profile from the catalog
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class NativeRequest:
    """A request ready for the wire, plus the warnings building it produced."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]  # JSON-ready; the engine merges ``extensions`` into it, the transport encodes it
    stream: bool
    method: str = "POST"
    warnings: list[RoutingWarning] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One Server-Sent Event as decoded from an upstream stream."""

    data: str
    event: str | None = None
    id: str | None = None


class StreamParser(Protocol):
    """Sans-IO parser of one upstream stream."""

    def feed(self, event: SSEEvent) -> list[Event]:
        """Internal events caused by one SSE event (raise ``UpstreamError`` for a malformed one)."""
        ...

    def close(self) -> list[Event]:
        """Called at end of stream; emits a ``StreamError`` if the upstream never finished properly."""
        ...


class Adapter(Protocol):
    """The functions an adapter module exports (the module itself satisfies this protocol)."""

    PROTOCOL: ProtocolName

    def build_request(self, req: ResponseRequest, target: Target, *, stream: bool) -> NativeRequest: ...

    def stream_parser(self, target: Target) -> StreamParser: ...

    def parse_response(self, body: bytes, target: Target) -> list[Event]: ...

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str], target: Target) -> UpstreamError: ...


__all__ = ["Adapter", "NativeRequest", "ProtocolName", "SSEEvent", "StreamParser", "Target"]
