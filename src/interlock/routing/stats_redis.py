"""Live stats shared through Redis across worker processes and replicas (``state_url: redis://...``).

Theory of operation
-------------------
The hot path never waits for Redis. :class:`RedisStats` keeps a local :class:`~interlock.routing.stats.MemoryStats`
mirror that answers every ``snapshot`` synchronously, and a background task that, every ``sync_interval_s``
(0.5 s), does one pipelined round trip:

1. push the samples recorded here since the last round (``LPUSH`` per ring, then ``LTRIM`` to the ring size and
   ``EXPIRE``), and this process's in-flight count per offering (``HSET`` field = worker id, value =
   ``count:timestamp``);
2. read back every ring and in-flight hash of the offerings this process has routed to (``LRANGE``,
   ``HGETALL``), and replace the mirror's rings with them.

So each process sees its own samples at once and everyone's within about one interval, with one round trip per
interval regardless of traffic. Samples carry wall-clock timestamps (``time.time``) so decay weights agree across
machines; rings hold ``"<t>:<value>"`` strings. In-flight counts of other workers older than ``INFLIGHT_TTL_S``
are ignored (a crashed worker stops counting). If Redis is unreachable, the mirror keeps working on local samples
and the push is retried with the next round (pending samples are bounded by ``max_pending``, oldest dropped).

Keys (``prefix`` defaults to ``interlock:stats:``): ``{prefix}{offering key}:{ttft|tps|outcome}`` (lists) and
``{prefix}{offering key}:inflight`` (hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Final

import redis.asyncio as aioredis

from interlock.routing.stats import (
    DEFAULT_CAPACITY,
    DEFAULT_HALF_LIFE_S,
    METRICS,
    OUTCOME_CODES,
    LiveStats,
    MemoryStats,
    Metric,
    Outcome,
)

__all__ = ["RedisStats"]

log = logging.getLogger("interlock.routing")

DEFAULT_PREFIX: Final = "interlock:stats:"
DEFAULT_SYNC_INTERVAL_S: Final = 0.5
INFLIGHT_TTL_S: Final = 10.0
KEY_TTL_S: Final = 24 * 3600


class RedisStats:
    """A ``StatsBackend`` whose samples are shared through Redis (see the module docstring)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = DEFAULT_PREFIX,
        sync_interval_s: float = DEFAULT_SYNC_INTERVAL_S,
        half_life_s: float = DEFAULT_HALF_LIFE_S,
        capacity: int = DEFAULT_CAPACITY,
        max_pending: int = 10_000,
        worker_id: str | None = None,
    ) -> None:
        if url is None and client is None:
            raise ValueError("RedisStats needs a url or a client")
        self.url = url
        self.prefix = prefix
        self.sync_interval_s = sync_interval_s
        self.capacity = capacity
        self.worker_id = worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.mirror = MemoryStats(half_life_s=half_life_s, capacity=capacity, clock=time.time)
        self._client: Any = client
        self._own_client = client is None
        self._pending: deque[tuple[str, Metric, float, float]] = deque(maxlen=max_pending)
        self._known: set[str] = set()
        self._inflight_dirty: set[str] = set()
        self._others_inflight: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    # -- the StatsBackend surface (sync, no I/O) -------------------------------------------------------

    def begin(self, key: str) -> None:
        self.mirror.begin(key)
        self._known.add(key)
        self._inflight_dirty.add(key)

    def end(self, key: str) -> None:
        self.mirror.end(key)
        self._inflight_dirty.add(key)

    def record(self, key: str, outcome: Outcome, *, ttft_ms: float | None = None, tps: float | None = None) -> None:
        now = time.time()
        self.mirror.add(key, outcome, ttft_ms=ttft_ms, tps=tps, at=now)
        self._known.add(key)
        self._pending.append((key, "outcome", now, OUTCOME_CODES[outcome]))
        if ttft_ms is not None and ttft_ms >= 0:
            self._pending.append((key, "ttft", now, ttft_ms))
        if tps is not None and tps > 0:
            self._pending.append((key, "tps", now, tps))

    def snapshot(self, keys: Iterable[str]) -> dict[str, LiveStats]:
        keys = list(keys)
        self._known.update(keys)
        out = self.mirror.snapshot(keys)
        for key, others in self._others_inflight.items():
            view = out.get(key)
            if view is not None and others:
                out[key] = replace(view, in_flight=view.in_flight + others)
        return out

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is None:
            assert self.url is not None
            self._client = aioredis.Redis.from_url(self.url, decode_responses=True)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="interlock-stats-sync")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sync(), timeout=2.0)
            if self._own_client:
                await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval_s)
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._failing:  # log once per outage, not once per round
                    log.warning("stats sync with Redis failed: %s: %s", type(exc).__name__, exc)
                self._failing = True
            else:
                if self._failing:
                    log.warning("stats sync with Redis recovered")
                self._failing = False

    # -- one round -------------------------------------------------------------------------------------

    def _key(self, key: str, metric: str) -> str:
        return f"{self.prefix}{key}:{metric}"

    async def sync(self) -> None:
        """Push pending samples and in-flight counts, pull every known offering's rings (one round trip)."""
        client = self._client
        if client is None:
            return
        pending = list(self._pending)
        self._pending.clear()
        dirty, self._inflight_dirty = self._inflight_dirty, set()
        known = sorted(self._known)
        # Non-zero counts are re-sent every round as a heartbeat, so long streams keep counting elsewhere.
        dirty |= {key for key in known if self.mirror.in_flight(key) > 0}
        now = time.time()
        pipe = client.pipeline(transaction=False)
        touched: set[str] = set()
        for key, metric, t, value in pending:
            name = self._key(key, metric)
            pipe.lpush(name, f"{t:.3f}:{value:.6g}")
            touched.add(name)
        for name in touched:
            pipe.ltrim(name, 0, self.capacity - 1)
            pipe.expire(name, int(KEY_TTL_S))
        for key in dirty:
            name = self._key(key, "inflight")
            pipe.hset(name, self.worker_id, f"{self.mirror.in_flight(key)}:{now:.3f}")
            pipe.expire(name, int(KEY_TTL_S))
        for key in known:
            for metric in METRICS:
                pipe.lrange(self._key(key, metric), 0, self.capacity - 1)
            pipe.hgetall(self._key(key, "inflight"))
        try:
            results = await pipe.execute()
        except Exception:
            # Put the samples back (newest kept if the buffer overflows) so the next round pushes them.
            self._pending.extendleft(reversed(pending))
            self._inflight_dirty |= dirty
            raise
        reads = results[len(results) - len(known) * (len(METRICS) + 1) :]
        arrived = list(self._pending)  # recorded while we waited: not in Redis yet, keep them in the mirror
        for i, key in enumerate(known):
            base = i * (len(METRICS) + 1)
            for j, metric in enumerate(METRICS):
                self.mirror.load(key, metric, _parse_ring(reads[base + j]))
            self._others_inflight[key] = self._count_others(reads[base + len(METRICS)], now)
        for key, metric, t, value in arrived:
            self.mirror.load(key, metric, [*self.mirror.samples(key, metric), (t, value)])

    def _count_others(self, fields: dict[str, str], now: float) -> int:
        total = 0
        for worker, raw in fields.items():
            if worker == self.worker_id:
                continue
            count, _, stamp = raw.partition(":")
            try:
                if now - float(stamp) <= INFLIGHT_TTL_S:
                    total += max(0, int(count))
            except ValueError:
                continue
        return total


def _parse_ring(raw: list[str]) -> list[tuple[float, float]]:
    samples: list[tuple[float, float]] = []
    for entry in raw:
        t, _, value = entry.partition(":")
        try:
            samples.append((float(t), float(value)))
        except ValueError:
            continue
    return samples
