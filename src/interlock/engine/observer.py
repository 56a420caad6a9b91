"""The seam through which the engine reports attempts (live stats, circuit breakers, metrics).

Every attempt the trip starts is reported exactly once as started and exactly once as ended: succeeded, failed
or cancelled. :class:`StatsObserver` turns those reports into stats samples and breaker verdicts:

- success: an ``ok`` outcome, with TTFT and TPS when the attempt streamed; closes the breaker;
- provider failure (a retryable ``UpstreamError``: connection error, per-attempt timeout, 429, 5xx, 529, a broken
  stream): an ``error`` or ``timeout`` outcome; counts towards opening the breaker;
- anything else (the caller's own 4xx, the request's deadline running out, the client leaving): no verdict on
  the provider; only the in-flight count and a claimed half-open probe are released.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from interlock.ir.errors import GatewayError, UpstreamError
from interlock.routing.breaker import Breakers
from interlock.routing.plan import Candidate
from interlock.routing.stats import StatsBackend

if TYPE_CHECKING:
    from interlock.engine.trip import Trip

__all__ = ["NullObserver", "Observer", "Observers", "StatsObserver", "is_provider_failure"]


class Observer(Protocol):
    def trip_planned(self, trip: Trip, routing_ms: float) -> None:
        """``Gateway.prepare`` ranked the plan (taking ``routing_ms``); ``trip`` is about to be opened."""
        ...

    def attempt_started(self, candidate: Candidate) -> Mapping[str, str] | None:
        """An attempt starts; may return extra headers for its upstream call (W3C trace context)."""
        ...

    def attempt_succeeded(
        self, candidate: Candidate, ttft_ms: float | None, tps: float | None, latency_ms: float
    ) -> None: ...

    def attempt_failed(self, candidate: Candidate, error: GatewayError, latency_ms: float) -> None: ...

    def attempt_cancelled(self, candidate: Candidate, latency_ms: float) -> None: ...


class NullObserver:
    """Records nothing."""

    def trip_planned(self, trip: Trip, routing_ms: float) -> None:
        return None

    def attempt_started(self, candidate: Candidate) -> None:
        return None

    def attempt_succeeded(
        self, candidate: Candidate, ttft_ms: float | None, tps: float | None, latency_ms: float
    ) -> None:
        return None

    def attempt_failed(self, candidate: Candidate, error: GatewayError, latency_ms: float) -> None:
        return None

    def attempt_cancelled(self, candidate: Candidate, latency_ms: float) -> None:
        return None


def is_provider_failure(error: GatewayError) -> bool:
    """Whether an attempt's error says something about the provider (see the module docstring)."""
    return isinstance(error, UpstreamError) and error.retryable


class StatsObserver:
    """Feeds a stats backend and the circuit breakers."""

    def __init__(self, stats: StatsBackend, breakers: Breakers) -> None:
        self.stats = stats
        self.breakers = breakers

    def trip_planned(self, trip: Trip, routing_ms: float) -> None:
        return None

    def attempt_started(self, candidate: Candidate) -> None:
        self.stats.begin(candidate.key)
        self.breakers.on_attempt(candidate.key)

    def attempt_succeeded(
        self, candidate: Candidate, ttft_ms: float | None, tps: float | None, latency_ms: float
    ) -> None:
        key = candidate.key
        self.stats.end(key)
        self.stats.record(key, "ok", ttft_ms=ttft_ms, tps=tps)
        self.breakers.on_success(key)

    def attempt_failed(self, candidate: Candidate, error: GatewayError, latency_ms: float) -> None:
        key = candidate.key
        self.stats.end(key)
        if is_provider_failure(error):
            self.stats.record(key, "timeout" if error.code == "upstream_timeout" else "error")
            self.breakers.on_failure(key)
        else:
            self.breakers.release(key)

    def attempt_cancelled(self, candidate: Candidate, latency_ms: float) -> None:
        self.stats.end(candidate.key)
        self.breakers.release(candidate.key)


class Observers:
    """Several observers as one: each hook goes to every observer in order; extra headers are merged."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def trip_planned(self, trip: Trip, routing_ms: float) -> None:
        for o in self.observers:
            o.trip_planned(trip, routing_ms)

    def attempt_started(self, candidate: Candidate) -> Mapping[str, str] | None:
        headers: dict[str, str] | None = None
        for o in self.observers:
            extra = o.attempt_started(candidate)
            if extra:
                headers = {**headers, **extra} if headers else dict(extra)
        return headers

    def attempt_succeeded(
        self, candidate: Candidate, ttft_ms: float | None, tps: float | None, latency_ms: float
    ) -> None:
        for o in self.observers:
            o.attempt_succeeded(candidate, ttft_ms, tps, latency_ms)

    def attempt_failed(self, candidate: Candidate, error: GatewayError, latency_ms: float) -> None:
        for o in self.observers:
            o.attempt_failed(candidate, error, latency_ms)

    def attempt_cancelled(self, candidate: Candidate, latency_ms: float) -> None:
        for o in self.observers:
            o.attempt_cancelled(candidate, latency_ms)
