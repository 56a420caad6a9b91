"""The ASGI application: lifespan (catalog, database, upstream session, simulator), routing table, error boundary.

Every response carries ``X-Request-ID``. Every failure, however it happens, leaves as a documented error
envelope: ``GatewayError`` as itself, an unexpected exception as ``internal_error`` (logged with its traceback,
never sent to the client).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from interlock.api.context import AppContext
from interlock.api.errors import anthropic_error_response, openai_error_response
from interlock.api.http import (
    Receive,
    Request,
    Response,
    Scope,
    Send,
    StreamingResponse,
    json_response,
    send_response,
    send_streaming,
)
from interlock.ir.builder import BuilderError
from interlock.ir.errors import GatewayError

log = logging.getLogger("interlock.api")

Handler = Callable[[AppContext, Request], Awaitable[Response | StreamingResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    anthropic_errors: bool = False


def route(path: str, methods: dict[str, Handler], *, anthropic_errors: bool = False) -> Route:
    """``/v1/models/{model_id:path}`` style paths; ``:path`` parameters may contain slashes."""
    regex = "^"
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name, _, kind = part[1:-1].partition(":")
            regex += f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return Route(path, re.compile(regex + "$"), methods, anthropic_errors)


class InterlockApp:
    """A plain ASGI callable (so the server can be swapped after measuring, design.md section 4)."""

    def __init__(
        self, routes: list[Route], startup: Callable[[], Awaitable[AppContext]], shutdown: Callable[[], Awaitable[None]]
    ):
        self.routes = routes
        self._exact: dict[str, Route] = {r.path: r for r in routes if "{" not in r.path}
        self._startup = startup
        self._shutdown = shutdown
        self.ctx: AppContext | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.ctx = await self._startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self._shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    def _match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        exact = self._exact.get(path)
        if exact is not None:
            return exact, {}
        for r in self.routes:
            m = r.pattern.match(path)
            if m:
                return r, m.groupdict()
        return None

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = "req_" + uuid.uuid4().hex
        request = Request(scope, receive, request_id)
        rid = {"x-request-id": request_id}
        matched = self._match(request.path)
        anthropic = matched is not None and matched[0].anthropic_errors
        try:
            if matched is None:
                raise GatewayError("resource_not_found", f"No route for {request.path}.")
            r, params = matched
            handler = r.methods.get(request.method)
            if handler is None:
                allow = ", ".join(sorted(r.methods))
                err = GatewayError("method_not_allowed", f"Method {request.method} is not allowed on {request.path}.")
                await send_response(send, _render(err, anthropic, {**rid, "allow": allow}))
                return
            if self.ctx is None:
                raise GatewayError("service_unavailable", "The gateway is starting.")
            request.path_params = params
            result = await handler(self.ctx, request)
        except GatewayError as err:
            await send_response(send, _render(err, anthropic, rid))
            return
        except BuilderError as exc:
            log.error("invalid upstream event sequence: %s", exc)
            err = GatewayError("upstream_error", "The upstream sent an invalid event sequence.")
            await send_response(send, _render(err, anthropic, rid))
            return
        except Exception as exc:
            log.exception("internal error on %s %s", request.method, request.path, exc_info=exc)
            await send_response(send, _render(GatewayError("internal_error"), anthropic, rid))
            return
        result.headers.update(rid)
        if isinstance(result, StreamingResponse):
            await send_streaming(send, receive, result)
        else:
            await send_response(send, result)


def _render(err: GatewayError, anthropic: bool, headers: dict[str, str]) -> Response:
    return anthropic_error_response(err, headers) if anthropic else openai_error_response(err, headers)


async def healthz(ctx: AppContext, request: Request) -> Response:
    return json_response({"status": "ok"})


__all__ = ["Handler", "InterlockApp", "Route", "healthz", "route"]
