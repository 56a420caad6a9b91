"""``Accounting``: what the accounting side of one app owns, built at startup and closed at shutdown.

The key, workspace and budget stores (the admin API), the response store (``previous_response_id``), and,
unless ``accounting.enabled`` is false, the ``Meter`` with its state backend (memory or Redis, from
``state_url``) and its ledger writer. ``install`` hooks the meter into the app's seams.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.accounting.ledger import LedgerWriter
from interlock.accounting.limits import KeyLimits, limits_for
from interlock.accounting.meter import NANO, Meter
from interlock.accounting.periods import Period, period_start
from interlock.accounting.state import LimitState, MemoryState
from interlock.store.budgets import BudgetStore, WorkspaceStore
from interlock.store.keys import KeyRecord, KeyStore
from interlock.store.ledger import insert_usage, spend_since
from interlock.store.responses import ResponseStore
from interlock.store.state import make_redis, state_kind

if TYPE_CHECKING:
    from interlock.config import Settings

__all__ = ["Accounting", "open_state"]


def open_state(state_url: str) -> LimitState:
    """The ``LimitState`` for ``state_url``: in-process for ``memory://``, shared for ``redis://``."""
    if state_kind(state_url) == "memory":
        return MemoryState()
    from interlock.accounting.state_redis import RedisState

    return RedisState(make_redis(state_url))


class Accounting:
    """Stores, meter and response store of one app (see the module docstring)."""

    def __init__(self, settings: Settings, engine: AsyncEngine, key_cache: Any = None) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = KeyStore(engine)
        self.budgets = BudgetStore(engine)
        self.workspaces = WorkspaceStore(engine)
        retention = settings.response_retention_seconds
        self.responses = ResponseStore(engine, retention) if settings.store_responses else None
        self.key_cache = key_cache  # a CachedKeyAuthenticator to invalidate after admin changes
        self.meter: Meter | None = None

    async def start(self) -> None:
        options = self.settings.accounting
        if options.enabled:
            ledger = LedgerWriter(
                functools.partial(insert_usage, self.engine),
                capacity=options.ledger_queue_size,
                batch_size=options.ledger_batch_size,
            )
            ledger.start()
            self.meter = Meter(
                open_state(self.settings.state_url),
                ledger,
                prefix=self.settings.state_prefix + "limits:",
                workspace_budgets=self._workspace_budgets,
                spend_since=self._spend_since,
                default_rpm=options.default_rpm,
                durable_wait_ms=options.ledger_durable_wait_ms,
                reservation_ttl_s=options.reservation_ttl_seconds,
                record_rejections=options.record_rejections,
            )
        if self.responses is not None:
            self.responses.start()

    def observers(self) -> list[Any]:
        """Engine observers to add to the gateway's (the meter learns each request's trip)."""
        return [self.meter.observer] if self.meter is not None else []

    def install(self, ctx: Any, gateway: Any) -> None:
        """Hook into the app: ``ctx.extras`` (``accounting``, ``meter``), the authenticator, the upstream call,
        and a shutdown hook that writes the ledger's last rows before the database closes."""
        ctx.extras["accounting"] = self
        if self.meter is not None:
            ctx.extras["meter"] = self.meter
            ctx.authenticator = self.meter.wrap_authenticator(ctx.authenticator)
            gateway.call = self.meter.wrap_call(gateway.call)
        ctx.shutdown_hooks.append(self.close)

    async def close(self) -> None:
        """Write what the ledger holds, finish settlements, stop background tasks (before the engine closes)."""
        if self.responses is not None:
            await self.responses.close()
        if self.meter is not None:
            await self.meter.close()

    async def _workspace_budgets(self, workspace_id: str) -> list[Any]:
        return await self.budgets.list(workspace_id=workspace_id)

    async def _spend_since(self, since: datetime, *, key_id: str | None, workspace_id: str | None) -> float:
        return await spend_since(self.engine, since, key_id=key_id, workspace_id=workspace_id)

    def limits(self, record: KeyRecord) -> KeyLimits:
        """The limits enforced on a key (for ``/v1/me`` and the admin API)."""
        return limits_for(record, self.settings.accounting.default_rpm)

    def invalidate_key(self, key_id: str) -> None:
        if self.key_cache is not None:
            self.key_cache.invalidate(key_id)

    def invalidate_workspace(self, workspace_id: str) -> None:
        if self.meter is not None:
            self.meter.invalidate_workspace(workspace_id)

    async def spend(self, scope: str, scope_id: str, period: Period) -> float:
        """USD spent in the current period: the live counter when there is one, else the ledger's sum."""
        now = datetime.now(UTC)
        if self.meter is not None:
            budget = self.meter.budget_slot(scope, scope_id, period, 0.0, True, now)
            (view,) = await self.meter.state.views([budget.slot])
            if view is not None:
                return view.spent_nusd / NANO
        start = period_start(period, now)
        if scope == "workspace":
            return await spend_since(self.engine, start, workspace_id=scope_id)
        return await spend_since(self.engine, start, key_id=scope_id)
