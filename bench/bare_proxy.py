"""A bare pass-through proxy on Interlock's stack: uvicorn (uvloop, httptools) + raw ASGI + one aiohttp session.

It forwards the method, path, query, body and the few headers providers need to `--upstream`, and relays the
reply: JSON in one body, SSE chunk by chunk as it arrives. No parsing, no auth, no routing, no disconnect
watcher: this is the practical ceiling for a Python gateway on this stack (design.md section 4), the row every
Interlock number is divided by.

Run: `python -m bench.bare_proxy --upstream http://127.0.0.1:9100 --port 9200`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp

__all__ = ["BareProxy", "main"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_FORWARD = frozenset(
    {b"content-type", b"authorization", b"x-api-key", b"anthropic-version", b"x-goog-api-key", b"accept"}
)


class BareProxy:
    """The raw ASGI app; one aiohttp ClientSession per process, opened at lifespan startup."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=2048, ttl_dns_cache=None, keepalive_timeout=60)
                self.session = aiohttp.ClientSession(
                    connector=connector, timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in _FORWARD}
        url = self.upstream + scope["path"]
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode()
        assert self.session is not None
        async with self.session.request(scope["method"], url, data=b"".join(chunks), headers=headers) as resp:
            content_type = resp.headers.get("content-type", "application/octet-stream")
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [(b"content-type", content_type.encode())],
                }
            )
            if content_type.startswith("text/event-stream"):
                async for data in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            else:
                await send({"type": "http.response.body", "body": await resp.read()})


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        BareProxy(args.upstream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
