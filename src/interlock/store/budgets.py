"""Workspaces and workspace budgets in the database (key budgets are columns of the key: ``KeyStore``).

A workspace has at most one budget per period (daily, weekly, monthly). Spend is not stored here: it is the
sum of the usage ledger over the current period, kept live by ``accounting`` in the shared state.
"""

from __future__ import annotations

import builtins
import math
import secrets
import string
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast, get_args

import msgspec
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.store.db import begin_write
from interlock.store.errors import StoreError, WorkspaceNotFoundError
from interlock.store.models import Budget, Workspace

__all__ = [
    "BudgetExistsError",
    "BudgetPeriod",
    "BudgetRecord",
    "BudgetStore",
    "WorkspaceRecord",
    "WorkspaceStore",
]

BudgetPeriod = Literal["daily", "weekly", "monthly"]
_PERIODS: Final = frozenset(get_args(BudgetPeriod))
_BASE62: Final = string.ascii_letters + string.digits


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(16))


class BudgetExistsError(StoreError, ValueError):
    """The workspace already has a budget for that period."""

    def __init__(self, workspace_id: str, period: str) -> None:
        super().__init__(f"workspace {workspace_id!r} already has a {period} budget")
        self.workspace_id = workspace_id
        self.period = period


class WorkspaceRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    created_at: datetime


class BudgetRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A workspace budget as stored."""

    id: str
    workspace_id: str
    period: BudgetPeriod
    limit_usd: float
    enforce: bool
    created_at: datetime
    updated_at: datetime


def _check_limit(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError("limit_usd must be a finite number >= 0")
    return float(value)


def _check_period(value: str) -> BudgetPeriod:
    if value not in _PERIODS:
        raise ValueError(f"period must be one of {sorted(_PERIODS)}, not {value!r}")
    return cast(BudgetPeriod, value)


def _budget(row: Any) -> BudgetRecord:
    return BudgetRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        period=row.period,
        limit_usd=row.limit_usd,
        enforce=row.enforce,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class WorkspaceStore:
    """Create and list workspaces (the default workspace exists from the first migration)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, name: str, workspace_id: str | None = None) -> WorkspaceRecord:
        if not name.strip() or len(name) > 255:
            raise ValueError("name must be 1 to 255 characters and not blank")
        record = WorkspaceRecord(id=workspace_id or _new_id("ws_"), name=name, created_at=datetime.now(UTC))
        try:
            async with begin_write(self._engine) as conn:
                await conn.execute(insert(Workspace).values(id=record.id, name=name, created_at=record.created_at))
        except IntegrityError:
            raise ValueError(f"workspace {record.id!r} already exists") from None
        return record

    async def list(self) -> builtins.list[WorkspaceRecord]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(Workspace).order_by(Workspace.created_at, Workspace.id))).all()
        return [WorkspaceRecord(id=r.id, name=r.name, created_at=r.created_at) for r in rows]

    async def get(self, workspace_id: str) -> WorkspaceRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(Workspace).where(Workspace.id == workspace_id))).first()
        return None if row is None else WorkspaceRecord(id=row.id, name=row.name, created_at=row.created_at)


class BudgetStore:
    """Create, list and update workspace budgets. Every method is one short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, workspace_id: str, period: str, limit_usd: float, *, enforce: bool = True) -> BudgetRecord:
        """Raises ``ValueError`` for bad fields, ``WorkspaceNotFoundError``, ``BudgetExistsError``."""
        now = datetime.now(UTC)
        record = BudgetRecord(
            id=_new_id("bdgt_"),
            workspace_id=workspace_id,
            period=_check_period(period),
            limit_usd=_check_limit(limit_usd),
            enforce=bool(enforce),
            created_at=now,
            updated_at=now,
        )
        async with begin_write(self._engine) as conn:
            if await conn.scalar(select(Workspace.id).where(Workspace.id == workspace_id)) is None:
                raise WorkspaceNotFoundError(workspace_id)
            clash = select(Budget.id).where(Budget.workspace_id == workspace_id, Budget.period == record.period)
            if await conn.scalar(clash) is not None:
                raise BudgetExistsError(workspace_id, record.period)
            await conn.execute(insert(Budget).values(msgspec.structs.asdict(record)))
        return record

    async def list(self, *, workspace_id: str | None = None) -> builtins.list[BudgetRecord]:
        query = select(Budget).order_by(Budget.workspace_id, Budget.period)
        if workspace_id is not None:
            query = query.where(Budget.workspace_id == workspace_id)
        async with self._engine.connect() as conn:
            return [_budget(row) for row in (await conn.execute(query)).all()]

    async def get(self, budget_id: str) -> BudgetRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(Budget).where(Budget.id == budget_id))).first()
        return None if row is None else _budget(row)

    async def update(
        self,
        budget_id: str,
        *,
        limit_usd: float | msgspec.UnsetType = msgspec.UNSET,
        enforce: bool | msgspec.UnsetType = msgspec.UNSET,
    ) -> BudgetRecord | None:
        """Change the limit or the enforcement; ``None`` if there is no such budget."""
        values: dict[str, Any] = {"updated_at": datetime.now(UTC)}
        if not isinstance(limit_usd, msgspec.UnsetType):
            values["limit_usd"] = _check_limit(limit_usd)
        if not isinstance(enforce, msgspec.UnsetType):
            values["enforce"] = bool(enforce)
        async with begin_write(self._engine) as conn:
            result = await conn.execute(update(Budget).where(Budget.id == budget_id).values(values))
            if not result.rowcount:
                return None
            row = (await conn.execute(select(Budget).where(Budget.id == budget_id))).first()
        return None if row is None else _budget(row)
