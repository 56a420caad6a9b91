"""Thin ASGI plumbing: the request we hand to handlers, the responses they return, and how they are sent.

Kept on raw ASGI (design.md section 4: no framework on the hot path). Streaming responses watch for
``http.disconnect`` and cancel the producing task, so an upstream call stops when its client hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE = b"application/json; charset=utf-8"
SSE_TYPE = b"text/event-stream; charset=utf-8"
_ENCODER = msgspec.json.Encoder()


def encode_json(obj: Any) -> bytes:
    return _ENCODER.encode(obj)


class BodyTooLarge(Exception):
    """The client sent more than the configured body limit."""


class Request:
    """What a handler sees of one HTTP request."""

    __slots__ = ("body", "headers", "method", "path", "path_params", "query", "receive", "request_id", "scope", "state")

    def __init__(self, scope: Scope, receive: Receive, request_id: str) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: str = scope.get("query_string", b"").decode("latin-1")
        self.headers: dict[str, str] = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.request_id = request_id
        self.body = b""
        self.path_params: dict[str, str] = {}
        self.state: dict[str, Any] = {}

    async def read_body(self, limit: int) -> bytes:
        """Read the whole body, refusing more than ``limit`` bytes (raises :class:`BodyTooLarge`)."""
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self.body = b"".join(chunks)
        return self.body

    def query_param(self, name: str) -> str | None:
        from urllib.parse import parse_qs

        values = parse_qs(self.query).get(name)
        return values[0] if values else None


class Response:
    """A complete response."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, content_type: bytes = JSON_TYPE
    ):
        self.status = status
        self.body = body
        self.headers = {"content-type": content_type.decode(), **(headers or {})}


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, encode_json(obj), headers)


class StreamingResponse:
    """A response whose body is produced chunk by chunk (SSE)."""

    __slots__ = ("chunks", "headers", "on_close", "status")

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        headers: dict[str, str] | None = None,
        status: int = 200,
        on_close: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.status = status
        self.chunks = chunks
        self.on_close = on_close  # called with True when the client disconnected early
        self.headers = {
            "content-type": SSE_TYPE.decode(),
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
            **(headers or {}),
        }


def _raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def send_response(send: Send, response: Response) -> None:
    headers = dict(response.headers)
    headers["content-length"] = str(len(response.body))
    await send({"type": "http.response.start", "status": response.status, "headers": _raw_headers(headers)})
    await send({"type": "http.response.body", "body": response.body})


async def send_streaming(send: Send, receive: Receive, response: StreamingResponse) -> None:
    """Stream the body; stop producing (and cancel upstream work) when the client disconnects."""
    disconnected = False
    finished = False

    async def pump() -> None:
        nonlocal finished
        await send(
            {"type": "http.response.start", "status": response.status, "headers": _raw_headers(response.headers)}
        )
        async for chunk in response.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        finished = True  # uvicorn reports http.disconnect right after a completed response: not an early hang-up

    async def watch() -> None:
        nonlocal disconnected
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                return

    pump_task = asyncio.ensure_future(pump())
    watch_task = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({pump_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
        if not pump_task.done():
            pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await pump_task
    finally:
        watch_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch_task
        aclose = getattr(response.chunks, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
        if response.on_close is not None:
            await response.on_close(disconnected and not finished)


__all__ = [
    "BodyTooLarge",
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
    "StreamingResponse",
    "encode_json",
    "json_response",
    "send_response",
    "send_streaming",
]
