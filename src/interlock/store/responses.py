"""Stored responses: what ``previous_response_id`` continues and ``GET /v1/responses/{id}`` returns.

A row holds a response's *effective* input items (the chain it continued, already expanded, plus its own
input; never ``instructions``, which protocols.md 1.9 says are not inherited), its output items and the
response object the client received. Expanding a chain is therefore one primary-key read, whatever its length.
Rows are visible only to keys of the workspace that created them and only until ``expires_at``; a purge task
deletes expired rows now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.store.batch import BatchWriter
from interlock.store.db import begin_write
from interlock.store.models import StoredResponse

__all__ = ["ResponseStore", "StoredRecord"]

log = logging.getLogger("interlock.store.responses")

PUT_WAIT_S = 10.0


class StoredRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    workspace_id: str
    key_id: str | None
    created_at: datetime
    expires_at: datetime
    input_items: list[Any]
    output_items: list[Any]
    body: dict[str, Any]


class ResponseStore:
    """Persist and look up responses in the database behind ``engine``."""

    def __init__(self, engine: AsyncEngine, retention_seconds: int, *, purge_interval_s: float = 600.0) -> None:
        self._engine = engine
        self.retention = timedelta(seconds=retention_seconds)
        self._purge_interval_s = purge_interval_s
        self._task: asyncio.Task[None] | None = None
        # Group commit: concurrent puts share one transaction instead of paying one each.
        self._writer = BatchWriter(self._insert, capacity=10_000, batch_size=200, name="responses")

    async def put(
        self,
        response_id: str,
        *,
        workspace_id: str,
        key_id: str | None,
        input_items: list[Any],
        output_items: list[Any],
        body: dict[str, Any],
    ) -> None:
        """Store a response; returns once it is committed (so a follow-up request can continue it)."""
        now = datetime.now(UTC)
        row = {
            "id": response_id,
            "workspace_id": workspace_id,
            "key_id": key_id,
            "created_at": now,
            "expires_at": now + self.retention,
            "input_items": input_items,
            "output_items": output_items,
            "body": body,
        }
        self._writer.start()
        committed = self._writer.record(row)
        if committed is None:  # queue full or closing: write it ourselves rather than lose it
            await self._insert([row])
        else:
            try:  # bounded: a database outage must not hold the response; the row is still written later
                await asyncio.wait_for(asyncio.shield(committed), PUT_WAIT_S)
            except TimeoutError:
                log.warning("stored response %s not committed within %.0f s", response_id, PUT_WAIT_S)

    async def _insert(self, rows: Sequence[dict[str, Any]]) -> None:
        async with begin_write(self._engine) as conn:
            await conn.execute(insert(StoredResponse), list(rows))

    async def get(self, response_id: str, workspace_id: str) -> StoredRecord | None:
        """The unexpired response ``response_id`` of ``workspace_id``; ``None`` otherwise (also for others')."""
        query = select(StoredResponse).where(
            StoredResponse.id == response_id,
            StoredResponse.workspace_id == workspace_id,
            StoredResponse.expires_at > datetime.now(UTC),
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return StoredRecord(
            id=row.id,
            workspace_id=row.workspace_id,
            key_id=row.key_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            input_items=row.input_items,
            output_items=row.output_items,
            body=row.body,
        )

    async def count(self) -> int:
        """Rows stored, expired or not (for tests and health pages)."""
        from sqlalchemy import func

        async with self._engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(StoredResponse)) or 0)

    async def purge_expired(self) -> int:
        """Delete expired rows; returns how many."""
        async with begin_write(self._engine) as conn:
            result = await conn.execute(delete(StoredResponse).where(StoredResponse.expires_at <= datetime.now(UTC)))
        return int(result.rowcount or 0)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._purge_loop(), name="interlock-response-purge")

    async def close(self) -> None:
        await self._writer.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _purge_loop(self) -> None:
        while True:
            try:
                removed = await self.purge_expired()
                if removed:
                    log.info("purged %d expired stored response(s)", removed)
            except Exception as exc:
                log.warning("purging expired responses failed: %s", exc)
            await asyncio.sleep(self._purge_interval_s)
