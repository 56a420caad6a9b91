"""The ledger writer: group commit, the queue bound, retries, poison rows, and the final flush."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from interlock.accounting.ledger import LedgerWriter


class FakeDatabase:
    """Records each batch; can be told to fail a number of times or to refuse some rows."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.down = 0
        self.poison: set[str] = set()
        self.gate: asyncio.Event | None = None

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            self.down -= 1
            raise ConnectionError("database is down")
        ids = [r["request_id"] for r in rows]
        if self.poison & set(ids):
            raise IntegrityError("INSERT", {}, Exception("bad row"))
        self.batches.append(ids)

    def rows(self) -> list[str]:
        return [r for batch in self.batches for r in batch]


def row(i: int) -> dict[str, Any]:
    return {"request_id": f"req_{i}"}


async def test_rows_are_committed_and_futures_resolve() -> None:
    db = FakeDatabase()
    writer = LedgerWriter(db.write)
    writer.start()
    futures = [writer.record(row(i)) for i in range(3)]
    await asyncio.gather(*[f for f in futures if f is not None])
    assert db.rows() == ["req_0", "req_1", "req_2"]
    await writer.close()


async def test_rows_arriving_during_a_write_go_in_one_batch() -> None:
    db = FakeDatabase()
    db.gate = asyncio.Event()
    writer = LedgerWriter(db.write, batch_size=100)
    writer.start()
    first = writer.record(row(0))
    await asyncio.sleep(0.01)  # the writer is now blocked inside the first batch
    later = [writer.record(row(i)) for i in range(1, 51)]
    db.gate.set()
    await asyncio.gather(first, *later)  # type: ignore[arg-type]
    assert [len(b) for b in db.batches] == [1, 50]
    await writer.close()


async def test_batches_are_bounded() -> None:
    db = FakeDatabase()
    writer = LedgerWriter(db.write, batch_size=4)
    for i in range(10):
        writer.record(row(i))
    writer.start()
    await writer.flush()
    assert [len(b) for b in db.batches] == [4, 4, 2]
    await writer.close()


async def test_a_full_queue_drops_and_counts() -> None:
    db = FakeDatabase()
    writer = LedgerWriter(db.write, capacity=3)  # not started: nothing drains the queue
    accepted = [writer.record(row(i)) for i in range(5)]
    assert [f is not None for f in accepted] == [True, True, True, False, False]
    assert writer.dropped == 2 and writer.depth == 3
    writer.start()
    await writer.close()
    assert db.rows() == ["req_0", "req_1", "req_2"]


async def test_database_outage_is_retried_in_order() -> None:
    db = FakeDatabase()
    db.down = 2
    writer = LedgerWriter(db.write)
    writer.start()
    futures = [writer.record(row(i)) for i in range(3)]
    await asyncio.wait_for(asyncio.gather(*futures), 5)  # type: ignore[arg-type]
    assert db.rows() == ["req_0", "req_1", "req_2"]
    await writer.close()


async def test_a_refused_row_is_dropped_alone() -> None:
    db = FakeDatabase()
    db.poison = {"req_1"}
    writer = LedgerWriter(db.write)
    for i in range(3):
        writer.record(row(i))
    writer.start()
    await writer.flush()
    assert db.batches == [["req_0"], ["req_2"]]
    assert writer.dropped == 1
    await writer.close()


async def test_close_writes_what_is_queued_and_refuses_more() -> None:
    db = FakeDatabase()
    writer = LedgerWriter(db.write)
    for i in range(5):
        writer.record(row(i))
    writer.start()
    await writer.close()
    assert db.rows() == [f"req_{i}" for i in range(5)]
    assert writer.record(row(9)) is None
