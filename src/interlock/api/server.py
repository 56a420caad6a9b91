"""Wiring: settings -> catalog, database, key store, upstream session, simulator -> the ASGI app; and ``serve``.

In the embedded default (no provider key, no providers configured) the simulated providers' ``sim://`` base
URLs are replaced with the in-process simulator's real loopback address at start.

Shutdown (SIGTERM): uvicorn stops accepting and waits up to ``server.shutdown_grace_seconds`` for open
connections (in-flight requests and streams) to finish; then the lifespan shutdown marks the app not ready,
waits for anything still in flight within the same grace, runs ``ctx.shutdown_hooks`` (ledger flush), closes
resources, flushes traces, and the process exits 0. ``--workers N`` shares one metrics directory between the
workers for the life of the server (``telemetry.metrics``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import msgspec

from interlock.accounting.service import Accounting
from interlock.api.admin import ADMIN_ROUTES
from interlock.api.app import InterlockApp, Route, route
from interlock.api.context import AppContext
from interlock.api.health import Readiness, database_check, healthz, metrics, readyz, state_check
from interlock.api.limits import configure_server, guard_routes, uvicorn_options
from interlock.api.responses import create_response
from interlock.config import Settings, load_catalog, load_settings
from interlock.dashboard import dashboard_routes
from interlock.dashboard import install as install_dashboard
from interlock.engine import Gateway, Observers
from interlock.providers.fetch import Fetcher, FetchPolicy, guarded_call
from interlock.providers.transport import call as upstream_call
from interlock.providers.transport import make_session
from interlock.routing import open_stats
from interlock.routing.catalog import Catalog
from interlock.store.db import init_db, make_engine
from interlock.store.keycache import CachedKeyAuthenticator
from interlock.store.keys import KeyStore
from interlock.telemetry import KeyTap, Telemetry, Tracing, configure_logging, multiprocess_dir_for_workers

log = logging.getLogger("interlock")

SIM_SCHEME = "sim://"


def routes() -> list[Route]:
    """The HTTP surface (one module per endpoint family)."""
    from interlock.api.chat import create_chat_completion
    from interlock.api.me import get_me
    from interlock.api.messages import count_tokens, create_message
    from interlock.api.models import directory_models, list_models, registry_models, registry_providers, retrieve_model
    from interlock.api.openapi import get_openapi
    from interlock.api.stored import get_response

    return [
        route("/v1/responses", {"POST": create_response}),
        route("/v1/responses/{response_id}", {"GET": get_response}),
        route("/v1/chat/completions", {"POST": create_chat_completion}),
        route("/v1/messages", {"POST": create_message}, anthropic_errors=True),
        route("/v1/messages/count_tokens", {"POST": count_tokens}, anthropic_errors=True),
        route("/v1/models", {"GET": list_models}),
        route("/v1/models/{model_id:path}", {"GET": retrieve_model}),
        route("/v1/me", {"GET": get_me}),
        route("/v1/registry/providers", {"GET": registry_providers}),
        route("/v1/registry/models", {"GET": registry_models}),
        route("/v1/directory/models", {"GET": directory_models}),
        route("/openapi.json", {"GET": get_openapi}),
        route("/healthz", {"GET": healthz}, observed=False),
        route("/readyz", {"GET": readyz}, observed=False),
        route("/metrics", {"GET": metrics}, observed=False),
    ]


def sim_config_for(catalog: Catalog) -> Any:
    """A simulator config playing every provider whose base URL is ``sim://``."""
    from interlock.sim.config import SimConfig, SimProvider

    providers: dict[str, SimProvider] = {}
    for p in catalog.providers.values():
        if p.base_url.startswith(SIM_SCHEME):
            behaviour = msgspec.to_builtins(p.sim) if p.sim is not None else {}
            providers[p.id] = SimProvider(protocol=p.protocol, behaviour=behaviour)
    return SimConfig(providers=providers)


SIM_API_KEY = "sim-key"  # simulated providers check that a key is sent (as real ones do), not which


def with_base_urls(catalog: Catalog, urls: dict[str, str]) -> Catalog:
    """The catalog with the given (simulated) providers' base URLs replaced, and a key where none is set."""
    providers = [
        msgspec.structs.replace(p, base_url=urls[p.id], api_key=p.api_key or SIM_API_KEY) if p.id in urls else p
        for p in catalog.providers.values()
    ]
    return Catalog(providers, catalog.models)


@dataclass
class Runtime:
    """Resources one app instance owns between startup and shutdown."""

    settings: Settings
    resources: list[Any] = field(default_factory=list)
    sim: Any = None
    db: Any = None
    session: Any = None
    ctx: AppContext | None = None


def create_app(settings: Settings | None = None, *, config_path: str | None = None) -> InterlockApp:
    """The ASGI app for ``settings`` (loaded from ``config_path`` / the environment when not given)."""
    rt = Runtime(settings=settings if settings is not None else load_settings(config_path))
    tel = rt.settings.telemetry
    telemetry = Telemetry(metrics=tel.metrics, request_logs=tel.request_logs)
    readiness = Readiness()

    async def startup() -> AppContext:
        s = rt.settings
        if tel.otlp_endpoint:  # here, not in create_app: each worker process needs its own exporter thread
            telemetry.tracing = Tracing(
                service_name=tel.service_name,
                endpoint=tel.otlp_endpoint,
                headers=tel.otlp_headers,
                sample_ratio=tel.trace_sample_ratio,
            )
        catalog = load_catalog(s)
        if any(p.base_url.startswith(SIM_SCHEME) for p in catalog.providers.values()):
            from interlock.sim import SimServer

            rt.sim = SimServer(sim_config_for(catalog))
            await rt.sim.start("127.0.0.1", 0)
            urls = {
                p.id: rt.sim.base_url(p.id, p.protocol)
                for p in catalog.providers.values()
                if p.base_url.startswith(SIM_SCHEME)
            }
            catalog = with_base_urls(catalog, urls)
            log.warning("no provider API key is set: serving the built-in simulated providers (%s)", ", ".join(urls))
        rt.db = make_engine(s.database_url)
        await init_db(rt.db)
        rt.session = make_session()
        key_cache = CachedKeyAuthenticator(KeyStore(rt.db))
        authenticator = KeyTap(key_cache)
        fetcher = Fetcher(FetchPolicy.from_settings(s.fetch))  # inlines media URLs for Gemini, SSRF-guarded
        rt.resources.append(fetcher)
        gateway = Gateway(
            catalog,
            rt.session,
            stats=open_stats(s.state_url),
            default_timeout_ms=s.default_timeout_ms,
            call=guarded_call(upstream_call, fetcher),
        )
        accounting = Accounting(s, rt.db, key_cache)  # ledger, rate limits, budgets, stored responses
        await accounting.start()
        gateway.observer = Observers(gateway.observer, telemetry.observer, *accounting.observers())
        await gateway.start()
        rt.resources.append(gateway)
        readiness.add_check("database", database_check(rt.db))
        readiness.add_check("state", state_check(s.state_url))
        rt.ctx = AppContext(
            settings=s, gateway=gateway, authenticator=authenticator, max_body_bytes=s.server.max_body_bytes
        )
        rt.ctx.extras["readiness"] = readiness
        accounting.install(rt.ctx, gateway)
        install_dashboard(rt.ctx)  # recent requests for /dashboard, when admin_key is set
        return rt.ctx

    async def shutdown() -> None:
        readiness.draining = True
        if not await telemetry.wait_idle(rt.settings.server.shutdown_grace_seconds):
            log.warning("shutdown: %d request(s) still in flight after the grace period", telemetry.in_flight)
        for hook in rt.ctx.shutdown_hooks if rt.ctx is not None else []:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)
        for resource in reversed(rt.resources):
            await resource.close()
        if rt.session is not None:
            await rt.session.close()
        if rt.db is not None:
            await rt.db.dispose()
        if rt.sim is not None:
            await rt.sim.stop()
        await telemetry.shutdown()

    admin = [route(path, methods) for path, methods in ADMIN_ROUTES] if rt.settings.admin_key else []
    admin += dashboard_routes() if rt.settings.admin_key else []  # HTML, not API: kept out of routes() and OpenAPI
    guarded = guard_routes(routes() + admin, rt.settings.limits, rt.settings.server)  # input caps (api.limits)
    return InterlockApp(guarded, startup, shutdown, telemetry)


def app_from_env() -> InterlockApp:
    """Factory for ``uvicorn --factory interlock.api.server:app_from_env`` (worker processes)."""
    settings = load_settings(os.environ.get("INTERLOCK_CONFIG"))
    setup_logging(settings)
    configure_server(settings.server, settings.limits)
    return create_app(settings)


def setup_logging(settings: Settings) -> None:
    """Root logging for a server process: ``log_level`` / ``log_format``, configured keys redacted."""
    secrets = [p.api_key for p in settings.providers] + [settings.admin_key]
    configure_logging(settings.log_level, settings.log_format, secrets=secrets)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is done; exit 0 rather than die of it.
    raise SystemExit(0)


def serve(config_path: str | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway under uvicorn (uvloop + httptools)."""
    import uvicorn

    settings = load_settings(config_path)
    for warning in settings.warnings:
        print(f"interlock: {warning}", file=sys.stderr)
    host = host or settings.server.host
    port = port if port is not None else settings.server.port
    workers = workers or settings.server.workers
    setup_logging(settings)
    print(f"interlock: listening on http://{host}:{port}", file=sys.stderr)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "lifespan": "on",
        "access_log": False,
        "log_level": "warning",
        "log_config": None,  # our root handler (JSON or text, redacted) formats uvicorn's records too
        "timeout_graceful_shutdown": settings.server.shutdown_grace_seconds,
        **uvicorn_options(settings.server, settings.limits),  # httptools with head caps and slow-loris timeouts
    }
    configure_server(settings.server, settings.limits)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if workers > 1:
        if config_path:
            os.environ["INTERLOCK_CONFIG"] = config_path
        with multiprocess_dir_for_workers():
            uvicorn.run("interlock.api.server:app_from_env", factory=True, workers=workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)


__all__ = ["app_from_env", "create_app", "routes", "serve", "setup_logging", "sim_config_for", "with_base_urls"]
