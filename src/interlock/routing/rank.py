"""Ranking: needs + constraints + strategy -> an ordered attempt plan (first slice: cheapest capable offering).

This first slice resolves the requested models, drops offerings of disabled providers and offerings that lack
a capability the request needs, and orders the rest by blended price. The full strategies, constraints and
live-stats scoring replace the ordering step without changing the signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from interlock.ir.errors import GatewayError
from interlock.ir.request import RoutingOptions
from interlock.routing.catalog import Catalog, ModelEntry
from interlock.routing.plan import Candidate, Exclusion, Plan

DEFAULT_STRATEGY = "cost-focus"
DEFAULT_MAX_ATTEMPTS = 3

# Capability a need requires -> the error code when no offering has it.
NEED_ERRORS: dict[str, str] = {
    "tools": "tools_not_supported",
    "tool_choice_required": "tool_choice_required_not_supported",
    "vision": "vision_not_supported",
    "json_object": "json_mode_not_supported",
    "json_schema": "structured_output_not_supported",
    "reasoning": "reasoning_not_supported",
}


@dataclass(frozen=True, slots=True)
class Needs:
    """What a request needs from an offering."""

    capabilities: frozenset[str] = frozenset()
    endpoint: str = "responses"


def resolve_models(catalog: Catalog, names: list[str]) -> list[ModelEntry]:
    models: list[ModelEntry] = []
    for i, name in enumerate(names):
        entry = catalog.resolve(name)
        if entry is None:
            raise GatewayError(
                "model_not_found",
                f"The model '{name}' does not exist.",
                param="model" if len(names) == 1 else f"gateway.models[{i}]",
                suggestion="GET /v1/models lists the models this gateway serves.",
            )
        models.append(entry)
    return models


def rank(
    catalog: Catalog, models: list[ModelEntry], needs: Needs, routing: RoutingOptions | None, strategy: str
) -> Plan:
    candidates: list[Candidate] = []
    excluded: list[Exclusion] = []
    for model in models:
        for offering in model.offerings:
            provider = catalog.providers.get(offering.provider)
            if provider is None or not provider.enabled:
                continue
            missing = [c for c in sorted(needs.capabilities) if c not in offering.capabilities]
            if missing:
                excluded.append(
                    Exclusion(offering.provider, model.id, offering.provider_model_id, NEED_ERRORS[missing[0]])
                )
                continue
            price = offering.blended_price
            candidates.append(Candidate(model=model, offering=offering, provider=provider, score=-(price or 0.0)))
    if not candidates:
        if excluded:
            code = excluded[0].reason
            raise GatewayError(code, suggestion="Remove the feature or choose a model whose offerings support it.")
        raise GatewayError("no_provider_available", "No enabled provider serves the requested model.")
    candidates.sort(key=lambda c: -c.score)
    r = routing or RoutingOptions()
    return Plan(
        strategy=strategy,
        candidates=candidates,
        excluded=excluded,
        allow_fallbacks=r.allow_fallbacks is not False,
        max_attempts=1 + (r.max_fallback_attempts if r.max_fallback_attempts is not None else DEFAULT_MAX_ATTEMPTS - 1),
        timeout_ms=r.timeout_ms,
        deadline_ms=r.deadline_ms,
    )


__all__ = ["DEFAULT_STRATEGY", "NEED_ERRORS", "Needs", "rank", "resolve_models"]
