"""The meter's admission step and headers on the in-process state (the trip side is covered end to end)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from interlock.accounting.ledger import LedgerWriter
from interlock.accounting.meter import Meter
from interlock.accounting.state import MemoryState
from interlock.ir.errors import GatewayError
from interlock.store.budgets import BudgetRecord
from tests.unit.accounting.test_limits import record

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


async def _no_rows(rows: Sequence[dict[str, Any]]) -> None:
    return None


def make_meter(clock: Clock, budgets: list[BudgetRecord] | None = None, spent: float = 0.0) -> Meter:
    async def workspace_budgets(workspace_id: str) -> list[BudgetRecord]:
        return budgets or []

    async def spend_since(since: datetime, *, key_id: str | None, workspace_id: str | None) -> float:
        return spent

    return Meter(
        MemoryState(),
        LedgerWriter(_no_rows),
        prefix="t:",
        workspace_budgets=workspace_budgets,
        spend_since=spend_since,
        clock=clock,
    )


async def test_request_limit_and_headers() -> None:
    clock = Clock()
    meter = make_meter(clock)
    key = record(rpm_limit=2)
    headers: list[dict[str, str]] = []
    for i in range(2):
        tab = meter.open(f"req_{i}", "/v1/chat/completions")
        tab.key = key
        await meter.admit(tab)
        headers.append(tab.headers())
        tab.close()
    assert [h["x-ratelimit-remaining-requests"] for h in headers] == ["1", "0"]
    assert headers[0]["x-ratelimit-reset-requests"] == "2026-01-01T00:01:00.000Z"
    clock.now += 15
    tab = meter.open("req_x", "/v1/chat/completions")
    tab.key = key
    with pytest.raises(GatewayError) as caught:
        await meter.admit(tab)
    assert caught.value.code == "rate_limit_exceeded" and caught.value.retry_after == 45
    tab.close()


async def test_unmetered_routes_only_peek() -> None:
    meter = make_meter(Clock())
    key = record(rpm_limit=1)
    for i in range(3):
        tab = meter.open(f"req_{i}", "/v1/me")
        tab.key = key
        await meter.admit(tab)
        assert tab.headers()["x-ratelimit-remaining-requests"] == "1"
        tab.close()


async def test_budget_headers_come_from_the_ledger_seed() -> None:
    workspace_budget = BudgetRecord(
        id="bdgt_1",
        workspace_id="ws_default",
        period="monthly",
        limit_usd=10.0,
        enforce=True,
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    meter = make_meter(Clock(), [workspace_budget], spent=1.5)
    tab = meter.open("req_1", "/v1/me")
    tab.key = record(budget_usd=2.0, budget_period="daily")
    await meter.admit(tab)
    assert [b.scope for b in tab.budgets] == ["api_key", "workspace"]
    assert tab.headers() == {
        "x-budget-daily-limit": "2.000000",
        "x-budget-daily-spend": "1.500000",
        "x-budget-monthly-limit": "10.000000",
        "x-budget-monthly-spend": "1.500000",
    }
    tab.close()
