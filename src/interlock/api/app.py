"""The ASGI application: lifespan (catalog, database, upstream session, simulator), routing table, error boundary.

Every response carries ``X-Request-ID``. Every failure, however it happens, leaves as a documented error
envelope: ``GatewayError`` as itself, an unexpected exception as ``internal_error`` (logged with its traceback,
never sent to the client). Error messages are scrubbed of secrets (``telemetry.redaction``) before they leave.

Each request of an ``observed`` route gets a telemetry probe (``telemetry.request``): in flight from arrival,
told the status it answers with, and finished once the last byte is out, which records metrics, the request
log line and the trace span.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from interlock.accounting.meter import Tab, current_tab
from interlock.api.context import AppContext
from interlock.api.errors import anthropic_error_response, openai_error_response
from interlock.api.http import (
    Receive,
    Request,
    Response,
    Scope,
    Send,
    StreamingResponse,
    send_response,
    send_streaming,
)
from interlock.ir.builder import BuilderError
from interlock.ir.errors import GatewayError
from interlock.telemetry import Probe, Telemetry, redact

log = logging.getLogger("interlock.api")

Handler = Callable[[AppContext, Request], Awaitable[Response | StreamingResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    anthropic_errors: bool = False
    observed: bool = True  # False for /metrics, /healthz, /readyz: not counted, logged or traced


def route(path: str, methods: dict[str, Handler], *, anthropic_errors: bool = False, observed: bool = True) -> Route:
    """``/v1/models/{model_id:path}`` style paths; ``:path`` parameters may contain slashes."""
    regex = "^"
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name, _, kind = part[1:-1].partition(":")
            regex += f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return Route(path, re.compile(regex + "$"), methods, anthropic_errors, observed)


class InterlockApp:
    """A plain ASGI callable (so the server can be swapped after measuring, design.md section 4)."""

    def __init__(
        self,
        routes: list[Route],
        startup: Callable[[], Awaitable[AppContext]],
        shutdown: Callable[[], Awaitable[None]],
        telemetry: Telemetry | None = None,
    ):
        self.routes = routes
        self.telemetry = telemetry if telemetry is not None else Telemetry()
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
        matched = self._match(request.path)
        path = matched[0].path if matched is not None else None
        observed = matched is None or matched[0].observed
        probe = self.telemetry.begin(request_id, request.method, path, request.headers, observed=observed)
        try:
            await self._serve(request, send, matched, probe)
        finally:
            probe.finish()
            tab = current_tab()
            if tab is not None:
                tab.close()

    async def _serve(
        self, request: Request, send: Send, matched: tuple[Route, dict[str, str]] | None, probe: Probe
    ) -> None:
        rid = {"x-request-id": request.request_id}
        anthropic = matched is not None and matched[0].anthropic_errors
        tab: Tab | None = None  # the request as accounting sees it: limits, budgets, ledger (accounting.meter)
        try:
            if matched is None:
                raise GatewayError("resource_not_found", f"No route for {request.path}.")
            r, params = matched
            handler = r.methods.get(request.method)
            if handler is None:
                allow = ", ".join(sorted(r.methods))
                err = GatewayError("method_not_allowed", f"Method {request.method} is not allowed on {request.path}.")
                probe.respond(err.status, err.code, err.message)
                await send_response(send, _render(err, anthropic, {**rid, "allow": allow}))
                return
            if self.ctx is None:
                raise GatewayError("service_unavailable", "The gateway is starting.")
            request.path_params = params
            meter = self.ctx.extras.get("meter")
            tab = meter.open(request.request_id, r.path) if meter is not None else None
            result = await handler(self.ctx, request)
        except GatewayError as err:
            probe.respond(err.status, err.code, err.message)
            extra = await tab.failed(err) if tab is not None else {}
            await send_response(send, _render(err, anthropic, {**rid, **extra}))
            return
        except BuilderError as exc:
            log.error("invalid upstream event sequence: %s", exc)
            error = GatewayError("upstream_error", "The upstream sent an invalid event sequence.")
            probe.respond(error.status, error.code, error.message)
            extra = await tab.failed(error) if tab is not None else {}
            await send_response(send, _render(error, anthropic, {**rid, **extra}))
            return
        except Exception as exc:
            log.exception("internal error on %s %s", request.method, request.path, exc_info=exc)
            probe.respond(500, "internal_error")
            error = GatewayError("internal_error")
            extra = await tab.failed(error) if tab is not None else {}
            await send_response(send, _render(error, anthropic, {**rid, **extra}))
            return
        result.headers.update(rid)
        probe.respond(result.status)
        if isinstance(result, StreamingResponse):
            result.on_close = probe.streaming(result.on_close)
            if tab is not None:  # rate-limit and budget headers; the last bytes wait for the ledger row
                result.chunks = tab.streaming(result.headers, result.chunks)
            await send_streaming(send, request.receive, result)
        else:
            if tab is not None:
                await tab.responded(result.headers)
            await send_response(send, result)


def _render(err: GatewayError, anthropic: bool, headers: dict[str, str]) -> Response:
    err.message = redact(err.message)
    return anthropic_error_response(err, headers) if anthropic else openai_error_response(err, headers)


__all__ = ["Handler", "InterlockApp", "Route", "route"]
