"""Routing: the catalog, needs and filters, live stats, scoring strategies, circuit breakers and the ranking function.

``rank`` is pure (design.md 1): catalog entries, the request's needs, its routing options, a stats snapshot and a
breaker snapshot in, an ordered ``Plan`` with the reason for every exclusion out. The engine (``interlock.engine``)
owns the mutable parts (stats backend, breakers, random source) and hands snapshots in.
"""

from __future__ import annotations

from interlock.routing.bench import BenchResult, bench_rank
from interlock.routing.breaker import Breakers, BreakerState, BreakerView
from interlock.routing.filters import FILTERS, Filter, Needs
from interlock.routing.plan import Candidate, Exclusion, Plan
from interlock.routing.rank import DEFAULT_POLICY, RankPolicy, Rng, rank, resolve_models
from interlock.routing.scoring import DEFAULT_STRATEGY, PRESETS, STRATEGIES, Weights, weights_for
from interlock.routing.stats import LiveStats, MemoryStats, Outcome, Performance, StatsBackend, estimate, open_stats

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_STRATEGY",
    "FILTERS",
    "PRESETS",
    "STRATEGIES",
    "BenchResult",
    "BreakerState",
    "BreakerView",
    "Breakers",
    "Candidate",
    "Exclusion",
    "Filter",
    "LiveStats",
    "MemoryStats",
    "Needs",
    "Outcome",
    "Performance",
    "Plan",
    "RankPolicy",
    "Rng",
    "StatsBackend",
    "Weights",
    "bench_rank",
    "estimate",
    "open_stats",
    "rank",
    "resolve_models",
    "weights_for",
]
