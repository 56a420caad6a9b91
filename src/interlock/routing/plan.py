"""Attempt plans: which offerings to try for a request, in what order, and why the others were left out.

``Plan`` is what the engine consumes and what ``routing_metadata.decision`` explains. ``rank`` is a pure
function of the catalog entries, the request's needs, the caller's routing options and the live stats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interlock.routing.catalog import ModelEntry, Offering, ProviderConfig


@dataclass(frozen=True, slots=True)
class Candidate:
    """One offering the engine may call, with the numbers that ranked it."""

    model: ModelEntry
    offering: Offering
    provider: ProviderConfig
    score: float = 0.0
    expected_cost_usd: float | None = None
    ttft_ms: float | None = None
    tps: float | None = None
    explore: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.provider.id,
            "model": self.model.id,
            "provider_model_id": self.offering.provider_model_id,
            "input_price": self.offering.input_price,
            "output_price": self.offering.output_price,
            "expected_cost_usd": self.expected_cost_usd,
            "ttft_ms": self.ttft_ms,
            "tps": self.tps,
            "score": round(self.score, 6),
            "explore": self.explore,
        }


@dataclass(frozen=True, slots=True)
class Exclusion:
    provider: str
    model: str
    provider_model_id: str
    reason: str  # a documented error code naming the filter that removed it
    detail: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "provider_model_id": self.provider_model_id,
            "excluded": self.reason,
            "detail": self.detail,
        }


@dataclass(slots=True)
class Plan:
    strategy: str
    candidates: list[Candidate]
    excluded: list[Exclusion] = field(default_factory=list)
    allow_fallbacks: bool = True
    max_attempts: int = 3
    timeout_ms: int | None = None
    deadline_ms: int | None = None


__all__ = ["Candidate", "Exclusion", "Plan"]
