"""Time the routing engine alone (stats snapshot + rank) on a warm catalog, for the bench harness.

``bench_rank(n)`` builds (or takes) a catalog, fills live stats with a full window for every offering, then times
``n`` rankings of a typical request, each one as the engine does it: snapshot the stats and breakers of the
requested models' offerings, then ``rank``. It returns percentiles in microseconds::

    from interlock.routing import bench_rank
    result = bench_rank(20_000)
    print(result.p50_us, result.p99_us)

Pass ``catalog`` and ``models`` to time a real catalog (e.g. ``interlock.config.load_catalog(settings)``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from interlock.ir.request import RoutingOptions
from interlock.routing.breaker import Breakers
from interlock.routing.catalog import Catalog, ModelEntry, Offering, Priors, ProviderConfig
from interlock.routing.filters import Needs
from interlock.routing.rank import rank, resolve_models
from interlock.routing.stats import MemoryStats

__all__ = ["BenchResult", "bench_catalog", "bench_rank"]


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Routing overhead per request, in microseconds."""

    n: int
    p50_us: float
    p99_us: float
    mean_us: float
    max_us: float
    candidates: int


def bench_catalog(models: int = 3, providers: int = 6) -> Catalog:
    """A synthetic catalog: ``models`` models each served by every one of ``providers`` providers."""
    provs = [
        ProviderConfig(id=f"bench-{i}", protocol="openai-chat", base_url="http://127.0.0.1:9") for i in range(providers)
    ]
    caps = frozenset({"tools", "tool_choice_required", "json_object", "json_schema", "streaming"})
    entries = []
    for m in range(models):
        offerings = tuple(
            Offering(
                provider=p.id,
                provider_model_id=f"model-{m}-{i}",
                input_price=0.5 + 0.25 * i,
                output_price=1.5 + 0.5 * i,
                cache_read_price=0.05 + 0.025 * i,
                max_output_tokens=16384,
                capabilities=caps,  # type: ignore[arg-type]
                priors=Priors(ttft_ms=100.0 + 50 * i, tps=200.0 - 20 * i),
            )
            for i, p in enumerate(provs)
        )
        entries.append(ModelEntry(id=f"bench-model-{m}", offerings=offerings))
    return Catalog(provs, entries)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def bench_rank(
    n: int = 10_000,
    *,
    catalog: Catalog | None = None,
    models: Sequence[str] | None = None,
    routing: RoutingOptions | None = None,
    strategy: str = "cost-focus",
) -> BenchResult:
    """Time ``n`` snapshot + rank calls on a warm catalog (see the module docstring)."""
    catalog = catalog if catalog is not None else bench_catalog()
    names = list(models) if models is not None else [catalog.models[0].id]
    entries = resolve_models(catalog, names)
    keys = [o.key for m in entries for o in catalog.offerings_for(m.id)]
    rng = random.Random(1)
    clock = [1000.0]
    stats = MemoryStats(clock=lambda: clock[0])
    for key in keys:
        for s in range(64):
            stats.add(key, "ok", ttft_ms=rng.uniform(80, 600), tps=rng.uniform(40, 250), at=clock[0] - 64 + s)
    breakers = Breakers()
    needs = Needs(capabilities=frozenset({"streaming"}), input_tokens=1200, output_tokens=512)
    routing = routing if routing is not None else RoutingOptions()
    timings: list[float] = []
    candidates = 0
    for i in range(max(1, n)):
        # One fresh sample per request, as live traffic would: the snapshot then recomputes that ring's percentiles.
        clock[0] += 0.001
        stats.add(keys[i % len(keys)], "ok", ttft_ms=rng.uniform(80, 600), tps=rng.uniform(40, 250), at=clock[0])
        start = time.perf_counter_ns()
        snapshot = stats.snapshot(keys)
        plan = rank(catalog, entries, needs, routing, strategy, snapshot, breakers=breakers.snapshot(keys), rng=rng)
        timings.append((time.perf_counter_ns() - start) / 1000)
        candidates = len(plan.candidates)
    return BenchResult(
        n=len(timings),
        p50_us=_percentile(timings, 50),
        p99_us=_percentile(timings, 99),
        mean_us=sum(timings) / len(timings),
        max_us=max(timings),
        candidates=candidates,
    )
