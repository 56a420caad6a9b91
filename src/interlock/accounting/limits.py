"""A key's limits as the API reports them (``/v1/me``, the admin API) and the response headers that carry them.

Headers (auriko-api.md 7): ``X-RateLimit-Limit-Requests``, ``X-RateLimit-Remaining-Requests`` and
``X-RateLimit-Reset-Requests`` (an ISO 8601 UTC instant: when the oldest request of the sliding minute leaves
it, i.e. when a slot frees up) on every response of an authenticated request whose key has a request limit;
the ``-Tokens`` trio when it has a token limit; ``X-Budget-<Period>-Limit`` / ``-Spend`` (USD) when budgets
apply; ``X-Budget-Exceeded``, ``-Exceeded-Period`` and ``-Exceeded-Scope`` on a ``budget_exhausted`` 429.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from interlock.store.keys import KeyRecord

__all__ = ["KeyLimits", "budget_headers", "iso_instant", "limits_for", "rate_limit_headers", "usd"]


class KeyLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits that apply to one key (``None``: no such limit)."""

    requests_per_minute: int | None
    tokens_per_minute: int | None
    budget_usd: float | None
    budget_period: str | None

    def to_dict(self) -> dict[str, Any]:
        """``/v1/me`` style ``rate_limits`` (``inference_rpm`` 0 = unlimited) plus the token and budget limits."""
        return {
            "inference_rpm": self.requests_per_minute or 0,
            "tokens_per_minute": self.tokens_per_minute,
            "budget": (
                None
                if self.budget_usd is None
                else {"limit_usd": self.budget_usd, "period": self.budget_period, "scope": "api_key"}
            ),
        }


def limits_for(record: KeyRecord, default_rpm: int | None = None) -> KeyLimits:
    """The limits enforced on ``record`` (``default_rpm`` is ``accounting.default_rpm`` of the settings)."""
    return KeyLimits(
        requests_per_minute=record.rpm_limit or default_rpm,
        tokens_per_minute=record.tpm_limit,
        budget_usd=record.budget_usd,
        budget_period=record.budget_period if record.budget_usd is not None else None,
    )


def iso_instant(epoch_ms: int) -> str:
    """``2026-05-18T12:00:03.250Z``."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def usd(value: float) -> str:
    """A USD amount as a header value: six decimals, no exponent."""
    return f"{value:.6f}"


def rate_limit_headers(kind: str, limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    """The ``X-RateLimit-*-<kind>`` trio (``kind`` is ``Requests`` or ``Tokens``)."""
    return {
        f"x-ratelimit-limit-{kind}": str(limit),
        f"x-ratelimit-remaining-{kind}": str(max(0, remaining)),
        f"x-ratelimit-reset-{kind}": iso_instant(reset_ms),
    }


def budget_headers(period: str, limit_usd: float, spend_usd: float) -> dict[str, str]:
    """``X-Budget-<Period>-Limit`` and ``-Spend`` for one period (``daily``, ``weekly``, ``monthly``)."""
    return {f"x-budget-{period}-limit": usd(limit_usd), f"x-budget-{period}-spend": usd(spend_usd)}
