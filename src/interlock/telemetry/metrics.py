"""Prometheus metrics: the definitions, the functions other packages call to move them, and the scrape.

Multiprocess mode. ``interlock serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary
directory before the workers start (see :func:`multiprocess_dir_for_workers`); prometheus-client then keeps
every value in a memory-mapped file per process and :func:`render` merges the files of all workers, so any
worker answers ``GET /metrics`` with the totals of all of them. Gauges declare how they merge: in-flight
requests, open streams and ledger queue depth are summed over live workers (``livesum``); a circuit breaker
reports its worst state over live workers (``livemax``). A worker marks itself dead when it stops
(:func:`mark_process_dead`) so its live gauges drop out. With one process the default registry is used as is.

Other packages move metrics only through the functions here (``set_circuit_breaker_state``,
``count_rate_limit_rejection``, ``count_budget_rejection``, ``set_ledger_queue_depth``, ``count_ledger_drops``),
never through the metric objects, so names and labels stay in one place. :func:`observe_request` records
one finished request; the api layer calls it through ``telemetry.request``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as _mp
from prometheus_client.exposition import generate_latest

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

BreakerState = Literal["closed", "half_open", "open"]
BREAKER_VALUES: Final[dict[str, int]] = {"closed": 0, "half_open": 1, "open": 2}

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
_TPS_BUCKETS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0)

REQUESTS = Counter(
    "interlock_requests",
    "Finished HTTP requests by ingress (API surface), canonical model, provider, status and error code.",
    ["ingress", "model", "provider", "status", "error_code"],
)
REQUEST_DURATION = Histogram(
    "interlock_request_duration_seconds",
    "Time from request start to the last byte sent, by ingress and streaming.",
    ["ingress", "stream"],
    buckets=_DURATION_BUCKETS,
)
GATEWAY_OVERHEAD = Histogram(
    "interlock_gateway_overhead_seconds",
    "Request time minus the time spent waiting on upstream attempts (requests that called an upstream).",
    ["ingress", "stream"],
    buckets=_OVERHEAD_BUCKETS,
)
TTFT = Histogram(
    "interlock_ttft_seconds",
    "Time to first token of streamed answers, from the start of the attempt that served, by offering.",
    ["model", "provider", "offering"],
    buckets=_TTFT_BUCKETS,
)
TPS = Histogram(
    "interlock_output_tokens_per_second",
    "Output tokens per second of served answers, by offering.",
    ["model", "provider", "offering"],
    buckets=_TPS_BUCKETS,
)
TOKENS = Counter(
    "interlock_tokens",
    "Tokens reported by upstreams, by canonical model, provider and kind (input, output, cached, reasoning).",
    ["model", "provider", "kind"],
)
COST = Counter(
    "interlock_cost_usd", "Cost in USD at list prices, by canonical model and provider.", ["model", "provider"]
)
ATTEMPTS = Counter(
    "interlock_upstream_attempts",
    "Upstream attempts by canonical model, provider, outcome (ok, error, timeout, cancelled) and error code.",
    ["model", "provider", "outcome", "error_code"],
)
FALLBACKS = Counter(
    "interlock_fallbacks",
    "Failed attempts after which the request moved on to another offering, by the failed provider and reason.",
    ["model", "provider", "reason"],
)
CIRCUIT_BREAKER = Gauge(
    "interlock_circuit_breaker_state",
    "Circuit breaker state per offering: 0 closed, 1 half-open, 2 open (worst over live workers).",
    ["offering"],
    multiprocess_mode="livemax",
)
RATE_LIMIT_REJECTIONS = Counter(
    "interlock_rate_limit_rejections", "Requests refused by a gateway rate limit, by scope.", ["scope"]
)
BUDGET_REJECTIONS = Counter(
    "interlock_budget_rejections", "Requests refused by an exhausted budget, by scope and period.", ["scope", "period"]
)
IN_FLIGHT = Gauge("interlock_in_flight_requests", "Requests being handled.", multiprocess_mode="livesum")
OPEN_STREAMS = Gauge("interlock_open_streams", "Streaming responses being sent.", multiprocess_mode="livesum")
LEDGER_QUEUE_DEPTH = Gauge(
    "interlock_ledger_queue_depth", "Usage records waiting to be written.", multiprocess_mode="livesum"
)
LEDGER_DROPS = Counter("interlock_ledger_dropped", "Usage records dropped, by reason.", ["reason"])


# -- for other packages ------------------------------------------------------------------------------------


def set_circuit_breaker_state(offering: str, state: BreakerState) -> None:
    """Report a breaker transition (routing): ``offering`` is ``Offering.key``."""
    CIRCUIT_BREAKER.labels(offering).set(BREAKER_VALUES[state])


def count_rate_limit_rejection(scope: str = "api_key") -> None:
    """One request refused with ``rate_limit_exceeded`` by the gateway's own limits (accounting)."""
    RATE_LIMIT_REJECTIONS.labels(scope).inc()


def count_budget_rejection(scope: str = "api_key", period: str = "monthly") -> None:
    """One request refused with ``budget_exhausted`` (accounting); scope and period as in X-Budget-Exceeded-*."""
    BUDGET_REJECTIONS.labels(scope, period).inc()


def set_ledger_queue_depth(depth: int) -> None:
    """The ledger writer's current queue length (accounting; set it after each enqueue/flush)."""
    LEDGER_QUEUE_DEPTH.set(depth)


def count_ledger_drops(count: int = 1, reason: str = "queue_full") -> None:
    """Usage records the ledger had to drop (accounting)."""
    if count > 0:
        LEDGER_DROPS.labels(reason).inc(count)


# -- per request -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptSample:
    """One upstream attempt of a finished request."""

    model: str
    provider: str
    outcome: str
    error_code: str


@dataclass(slots=True)
class RequestSample:
    """What one finished request contributes to the metrics (``"none"`` stands for an absent label)."""

    ingress: str
    model: str
    provider: str
    status: int
    error_code: str
    stream: bool
    duration_s: float
    upstream_s: float | None = None  # None: no upstream was called
    offering: str = "none"
    ttft_s: float | None = None
    tps: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    attempts: tuple[AttemptSample, ...] = ()


# labels() validates and locks on every call; the label sets are few, so keep the children.
_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (id(metric), labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe_request(s: RequestSample) -> None:
    """Move every per-request metric for one finished request."""
    stream = "true" if s.stream else "false"
    _child(REQUESTS, s.ingress, s.model, s.provider, str(s.status), s.error_code).inc()
    _child(REQUEST_DURATION, s.ingress, stream).observe(s.duration_s)
    if s.upstream_s is not None:
        _child(GATEWAY_OVERHEAD, s.ingress, stream).observe(max(0.0, s.duration_s - s.upstream_s))
    for i, a in enumerate(s.attempts):
        _child(ATTEMPTS, a.model, a.provider, a.outcome, a.error_code).inc()
        if i < len(s.attempts) - 1 and a.outcome in ("error", "timeout"):
            _child(FALLBACKS, a.model, a.provider, a.error_code).inc()
    if s.provider == "none":
        return
    if s.ttft_s is not None:
        _child(TTFT, s.model, s.provider, s.offering).observe(s.ttft_s)
    if s.tps is not None:
        _child(TPS, s.model, s.provider, s.offering).observe(s.tps)
    for kind, value in (
        ("input", s.input_tokens),
        ("output", s.output_tokens),
        ("cached", s.cached_tokens),
        ("reasoning", s.reasoning_tokens),
    ):
        if value:
            _child(TOKENS, s.model, s.provider, kind).inc(value)
    if s.cost_usd:
        _child(COST, s.model, s.provider).inc(s.cost_usd)


# -- scrape and multiprocess -------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    """The shared metrics directory of a multi-worker server, or None in a single process."""
    return os.environ.get(MULTIPROC_ENV) or None


def render() -> tuple[bytes, str]:
    """The exposition text and its content type: all workers' values in multiprocess mode."""
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        _mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int | None = None) -> None:
    """Drop this worker's live gauges from the shared directory (call when the worker stops)."""
    if multiprocess_dir() is not None:
        _mp.mark_process_dead(pid if pid is not None else os.getpid())  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def multiprocess_dir_for_workers() -> Iterator[str | None]:
    """Around a multi-worker server: a fresh metrics directory in the environment, removed afterwards.

    Workers inherit the environment, so it must be set before they start. A directory the operator already
    set is used as is and kept (it must be empty at start; prometheus-client's rule).
    """
    if multiprocess_dir() is not None:
        yield multiprocess_dir()
        return
    path = tempfile.mkdtemp(prefix="interlock-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "BREAKER_VALUES",
    "MULTIPROC_ENV",
    "AttemptSample",
    "BreakerState",
    "RequestSample",
    "count_budget_rejection",
    "count_ledger_drops",
    "count_rate_limit_rejection",
    "mark_process_dead",
    "multiprocess_dir",
    "multiprocess_dir_for_workers",
    "observe_request",
    "render",
    "set_circuit_breaker_state",
    "set_ledger_queue_depth",
]
