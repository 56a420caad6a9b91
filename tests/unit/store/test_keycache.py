"""Tests of interlock.store.keycache.CachedKeyAuthenticator against a scripted in-memory store."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from interlock.store import CachedKeyAuthenticator, KeyRecord, generate_key, hash_key


def _record(key_id: str, **changes: object) -> KeyRecord:
    record = KeyRecord(
        id=key_id,
        name=key_id,
        key_prefix="ak_live_abcdefgh",
        workspace_id="ws_default",
        workspace_name="Default",
        scopes=("inference",),
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=None,
        budget_period="monthly",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        expires_at=None,
        revoked_at=None,
        last_used_at=None,
    )
    return msgspec.structs.replace(record, **changes)


class FakeStore:
    """A KeyLookup whose answers, failures and timing the test controls."""

    def __init__(self) -> None:
        self.records: dict[str, KeyRecord] = {}
        self.calls: list[str] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    def add(self, key_id: str, **changes: object) -> tuple[str, KeyRecord]:
        raw = generate_key()
        record = _record(key_id, **changes)
        self.records[hash_key(raw)] = record
        return raw, record

    async def authenticate_hash(self, key_hash: str) -> KeyRecord | None:
        self.calls.append(key_hash)
        record = self.records.get(key_hash)  # read when the query starts, like a database snapshot
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return None if record is None or record.revoked_at is not None else record


async def settle() -> None:
    """Let every ready task run until it blocks (on the store's gate or on the cache)."""
    for _ in range(10):
        await asyncio.sleep(0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(store: FakeStore, clock: FakeClock) -> CachedKeyAuthenticator:
    return CachedKeyAuthenticator(store, ttl_seconds=30, negative_ttl_seconds=5, clock=clock)


async def test_hits_are_served_from_memory(store: FakeStore, cache: CachedKeyAuthenticator) -> None:
    raw, record = store.add("key_a")
    for _ in range(100):
        assert await cache.authenticate(raw) == record
    assert store.calls == [hash_key(raw)]


async def test_cache_is_keyed_by_hash_not_raw_key(store: FakeStore, cache: CachedKeyAuthenticator) -> None:
    raw, _ = store.add("key_a")
    await cache.authenticate(raw)
    await cache.authenticate(generate_key())
    assert store.calls[0] == hash_key(raw)
    assert raw not in repr(vars(cache))
    assert hash_key(raw) in repr(vars(cache))


async def test_positive_ttl(store: FakeStore, cache: CachedKeyAuthenticator, clock: FakeClock) -> None:
    raw, record = store.add("key_a")
    await cache.authenticate(raw)
    clock.now += 29.9
    assert await cache.authenticate(raw) == record
    assert len(store.calls) == 1
    clock.now += 0.2
    assert await cache.authenticate(raw) == record
    assert len(store.calls) == 2


async def test_unknown_keys_are_cached_briefly(
    store: FakeStore, cache: CachedKeyAuthenticator, clock: FakeClock
) -> None:
    raw = generate_key()
    assert await cache.authenticate(raw) is None
    assert await cache.authenticate(raw) is None
    assert len(store.calls) == 1
    clock.now += 5.1
    assert await cache.authenticate(raw) is None
    assert len(store.calls) == 2


async def test_expired_keys_are_returned_and_cached(store: FakeStore, cache: CachedKeyAuthenticator) -> None:
    raw, _ = store.add("key_old", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    first = await cache.authenticate(raw)
    second = await cache.authenticate(raw)
    assert first is not None and first.status == "expired"
    assert second == first
    assert len(store.calls) == 1


async def test_key_expiring_while_cached_reads_as_expired(store: FakeStore, cache: CachedKeyAuthenticator) -> None:
    raw, _ = store.add("key_soon", expires_at=datetime.now(UTC) + timedelta(milliseconds=50))
    first = await cache.authenticate(raw)
    assert first is not None and first.status == "active"
    await asyncio.sleep(0.06)
    second = await cache.authenticate(raw)
    assert second is not None and second.status == "expired"
    assert len(store.calls) == 1


async def test_single_flight(store: FakeStore, cache: CachedKeyAuthenticator) -> None:
    raw, record = store.add("key_a")
    other_raw, other = store.add("key_b")
    store.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.authenticate(raw)) for _ in range(50)]
    tasks += [asyncio.create_task(cache.authenticate(other_raw)) for _ in range(5)]
    await settle()
    assert sorted(store.calls) == sorted([hash_key(raw), hash_key(other_raw)])
    store.gate.set()
    results = await asyncio.gather(*tasks)
    assert results == [record] * 50 + [other] * 5
    assert len(store.calls) == 2


async def test_failed_lookup_reaches_every_waiter_and_is_not_cached(
    store: FakeStore, cache: CachedKeyAuthenticator
) -> None:
    raw, record = store.add("key_a")
    store.gate = asyncio.Event()
    store.error = ConnectionError("database down")
    tasks = [asyncio.create_task(cache.authenticate(raw)) for _ in range(10)]
    await settle()
    store.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert len(store.calls) == 1
    store.error = None
    assert await cache.authenticate(raw) == record
    assert len(store.calls) == 2


async def test_cancelled_caller_does_not_cancel_the_shared_lookup(
    store: FakeStore, cache: CachedKeyAuthenticator
) -> None:
    raw, record = store.add("key_a")
    store.gate = asyncio.Event()
    first = asyncio.create_task(cache.authenticate(raw))
    second = asyncio.create_task(cache.authenticate(raw))
    await settle()
    first.cancel()
    await settle()
    store.gate.set()
    assert await second == record
    assert first.cancelled()
    assert len(store.calls) == 1
    assert await cache.authenticate(raw) == record
    assert len(store.calls) == 1


_ABANDONED_LOOKUP_SCRIPT = """
import asyncio
from interlock.store import CachedKeyAuthenticator

class FailingStore:
    def __init__(self):
        self.gate = asyncio.Event()

    async def authenticate_hash(self, key_hash):
        await self.gate.wait()
        raise ConnectionError("database down")

async def main():
    store = FailingStore()
    cache = CachedKeyAuthenticator(store)
    caller = asyncio.create_task(cache.authenticate("ak_live_x"))
    for _ in range(5):
        await asyncio.sleep(0)
    caller.cancel()
    store.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    print("done")

asyncio.run(main())
"""


async def test_failure_with_every_caller_cancelled_is_not_logged() -> None:
    # asyncio logs "Task exception was never retrieved" when such a task is garbage collected, which happens
    # at an unpredictable time; a separate interpreter makes it happen (at exit) and lets us read the log.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _ABANDONED_LOOKUP_SCRIPT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert (proc.returncode, out.strip()) == (0, b"done"), err.decode()
    assert b"never retrieved" not in err, err.decode()


async def test_invalidate(store: FakeStore, cache: CachedKeyAuthenticator) -> None:
    raw, record = store.add("key_a")
    other_raw, other = store.add("key_b")
    assert await cache.authenticate(raw) == record
    assert await cache.authenticate(other_raw) == other
    store.records[hash_key(raw)] = msgspec.structs.replace(record, revoked_at=datetime.now(UTC))
    assert await cache.authenticate(raw) == record  # the cache does not know yet
    cache.invalidate("key_a")
    assert await cache.authenticate(raw) is None
    assert await cache.authenticate(other_raw) == other
    assert len(store.calls) == 3  # a, b, then a again; b stayed cached
    cache.invalidate("key_unknown")


async def test_invalidate_during_lookup_does_not_cache_the_stale_answer(
    store: FakeStore, cache: CachedKeyAuthenticator
) -> None:
    raw, record = store.add("key_a")
    gate = store.gate = asyncio.Event()
    early = asyncio.create_task(cache.authenticate(raw))
    await settle()  # early's lookup has read the key as active and is waiting
    store.records[hash_key(raw)] = msgspec.structs.replace(record, revoked_at=datetime.now(UTC))
    cache.invalidate("key_a")
    store.gate = None
    assert await cache.authenticate(raw) is None  # its own lookup, not early's; it finishes first
    gate.set()
    assert await early == record  # that request raced the revoke; acceptable, but it must not be cached
    assert len(store.calls) == 2
    assert await cache.authenticate(raw) is None
    assert len(store.calls) == 2


async def test_clear(store: FakeStore, cache: CachedKeyAuthenticator) -> None:
    raw, _ = store.add("key_a")
    await cache.authenticate(raw)
    cache.clear()
    assert len(cache) == 0
    await cache.authenticate(raw)
    assert len(store.calls) == 2


async def test_least_recently_used_entries_are_evicted(store: FakeStore) -> None:
    cache = CachedKeyAuthenticator(store, max_entries=2)
    (raw_a, _), (raw_b, _), (raw_c, _) = store.add("key_a"), store.add("key_b"), store.add("key_c")
    await cache.authenticate(raw_a)
    await cache.authenticate(raw_b)
    await cache.authenticate(raw_a)  # a is now more recent than b
    await cache.authenticate(raw_c)  # evicts b
    assert len(cache) == 2
    store.calls.clear()
    await cache.authenticate(raw_a)
    await cache.authenticate(raw_c)
    assert store.calls == []
    await cache.authenticate(raw_b)
    assert store.calls == [hash_key(raw_b)]
    assert len(cache) == 2  # b came back and evicted a, the least recently used
    cache.invalidate("key_a")  # already evicted: nothing to do
    assert len(cache) == 2
    cache.invalidate("key_b")
    assert len(cache) == 1
    store.calls.clear()
    await cache.authenticate(raw_c)
    assert store.calls == []


async def test_zero_ttl_disables_caching_but_keeps_single_flight(store: FakeStore) -> None:
    cache = CachedKeyAuthenticator(store, ttl_seconds=0, negative_ttl_seconds=0)
    raw, record = store.add("key_a")
    assert [await cache.authenticate(raw) for _ in range(3)] == [record] * 3
    assert len(store.calls) == 3
    assert len(cache) == 0
    store.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.authenticate(raw)) for _ in range(10)]
    await settle()
    store.gate.set()
    await asyncio.gather(*tasks)
    assert len(store.calls) == 4


@pytest.mark.parametrize("kwargs", [{"ttl_seconds": -1}, {"negative_ttl_seconds": -1}, {"max_entries": 0}])
def test_invalid_settings(store: FakeStore, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CachedKeyAuthenticator(store, **kwargs)  # type: ignore[arg-type]
