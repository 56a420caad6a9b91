"""The usage ledger table: batched inserts, spend sums for budgets, and usage reports.

Inserts are idempotent (``ON CONFLICT DO NOTHING`` on the request id), so a batch retried after a commit
whose acknowledgement was lost does not fail or double-count. The writer that queues and batches rows is
``accounting.ledger.LedgerWriter``; this module only talks to the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

import msgspec
from sqlalchemy import ColumnElement, String, Table, case, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.store.db import begin_write
from interlock.store.models import UsageRow

__all__ = ["GROUPINGS", "Grouping", "UsageGroup", "insert_usage", "spend_since", "usage_report"]

Grouping = Literal["key", "model", "provider", "day", "workspace", "endpoint"]
GROUPINGS: Final[tuple[Grouping, ...]] = ("key", "model", "provider", "day", "workspace", "endpoint")

_TABLE: Final[Table] = UsageRow.__table__  # type: ignore[assignment]


async def insert_usage(engine: AsyncEngine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ledger rows in one transaction; rows whose request id is already there are skipped."""
    if not rows:
        return
    if engine.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(_TABLE).on_conflict_do_nothing(index_elements=["request_id"])
    else:
        stmt = sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=["request_id"])
    async with begin_write(engine) as conn:
        await conn.execute(stmt, list(rows))


async def spend_since(
    engine: AsyncEngine, since: datetime, *, key_id: str | None = None, workspace_id: str | None = None
) -> float:
    """USD spent since ``since`` by one key or one workspace (the seed of a budget counter)."""
    query = select(func.coalesce(func.sum(UsageRow.cost_usd), 0.0)).where(UsageRow.created_at >= since)
    if key_id is not None:
        query = query.where(UsageRow.key_id == key_id)
    if workspace_id is not None:
        query = query.where(UsageRow.workspace_id == workspace_id)
    async with engine.connect() as conn:
        return float(await conn.scalar(query) or 0.0)


class UsageGroup(msgspec.Struct, kw_only=True):
    """Totals of the ledger rows of one group (a key, a model, a provider, a UTC day...)."""

    group: str | None
    requests: int
    errors: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: float


def _day(engine: AsyncEngine) -> ColumnElement[Any]:
    if engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", UsageRow.created_at), "YYYY-MM-DD")
    # SQLite keeps the UTC timestamp as text 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return func.substr(cast(UsageRow.created_at, String), 1, 10)


def _group_column(engine: AsyncEngine, by: Grouping) -> ColumnElement[Any]:
    columns: dict[str, Any] = {
        "key": UsageRow.key_id,
        "model": UsageRow.model,
        "provider": UsageRow.provider,
        "workspace": UsageRow.workspace_id,
        "endpoint": UsageRow.endpoint,
    }
    column: ColumnElement[Any] = _day(engine) if by == "day" else columns[by]
    return column


async def usage_report(
    engine: AsyncEngine,
    by: Grouping = "key",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    key_id: str | None = None,
    workspace_id: str | None = None,
) -> list[UsageGroup]:
    """Spend and tokens per group, most expensive first (``day``: oldest first)."""
    group = _group_column(engine, by).label("grp")
    cost = func.coalesce(func.sum(UsageRow.cost_usd), 0.0)
    query = select(
        group,
        func.count().label("requests"),
        func.sum(case((UsageRow.status == "ok", 0), else_=1)).label("errors"),
        func.coalesce(func.sum(UsageRow.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(UsageRow.cached_tokens), 0).label("cached_tokens"),
        func.coalesce(func.sum(UsageRow.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(UsageRow.reasoning_tokens), 0).label("reasoning_tokens"),
        cost.label("cost_usd"),
    ).group_by(group)
    if since is not None:
        query = query.where(UsageRow.created_at >= since)
    if until is not None:
        query = query.where(UsageRow.created_at < until)
    if key_id is not None:
        query = query.where(UsageRow.key_id == key_id)
    if workspace_id is not None:
        query = query.where(UsageRow.workspace_id == workspace_id)
    query = query.order_by(group) if by == "day" else query.order_by(cost.desc(), group)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        UsageGroup(
            group=row.grp,
            requests=int(row.requests),
            errors=int(row.errors or 0),
            input_tokens=int(row.input_tokens),
            cached_tokens=int(row.cached_tokens),
            output_tokens=int(row.output_tokens),
            reasoning_tokens=int(row.reasoning_tokens),
            cost_usd=float(row.cost_usd),
        )
        for row in rows
    ]
