"""Fixtures for the accounting tests: a state backend per kind, the Redis one under its own key prefix."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from interlock.accounting.state import LimitState, MemoryState
from interlock.accounting.state_redis import RedisState
from interlock.store.state import make_redis

REDIS_URL = os.environ.get("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def delete_prefix(client: object, prefix: str) -> None:
    """Delete every key under ``prefix`` (the test's own namespace)."""
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=500)]  # type: ignore[attr-defined]
    if keys:
        await client.delete(*keys)  # type: ignore[attr-defined]


@pytest.fixture
def prefix() -> str:
    return f"interlock-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[LimitState]:
    if request.param == "memory":
        yield MemoryState()
        return
    client = make_redis(REDIS_URL)
    try:
        await client.ping()
    except OSError as exc:
        await client.aclose()
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    backend = RedisState(client, own_client=False)
    try:
        yield backend
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()
