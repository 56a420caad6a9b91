"""Budget periods in UTC (auriko-api.md 11): daily from 00:00, weekly from Monday 00:00, monthly from the 1st."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Literal, get_args

__all__ = ["PERIODS", "Period", "period_bounds", "period_start"]

Period = Literal["daily", "weekly", "monthly"]
PERIODS: Final[tuple[Period, ...]] = get_args(Period)


def period_start(period: Period, now: datetime) -> datetime:
    """The UTC instant the period containing ``now`` (timezone-aware) began."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    raise ValueError(f"unknown budget period {period!r}")


def period_bounds(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """``(start, end)`` of the period containing ``now``; ``end`` is the next period's start."""
    start = period_start(period, now)
    if period == "daily":
        return start, start + timedelta(days=1)
    if period == "weekly":
        return start, start + timedelta(days=7)
    if start.month == 12:
        return start, start.replace(year=start.year + 1, month=1)
    return start, start.replace(month=start.month + 1)
