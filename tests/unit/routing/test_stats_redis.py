"""The Redis stats backend against a real Redis (127.0.0.1:6379), two "workers" sharing one key prefix."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from interlock.routing.stats_redis import RedisStats

URL = os.environ.get("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY = "sim-a/model@standard"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(URL, decode_responses=True)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        await client.aclose()
        pytest.skip(f"no Redis at {URL}: {exc}")
    name = f"interlock-test:{uuid.uuid4().hex}:"
    yield name
    keys = [k async for k in client.scan_iter(match=name + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_samples_recorded_in_one_worker_reach_another(prefix: str) -> None:
    a = RedisStats(URL, prefix=prefix, sync_interval_s=3600)
    b = RedisStats(URL, prefix=prefix, sync_interval_s=3600)
    await a.start()
    await b.start()
    try:
        for ttft in (100.0, 200.0, 300.0):
            a.record(KEY, "ok", ttft_ms=ttft, tps=50.0)
        a.record(KEY, "error")
        assert a.snapshot([KEY])[KEY].ttft_p50 == 200.0  # its own samples at once, before any sync
        assert b.snapshot([KEY]) == {}
        await a.sync()
        await b.sync()
        view = b.snapshot([KEY])[KEY]
        assert view.ttft_p50 == 200.0
        assert view.tps_p50 == 50.0
        assert view.error_rate == pytest.approx(0.25, abs=0.01)
        assert view.ttft_samples == pytest.approx(3, abs=0.01)
        # b's own samples go the other way, and a's mirror is replaced by the shared rings.
        b.record(KEY, "ok", ttft_ms=1000.0)
        await b.sync()
        await a.sync()
        assert a.snapshot([KEY])[KEY].ttft_samples == pytest.approx(4, abs=0.01)
    finally:
        await a.close()
        await b.close()


async def test_in_flight_counts_are_shared(prefix: str) -> None:
    a = RedisStats(URL, prefix=prefix, sync_interval_s=3600)
    b = RedisStats(URL, prefix=prefix, sync_interval_s=3600)
    await a.start()
    await b.start()
    try:
        a.begin(KEY)
        a.begin(KEY)
        b.begin(KEY)
        await a.sync()
        await b.sync()
        assert b.snapshot([KEY])[KEY].in_flight == 3
        a.end(KEY)
        a.end(KEY)
        await a.sync()
        await b.sync()
        assert b.snapshot([KEY])[KEY].in_flight == 1
    finally:
        await a.close()
        await b.close()


async def test_rings_are_trimmed_and_expire(prefix: str) -> None:
    s = RedisStats(URL, prefix=prefix, sync_interval_s=3600, capacity=8)
    await s.start()
    try:
        for i in range(20):
            s.record(KEY, "ok", ttft_ms=float(i))
        await s.sync()
        client = aioredis.Redis.from_url(URL, decode_responses=True)
        name = f"{prefix}{KEY}:ttft"
        assert await client.llen(name) == 8
        assert 0 < await client.ttl(name) <= 24 * 3600
        await client.aclose()
        assert s.snapshot([KEY])[KEY].ttft_p50 in (15.0, 16.0)
    finally:
        await s.close()


async def test_background_sync_and_close_flushes(prefix: str) -> None:
    a = RedisStats(URL, prefix=prefix, sync_interval_s=0.02)
    b = RedisStats(URL, prefix=prefix, sync_interval_s=0.02)
    await a.start()
    await b.start()
    try:
        b.snapshot([KEY])  # b routes to KEY: it will pull it
        a.record(KEY, "ok", ttft_ms=42.0)
        for _ in range(200):  # bounded poll, no fixed sleep
            view = b.snapshot([KEY]).get(KEY)
            if view is not None and view.ttft_p50 == 42.0:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the background sync never delivered the sample")
        a.record(KEY, "timeout")
    finally:
        await a.close()  # the final flush pushes the timeout
        await b.sync()
        assert b.snapshot([KEY])[KEY].timeout_rate > 0
        await b.close()


async def test_unreachable_redis_keeps_working_locally() -> None:
    s = RedisStats("redis://127.0.0.1:1/0", sync_interval_s=3600)
    await s.start()
    try:
        s.record(KEY, "ok", ttft_ms=10.0)
        with pytest.raises(Exception):  # noqa: B017 - whatever redis-py raises for a refused connection
            await s.sync()
        assert s.snapshot([KEY])[KEY].ttft_p50 == 10.0
        assert len(s._pending) == 2  # kept for the next round
    finally:
        await s.close()  # the final flush fails quietly
