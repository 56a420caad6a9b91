"""Limits as reported (``limits_for``) and the headers that carry them."""

from __future__ import annotations

from datetime import UTC, datetime

from interlock.accounting.limits import budget_headers, iso_instant, limits_for, rate_limit_headers
from interlock.store.keys import KeyRecord


def record(**fields: object) -> KeyRecord:
    base: dict[str, object] = {
        "id": "key_1",
        "name": "k",
        "key_prefix": "ak_live_abcdefgh",
        "workspace_id": "ws_default",
        "workspace_name": "Default",
        "scopes": ("inference",),
        "rpm_limit": None,
        "tpm_limit": None,
        "budget_usd": None,
        "budget_period": "monthly",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "expires_at": None,
        "revoked_at": None,
        "last_used_at": None,
    }
    return KeyRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_limits_for_a_key_without_limits() -> None:
    limits = limits_for(record())
    assert limits.to_dict() == {"inference_rpm": 0, "tokens_per_minute": None, "budget": None}


def test_default_rpm_applies_when_the_key_sets_none() -> None:
    assert limits_for(record(), default_rpm=60).requests_per_minute == 60
    assert limits_for(record(rpm_limit=5), default_rpm=60).requests_per_minute == 5


def test_limits_with_budget() -> None:
    limits = limits_for(record(rpm_limit=30, tpm_limit=1000, budget_usd=12.5, budget_period="weekly"))
    assert limits.to_dict() == {
        "inference_rpm": 30,
        "tokens_per_minute": 1000,
        "budget": {"limit_usd": 12.5, "period": "weekly", "scope": "api_key"},
    }


def test_headers() -> None:
    assert iso_instant(1_767_225_600_250) == "2026-01-01T00:00:00.250Z"
    assert rate_limit_headers("requests", 10, -3, 1_767_225_600_000) == {
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2026-01-01T00:00:00.000Z",
    }
    assert budget_headers("daily", 5, 0.1234567) == {
        "x-budget-daily-limit": "5.000000",
        "x-budget-daily-spend": "0.123457",
    }
