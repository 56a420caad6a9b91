"""The shared state backend named by ``state_url``: ``memory://`` (one process) or Redis (shared by replicas).

One factory for every user of the shared state (rate limits and budgets in ``accounting``, live stats and
circuit breakers in ``routing``), so they agree on URL handling and client options. Every key a user writes
starts with ``Settings.state_prefix`` (default ``interlock:``) followed by the user's own namespace
(``limits:``, ``budget:``, ``stats:`` ...), so several gateways or test runs can share one Redis database.

The client is ``redis.asyncio.Redis`` with ``decode_responses=True``: values come back as ``str``.
"""

from __future__ import annotations

from typing import Final, Literal

import redis.asyncio as aioredis

__all__ = ["DEFAULT_STATE_PREFIX", "StateKind", "make_redis", "state_kind"]

StateKind = Literal["memory", "redis"]

DEFAULT_STATE_PREFIX: Final = "interlock:"

_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


def state_kind(state_url: str | None) -> StateKind:
    """``memory`` for ``memory://`` (or nothing), ``redis`` for ``redis://``, ``rediss://``, ``unix://``.

    Raises ``ValueError`` for anything else.
    """
    if not state_url or state_url.startswith("memory:"):
        return "memory"
    if state_url.startswith(_REDIS_SCHEMES):
        return "redis"
    raise ValueError(f"unsupported state_url {state_url!r} (expected memory:// or redis://...)")


def make_redis(state_url: str, *, max_connections: int = 64) -> aioredis.Redis:
    """A Redis client for ``state_url`` (no I/O until first use). The caller closes it with ``aclose()``."""
    if state_kind(state_url) != "redis":
        raise ValueError(f"state_url {state_url!r} is not a Redis URL")
    # A blocking pool: a burst wider than the pool waits for a free connection instead of failing.
    pool = aioredis.BlockingConnectionPool.from_url(
        state_url,
        decode_responses=True,
        max_connections=max_connections,
        timeout=5,
        health_check_interval=30,
        socket_connect_timeout=5,
        socket_timeout=5,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes both
