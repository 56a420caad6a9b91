"""The usage ledger writer: a bounded in-process queue, flushed in batches by one task (group commit).

Theory of operation
-------------------
``record(row)`` never waits: it appends the row to a bounded queue and returns a future that resolves once
the row is committed, or returns ``None`` when the queue is full (the row is dropped and counted in
``interlock_ledger_dropped{reason="queue_full"}``). One writer task sleeps until rows arrive, then takes up to
``batch_size`` of them and inserts them in one transaction. While that transaction runs, new rows pile up and
go in the next one: the batch size follows the load (one row per transaction when idle, hundreds under load),
with no timer adding latency.

Durability and crashes. The api layer makes a response's last byte wait for its row's future (at most
``ledger_durable_wait_ms``), so a response the client received in full has its row committed, and a worker
killed with SIGKILL loses only rows of responses that were not complete yet. The exceptions are counted:
a full queue drops rows (``queue_full``), and a wait that timed out lets the response finish with its row
still queued (``durable_wait_timeout``; the row is still written unless the process dies first).

Failures. A batch that fails for a reason the rows cannot cause (database down) stays at the head of the
queue and is retried with backoff; the queue bound still applies. A batch refused for its content (an
integrity or data error) is retried row by row, and the rows refused alone are dropped (``write_error``).
Inserts skip request ids already present, so a retried batch never double-counts. ``close()`` writes what
is left (within a timeout) before the database is disposed.
"""

from __future__ import annotations

from interlock.store.batch import BatchWriter, Writer
from interlock.telemetry import count_ledger_drops, set_ledger_queue_depth

__all__ = ["LedgerWriter", "Writer"]


class LedgerWriter(BatchWriter):
    """The ledger's group-commit writer, reporting drops and queue depth to the ledger metrics."""

    def __init__(self, write: Writer, *, capacity: int = 10_000, batch_size: int = 500) -> None:
        super().__init__(
            write,
            capacity=capacity,
            batch_size=batch_size,
            name="ledger",
            on_drop=lambda n, reason: count_ledger_drops(n, reason),
            on_depth=set_ledger_queue_depth,
        )
