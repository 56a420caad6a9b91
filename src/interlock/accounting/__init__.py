"""Accounting: cost from usage and prices, usage ledger, rate limits, budgets.

``interlock usage`` (the ``usage_app`` CLI) is imported on first access, so the server does not import typer
and rich through this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.accounting.cost import Cost, Prices, compute_cost, estimate_cost
from interlock.accounting.ledger import LedgerWriter
from interlock.accounting.limits import KeyLimits, limits_for
from interlock.accounting.meter import METERED, Meter, Tab, current_tab
from interlock.accounting.periods import PERIODS, Period, period_bounds, period_start
from interlock.accounting.service import Accounting, open_state
from interlock.accounting.state import LimitState, MemoryState

if TYPE_CHECKING:
    from interlock.accounting.cli_usage import usage_app

__all__ = [
    "METERED",
    "PERIODS",
    "Accounting",
    "Cost",
    "KeyLimits",
    "LedgerWriter",
    "LimitState",
    "MemoryState",
    "Meter",
    "Period",
    "Prices",
    "Tab",
    "compute_cost",
    "current_tab",
    "estimate_cost",
    "limits_for",
    "open_state",
    "period_bounds",
    "period_start",
    "usage_app",
]


def __getattr__(name: str) -> object:
    if name == "usage_app":
        from interlock.accounting.cli_usage import usage_app

        return usage_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "usage_app"})
