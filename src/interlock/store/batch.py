"""Group commit: a bounded in-process queue of rows, written in batches by one task.

Theory of operation
-------------------
``record(row)`` never waits: it appends the row to a bounded queue and returns a future that resolves once
the row is committed, or returns ``None`` when the queue is full (the row is dropped and reported through
``on_drop``). One writer task sleeps until rows arrive, then takes up to ``batch_size`` of them and writes them
in one transaction. While that transaction runs, new rows pile up and go in the next one: the batch size follows
the load (one row per transaction when idle, hundreds under load), with no timer adding latency.

Failures. A batch that fails for a reason the rows cannot cause (database down) stays at the head of the queue
and is retried with backoff; the queue bound still applies. A batch refused for its content (an integrity or
data error) is retried row by row, and the rows refused alone are dropped (``write_error``). ``close()`` writes
what is left (within a timeout) before the database is disposed.

Used by the usage ledger and the response store, so per-request writes never cost one transaction each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

__all__ = ["BatchWriter", "Writer"]

log = logging.getLogger("interlock.store.batch")

Writer = Callable[[Sequence[dict[str, Any]]], Awaitable[None]]

_BACKOFF_S: Final = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)
_CONTENT_ERRORS: Final = (IntegrityError, DataError, ProgrammingError)


class BatchWriter:
    """Queue + batch writer of rows (see the module docstring). Start it inside the event loop."""

    def __init__(
        self,
        write: Writer,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        name: str = "batch",
        on_drop: Callable[[int, str], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self._write = write
        self._name = name
        self._on_drop = on_drop or (lambda n, reason: None)
        self._on_depth = on_depth or (lambda n: None)
        self._capacity = capacity
        self._batch_size = batch_size
        self._rows: deque[tuple[dict[str, Any], asyncio.Future[None]]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.written = 0
        self.dropped = 0

    @property
    def depth(self) -> int:
        return len(self._rows)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"interlock-{self._name}-writer")

    def record(self, row: dict[str, Any]) -> asyncio.Future[None] | None:
        """Queue ``row``; the future resolves when it is committed. ``None``: dropped (full or closed)."""
        if self._closed or len(self._rows) >= self._capacity:
            self.dropped += 1
            self._on_drop(1, "queue_full" if not self._closed else "closed")
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rows.append((row, future))
        self._wakeup.set()
        self._on_depth(len(self._rows))
        return future

    async def flush(self) -> None:
        """Wait until every row queued so far is written (or dropped)."""
        futures = [f for _, f in self._rows]
        if futures:
            await asyncio.gather(*futures, return_exceptions=True)

    async def close(self, grace_s: float = 10.0) -> None:
        """Stop accepting rows, write the queued ones (for up to ``grace_s`` seconds), stop the task."""
        self._closed = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), grace_s)
        except TimeoutError:
            left = len(self._rows)
            log.error("%s: %d row(s) not written at shutdown (database unavailable?)", self._name, left)
            self._on_drop(left, "shutdown")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for _, future in self._rows:
            if not future.done():
                future.cancel()
        self._rows.clear()
        self._on_depth(0)

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._rows:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._rows[i] for i in range(min(self._batch_size, len(self._rows)))]
            try:
                try:
                    await self._write([row for row, _ in batch])
                except _CONTENT_ERRORS as exc:
                    log.error(
                        "%s: a batch of %d row(s) was refused (%s); retrying row by row", self._name, len(batch), exc
                    )
                    await self._write_one_by_one(batch)
                else:
                    self._done(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = _BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)]
                failures += 1
                log.warning("%s: write failed (%s: %s); retrying in %.2f s", self._name, type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0

    async def _write_one_by_one(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        for item in batch:
            try:
                await self._write([item[0]])
            except _CONTENT_ERRORS as exc:
                log.error("%s: dropped a row refused by the database: %s", self._name, exc)
                self.dropped += 1
                self._on_drop(1, "write_error")
            self._done([item])

    def _done(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        for _ in batch:
            self._rows.popleft()
        for _, future in batch:
            if not future.done():
                future.set_result(None)
        self.written += len(batch)
        self._on_depth(len(self._rows))
