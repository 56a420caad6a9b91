"""Live performance statistics per offering: time-decayed TTFT and TPS percentiles, error and timeout rates, in-flight.

Theory of operation
-------------------
Every offering (keyed by ``Offering.key``) owns three rings of its most recent samples, ``capacity`` (64) each:

- ``ttft``: time to first token in ms, from successful *streamed* attempts;
- ``tps``: output tokens per second after the first token, from the same attempts;
- ``outcome``: one sample per finished attempt, 0 = ok, 1 = error, 2 = timeout.

Only streamed attempts give TTFT and TPS samples: a non-streamed answer arrives in one piece, so its latency
mixes time to first token with generation time and would be wrong for both. Non-streamed attempts still count
towards the error and timeout rates.

A sample taken at time ``t`` weighs ``2 ** (-(now - t) / half_life_s)``: the window is the last 64 samples *and*
recent ones count more, so an offering that changed is followed quickly while a burst of old samples fades.
Recording is O(1) (a deque append and a dirty flag). Percentiles are weighted nearest-rank over the ring,
computed lazily when a snapshot is asked for after an update (sorting at most 64 values) and cached; under
heavy traffic a ring is recomputed at most once per ``refresh_s`` (0.1 s), so the cost stays bounded however
many requests arrive, at the price of numbers up to 0.1 s old. Decay
multiplies every weight by the same factor as time passes, so weighted percentiles only change when a sample
arrives, while the *effective sample count* (the sum of decayed weights) is O(1) at any moment from the cached
sum and the newest timestamp. A snapshot for the handful of offerings of one request therefore costs a few
microseconds and no I/O.

Percentiles: for TTFT, ``p95`` is the 95th percentile (the slow tail). For throughput, ``p95`` is the rate that
95% of requests reach or beat, i.e. the 5th percentile of samples: both ``p95`` readings are the pessimistic
ones, which is what a ``max_ttft_ms`` ceiling or a ``min_throughput_tps`` floor evaluated "at p95" means.

Priors: :func:`estimate` blends the live percentiles with the catalog's ``Offering.priors`` (else
``DEFAULT_TTFT_MS`` / ``DEFAULT_TPS``) by shrinkage, ``(n * live + k * prior) / (n + k)`` with ``n`` the effective
live sample count and ``k = PRIOR_WEIGHT`` pseudo-samples. Until samples arrive the prior rules; a few fresh
samples outweigh it; when the samples age out, the estimate drifts back to the prior. Without a catalog prior
the live numbers are used as they are once a sample exists (the default is a placeholder, not knowledge). A
prior's p95 is derived from its p50 (``x1.5`` for TTFT, ``x0.7`` for TPS). Failure rates shrink towards zero
the same way, so one failure on a new offering does not condemn it.

Backends: :class:`StatsBackend` is the seam. :class:`MemoryStats` (this module) is per process and the default;
``routing.stats_redis.RedisStats`` shares samples across worker processes and replicas and keeps a local mirror
so snapshots stay synchronous and I/O-free. :func:`open_stats` picks one from the ``state_url`` setting.
"""

from __future__ import annotations

import math
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal, Protocol

from interlock.routing.catalog import Offering

__all__ = [
    "DEFAULT_TPS",
    "DEFAULT_TTFT_MS",
    "PRIOR_WEIGHT",
    "LiveStats",
    "MemoryStats",
    "Metric",
    "Outcome",
    "Percentile",
    "Performance",
    "StatsBackend",
    "estimate",
    "open_stats",
]

Outcome = Literal["ok", "error", "timeout"]
Metric = Literal["ttft", "tps", "outcome"]
Percentile = Literal["p50", "p95"]
Source = Literal["live", "prior", "default"]

METRICS: Final[tuple[Metric, ...]] = ("ttft", "tps", "outcome")
OUTCOME_CODES: Final[Mapping[Outcome, float]] = {"ok": 0.0, "error": 1.0, "timeout": 2.0}

DEFAULT_CAPACITY: Final = 64
DEFAULT_HALF_LIFE_S: Final = 60.0
# Percentiles of a ring are recomputed at most this often (in clock seconds) while samples keep arriving.
DEFAULT_REFRESH_S: Final = 0.1
# Used when neither live samples nor a catalog prior exist. Deliberately middling so an unknown offering neither
# wins nor loses a speed comparison by default; performance filters ignore them (unknown is not "too slow").
DEFAULT_TTFT_MS: Final = 800.0
DEFAULT_TPS: Final = 60.0
PRIOR_WEIGHT: Final = 2.0
PRIOR_TTFT_P95_FACTOR: Final = 1.5
PRIOR_TPS_P95_FACTOR: Final = 0.7


@dataclass(frozen=True, slots=True)
class LiveStats:
    """What the live samples say about one offering at snapshot time (None: no sample yet)."""

    ttft_p50: float | None = None
    ttft_p95: float | None = None
    tps_p50: float | None = None
    tps_p95: float | None = None  # the 5th percentile of rates: 95% of requests were at least this fast
    ttft_samples: float = 0.0  # effective (decayed) sample counts
    tps_samples: float = 0.0
    outcomes: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    in_flight: int = 0
    age_s: float | None = None  # since the newest TTFT or TPS sample


EMPTY: Final = LiveStats()


class StatsBackend(Protocol):
    """Where attempt outcomes go and where ranking reads them from. Every method but start/close is sync."""

    def begin(self, key: str) -> None:
        """An attempt on ``key`` started (in-flight + 1)."""
        ...

    def end(self, key: str) -> None:
        """An attempt on ``key`` ended, whatever the outcome (in-flight - 1)."""
        ...

    def record(self, key: str, outcome: Outcome, *, ttft_ms: float | None = None, tps: float | None = None) -> None:
        """One finished attempt; ``ttft_ms`` and ``tps`` only from successful streamed attempts."""
        ...

    def snapshot(self, keys: Iterable[str]) -> dict[str, LiveStats]:
        """Current stats for ``keys`` (offerings never seen are left out); no I/O."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class _Ring:
    """The newest samples of one metric with lazily cached, time-decayed weighted quantiles or value shares."""

    __slots__ = ("_computed_at", "_dirty", "_lam", "_newest", "_quantiles", "_refresh", "_shares", "_total", "samples")

    def __init__(self, capacity: int, lam: float, refresh_s: float) -> None:
        self.samples: deque[tuple[float, float]] = deque(maxlen=capacity)
        self._lam = lam
        self._refresh = refresh_s
        self._dirty = False
        self._computed_at = -math.inf
        self._newest = -math.inf  # newest sample time at the last computation
        self._total = 0.0  # sum of weights relative to _newest
        self._quantiles: tuple[float, float, float] | None = None
        self._shares: dict[float, float] = {}

    def add(self, t: float, value: float) -> None:
        self.samples.append((t, value))
        self._dirty = True

    def load(self, samples: Iterable[tuple[float, float]]) -> None:
        self.samples.clear()
        self.samples.extend(sorted(samples))
        self._dirty = True
        self._computed_at = -math.inf

    def _refresh_summary(self, now: float, quantiles: bool) -> None:
        # Recompute at most once per refresh interval: under heavy traffic the ring turns over many times a
        # second and re-sorting it for every request would cost more than the routing decision itself.
        if not self._dirty or (now - self._computed_at < self._refresh and self._quantiles is not None):
            return
        self._dirty = False
        self._computed_at = now
        if not self.samples:
            self._quantiles, self._total, self._shares = None, 0.0, {}
            return
        lam = self._lam
        newest = max(t for t, _ in self.samples)
        exp = math.exp
        if not quantiles:
            shares: dict[float, float] = {}
            total = 0.0
            for t, v in self.samples:
                w = exp(lam * (t - newest))
                shares[v] = shares.get(v, 0.0) + w
                total += w
            self._newest, self._total, self._shares = newest, total, shares
            self._quantiles = (0.0, 0.0, 0.0)
            return
        weighted = sorted([(v, exp(lam * (t - newest))) for t, v in self.samples])
        total = sum(w for _, w in weighted)
        picks: list[float] = []
        running, i, last = 0.0, 0, len(weighted) - 1
        for q in (0.05, 0.5, 0.95):
            goal = q * total
            while i < last and running + weighted[i][1] < goal:
                running += weighted[i][1]
                i += 1
            picks.append(weighted[i][0])
        self._newest, self._total = newest, total
        self._quantiles = (picks[0], picks[1], picks[2])

    def quantiles(self, now: float) -> tuple[float, float, float] | None:
        """(p5, p50, p95) of the decayed samples, None when empty."""
        self._refresh_summary(now, True)
        return self._quantiles

    def effective(self, now: float) -> float:
        """Sum of decayed weights at ``now`` (the effective number of samples), as of the last computation."""
        if self._total <= 0:
            return 0.0
        return self._total * math.exp(-self._lam * max(0.0, now - self._newest))

    def newest(self) -> float | None:
        return self._newest if self._total > 0 else None

    def share(self, now: float, value: float) -> float:
        """Weighted share of samples equal to ``value`` (outcome rates)."""
        self._refresh_summary(now, False)
        return self._shares.get(value, 0.0) / self._total if self._total > 0 else 0.0


class _Entry:
    __slots__ = ("in_flight", "rings", "view", "view_at")

    def __init__(self, capacity: int, lam: float, refresh_s: float) -> None:
        self.rings: dict[Metric, _Ring] = {m: _Ring(capacity, lam, refresh_s) for m in METRICS}
        self.in_flight = 0
        self.view: LiveStats | None = None  # the last snapshot view, reused within one refresh interval
        self.view_at = -math.inf

    def touch(self) -> None:
        self.view = None


class MemoryStats:
    """Per-process stats (the default backend). ``clock`` is injectable; RedisStats mirrors use wall time."""

    def __init__(
        self,
        *,
        half_life_s: float = DEFAULT_HALF_LIFE_S,
        capacity: int = DEFAULT_CAPACITY,
        refresh_s: float = DEFAULT_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if half_life_s <= 0 or capacity <= 0 or refresh_s < 0:
            raise ValueError("half_life_s and capacity must be positive, refresh_s not negative")
        self.half_life_s = half_life_s
        self.capacity = capacity
        self.refresh_s = refresh_s
        self.clock = clock
        self._lam = math.log(2) / half_life_s
        self._entries: dict[str, _Entry] = {}

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(self.capacity, self._lam, self.refresh_s)
        return entry

    def begin(self, key: str) -> None:
        entry = self._entry(key)
        entry.in_flight += 1
        if entry.view is not None:
            entry.view = replace(entry.view, in_flight=entry.in_flight)

    def end(self, key: str) -> None:
        entry = self._entry(key)
        entry.in_flight = max(0, entry.in_flight - 1)
        if entry.view is not None:
            entry.view = replace(entry.view, in_flight=entry.in_flight)

    def record(self, key: str, outcome: Outcome, *, ttft_ms: float | None = None, tps: float | None = None) -> None:
        self.add(key, outcome, ttft_ms=ttft_ms, tps=tps, at=self.clock())

    def add(
        self, key: str, outcome: Outcome, *, ttft_ms: float | None = None, tps: float | None = None, at: float
    ) -> None:
        """``record`` at an explicit time (tests, replays and the Redis mirror)."""
        entry = self._entry(key)
        rings = entry.rings
        rings["outcome"].add(at, OUTCOME_CODES[outcome])
        if ttft_ms is not None and ttft_ms >= 0 and math.isfinite(ttft_ms):
            rings["ttft"].add(at, ttft_ms)
        if tps is not None and tps > 0 and math.isfinite(tps):
            rings["tps"].add(at, tps)
        if at - entry.view_at >= self.refresh_s:
            entry.touch()

    def samples(self, key: str, metric: Metric) -> list[tuple[float, float]]:
        """The ring of one metric, oldest first."""
        entry = self._entries.get(key)
        return [] if entry is None else list(entry.rings[metric].samples)

    def load(self, key: str, metric: Metric, samples: Iterable[tuple[float, float]]) -> None:
        """Replace one ring (the Redis backend's mirror refresh)."""
        entry = self._entry(key)
        entry.rings[metric].load(samples)
        entry.touch()

    def reset(self, *, half_life_s: float | None = None, refresh_s: float | None = None) -> None:
        """Forget every sample (in-flight counts too), optionally with new decay settings."""
        if half_life_s is not None:
            if half_life_s <= 0:
                raise ValueError("half_life_s must be positive")
            self.half_life_s = half_life_s
            self._lam = math.log(2) / half_life_s
        if refresh_s is not None:
            self.refresh_s = refresh_s
        self._entries.clear()

    def in_flight(self, key: str) -> int:
        entry = self._entries.get(key)
        return 0 if entry is None else entry.in_flight

    def snapshot(self, keys: Iterable[str]) -> dict[str, LiveStats]:
        now = self.clock()
        out: dict[str, LiveStats] = {}
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            view = entry.view
            if view is None or now - entry.view_at >= self.refresh_s or now < entry.view_at:
                view = entry.view = self._view(entry, now)
                entry.view_at = now
            out[key] = view
        return out

    def _view(self, entry: _Entry, now: float) -> LiveStats:
        ttft, tps, outcome = entry.rings["ttft"], entry.rings["tps"], entry.rings["outcome"]
        tq, pq = ttft.quantiles(now), tps.quantiles(now)  # (these refresh the rings' cached sums first)
        errors = outcome.share(now, OUTCOME_CODES["error"])
        timeouts = outcome.share(now, OUTCOME_CODES["timeout"])
        newest = [t for t in (ttft.newest(), tps.newest()) if t is not None]
        return LiveStats(
            ttft_p50=tq[1] if tq else None,
            ttft_p95=tq[2] if tq else None,
            tps_p50=pq[1] if pq else None,
            tps_p95=pq[0] if pq else None,
            ttft_samples=ttft.effective(now),
            tps_samples=tps.effective(now),
            outcomes=outcome.effective(now),
            error_rate=errors,
            timeout_rate=timeouts,
            in_flight=entry.in_flight,
            age_s=max(0.0, now - max(newest)) if newest else None,
        )

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Performance:
    """The numbers ranking uses for one offering: live stats blended with priors at the chosen percentiles."""

    ttft_ms: float
    tps: float
    ttft_source: Source
    tps_source: Source
    samples: float  # effective live TTFT samples
    failure_rate: float  # errors + timeouts, shrunk towards 0 while samples are few
    in_flight: int
    age_s: float | None


def _blend(live: float | None, n: float, prior: float | None, default: float) -> tuple[float, Source]:
    if live is None or n <= 0:
        return (default, "default") if prior is None else (prior, "prior")
    if prior is None:
        # No prior to shrink towards: the default is a placeholder, not knowledge, so live samples rule alone
        # (shrinking towards it would favour whichever offering has more samples).
        return live, "live"
    return (n * live + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT), "live"


def estimate(
    offering: Offering,
    live: LiveStats | None,
    ttft_percentile: Percentile = "p50",
    tps_percentile: Percentile = "p50",
) -> Performance:
    """TTFT and TPS for ranking and constraints (see the module docstring for the blend)."""
    s = live or EMPTY
    priors = offering.priors
    prior_ttft = priors.ttft_ms if priors is not None else None
    prior_tps = priors.tps if priors is not None else None
    if ttft_percentile == "p95":
        ttft, ttft_source = _blend(
            s.ttft_p95,
            s.ttft_samples,
            prior_ttft * PRIOR_TTFT_P95_FACTOR if prior_ttft is not None else None,
            DEFAULT_TTFT_MS * PRIOR_TTFT_P95_FACTOR,
        )
    else:
        ttft, ttft_source = _blend(s.ttft_p50, s.ttft_samples, prior_ttft, DEFAULT_TTFT_MS)
    if tps_percentile == "p95":
        tps, tps_source = _blend(
            s.tps_p95,
            s.tps_samples,
            prior_tps * PRIOR_TPS_P95_FACTOR if prior_tps is not None else None,
            DEFAULT_TPS * PRIOR_TPS_P95_FACTOR,
        )
    else:
        tps, tps_source = _blend(s.tps_p50, s.tps_samples, prior_tps, DEFAULT_TPS)
    n = s.outcomes
    failure = (s.error_rate + s.timeout_rate) * n / (n + PRIOR_WEIGHT) if n > 0 else 0.0
    return Performance(
        ttft_ms=ttft,
        tps=tps,
        ttft_source=ttft_source,
        tps_source=tps_source,
        samples=s.ttft_samples,
        failure_rate=failure,
        in_flight=s.in_flight,
        age_s=s.age_s,
    )


def open_stats(state_url: str | None) -> StatsBackend:
    """The backend for the ``state_url`` setting: ``memory://`` (default) or ``redis://`` / ``rediss://``.

    A ``key_prefix`` query parameter (``redis://host:6379/0?key_prefix=team-a:``) namespaces the Redis keys, so
    several gateways can share one Redis without sharing stats.
    """
    if not state_url or state_url.startswith("memory:"):
        return MemoryStats()
    if state_url.startswith(("redis://", "rediss://", "unix://")):
        from interlock.routing.stats_redis import RedisStats

        parts = urllib.parse.urlsplit(state_url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        prefix = next((v for k, v in query if k == "key_prefix"), None)
        if prefix is None:
            return RedisStats(state_url)
        rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "key_prefix"])
        return RedisStats(urllib.parse.urlunsplit(parts._replace(query=rest)), prefix=prefix)
    raise ValueError(f"unsupported state_url {state_url!r} (expected memory:// or redis://...)")
