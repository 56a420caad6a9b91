"""Circuit breakers per offering: keep an upstream that keeps failing out of plans, and probe it back in.

Theory of operation
-------------------
Each offering key has a breaker with three states::

    closed --(threshold consecutive provider failures)--> open --(cooldown elapsed)--> half_open
      ^                                                    ^                              |
      |                                                    +------(probe fails: cooldown x2, capped)
      +---------------------------(probe succeeds)-----------------------------------------+

- *closed*: requests flow; each provider failure (connection error, timeout, 429, 5xx, 529, broken stream)
  increments a counter that any success resets. ``threshold`` (5) in a row open the breaker.
- *open*: ranking leaves the offering out of plans (an exclusion with reason ``circuit_open``) until
  ``cooldown_s`` (30 s) has passed since it opened.
- *half_open*: the next plan may use it again; the first attempt claims the single probe (other plans keep
  seeing it open while the probe runs). Success closes the breaker and resets the cooldown; failure reopens it
  with the cooldown doubled, up to ``max_cooldown_s`` (300 s). A probe that never reports back is forgotten
  after one cooldown so a lost attempt cannot wedge the breaker.

The caller's own errors (4xx other than 408/409/429, the deadline running out) are not the provider's fault:
:meth:`Breakers.release` ends such an attempt without a verdict.

When *every* offering of a plan is open, ranking does not fail the request outright: it tries them in order of
least recent failure (see ``routing.rank``), because refusing everything would turn a partial outage that may
already be over into a certain one. Breakers are per process; every worker learns within ``threshold`` failures.
The clock is injectable (seconds, monotonic by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["BreakerState", "BreakerView", "Breakers"]

BreakerState = Literal["closed", "open", "half_open"]

DEFAULT_THRESHOLD: Final = 5
DEFAULT_COOLDOWN_S: Final = 30.0
DEFAULT_MAX_COOLDOWN_S: Final = 300.0


@dataclass(frozen=True, slots=True)
class BreakerView:
    """A breaker as ranking sees it at one instant."""

    state: BreakerState
    failures: int = 0
    last_failure_at: float | None = None
    retry_in_s: float | None = None  # open: seconds until a probe is allowed


CLOSED: Final = BreakerView("closed")


class _Breaker:
    __slots__ = ("cooldown", "failures", "last_failure_at", "opened_at", "probe_at")

    def __init__(self, cooldown: float) -> None:
        self.failures = 0
        self.opened_at: float | None = None
        self.last_failure_at: float | None = None
        self.cooldown = cooldown
        self.probe_at: float | None = None  # when the running half-open probe was claimed


class Breakers:
    """All breakers of one process, created on first failure (a missing key is closed)."""

    def __init__(
        self,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        max_cooldown_s: float = DEFAULT_MAX_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown_s <= 0 or max_cooldown_s < cooldown_s:
            raise ValueError("need threshold >= 1 and 0 < cooldown_s <= max_cooldown_s")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.clock = clock
        self._breakers: dict[str, _Breaker] = {}

    def view(self, key: str) -> BreakerView:
        b = self._breakers.get(key)
        if b is None:
            return CLOSED
        if b.opened_at is None:
            return BreakerView("closed", b.failures, b.last_failure_at)
        now = self.clock()
        ready = b.opened_at + b.cooldown
        if now < ready:
            return BreakerView("open", b.failures, b.last_failure_at, ready - now)
        if b.probe_at is not None and now < b.probe_at + b.cooldown:
            return BreakerView("open", b.failures, b.last_failure_at, b.probe_at + b.cooldown - now)
        return BreakerView("half_open", b.failures, b.last_failure_at, 0.0)

    def snapshot(self, keys: Iterable[str]) -> dict[str, BreakerView]:
        """Views of the given keys that are not plain closed (ranking treats a missing key as closed)."""
        out: dict[str, BreakerView] = {}
        for key in keys:
            if key in self._breakers:
                view = self.view(key)
                if view.state != "closed":
                    out[key] = view
        return out

    def on_attempt(self, key: str) -> None:
        """An attempt on ``key`` starts; in half-open state it claims the probe."""
        b = self._breakers.get(key)
        if b is not None and b.opened_at is not None and self.view(key).state == "half_open":
            b.probe_at = self.clock()

    def on_success(self, key: str) -> None:
        b = self._breakers.get(key)
        if b is None:
            return
        b.failures = 0
        b.opened_at = None
        b.probe_at = None
        b.cooldown = self.cooldown_s

    def on_failure(self, key: str) -> None:
        now = self.clock()
        b = self._breakers.get(key)
        if b is None:
            b = self._breakers[key] = _Breaker(self.cooldown_s)
        b.failures += 1
        b.last_failure_at = now
        if b.opened_at is not None:
            if b.probe_at is not None:  # the half-open probe failed: back off harder
                b.cooldown = min(b.cooldown * 2, self.max_cooldown_s)
            b.opened_at = now
            b.probe_at = None
        elif b.failures >= self.threshold:
            b.opened_at = now

    def reset(self) -> None:
        """Close every breaker."""
        self._breakers.clear()

    def release(self, key: str) -> None:
        """The attempt ended without saying anything about the provider (caller's error, cancelled)."""
        b = self._breakers.get(key)
        if b is not None:
            b.probe_at = None
