"""The engine's front door: from a validated IR request to a ready ``Trip``, and the routing_metadata after.

needs -> plan -> attempts (``Trip``) -> relay (the api layer) -> record (observer, ledger).
"""

from __future__ import annotations

from typing import Any

from interlock.accounting.cost import Prices, compute_cost
from interlock.engine.observer import NullObserver, Observer
from interlock.engine.trip import Trip
from interlock.ir.request import FunctionTool, InputImage, Message, ResponseRequest
from interlock.routing.catalog import Catalog
from interlock.routing.rank import DEFAULT_STRATEGY, Needs, rank, resolve_models

STRATEGIES = frozenset({"cost", "cost-focus", "ttft", "ttft-focus", "tps", "tps-focus", "balanced"})


def split_suffix(model: str) -> tuple[str, str | None]:
    """``gpt-4o:ttft`` -> (``gpt-4o``, ``ttft``); only ids with exactly one colon (auriko-api.md 2.5)."""
    if model.count(":") == 1:
        name, suffix = model.split(":")
        if suffix in STRATEGIES:
            return name, suffix
    return model, None


def needs_of(req: ResponseRequest) -> Needs:
    """What the request needs from an offering."""
    caps: set[str] = set()
    if req.tools and any(isinstance(t, FunctionTool) for t in req.tools) and req.tool_choice != "none":
        caps.add("tools")
        if req.tool_choice == "required" or isinstance(req.tool_choice, dict):
            caps.add("tool_choice_required")
    if req.text is not None and req.text.format is not None and req.text.format.type != "text":
        caps.add(req.text.format.type)
    for item in req.input_items():
        if isinstance(item, Message) and isinstance(item.content, list):
            if any(isinstance(p, InputImage) for p in item.content):
                caps.add("vision")
                break
    return Needs(capabilities=frozenset(caps))


class Gateway:
    """Holds what every request shares: catalog, upstream session, stats observer."""

    def __init__(self, catalog: Catalog, session: Any, observer: Observer | None = None) -> None:
        self.catalog = catalog
        self.session = session
        self.observer: Observer = observer or NullObserver()

    def prepare(self, req: ResponseRequest) -> Trip:
        """Resolve models and rank offerings; raises the documented error when nothing can serve the request."""
        routing = req.gateway.routing if req.gateway else None
        strategy: str | None = routing.optimize if routing and routing.optimize else None
        names: list[str] = []
        raw = [req.model] if req.model is not None else list(req.gateway.models or []) if req.gateway else []
        for name in raw:
            if name is None:
                continue
            base, suffix = split_suffix(name)
            names.append(base)
            strategy = strategy or suffix
        if routing is not None and routing.weights is not None:
            strategy = "custom"
        models = resolve_models(self.catalog, names)
        plan = rank(self.catalog, models, needs_of(req), routing, strategy or DEFAULT_STRATEGY)
        return Trip(
            req=req,
            plan=plan,
            session=self.session,
            observer=self.observer,
            known_providers=frozenset(self.catalog.providers),
        )

    def routing_metadata(self, trip: Trip, *, explain: bool = False) -> dict[str, Any]:
        """``routing_metadata`` for a finished (or failed) trip (auriko-api.md section 4)."""
        meta: dict[str, Any] = {}
        chosen = trip.chosen
        if chosen is not None:
            offering = chosen.offering
            meta["provider"] = chosen.provider.id
            meta["provider_model_id"] = offering.provider_model_id
            meta["model_canonical"] = chosen.model.id
            meta["routing_strategy"] = trip.plan.strategy
            prices = Prices(
                offering.input_price, offering.output_price, offering.cache_read_price, offering.cache_write_price
            )
            cost = compute_cost(trip.usage, prices)
            if cost is not None:
                meta["cost"] = cost.to_dict()
            if trip.req.stream and trip.ttft_ms is not None:
                meta["ttft_ms"] = round(trip.ttft_ms, 1)
            tps = trip.throughput_tps
            if tps is not None:
                meta["throughput_tps"] = round(tps, 2)
        if trip.warnings:
            meta["warnings"] = [w.to_dict() for w in trip.warnings]
        if explain:
            meta["decision"] = {
                "strategy": trip.plan.strategy,
                "candidates": [c.describe() for c in trip.plan.candidates],
                "excluded": [x.describe() for x in trip.plan.excluded],
                "attempts": [a.describe() for a in trip.attempts],
            }
        return meta


__all__ = ["Gateway", "needs_of", "split_suffix"]
