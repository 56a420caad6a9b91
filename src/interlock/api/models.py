"""Discovery: ``GET /v1/models``, ``GET /v1/models/{model_id}`` (API key) and the public registry and directory.

Everything is generated from the live catalog (``ctx.gateway.catalog``), in the shapes of the auriko SDK 1.2.0
(``models/providers.py``, auriko-api.md 1.3 and 1.5). Only models with at least one offering on an enabled
provider are listed; prices are USD per 1M tokens, an unpriced offering reports 0.
"""

from __future__ import annotations

import datetime
from typing import Any

from interlock.api.auth import authenticate
from interlock.api.context import AppContext
from interlock.api.http import Request, Response, json_response
from interlock.engine import split_suffix
from interlock.ir.errors import GatewayError
from interlock.routing.catalog import CAPABILITIES, Catalog, ModelEntry, Offering

ENDPOINTS = ("chat_completions", "responses")
OWNED_BY = "auriko"  # auriko-api.md 1.3: always "auriko"

# Request parameters every offering takes, on top of its optional ``accepted_params``.
CORE_PARAMS = ("max_tokens", "max_completion_tokens", "stream", "stream_options")
# Capability -> the parameters it makes usable.
CAPABILITY_PARAMS: dict[str, tuple[str, ...]] = {
    "tools": ("tools", "tool_choice"),
    "json_object": ("response_format",),
    "json_schema": ("response_format",),
    "reasoning": ("reasoning_effort", "reasoning"),
}


def _price(value: float | None) -> float:
    return float(value) if value is not None else 0.0


def _modalities(capabilities: frozenset[str]) -> list[str]:
    out = ["text"]
    if "vision" in capabilities:
        out.append("image")
    if "pdf" in capabilities:
        out.append("file")
    return out


def _capability_map(capabilities: frozenset[str]) -> dict[str, bool]:
    return {cap: cap in capabilities for cap in CAPABILITIES}


def _union_capabilities(offerings: list[Offering]) -> frozenset[str]:
    caps: set[str] = set()
    for o in offerings:
        caps.update(o.capabilities)
    return frozenset(caps)


def _supported_params(offering: Offering) -> list[str]:
    params: set[str] = set(CORE_PARAMS) | set(offering.accepted_params or ())
    for cap, names in CAPABILITY_PARAMS.items():
        if cap in offering.capabilities:
            params.update(names)
    return sorted(params)


def _listed(catalog: Catalog, endpoint: str) -> list[ModelEntry]:
    return [m for m in catalog.available_models if endpoint in m.endpoints]


def model_object(catalog: Catalog, entry: ModelEntry) -> dict[str, Any]:
    """One ``Model`` of ``GET /v1/models`` (auriko-api.md 1.3)."""
    offerings = catalog.offerings_for(entry.id)
    providers: list[dict[str, Any]] = []
    seen: set[str] = set()
    ranked = sorted(offerings, key=lambda o: (o.tier != "standard", o.blended_price is None, o.blended_price or 0.0))
    for o in ranked:
        if o.provider in seen:
            continue
        seen.add(o.provider)
        providers.append(
            {
                "name": o.provider,
                "input_price": _price(o.input_price),
                "output_price": _price(o.output_price),
                "data_policy": o.data_policy,
            }
        )
    windows = [o.context_window for o in offerings if o.context_window is not None]
    return {
        "id": entry.id,
        "object": "model",
        "created": entry.created,
        "owned_by": OWNED_BY,
        "context_window": max(windows) if windows else None,
        "supported_endpoints": list(entry.endpoints),
        "providers": providers,
    }


async def list_models(ctx: AppContext, request: Request) -> Response:
    await authenticate(request, ctx.authenticator)
    endpoint = request.query_param("endpoint") or "chat_completions"
    if endpoint not in ENDPOINTS:
        raise GatewayError(
            "invalid_parameter_value", "endpoint must be 'chat_completions' or 'responses'.", param="endpoint"
        )
    catalog = ctx.gateway.catalog
    return json_response(
        {
            "object": "list",
            "data": [model_object(catalog, m) for m in _listed(catalog, endpoint)],
            "catalog_version": catalog.version,
            "catalog_age_seconds": round(catalog.age_seconds(), 3),
        }
    )


async def retrieve_model(ctx: AppContext, request: Request) -> Response:
    await authenticate(request, ctx.authenticator)
    name = request.path_params.get("model_id", "")
    catalog = ctx.gateway.catalog
    entry = catalog.resolve(split_suffix(name)[0])
    if entry is None or not catalog.offerings_for(entry.id):
        raise GatewayError(
            "model_not_found",
            f"The model '{name}' does not exist.",
            param="model",
            suggestion="GET /v1/models lists the models this gateway serves.",
        )
    return json_response(model_object(catalog, entry))


async def registry_providers(ctx: AppContext, request: Request) -> Response:
    """``{providers: [{id, display_name, description, icon, data_policy}], count}`` (public)."""
    providers = [
        {"id": p.id, "display_name": p.name, "description": p.description, "icon": "", "data_policy": p.data_policy}
        for p in ctx.gateway.catalog.enabled_providers
    ]
    return json_response({"providers": providers, "count": len(providers)})


async def registry_models(ctx: AppContext, request: Request) -> Response:
    """The canonical model list (public)."""
    catalog = ctx.gateway.catalog
    models: list[dict[str, Any]] = []
    for entry in catalog.available_models:
        offerings = catalog.offerings_for(entry.id)
        caps = _union_capabilities(offerings)
        models.append(
            {
                "id": entry.id,
                "family": entry.family or entry.id,
                "display_name": entry.name,
                "capabilities": _capability_map(caps),
                "input_modalities": _modalities(caps),
                "output_modalities": ["text"],
                "providers": sorted({o.provider for o in offerings}),
                "has_free_provider": any(not o.input_price and not o.output_price for o in offerings),
                "author": entry.author or None,
            }
        )
    return json_response({"models": models, "count": len(models), "playground_defaults": []})


def _provider_entries(entry: ModelEntry, offerings: list[Offering]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Offering]] = {}
    for o in offerings:
        groups.setdefault((o.provider, o.provider_model_id), []).append(o)
    out: list[dict[str, Any]] = []
    for (provider, provider_model_id), group in groups.items():
        first = group[0]
        caps = _union_capabilities(group)
        tiers: list[dict[str, Any]] = []
        for o in group:
            hint = f"ttft ~{round(o.priors.ttft_ms)} ms" if o.priors is not None and o.priors.ttft_ms else None
            tiers.append(
                {
                    "name": o.tier,
                    "input_price": _price(o.input_price),
                    "output_price": _price(o.output_price),
                    "cache_read_price": o.cache_read_price,
                    "cache_write_price": o.cache_write_price,
                    "latency_hint": hint,
                    "price_variants": [],
                }
            )
        out.append(
            {
                "provider": provider,
                "provider_model_id": provider_model_id,
                "context_window": first.context_window,
                "max_output_tokens": first.max_output_tokens,
                "capabilities": _capability_map(caps),
                "input_modalities": _modalities(caps),
                "output_modalities": ["text"],
                "tools": ["function"] if "tools" in caps else [],
                "tiers": tiers,
                "data_policy": first.data_policy,
                "accepted_params": sorted(first.accepted_params or ()),
                "supported_parameters": _supported_params(first),
                "supported_endpoints": list(entry.endpoints),
            }
        )
    return out


async def directory_models(ctx: AppContext, request: Request) -> Response:
    """The full directory with prices and tiers, keyed by canonical id (public)."""
    catalog = ctx.gateway.catalog
    models: dict[str, Any] = {}
    for entry in catalog.available_models:
        offerings = catalog.offerings_for(entry.id)
        params: set[str] = set()
        for o in offerings:
            params.update(_supported_params(o))
        models[entry.id] = {
            "family": entry.family or entry.id,
            "display_name": entry.name,
            "providers": _provider_entries(entry, offerings),
            "author": entry.author or None,
            "supported_parameters": sorted(params),
            "aliases": list(entry.aliases),
        }
    generated = datetime.datetime.fromtimestamp(catalog.loaded_at, datetime.UTC)
    return json_response({"models": models, "generated_at": generated.isoformat().replace("+00:00", "Z")})


__all__ = [
    "directory_models",
    "list_models",
    "model_object",
    "registry_models",
    "registry_providers",
    "retrieve_model",
]
