"""The seam through which the engine reports attempt outcomes (live stats, circuit breakers, metrics)."""

from __future__ import annotations

from typing import Protocol

from interlock.ir.errors import GatewayError
from interlock.routing.plan import Candidate


class Observer(Protocol):
    def attempt_succeeded(
        self, candidate: Candidate, ttft_ms: float | None, tps: float | None, latency_ms: float
    ) -> None: ...

    def attempt_failed(self, candidate: Candidate, error: GatewayError, latency_ms: float) -> None: ...


class NullObserver:
    """Records nothing."""

    def attempt_succeeded(
        self, candidate: Candidate, ttft_ms: float | None, tps: float | None, latency_ms: float
    ) -> None:
        return None

    def attempt_failed(self, candidate: Candidate, error: GatewayError, latency_ms: float) -> None:
        return None


__all__ = ["NullObserver", "Observer"]
