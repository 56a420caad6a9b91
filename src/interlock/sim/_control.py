"""The control API tests and benchmarks use to inspect and steer a running simulator (routes under `/_sim`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from ._wire import ENCODER
from .config import PROTOCOLS, SimConfigError

if TYPE_CHECKING:
    from .server import SimServer

__all__ = ["add_control_routes"]


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=ENCODER.encode(payload), content_type="application/json")


def _problem(status: int, message: str) -> web.Response:
    return _json({"error": {"message": message}}, status)


def add_control_routes(app: web.Application, sim: SimServer) -> None:
    """Register the `/_sim/...` routes for `sim` on `app`."""

    async def health(request: web.Request) -> web.Response:
        return _json({"status": "ok", "providers": len(sim.provider_ids)})

    async def list_providers(request: web.Request) -> web.Response:
        return _json({"providers": {provider_id: sim.describe(provider_id) for provider_id in sim.provider_ids}})

    async def get_provider(request: web.Request) -> web.Response:
        provider_id = request.match_info["provider"]
        if provider_id not in sim.provider_ids:
            return _problem(404, f"unknown simulated provider {provider_id!r}")
        return _json(sim.describe(provider_id))

    async def put_provider(request: web.Request) -> web.Response:
        provider_id = request.match_info["provider"]
        try:
            patch = msgspec.json.decode(await request.read())
        except msgspec.DecodeError as exc:
            return _problem(400, f"invalid JSON: {exc}")
        if not isinstance(patch, dict):
            return _problem(400, "expected a JSON object with behaviour fields")
        protocol = patch.pop("protocol", None)
        models = patch.pop("models", None) or {}
        if protocol is not None and protocol not in PROTOCOLS:
            return _problem(400, f"protocol must be one of {', '.join(PROTOCOLS)}")
        if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
            return _problem(400, "models must map model names to behaviour patches")
        try:
            sim.set_behaviour(provider_id, patch, protocol=protocol)
            for model, model_patch in models.items():
                sim.set_behaviour(provider_id, model_patch, model=model)
        except SimConfigError as exc:
            return _problem(400, str(exc))
        return _json(sim.describe(provider_id))

    async def delete_provider(request: web.Request) -> web.Response:
        sim.reset_provider(request.match_info["provider"])
        return _json({"status": "reset"})

    async def get_requests(request: web.Request) -> web.Response:
        return _json({"requests": sim.requests(request.query.get("provider"))})

    async def delete_requests(request: web.Request) -> web.Response:
        return _json({"cleared": sim.clear_requests(request.query.get("provider"))})

    async def get_stats(request: web.Request) -> web.Response:
        return _json({"providers": sim.stats()})

    async def delete_stats(request: web.Request) -> web.Response:
        sim.reset_stats()
        return _json({"status": "reset"})

    router = app.router
    router.add_get("/_sim/health", health)
    router.add_get("/_sim/providers", list_providers)
    router.add_get("/_sim/providers/{provider}", get_provider)
    router.add_put("/_sim/providers/{provider}", put_provider)
    router.add_delete("/_sim/providers/{provider}", delete_provider)
    router.add_get("/_sim/requests", get_requests)
    router.add_delete("/_sim/requests", delete_requests)
    router.add_get("/_sim/stats", get_stats)
    router.add_delete("/_sim/stats", delete_stats)
