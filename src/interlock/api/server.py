"""Wiring: settings -> catalog, database, key store, upstream session, simulator -> the ASGI app; and ``serve``.

In the embedded default (no provider key, no providers configured) the simulated providers' ``sim://`` base
URLs are replaced with the in-process simulator's real loopback address at start.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import msgspec

from interlock.api.app import InterlockApp, Route, healthz, route
from interlock.api.context import AppContext
from interlock.api.responses import create_response
from interlock.config import Settings, load_catalog, load_settings
from interlock.engine import Gateway
from interlock.providers.transport import make_session
from interlock.routing.catalog import Catalog
from interlock.store.db import init_db, make_engine
from interlock.store.keycache import CachedKeyAuthenticator
from interlock.store.keys import KeyStore

log = logging.getLogger("interlock")

SIM_SCHEME = "sim://"


def routes() -> list[Route]:
    """The HTTP surface (one module per endpoint family)."""
    return [
        route("/v1/responses", {"POST": create_response}),
        route("/healthz", {"GET": healthz}),
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


def with_base_urls(catalog: Catalog, urls: dict[str, str]) -> Catalog:
    """The catalog with the given providers' base URLs replaced."""
    providers = [
        msgspec.structs.replace(p, base_url=urls[p.id]) if p.id in urls else p for p in catalog.providers.values()
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


def create_app(settings: Settings | None = None, *, config_path: str | None = None) -> InterlockApp:
    """The ASGI app for ``settings`` (loaded from ``config_path`` / the environment when not given)."""
    rt = Runtime(settings=settings if settings is not None else load_settings(config_path))

    async def startup() -> AppContext:
        s = rt.settings
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
        authenticator = CachedKeyAuthenticator(KeyStore(rt.db))
        gateway = Gateway(catalog, rt.session)
        return AppContext(
            settings=s, gateway=gateway, authenticator=authenticator, max_body_bytes=s.server.max_body_bytes
        )

    async def shutdown() -> None:
        if rt.session is not None:
            await rt.session.close()
        if rt.db is not None:
            await rt.db.dispose()
        if rt.sim is not None:
            await rt.sim.stop()

    return InterlockApp(routes(), startup, shutdown)


def app_from_env() -> InterlockApp:
    """Factory for ``uvicorn --factory interlock.api.server:app_from_env`` (worker processes)."""
    return create_app(config_path=os.environ.get("INTERLOCK_CONFIG"))


def serve(config_path: str | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway under uvicorn (uvloop + httptools)."""
    import uvicorn

    settings = load_settings(config_path)
    for warning in settings.warnings:
        print(f"interlock: {warning}", file=sys.stderr)
    host = host or settings.server.host
    port = port if port is not None else settings.server.port
    workers = workers or settings.server.workers
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.simulated:
        print("interlock: no provider API key set; serving the built-in simulated providers", file=sys.stderr)
    print(f"interlock: listening on http://{host}:{port}", file=sys.stderr)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,
        "log_level": "warning",
        "timeout_graceful_shutdown": 30,
        "h11_max_incomplete_event_size": settings.server.max_header_bytes,
    }
    if workers > 1:
        if config_path:
            os.environ["INTERLOCK_CONFIG"] = config_path
        uvicorn.run("interlock.api.server:app_from_env", factory=True, workers=workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)


__all__ = ["create_app", "routes", "serve", "sim_config_for", "with_base_urls"]
