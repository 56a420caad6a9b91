"""Spend and usage over time from the usage ledger, by model, provider or key; budget use per key and workspace.

One grouped query per page view: ledger rows since the start of the range, summed per (time bucket, group).
Buckets are UTC minutes, hours or days, matched on the text of the timestamp (SQLite keeps it as
``YYYY-MM-DD HH:MM:SS``; PostgreSQL formats it with ``to_char``), so the same query serves both databases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, String, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.accounting import Accounting
from interlock.store.models import UsageRow

__all__ = [
    "DIMENSIONS",
    "RANGES",
    "BudgetUse",
    "Dimension",
    "Grain",
    "GroupTotals",
    "UsageSeries",
    "bucket_keys",
    "budget_uses",
    "usage_series",
]

Dimension = Literal["model", "provider", "key"]
Grain = Literal["minute", "hour", "day"]
DIMENSIONS: Final[tuple[Dimension, ...]] = ("model", "provider", "key")
# name -> (span, bucket grain)
RANGES: Final[dict[str, tuple[timedelta, Grain]]] = {
    "1h": (timedelta(hours=1), "minute"),
    "24h": (timedelta(hours=24), "hour"),
    "7d": (timedelta(days=7), "day"),
    "30d": (timedelta(days=30), "day"),
}
_TEXT_LENGTH: Final[dict[Grain, int]] = {"minute": 16, "hour": 13, "day": 10}
_PG_FORMAT: Final[dict[Grain, str]] = {"minute": "YYYY-MM-DD HH24:MI", "hour": "YYYY-MM-DD HH24", "day": "YYYY-MM-DD"}
_STEP: Final[dict[Grain, timedelta]] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}


@dataclass(slots=True)
class GroupTotals:
    """Totals of one group over the whole range."""

    group: str | None
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class UsageSeries:
    """Cost and tokens per bucket and group (``groups`` sorted by cost, then tokens)."""

    by: Dimension
    grain: Grain
    buckets: list[str]
    groups: list[GroupTotals] = field(default_factory=list)
    cost: dict[str | None, list[float]] = field(default_factory=dict)
    tokens: dict[str | None, list[float]] = field(default_factory=dict)


def _floor(moment: datetime, grain: Grain) -> datetime:
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    if grain in ("hour", "day"):
        moment = moment.replace(minute=0)
    if grain == "day":
        moment = moment.replace(hour=0)
    return moment


def bucket_keys(since: datetime, until: datetime, grain: Grain) -> list[str]:
    """The bucket texts from ``since`` to ``until`` inclusive, as the query produces them."""
    out: list[str] = []
    moment, end = _floor(since, grain), _floor(until, grain)
    pattern = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H", "day": "%Y-%m-%d"}[grain]
    while moment <= end:
        out.append(moment.strftime(pattern))
        moment += _STEP[grain]
    return out


def _bucket(engine: AsyncEngine, grain: Grain) -> ColumnElement[Any]:
    if engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", UsageRow.created_at), _PG_FORMAT[grain])
    return func.substr(cast(UsageRow.created_at, String), 1, _TEXT_LENGTH[grain])


async def usage_series(engine: AsyncEngine, by: Dimension, range_name: str, now: datetime | None = None) -> UsageSeries:
    """The ledger since the start of ``range_name`` (a key of ``RANGES``), per bucket and per ``by`` group."""
    span, grain = RANGES[range_name]
    until = now or datetime.now(UTC)
    since = _floor(until - span, grain) + _STEP[grain]
    buckets = bucket_keys(since, until, grain)
    index = {b: i for i, b in enumerate(buckets)}
    column = {"model": UsageRow.model, "provider": UsageRow.provider, "key": UsageRow.key_id}[by]
    bucket = _bucket(engine, grain).label("bucket")
    group = column.label("grp")
    query = (
        select(
            bucket,
            group,
            func.count().label("requests"),
            func.sum(case((UsageRow.status == "ok", 0), else_=1)).label("errors"),
            func.coalesce(func.sum(UsageRow.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(UsageRow.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(UsageRow.cost_usd), 0.0).label("cost_usd"),
        )
        .where(UsageRow.created_at >= since)
        .group_by(bucket, group)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    series = UsageSeries(by=by, grain=grain, buckets=buckets)
    totals: dict[str | None, GroupTotals] = {}
    for row in rows:
        key: str | None = row.grp
        t = totals.setdefault(key, GroupTotals(key))
        t.requests += int(row.requests)
        t.errors += int(row.errors or 0)
        t.input_tokens += int(row.input_tokens or 0)
        t.output_tokens += int(row.output_tokens or 0)
        t.cost_usd += float(row.cost_usd or 0.0)
        i = index.get(str(row.bucket))
        if i is None:  # a clock a little ahead of ours wrote it; it belongs to the newest bar
            i = len(buckets) - 1
        series.cost.setdefault(key, [0.0] * len(buckets))[i] += float(row.cost_usd or 0.0)
        series.tokens.setdefault(key, [0.0] * len(buckets))[i] += float(
            int(row.input_tokens or 0) + int(row.output_tokens or 0)
        )
    series.groups = sorted(totals.values(), key=lambda g: (-g.cost_usd, -g.tokens, g.group or ""))
    return series


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """One budget and how much of its current period is spent."""

    scope: Literal["api_key", "workspace"]
    scope_id: str
    name: str
    period: str
    limit_usd: float
    spend_usd: float
    enforce: bool = True

    @property
    def fraction(self) -> float:
        if self.limit_usd <= 0:
            return 1.0 if self.spend_usd > 0 else 0.0
        return self.spend_usd / self.limit_usd


async def budget_uses(accounting: Accounting) -> list[BudgetUse]:
    """Every active key budget and workspace budget with its spend this period (``Accounting.spend``)."""
    out: list[BudgetUse] = []
    for key in await accounting.keys.list(include_revoked=False):
        if key.budget_usd is None:
            continue
        spend = await accounting.spend("api_key", key.id, key.budget_period)
        out.append(BudgetUse("api_key", key.id, key.name, key.budget_period, key.budget_usd, spend))
    workspaces = {w.id: w.name for w in await accounting.workspaces.list()}
    for budget in await accounting.budgets.list():
        spend = await accounting.spend("workspace", budget.workspace_id, budget.period)
        name = workspaces.get(budget.workspace_id, budget.workspace_id)
        out.append(
            BudgetUse("workspace", budget.workspace_id, name, budget.period, budget.limit_usd, spend, budget.enforce)
        )
    return out
