"""In-memory cache in front of ``KeyStore.authenticate`` for the request hot path.

Theory of operation. Entries are keyed by the SHA-256 of the presented key (``hash_key``), never by the key
itself, so a heap dump holds no secrets the database does not already hold. A hit younger than its TTL is
answered from memory. A miss starts one lookup task per digest; concurrent misses for the same digest await
that task (single flight), so a burst of requests with a new key costs one query. The task is shielded, so a
cancelled request does not cancel the lookup the others wait for; a failed lookup is not cached and its
exception reaches every waiter.

Known keys are cached for ``ttl_seconds``, unknown and revoked keys for ``negative_ttl_seconds``. Expired keys
are cached and returned like active ones: the record's ``status`` is computed when it is read, so the caller
sees the expiry the moment it passes and answers ``expired_api_key``. A revoke in this process should call
``invalidate(key_id)``; a revoke elsewhere (the CLI, another worker) takes effect within ``ttl_seconds``.
``invalidate`` also bumps a generation counter so that a lookup started before the revoke cannot put the old,
active record back into the cache when it completes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple, Protocol

from interlock.store.keys import KeyRecord, hash_key

__all__ = ["CachedKeyAuthenticator", "KeyLookup"]


class KeyLookup(Protocol):
    """What the cache needs from a key store (``KeyStore`` satisfies it)."""

    async def authenticate_hash(self, key_hash: str) -> KeyRecord | None: ...


class _Entry(NamedTuple):
    record: KeyRecord | None
    expires: float


def _retrieve_exception(task: asyncio.Future[KeyRecord | None]) -> None:
    # Mark the exception as seen even if every waiter was cancelled, so asyncio does not log it at GC time.
    if not task.cancelled():
        task.exception()


class CachedKeyAuthenticator:
    """Authenticate raw API keys, serving repeated look-ups from memory (see the module docstring)."""

    def __init__(
        self,
        store: KeyLookup,
        ttl_seconds: float = 30,
        negative_ttl_seconds: float = 5,
        max_entries: int = 10_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0 or negative_ttl_seconds < 0 or max_entries < 1:
            raise ValueError("TTLs must be >= 0 and max_entries >= 1")
        self._store = store
        self._ttl = ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # digest -> entry, least recently used first
        self._digest_by_key_id: dict[str, str] = {}
        self._inflight: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def authenticate(self, raw_key: str) -> KeyRecord | None:
        """The record of a known, unrevoked key (active or expired), else ``None``."""
        digest = hash_key(raw_key)
        entry = self._entries.get(digest)
        if entry is not None:
            if entry.expires > self._clock():
                self._entries.move_to_end(digest)
                return entry.record
            self._remove(digest)
        task = self._inflight.get(digest)
        if task is None:
            task = asyncio.ensure_future(self._load(digest, self._generation))
            task.add_done_callback(_retrieve_exception)
            self._inflight[digest] = task
        return await asyncio.shield(task)

    def invalidate(self, key_id: str) -> None:
        """Forget the cached record of ``key_id`` (call after revoking or updating it in this process)."""
        self._generation += 1
        self._inflight.clear()  # lookups already running still answer their waiters, but are not joined
        digest = self._digest_by_key_id.get(key_id)
        if digest is not None:
            self._remove(digest)

    def clear(self) -> None:
        """Forget everything."""
        self._generation += 1
        self._inflight.clear()
        self._entries.clear()
        self._digest_by_key_id.clear()

    async def _load(self, digest: str, generation: int) -> KeyRecord | None:
        try:
            record = await self._store.authenticate_hash(digest)
        finally:
            if self._inflight.get(digest) is asyncio.current_task():
                del self._inflight[digest]
        if generation == self._generation:
            self._store_entry(digest, record)
        return record

    def _store_entry(self, digest: str, record: KeyRecord | None) -> None:
        ttl = self._negative_ttl if record is None else self._ttl
        if ttl <= 0:
            return
        self._remove(digest)
        self._entries[digest] = _Entry(record, self._clock() + ttl)
        if record is not None:
            self._digest_by_key_id[record.id] = digest
        while len(self._entries) > self._max_entries:
            self._remove(next(iter(self._entries)))

    def _remove(self, digest: str) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None and entry.record is not None and self._digest_by_key_id.get(entry.record.id) == digest:
            del self._digest_by_key_id[entry.record.id]
