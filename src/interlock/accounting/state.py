"""Counters behind rate limits and budgets: the ``LimitState`` seam and its in-process implementation.

Theory of operation
-------------------
Two kinds of counter, each checked and updated in one atomic step so that concurrent requests (and, with the
Redis implementation in ``state_redis``, concurrent replicas) can never pass a limit together:

*Request windows* (requests per minute) are a sliding log: the admission times of the requests admitted in the
last ``window_ms``. ``hit`` drops the entries older than the window, admits the request if fewer than ``limit``
remain and then logs it; a refused request is not logged, so hammering a full window does not extend it. The
window therefore holds *exactly* ``limit`` requests in any ``window_ms``, with no boundary burst of a fixed
window. ``reset_ms`` is when the oldest entry leaves (the next free slot).

*Budget slots* (one per scope, period and period start: "key X, daily, 2026-05-18") hold ``spent`` and
``reserved`` in integer nano-dollars (exact sums, no float drift). ``reserve`` admits a request when every
enforced slot still has ``spent + reserved < limit`` and then adds the request's estimated cost to
``reserved`` of all its slots, as a *lease* that names the request and lapses at ``lease_expiry_ms``.
``settle`` removes the lease and adds the real cost to ``spent``. Whatever happens between the two, the
committed amount ``spent + reserved`` already counts every admitted request, so concurrent requests cannot
all slip under the limit. A request is admitted only while something is left, so the final spend exceeds the
limit by at most the estimate of the one request admitted last, as long as real costs stay within their
estimates. A lease of a worker that died without settling lapses at its expiry instead of blocking the
budget forever (lapsed leases are dropped by the next ``reserve`` of that slot).

A slot that does not exist yet (first request of a period, a restarted in-process state, a flushed Redis) is
reported as *missing* rather than started at zero; the caller seeds it from the ledger's spend so far
(``seed`` only creates, never overwrites) and reserves again.

Token windows (tokens per minute) are plain per-minute counters: checked at admission, added to when the
request finishes. They are approximate by design (the tokens of requests in flight are not known yet).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

__all__ = ["LimitState", "MemoryState", "Reservation", "Slot", "SlotView", "Window"]


class Window(NamedTuple):
    """A request window after a ``hit`` or ``peek``."""

    allowed: bool
    limit: int
    used: int  # requests in the window, this one included when admitted
    reset_ms: int  # epoch ms at which the oldest entry leaves the window

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class Slot:
    """One budget counter: its state key, its limit in nano-dollars, whether it blocks, how long it lives."""

    key: str
    limit_nusd: int
    enforce: bool
    ttl_s: int


class SlotView(NamedTuple):
    spent_nusd: int
    reserved_nusd: int


class Reservation(NamedTuple):
    """The outcome of ``reserve``: admitted (``ok``), refused by slot ``failed``, or slots ``missing`` a seed."""

    ok: bool
    failed: int  # index of the first exhausted enforced slot, -1 if none
    views: list[SlotView]  # spent and reserved of every slot before this reservation
    missing: list[int]  # indexes of slots that do not exist yet (nothing was reserved)


class LimitState(Protocol):
    """What rate limits and budgets need from a state backend (see the module docstring)."""

    async def hit(self, key: str, limit: int, window_ms: int, now_ms: int, member: str) -> Window: ...

    async def peek(self, key: str, limit: int, window_ms: int, now_ms: int) -> Window: ...

    async def get_tokens(self, key: str) -> int: ...

    async def add_tokens(self, key: str, tokens: int, ttl_s: int) -> None: ...

    async def reserve(
        self, slots: list[Slot], amount_nusd: int, lease: str, lease_expiry_ms: int, now_ms: int
    ) -> Reservation: ...

    async def seed(self, slot: Slot, spent_nusd: int, now_ms: int) -> None: ...

    async def settle(self, slots: list[Slot], lease: str, actual_nusd: int) -> None: ...

    async def views(self, slots: list[Slot]) -> list[SlotView | None]: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Budget:
    spent: int
    expires_ms: int
    reserved: int = 0
    leases: dict[str, tuple[int, int]] = field(default_factory=dict)  # lease -> (amount, expiry ms)
    heap: list[tuple[int, str]] = field(default_factory=list)  # (expiry ms, lease), lazily cleaned


_SWEEP_EVERY = 4096


class MemoryState:
    """``LimitState`` for one process (``state_url: memory://``): dictionaries, atomic because nothing awaits."""

    def __init__(self) -> None:
        self._windows: dict[str, deque[int]] = {}
        self._tokens: dict[str, tuple[int, int]] = {}  # key -> (count, expires ms)
        self._budgets: dict[str, _Budget] = {}
        self._calls = 0
        self._now_ms = 0

    async def hit(self, key: str, limit: int, window_ms: int, now_ms: int, member: str) -> Window:
        return self._window(key, limit, window_ms, now_ms, consume=True)

    async def peek(self, key: str, limit: int, window_ms: int, now_ms: int) -> Window:
        return self._window(key, limit, window_ms, now_ms, consume=False)

    def _window(self, key: str, limit: int, window_ms: int, now_ms: int, *, consume: bool) -> Window:
        self._tick(now_ms)
        log = self._windows.get(key)
        if log is None:
            log = self._windows[key] = deque()
        cutoff = now_ms - window_ms
        while log and log[0] <= cutoff:
            log.popleft()
        allowed = len(log) < limit
        if consume and allowed:
            log.append(now_ms)
        reset = (log[0] if log else now_ms) + window_ms
        return Window(allowed, limit, len(log), reset)

    async def get_tokens(self, key: str) -> int:
        entry = self._tokens.get(key)
        return 0 if entry is None or entry[1] <= self._now_ms else entry[0]

    async def add_tokens(self, key: str, tokens: int, ttl_s: int) -> None:
        count = await self.get_tokens(key)
        self._tokens[key] = (count + tokens, self._now_ms + ttl_s * 1000)

    async def reserve(
        self, slots: list[Slot], amount_nusd: int, lease: str, lease_expiry_ms: int, now_ms: int
    ) -> Reservation:
        self._tick(now_ms)
        budgets: list[_Budget] = []
        missing: list[int] = []
        for i, slot in enumerate(slots):
            budget = self._budgets.get(slot.key)
            if budget is None or budget.expires_ms <= now_ms:
                missing.append(i)
            else:
                budgets.append(budget)
        if missing:
            return Reservation(False, -1, [], missing)
        views: list[SlotView] = []
        failed = -1
        for i, (slot, budget) in enumerate(zip(slots, budgets, strict=True)):
            _release_lapsed(budget, now_ms)
            views.append(SlotView(budget.spent, budget.reserved))
            if failed < 0 and slot.enforce and budget.spent + budget.reserved >= slot.limit_nusd:
                failed = i
        if failed >= 0:
            return Reservation(False, failed, views, [])
        for slot, budget in zip(slots, budgets, strict=True):
            budget.reserved += amount_nusd
            budget.leases[lease] = (amount_nusd, lease_expiry_ms)
            heapq.heappush(budget.heap, (lease_expiry_ms, lease))
            budget.expires_ms = max(budget.expires_ms, now_ms + slot.ttl_s * 1000)
        return Reservation(True, -1, views, [])

    async def seed(self, slot: Slot, spent_nusd: int, now_ms: int) -> None:
        self._tick(now_ms)
        current = self._budgets.get(slot.key)
        if current is None or current.expires_ms <= now_ms:
            self._budgets[slot.key] = _Budget(spent=spent_nusd, expires_ms=now_ms + slot.ttl_s * 1000)

    async def settle(self, slots: list[Slot], lease: str, actual_nusd: int) -> None:
        for slot in slots:
            budget = self._budgets.get(slot.key)
            if budget is None:
                continue  # lapsed with its period: the ledger row still carries the cost
            held = budget.leases.pop(lease, None)
            if held is not None:
                budget.reserved -= held[0]
                if len(budget.heap) > 2 * len(budget.leases) + 64:  # settled leases linger in the heap
                    budget.heap = [(expiry, name) for name, (_, expiry) in budget.leases.items()]
                    heapq.heapify(budget.heap)
            budget.spent += actual_nusd

    async def views(self, slots: list[Slot]) -> list[SlotView | None]:
        out: list[SlotView | None] = []
        for slot in slots:
            budget = self._budgets.get(slot.key)
            if budget is None or budget.expires_ms <= self._now_ms:
                out.append(None)
            else:
                _release_lapsed(budget, self._now_ms)
                out.append(SlotView(budget.spent, budget.reserved))
        return out

    async def close(self) -> None:
        return None

    def _tick(self, now_ms: int) -> None:
        self._now_ms = max(self._now_ms, now_ms)
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            self._sweep()

    def _sweep(self) -> None:
        now = self._now_ms
        self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
        self._budgets = {k: b for k, b in self._budgets.items() if b.expires_ms > now}


def _release_lapsed(budget: _Budget, now_ms: int) -> None:
    heap = budget.heap
    while heap and heap[0][0] <= now_ms:
        expiry, lease = heapq.heappop(heap)
        held = budget.leases.get(lease)
        if held is not None and held[1] == expiry:
            del budget.leases[lease]
            budget.reserved -= held[0]
