"""A lean mock upstream: the four provider protocols from precomputed bytes on raw asyncio + httptools + uvloop.

Why not the simulator: `interlock.sim` is an aiohttp.web app that parses, plans and renders every reply, which
makes it a faithful upstream but, measured in the same run (the throughput lane's `upstream ceiling` rows), a
slower one than the proxies it would feed. A baseline must not be the bottleneck, so the speed lanes use this
mock; the `overhead` and `routing` lanes use the real simulator.

Routing mirrors the simulator's URLs so configs are interchangeable: `POST /p/{provider}/v1/responses`,
`/v1/chat/completions`, `/v1/messages` and `/v1beta/models/{model}:generateContent|streamGenerateContent`
(any prefix is accepted; the suffix picks the protocol). A body containing `"stream": true` (or the Gemini
stream action) gets SSE. Providers whose id starts with `paced` send their token frames `--paced-ms` apart
(one deadline per frame from the stream start, like the simulator's `tps`), with `--paced-tokens` tokens;
all others answer at once with `--tokens` tokens. `GET /healthz` answers 200.

Run: `python -m bench.mock_upstream --port 9100`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from dataclasses import dataclass
from typing import cast

import httptools

from bench._wire import Kind, json_body, stream_frames

__all__ = ["MockConfig", "main", "serve"]

_STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
_OK_JSON = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
_OK_SSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 33\r\n\r\n"
    b'{"error":{"message":"not found"}}'
)
_HEALTH = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"status":"ok"}'


@dataclass(frozen=True, slots=True)
class MockConfig:
    tokens: int = 16
    paced_ms: float = 20.0
    paced_tokens: int = 50


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


class _Replies:
    """Every reply as ready-to-write bytes: JSON responses, whole SSE bodies, and paced frame lists."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.json: dict[Kind, bytes] = {}
        self.sse: dict[Kind, bytes] = {}
        self.paced: dict[Kind, list[tuple[bytes, int]]] = {}
        self.paced_json: dict[Kind, bytes] = {}
        for kind in ("responses", "chat", "anthropic", "gemini"):
            body = json_body(kind, config.tokens)
            self.json[kind] = (_OK_JSON % len(body)) + body
            whole = b"".join(frame for frame, _ in stream_frames(kind, config.tokens))
            self.sse[kind] = _OK_SSE + _chunked(whole) + b"0\r\n\r\n"
            self.paced[kind] = [(_chunked(f), w) for f, w in stream_frames(kind, config.paced_tokens)]
            paced_body = json_body(kind, config.paced_tokens)
            self.paced_json[kind] = (_OK_JSON % len(paced_body)) + paced_body


def _kind(path: bytes) -> tuple[Kind | None, bool]:
    """The protocol a path speaks and whether its action forces streaming (Gemini)."""
    if path.endswith(b"/responses"):
        return "responses", False
    if path.endswith(b"/chat/completions"):
        return "chat", False
    if path.endswith(b"/messages"):
        return "anthropic", False
    if path.endswith(b":streamGenerateContent"):
        return "gemini", True
    if path.endswith(b":generateContent"):
        return "gemini", False
    return None, False


class _Conn(asyncio.Protocol):
    def __init__(self, replies: _Replies) -> None:
        self.replies = replies
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.pacing: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pacing is not None:
            self.pacing.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None:
            return
        keep_alive = self.parser.should_keep_alive()
        path = self.url.split(b"?", 1)[0]
        kind, forced_stream = _kind(path)
        if kind is None:
            method = self.parser.get_method()
            transport.write(_HEALTH if method == b"GET" and path.endswith(b"healthz") else _NOT_FOUND)
        else:
            stream = forced_stream or _STREAM_FLAG.search(b"".join(self.body)) is not None
            paced = b"/p/paced" in path
            if stream and paced:
                self.pacing = asyncio.get_running_loop().create_task(self._paced(kind, keep_alive))
                return
            if stream:
                transport.write(self.replies.sse[kind])
            else:
                transport.write((self.replies.paced_json if paced else self.replies.json)[kind])
        if not keep_alive:
            transport.close()

    async def _paced(self, kind: Kind, keep_alive: bool) -> None:
        loop = asyncio.get_running_loop()
        interval = self.replies.config.paced_ms / 1000
        start = loop.time()
        pending = [_OK_SSE]
        sent_tokens = 0
        for frame, weight in self.replies.paced[kind]:
            if weight:
                delay = start + sent_tokens * interval - loop.time()
                sent_tokens += 1
                if delay > 0:
                    if pending and self.transport is not None:
                        self.transport.write(b"".join(pending))
                        pending.clear()
                    await asyncio.sleep(delay)
            pending.append(frame)
        pending.append(b"0\r\n\r\n")
        if self.transport is not None:
            self.transport.write(b"".join(pending))
            if not keep_alive:
                self.transport.close()
        self.pacing = None


async def serve(host: str, port: int, config: MockConfig) -> None:
    """Serve until cancelled."""
    replies = _Replies(config)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Conn(replies), host, port, backlog=4096, reuse_address=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--paced-ms", type=float, default=20.0)
    parser.add_argument("--paced-tokens", type=int, default=50)
    args = parser.parse_args(argv)
    config = MockConfig(tokens=args.tokens, paced_ms=args.paced_ms, paced_tokens=args.paced_tokens)
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port, config))
    except ImportError:
        asyncio.run(serve(args.host, args.port, config))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
