"""The engine's front door: from a validated IR request to a ready ``Trip``, and the routing_metadata after.

needs -> plan -> attempts (``Trip``) -> relay (the api layer) -> record (observer, ledger).

``Gateway`` owns the mutable routing state of one process: the stats backend (memory, or Redis shared across
workers), the circuit breakers and the random source for exploration. ``prepare`` snapshots them and calls the
pure ``routing.rank``; the trip reports every attempt back through the observer.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any, Final

from interlock.accounting.cost import Prices, compute_cost
from interlock.engine.observer import Observer, StatsObserver
from interlock.engine.trip import Trip, UpstreamCall
from interlock.ir.request import FunctionCallOutput, FunctionTool, InputFile, InputImage, Message, ResponseRequest
from interlock.providers import transport
from interlock.providers.base import Target
from interlock.providers.extensions import validate_extensions
from interlock.providers.normalise import unsupported_params
from interlock.routing.breaker import Breakers
from interlock.routing.catalog import Catalog, Endpoint
from interlock.routing.filters import Needs
from interlock.routing.plan import Plan
from interlock.routing.rank import RankPolicy, Rng, rank, resolve_models
from interlock.routing.scoring import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    cached_share,
    estimate_input_tokens,
    expected_output_tokens,
)
from interlock.routing.stats import MemoryStats, StatsBackend

__all__ = ["LEGACY_SUFFIXES", "Gateway", "needs_of", "split_suffix"]

# Older model-name suffixes (auriko-api.md 2.5 [OLD]) still accepted: :floor, :nitro, :fast.
LEGACY_SUFFIXES: Final = {"floor": "cost-focus", "nitro": "tps", "fast": "ttft"}

# Efforts that need a reasoning model; none/off/minimal are dropped on other models instead (providers.normalise).
_REASONING_EFFORTS: Final = frozenset({"low", "medium", "high", "xhigh", "max"})

# A target that accepts no optional parameter: ``unsupported_params`` against it lists every one the request sets.
_NO_PARAMS: Final = Target(
    provider="",
    protocol="openai-chat",
    base_url="",
    api_key=None,
    provider_model_id="",
    model_canonical="",
    accepted_params=frozenset(),
)


def split_suffix(model: str) -> tuple[str, str | None]:
    """``gpt-4o:ttft`` -> (``gpt-4o``, ``ttft``); only ids with exactly one colon (auriko-api.md 2.5)."""
    if model.count(":") == 1:
        name, suffix = model.split(":")
        if suffix in STRATEGIES:
            return name, suffix
        if suffix in LEGACY_SUFFIXES:
            return name, LEGACY_SUFFIXES[suffix]
    return model, None


def _has_part(content: object, kind: type[InputImage] | type[InputFile]) -> bool:
    return isinstance(content, list) and any(isinstance(p, kind) for p in content)


def needs_of(req: ResponseRequest, *, endpoint: Endpoint | None = None) -> Needs:
    """What the request needs from an offering: capabilities, endpoint, parameters and size estimates."""
    caps: set[str] = set()
    if req.tools and any(isinstance(t, FunctionTool) for t in req.tools) and req.tool_choice != "none":
        caps.add("tools")
        if req.tool_choice == "required" or isinstance(req.tool_choice, dict):
            caps.add("tool_choice_required")
    if req.text is not None and req.text.format is not None and req.text.format.type != "text":
        caps.add(req.text.format.type)
    for item in req.input_items():
        content = (
            item.content if isinstance(item, Message) else item.output if isinstance(item, FunctionCallOutput) else None
        )
        if _has_part(content, InputImage):
            caps.add("vision")
        if _has_part(content, InputFile):
            caps.add("pdf")
    reasoning = req.reasoning is not None and req.reasoning.effort in _REASONING_EFFORTS
    if reasoning:
        caps.add("reasoning")
    if req.stream:
        caps.add("streaming")
    routing = req.gateway.routing if req.gateway is not None else None
    params: frozenset[str] = frozenset()
    if routing is not None and routing.require_parameters:
        params = frozenset(unsupported_params(req, _NO_PARAMS))
    input_tokens = estimate_input_tokens(req)
    return Needs(
        capabilities=frozenset(caps),
        endpoint=endpoint,
        params=params,
        input_tokens=input_tokens,
        output_tokens=expected_output_tokens(req, reasoning),
        cache_share=cached_share(req, input_tokens),
    )


class Gateway:
    """Holds what every request shares: catalog, upstream session, stats, breakers, observer, ranking policy."""

    def __init__(
        self,
        catalog: Catalog,
        session: Any,
        observer: Observer | None = None,
        *,
        stats: StatsBackend | None = None,
        breakers: Breakers | None = None,
        policy: RankPolicy | None = None,
        rng: Rng | None = None,
        default_timeout_ms: int | None = None,
        call: UpstreamCall | None = None,
    ) -> None:
        self.catalog = catalog
        self.session = session
        self.stats: StatsBackend = stats if stats is not None else MemoryStats()
        self.breakers = breakers if breakers is not None else Breakers()
        policy = policy or RankPolicy()
        if default_timeout_ms is not None:
            # Reasoning models get twice the default: their first token can take minutes.
            policy = replace(
                policy,
                default_timeout_ms=default_timeout_ms,
                reasoning_timeout_ms=max(policy.reasoning_timeout_ms, 2 * default_timeout_ms),
            )
        self.policy = policy
        self.rng: Rng = rng if rng is not None else random.Random()
        self.observer: Observer = observer if observer is not None else StatsObserver(self.stats, self.breakers)
        self.call: UpstreamCall = call if call is not None else transport.call

    async def start(self) -> None:
        """Start background work (the Redis stats sync)."""
        await self.stats.start()

    async def close(self) -> None:
        await self.stats.close()

    def plan(self, req: ResponseRequest, *, endpoint: Endpoint | None = None) -> Plan:
        """Resolve models and rank offerings; raises the documented error when nothing can serve the request.

        ``endpoint`` is the client-facing endpoint ("chat_completions" or "responses"); when given, models not
        served there are refused (``response_api_only`` / ``no_responses_endpoint``).
        """
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
        keys = [o.key for m in models for o in self.catalog.offerings_for(m.id)]
        return rank(
            self.catalog,
            models,
            needs_of(req, endpoint=endpoint),
            routing,
            strategy or DEFAULT_STRATEGY,
            self.stats.snapshot(keys),
            breakers=self.breakers.snapshot(keys),
            rng=self.rng,
            policy=self.policy,
        )

    def prepare(self, req: ResponseRequest, *, endpoint: Endpoint | None = None) -> Trip:
        """A trip ready to ``open()`` for ``req`` (see :meth:`plan`)."""
        validate_extensions(req.extensions)  # refuse extensions.thinking before any routing work
        started = time.perf_counter()
        trip = Trip(
            req=req,
            plan=self.plan(req, endpoint=endpoint),
            session=self.session,
            observer=self.observer,
            known_providers=frozenset(self.catalog.providers),
            call=self.call,
        )
        self.observer.trip_planned(trip, (time.perf_counter() - started) * 1000)
        return trip

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
            cost = compute_cost(trip.usage, prices)  # None for unpriced offerings: no cost rather than $0
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
            meta["decision"] = {**trip.plan.describe(), "attempts": [a.describe() for a in trip.attempts]}
        return meta
