"""Live stats: decayed percentiles, rates, in-flight counts, prior blending and the backend factory."""

from __future__ import annotations

import pytest

from interlock.routing.catalog import Offering, Priors
from interlock.routing.stats import (
    DEFAULT_TPS,
    DEFAULT_TTFT_MS,
    LiveStats,
    MemoryStats,
    estimate,
    open_stats,
)
from interlock.routing.stats_redis import RedisStats

KEY = "p/m@standard"


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def stats(clock: Clock, **kw: float) -> MemoryStats:
    return MemoryStats(clock=clock, refresh_s=0.0, **kw)  # type: ignore[arg-type]


def test_percentiles_of_a_uniform_window() -> None:
    clock = Clock()
    s = stats(clock)
    for i in range(1, 101):
        s.record(KEY, "ok", ttft_ms=float(i), tps=float(i))
    view = s.snapshot([KEY])[KEY]
    # The ring keeps the newest 64 samples (37..100); with equal weights p50 and p95 are nearest-rank.
    assert view.ttft_p50 == 68.0
    assert view.ttft_p95 == 97.0
    assert view.tps_p50 == 68.0
    assert view.tps_p95 == 40.0  # the slow tail of throughput: 95% of requests were at least this fast
    assert view.ttft_samples == pytest.approx(64)
    assert view.age_s == 0.0


def test_recent_samples_outweigh_old_ones() -> None:
    clock = Clock()
    s = stats(clock, half_life_s=10.0)
    for _ in range(20):
        s.record(KEY, "ok", ttft_ms=1000.0)
    clock.t += 30  # three half-lives: the old 20 weigh 2.5 together
    for _ in range(3):
        s.record(KEY, "ok", ttft_ms=50.0)
    view = s.snapshot([KEY])[KEY]
    assert view.ttft_p50 == 50.0
    assert view.ttft_p95 == 1000.0
    assert view.ttft_samples == pytest.approx(3 + 20 / 8)


def test_effective_samples_decay_with_time_without_new_samples() -> None:
    clock = Clock()
    s = stats(clock, half_life_s=60.0)
    for _ in range(8):
        s.record(KEY, "ok", ttft_ms=100.0)
    clock.t += 120
    view = s.snapshot([KEY])[KEY]
    assert view.ttft_samples == pytest.approx(2.0)
    assert view.age_s == pytest.approx(120)
    assert view.ttft_p50 == 100.0  # decay scales every weight alike: percentiles hold until a sample arrives


def test_error_and_timeout_rates_and_non_streamed_outcomes() -> None:
    clock = Clock()
    s = stats(clock)
    for outcome in ["ok"] * 6 + ["error"] * 3 + ["timeout"]:
        s.record(KEY, outcome)  # type: ignore[arg-type]
    view = s.snapshot([KEY])[KEY]
    assert view.error_rate == pytest.approx(0.3)
    assert view.timeout_rate == pytest.approx(0.1)
    assert view.outcomes == pytest.approx(10)
    assert view.ttft_p50 is None and view.ttft_samples == 0 and view.age_s is None


def test_in_flight_and_unknown_keys() -> None:
    s = stats(Clock())
    s.begin(KEY)
    s.begin(KEY)
    assert s.snapshot([KEY, "other"]) == {KEY: s.snapshot([KEY])[KEY]}
    assert s.snapshot([KEY])[KEY].in_flight == 2
    s.end(KEY)
    s.end(KEY)
    s.end(KEY)
    assert s.snapshot([KEY])[KEY].in_flight == 0


def test_bad_samples_are_ignored() -> None:
    s = stats(Clock())
    s.record(KEY, "ok", ttft_ms=float("nan"), tps=0.0)
    s.record(KEY, "ok", ttft_ms=-1.0, tps=float("inf"))
    view = s.snapshot([KEY])[KEY]
    assert view.ttft_samples == 0 and view.tps_samples == 0 and view.outcomes == pytest.approx(2)


def test_snapshots_are_cached_within_the_refresh_interval() -> None:
    clock = Clock()
    s = MemoryStats(clock=clock, refresh_s=1.0)
    s.record(KEY, "ok", ttft_ms=100.0)
    first = s.snapshot([KEY])[KEY]
    s.record(KEY, "ok", ttft_ms=900.0)
    assert s.snapshot([KEY])[KEY] is first
    clock.t += 1.5
    s.record(KEY, "ok", ttft_ms=900.0)
    assert s.snapshot([KEY])[KEY].ttft_p50 == 900.0


def test_load_and_samples_round_trip() -> None:
    s = stats(Clock())
    s.load(KEY, "ttft", [(999.0, 10.0), (998.0, 20.0)])
    assert s.samples(KEY, "ttft") == [(998.0, 20.0), (999.0, 10.0)]
    assert s.snapshot([KEY])[KEY].ttft_samples > 1.9


def offering(priors: Priors | None = None) -> Offering:
    return Offering(provider="p", provider_model_id="m", input_price=1, output_price=1, priors=priors)


def test_estimate_uses_priors_then_defaults() -> None:
    perf = estimate(offering(Priors(ttft_ms=200, tps=100)), None)
    assert (perf.ttft_ms, perf.tps, perf.ttft_source, perf.tps_source) == (200, 100, "prior", "prior")
    perf = estimate(offering(Priors(ttft_ms=200, tps=100)), None, "p95", "p95")
    assert (perf.ttft_ms, perf.tps) == pytest.approx((300, 70))
    perf = estimate(offering(), None)
    assert (perf.ttft_ms, perf.tps, perf.ttft_source) == (DEFAULT_TTFT_MS, DEFAULT_TPS, "default")


def test_estimate_shrinks_live_numbers_towards_the_prior() -> None:
    live = LiveStats(ttft_p50=1000, tps_p50=10, ttft_samples=2, tps_samples=2)
    perf = estimate(offering(Priors(ttft_ms=200, tps=100)), live)
    assert (perf.ttft_ms, perf.tps, perf.ttft_source) == (600, 55, "live")
    many = LiveStats(ttft_p50=1000, tps_p50=10, ttft_samples=198, tps_samples=198)
    assert estimate(offering(Priors(ttft_ms=200, tps=100)), many).ttft_ms == pytest.approx(992)


def test_failure_rate_is_shrunk_while_samples_are_few() -> None:
    one = estimate(offering(), LiveStats(outcomes=1, error_rate=1.0))
    many = estimate(offering(), LiveStats(outcomes=50, error_rate=0.5, timeout_rate=0.2))
    assert one.failure_rate == pytest.approx(1 / 3)
    assert many.failure_rate == pytest.approx(0.7 * 50 / 52)


def test_open_stats_picks_the_backend() -> None:
    assert isinstance(open_stats("memory://"), MemoryStats)
    assert isinstance(open_stats(None), MemoryStats)
    assert isinstance(open_stats("redis://127.0.0.1:6379/0"), RedisStats)
    with pytest.raises(ValueError, match="state_url"):
        open_stats("postgres://x")


def test_without_a_prior_live_numbers_rule_alone() -> None:
    perf = estimate(offering(), LiveStats(ttft_p50=50, tps_p50=500, ttft_samples=1, tps_samples=1))
    assert (perf.ttft_ms, perf.tps, perf.ttft_source) == (50, 500, "live")


def test_reset_forgets_and_retunes() -> None:
    clock = Clock()
    s = stats(clock)
    s.record(KEY, "ok", ttft_ms=10.0)
    s.begin(KEY)
    s.reset(half_life_s=1.0)
    assert s.snapshot([KEY]) == {}
    s.record(KEY, "ok", ttft_ms=10.0)
    clock.t += 2
    assert s.snapshot([KEY])[KEY].ttft_samples == pytest.approx(0.25)


def test_open_stats_reads_a_key_prefix_from_the_url() -> None:
    backend = open_stats("redis://127.0.0.1:6379/0?key_prefix=team-a:&socket_timeout=2")
    assert isinstance(backend, RedisStats)
    assert backend.prefix == "team-a:"
    assert backend.url == "redis://127.0.0.1:6379/0?socket_timeout=2"
