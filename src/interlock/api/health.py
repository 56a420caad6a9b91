"""Operational endpoints: ``GET /healthz`` (the process answers), ``GET /readyz`` (it can serve), ``GET /metrics``.

All three are unauthenticated, cheap, and left out of request metrics and logs. ``/readyz`` checks that the
database and the state backend answer, the catalog has models and at least one provider is enabled; the
checks that do I/O are cached for ``CACHE_SECONDS`` and run one at a time, so a tight probe loop costs at
most one query per second. Once shutdown starts, ``/readyz`` answers 503 ``draining``. Other packages can add
their own check with :meth:`Readiness.add_check` (``ctx.extras["readiness"]``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from interlock.api.context import AppContext
from interlock.api.http import Request, Response, json_response
from interlock.ir.errors import GatewayError
from interlock.telemetry import redact, render

CACHE_SECONDS: Final = 1.0
CHECK_TIMEOUT_SECONDS: Final = 2.0

Check = Callable[[], Awaitable[None]]


class Readiness:
    """The readiness checks of one app, with their cached results."""

    def __init__(self, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.cache_seconds = cache_seconds
        self.draining = False
        self._checks: dict[str, Check] = {}
        self._results: dict[str, tuple[float, str]] = {}
        self._lock = asyncio.Lock()

    def add_check(self, name: str, check: Check) -> None:
        """Run ``check`` (raises when not ready) as part of ``/readyz``; its result is cached."""
        self._checks[name] = check

    async def run(self) -> dict[str, str]:
        """Each check's result: ``"ok"`` or a short reason (secrets redacted)."""
        now = time.monotonic()
        stale = [n for n in self._checks if n not in self._results or now - self._results[n][0] > self.cache_seconds]
        if stale:
            async with self._lock:
                for name in stale:
                    cached = self._results.get(name)
                    if cached is not None and time.monotonic() - cached[0] <= self.cache_seconds:
                        continue  # another request refreshed it while we waited for the lock
                    self._results[name] = (time.monotonic(), await _outcome(self._checks[name]))
        return {name: self._results[name][1] for name in self._checks}


async def _outcome(check: Check) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check()
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return redact(f"{type(exc).__name__}: {exc}")[:200]
    return "ok"


def database_check(engine: Any) -> Check:
    """``SELECT 1`` on the app's database engine."""

    async def check() -> None:
        from sqlalchemy import text

        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def state_check(state_url: str) -> Check:
    """The shared state backend answers: always for ``memory://``; a ``PING`` for ``redis://``."""
    client: Any = None

    async def check() -> None:
        nonlocal client
        if state_url.startswith("memory:"):
            return
        if state_url.startswith(("redis:", "rediss:", "unix:")):
            if client is None:
                import redis.asyncio as aioredis

                client = aioredis.from_url(state_url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS)
            await client.ping()
            return
        raise ValueError(f"unknown state backend scheme in {state_url.split(':', 1)[0]!r}")

    return check


async def healthz(ctx: AppContext, request: Request) -> Response:
    """The process is alive and its event loop answers."""
    return json_response({"status": "ok"})


async def readyz(ctx: AppContext, request: Request) -> Response:
    """200 when every check passes, else 503 with each check's result."""
    readiness: Readiness | None = ctx.extras.get("readiness")
    checks = await readiness.run() if readiness is not None else {}
    catalog = ctx.gateway.catalog
    checks["catalog"] = "ok" if catalog.models else "no models in the catalog"
    enabled = any(getattr(p, "enabled", True) for p in catalog.providers.values())
    checks["providers"] = "ok" if enabled else "no provider is enabled"
    draining = readiness is not None and readiness.draining
    ready = not draining and all(v == "ok" for v in checks.values())
    status = "ready" if ready else "draining" if draining else "not_ready"
    return json_response({"status": status, "checks": checks}, status=200 if ready else 503)


async def metrics(ctx: AppContext, request: Request) -> Response:
    """Prometheus exposition of every worker's metrics (404 when ``telemetry.metrics`` is off)."""
    telemetry = getattr(ctx.settings, "telemetry", None)
    if telemetry is not None and not telemetry.metrics:
        raise GatewayError("resource_not_found", "Metrics are disabled (telemetry.metrics: false).")
    body, content_type = await asyncio.to_thread(render)
    return Response(200, body, content_type=content_type.encode())


__all__ = ["CACHE_SECONDS", "Readiness", "database_check", "healthz", "metrics", "readyz", "state_check"]
