"""Budget periods in UTC: daily from midnight, weekly from Monday, monthly from the 1st."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from interlock.accounting.periods import period_bounds, period_start


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        (
            "daily",
            datetime(2026, 5, 20, 13, 5, tzinfo=UTC),
            datetime(2026, 5, 20, tzinfo=UTC),
            datetime(2026, 5, 21, tzinfo=UTC),
        ),
        (
            "weekly",
            datetime(2026, 5, 20, 13, 5, tzinfo=UTC),
            datetime(2026, 5, 18, tzinfo=UTC),
            datetime(2026, 5, 25, tzinfo=UTC),
        ),
        (
            "weekly",
            datetime(2026, 5, 18, 0, 0, tzinfo=UTC),
            datetime(2026, 5, 18, tzinfo=UTC),
            datetime(2026, 5, 25, tzinfo=UTC),
        ),
        (
            "weekly",
            datetime(2026, 5, 17, 23, 59, tzinfo=UTC),
            datetime(2026, 5, 11, tzinfo=UTC),
            datetime(2026, 5, 18, tzinfo=UTC),
        ),
        (
            "monthly",
            datetime(2026, 5, 20, tzinfo=UTC),
            datetime(2026, 5, 1, tzinfo=UTC),
            datetime(2026, 6, 1, tzinfo=UTC),
        ),
        (
            "monthly",
            datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
        ),
    ],
)
def test_bounds(period: str, now: datetime, start: datetime, end: datetime) -> None:
    assert period_bounds(period, now) == (start, end)  # type: ignore[arg-type]


def test_other_timezones_are_converted_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    now = datetime(2026, 5, 21, 8, 0, tzinfo=tokyo)  # 2026-05-20 23:00 UTC
    assert period_start("daily", now) == datetime(2026, 5, 20, tzinfo=UTC)


def test_unknown_period() -> None:
    with pytest.raises(ValueError, match="hourly"):
        period_start("hourly", datetime.now(UTC))  # type: ignore[arg-type]
