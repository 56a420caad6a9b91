"""Circuit breakers with an injected clock: open after N failures, half-open probe, close on success, back off."""

from __future__ import annotations

import pytest

from interlock.routing.breaker import Breakers

KEY = "p/m@standard"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breakers(clock: Clock) -> Breakers:
    return Breakers(threshold=3, cooldown_s=10.0, max_cooldown_s=25.0, clock=clock)


def test_opens_after_threshold_consecutive_failures(breakers: Breakers) -> None:
    for _ in range(2):
        breakers.on_failure(KEY)
    assert breakers.view(KEY).state == "closed"
    assert breakers.snapshot([KEY]) == {}
    breakers.on_failure(KEY)
    view = breakers.view(KEY)
    assert (view.state, view.failures, view.retry_in_s) == ("open", 3, 10.0)
    assert breakers.snapshot([KEY, "other"]) == {KEY: view}


def test_a_success_resets_the_count(breakers: Breakers) -> None:
    breakers.on_failure(KEY)
    breakers.on_failure(KEY)
    breakers.on_success(KEY)
    breakers.on_failure(KEY)
    breakers.on_failure(KEY)
    assert breakers.view(KEY).state == "closed"


def test_half_open_after_cooldown_allows_one_probe_then_closes(breakers: Breakers, clock: Clock) -> None:
    for _ in range(3):
        breakers.on_failure(KEY)
    clock.t += 9.9
    assert breakers.view(KEY).state == "open"
    clock.t += 0.1
    assert breakers.view(KEY).state == "half_open"
    breakers.on_attempt(KEY)  # the probe
    assert breakers.view(KEY).state == "open"  # others wait while it runs
    breakers.on_success(KEY)
    assert breakers.view(KEY).state == "closed"
    assert breakers.snapshot([KEY]) == {}


def test_failed_probe_reopens_with_a_longer_capped_cooldown(breakers: Breakers, clock: Clock) -> None:
    for _ in range(3):
        breakers.on_failure(KEY)
    for expected in (20.0, 25.0, 25.0):
        clock.t += 100
        assert breakers.view(KEY).state == "half_open"
        breakers.on_attempt(KEY)
        breakers.on_failure(KEY)
        view = breakers.view(KEY)
        assert (view.state, view.retry_in_s) == ("open", expected)
    clock.t += 25
    breakers.on_attempt(KEY)
    breakers.on_success(KEY)
    for _ in range(3):
        breakers.on_failure(KEY)
    assert breakers.view(KEY).retry_in_s == 10.0  # success reset the cooldown


def test_release_frees_the_probe_without_a_verdict(breakers: Breakers, clock: Clock) -> None:
    for _ in range(3):
        breakers.on_failure(KEY)
    clock.t += 10
    breakers.on_attempt(KEY)
    breakers.release(KEY)
    assert breakers.view(KEY).state == "half_open"


def test_a_lost_probe_is_forgotten_after_a_cooldown(breakers: Breakers, clock: Clock) -> None:
    for _ in range(3):
        breakers.on_failure(KEY)
    clock.t += 10
    breakers.on_attempt(KEY)
    clock.t += 10
    assert breakers.view(KEY).state == "half_open"


def test_last_failure_time_is_reported(breakers: Breakers, clock: Clock) -> None:
    breakers.on_failure(KEY)
    clock.t = 150.0
    breakers.on_failure(KEY)
    assert breakers.view(KEY).last_failure_at == 150.0
    assert breakers.view("never").state == "closed"


def test_rejects_nonsense_parameters() -> None:
    with pytest.raises(ValueError):
        Breakers(threshold=0)
    with pytest.raises(ValueError):
        Breakers(cooldown_s=10, max_cooldown_s=5)
