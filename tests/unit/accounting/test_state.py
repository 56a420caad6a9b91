"""The ``LimitState`` contract, run on the in-process backend and on Redis (own key prefix, deleted after)."""

from __future__ import annotations

import asyncio

from interlock.accounting.state import LimitState, Slot, SlotView

NANO = 1_000_000_000
T0 = 1_700_000_000_000  # an epoch instant in ms


def slot(prefix: str, name: str, limit_usd: float, *, enforce: bool = True) -> Slot:
    return Slot(f"{prefix}budget:{name}", round(limit_usd * NANO), enforce, 3600)


async def test_window_admits_exactly_the_limit(state: LimitState, prefix: str) -> None:
    key = prefix + "rpm:k1"
    results = [await state.hit(key, 3, 60_000, T0 + i, f"r{i}") for i in range(5)]
    assert [w.allowed for w in results] == [True, True, True, False, False]
    assert [w.remaining for w in results] == [2, 1, 0, 0, 0]
    assert results[-1].reset_ms == T0 + 60_000  # when the first admitted request leaves the window


async def test_window_slides(state: LimitState, prefix: str) -> None:
    key = prefix + "rpm:k2"
    assert (await state.hit(key, 2, 60_000, T0, "a")).allowed
    assert (await state.hit(key, 2, 60_000, T0 + 30_000, "b")).allowed
    assert not (await state.hit(key, 2, 60_000, T0 + 59_999, "c")).allowed
    later = await state.hit(key, 2, 60_000, T0 + 60_000, "d")  # "a" left the window
    assert later.allowed and later.used == 2
    assert later.reset_ms == T0 + 90_000


async def test_refused_requests_do_not_extend_the_window(state: LimitState, prefix: str) -> None:
    key = prefix + "rpm:k3"
    await state.hit(key, 1, 60_000, T0, "a")
    for i in range(10):
        assert not (await state.hit(key, 1, 60_000, T0 + 1000 * i, f"x{i}")).allowed
    assert (await state.hit(key, 1, 60_000, T0 + 60_000, "b")).allowed


async def test_peek_does_not_count(state: LimitState, prefix: str) -> None:
    key = prefix + "rpm:k4"
    await state.hit(key, 5, 60_000, T0, "a")
    for _ in range(3):
        window = await state.peek(key, 5, 60_000, T0 + 1)
        assert window.allowed and window.used == 1 and window.remaining == 4


async def test_concurrent_hits_never_pass_the_limit(state: LimitState, prefix: str) -> None:
    key = prefix + "rpm:burst"
    windows = await asyncio.gather(*(state.hit(key, 7, 60_000, T0, f"r{i}") for i in range(40)))
    assert sum(w.allowed for w in windows) == 7


async def test_tokens_add_up(state: LimitState, prefix: str) -> None:
    key = prefix + "tpm:k:1"
    assert await state.get_tokens(key) == 0
    await state.add_tokens(key, 120, 120)
    await state.add_tokens(key, 30, 120)
    assert await state.get_tokens(key) == 150


async def test_missing_slot_asks_for_a_seed(state: LimitState, prefix: str) -> None:
    s = slot(prefix, "seed", 1.0)
    result = await state.reserve([s], 10, "lease", T0 + 60_000, T0)
    assert not result.ok and result.missing == [0] and result.failed == -1
    await state.seed(s, 250_000_000, T0)
    await state.seed(s, 999, T0)  # never overwrites
    result = await state.reserve([s], 10, "lease", T0 + 60_000, T0)
    assert result.ok and result.views == [SlotView(250_000_000, 0)]
    assert await state.views([s]) == [SlotView(250_000_000, 10)]


async def test_reserve_settle_cycle(state: LimitState, prefix: str) -> None:
    s = slot(prefix, "cycle", 1.0)
    await state.seed(s, 0, T0)
    assert (await state.reserve([s], 400_000_000, "a", T0 + 60_000, T0)).ok
    assert (await state.reserve([s], 400_000_000, "b", T0 + 60_000, T0)).ok
    assert (await state.reserve([s], 400_000_000, "c", T0 + 60_000, T0)).ok  # 0.8 committed < 1.0: admitted
    refused = await state.reserve([s], 400_000_000, "d", T0 + 60_000, T0)
    assert not refused.ok and refused.failed == 0 and refused.views == [SlotView(0, 1_200_000_000)]
    await state.settle([s], "a", 100_000_000)
    await state.settle([s], "b", 100_000_000)
    assert await state.views([s]) == [SlotView(200_000_000, 400_000_000)]
    assert (await state.reserve([s], 400_000_000, "e", T0 + 60_000, T0)).ok
    await state.settle([s], "e", 1)
    await state.settle([s], "e", 0)  # a second settle of a lease only adds its (zero) cost
    assert await state.views([s]) == [SlotView(200_000_001, 400_000_000)]


async def test_reservation_is_all_or_nothing_across_slots(state: LimitState, prefix: str) -> None:
    key_budget, workspace_budget = slot(prefix, "key", 10.0), slot(prefix, "ws", 1.0)
    await state.seed(key_budget, 0, T0)
    await state.seed(workspace_budget, 1_000_000_000, T0)  # exhausted
    result = await state.reserve([key_budget, workspace_budget], 5, "x", T0 + 60_000, T0)
    assert not result.ok and result.failed == 1
    assert await state.views([key_budget, workspace_budget]) == [SlotView(0, 0), SlotView(1_000_000_000, 0)]


async def test_unenforced_slot_never_refuses(state: LimitState, prefix: str) -> None:
    s = slot(prefix, "soft", 1.0, enforce=False)
    await state.seed(s, 5 * NANO, T0)
    assert (await state.reserve([s], 5, "x", T0 + 60_000, T0)).ok


async def test_lapsed_lease_is_released(state: LimitState, prefix: str) -> None:
    s = slot(prefix, "lapse", 1.0)
    await state.seed(s, 0, T0)
    assert (await state.reserve([s], 1_000_000_000, "dead-worker", T0 + 1_000, T0)).ok
    assert not (await state.reserve([s], 1, "early", T0 + 60_000, T0 + 500)).ok
    after = await state.reserve([s], 1, "later", T0 + 60_000, T0 + 1_000)
    assert after.ok and after.views == [SlotView(0, 0)]
    await state.settle([s], "dead-worker", 300_000_000)  # a late settle still counts the real cost
    assert await state.views([s]) == [SlotView(300_000_000, 1)]


async def test_concurrent_reservations_hold_the_budget(state: LimitState, prefix: str) -> None:
    s = slot(prefix, "race", 1.0)
    await state.seed(s, 0, T0)
    results = await asyncio.gather(*(state.reserve([s], 100_000_000, f"r{i}", T0 + 60_000, T0) for i in range(50)))
    assert sum(r.ok for r in results) == 10  # 10 x 0.1 fills the budget; nothing is admitted once it is full
