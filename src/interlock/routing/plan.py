"""Attempt plans: which offerings to try for a request, in what order, and why the others were left out.

``Plan`` is what the engine consumes and what ``routing_metadata.decision`` explains. ``routing.rank.rank`` is a
pure function of the catalog entries, the request's needs, the caller's routing options and a stats snapshot
that returns one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interlock.routing.catalog import ModelEntry, Offering, ProviderConfig

__all__ = ["Candidate", "Exclusion", "Plan"]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(slots=True)
class Candidate:
    """One offering the engine may call, with the numbers that ranked it (treat as immutable once ranked)."""

    model: ModelEntry
    offering: Offering
    provider: ProviderConfig
    score: float = 0.0
    expected_cost_usd: float | None = None
    ttft_ms: float | None = None
    tps: float | None = None
    ttft_source: str = "default"
    tps_source: str = "default"
    samples: float = 0.0
    failure_rate: float = 0.0
    in_flight: int = 0
    age_s: float | None = None  # since the newest live TTFT/TPS sample
    normalised: tuple[float, float, float] = (0.0, 0.0, 0.0)  # cost, ttft, tps badness in [0, 1]
    preferred: bool = False
    explore: bool = False
    breaker: str = "closed"

    @property
    def key(self) -> str:
        return self.offering.key

    def describe(self) -> dict[str, Any]:
        """The candidate as ``routing_metadata.decision.candidates`` shows it."""
        return {
            "provider": self.provider.id,
            "model": self.model.id,
            "provider_model_id": self.offering.provider_model_id,
            "tier": self.offering.tier,
            "input_price": self.offering.input_price,
            "output_price": self.offering.output_price,
            "blended_price": self.offering.blended_price,
            "expected_cost_usd": _round(self.expected_cost_usd, 10),
            "ttft_ms": _round(self.ttft_ms, 1),
            "tps": _round(self.tps, 2),
            "ttft_source": self.ttft_source,
            "tps_source": self.tps_source,
            "samples": round(self.samples, 2),
            "failure_rate": round(self.failure_rate, 4),
            "in_flight": self.in_flight,
            "age_s": _round(self.age_s, 1),
            "normalised": {
                "cost": round(self.normalised[0], 4),
                "ttft": round(self.normalised[1], 4),
                "tps": round(self.normalised[2], 4),
            },
            "score": round(self.score, 6),
            "preferred": self.preferred,
            "explore": self.explore,
            "breaker": self.breaker,
        }


@dataclass(frozen=True, slots=True)
class Exclusion:
    """An offering left out of the plan: the filter (``reason``) and the documented error code it maps to."""

    provider: str
    model: str
    provider_model_id: str
    reason: str  # the filter's name ("tools", "data_policy", "max_ttft_ms", ...) or "circuit_open"
    code: str  # the documented error code of that filter (what the request fails with if nothing is left)
    detail: str = ""
    ttft_ms: float | None = None
    tps: float | None = None
    blended_price: float | None = None

    def describe(self) -> dict[str, Any]:
        """The exclusion as ``routing_metadata.decision.excluded`` shows it."""
        return {
            "provider": self.provider,
            "model": self.model,
            "provider_model_id": self.provider_model_id,
            "excluded": self.reason,
            "code": self.code,
            "detail": self.detail,
            "blended_price": self.blended_price,
            "ttft_ms": _round(self.ttft_ms, 1),
            "tps": _round(self.tps, 2),
        }


@dataclass(slots=True)
class Plan:
    """The ordered attempts for one request and the limits that bound them."""

    strategy: str
    candidates: list[Candidate]
    excluded: list[Exclusion] = field(default_factory=list)
    allow_fallbacks: bool = True
    max_attempts: int = 3
    timeout_ms: int | None = None  # the caller's per-attempt timeout; None = the defaults below
    deadline_ms: int | None = None
    default_timeout_ms: int = 300_000
    reasoning_timeout_ms: int = 600_000
    mode: str = "pool"
    weights: dict[str, float] = field(default_factory=dict)
    explored: bool = False
    all_circuits_open: bool = False
    estimate: dict[str, Any] = field(default_factory=dict)

    def attempt_timeout_ms(self, candidate: Candidate) -> int:
        """Per-attempt timeout: the caller's, else the default (longer for reasoning models)."""
        if self.timeout_ms is not None:
            return self.timeout_ms
        reasoning = candidate.offering.supports("reasoning") or candidate.model.reasoning is not None
        return self.reasoning_timeout_ms if reasoning else self.default_timeout_ms

    def describe(self) -> dict[str, Any]:
        """``routing_metadata.decision`` without the attempts (the trip adds those)."""
        return {
            "strategy": self.strategy,
            "weights": self.weights,
            "mode": self.mode,
            "estimate": self.estimate,
            "explored": self.explored,
            "all_circuits_open": self.all_circuits_open,
            "max_attempts": self.max_attempts if self.allow_fallbacks else 1,
            "timeout_ms": self.timeout_ms,
            "deadline_ms": self.deadline_ms,
            "candidates": [c.describe() for c in self.candidates],
            "excluded": [x.describe() for x in self.excluded],
        }
