"""Cost of a request from the offering's list prices and the usage the upstream reported.

The one function used both for ``routing_metadata.cost`` and for the usage ledger. Prices are USD per 1M
tokens. Input tokens include cached and cache-write tokens (the IR's convention, protocols.md 5.8); each part
is billed at its own price. An offering without prices yields ``None`` (reported as no cost, never $0).
"""

from __future__ import annotations

from dataclasses import dataclass

from interlock.ir.events import Usage

PER_TOKEN = 1_000_000


@dataclass(frozen=True, slots=True)
class Prices:
    input: float | None
    output: float | None
    cache_read: float | None = None
    cache_write: float | None = None

    @property
    def priced(self) -> bool:
        return self.input is not None and self.output is not None


@dataclass(frozen=True, slots=True)
class Cost:
    usd: float
    cache_savings_usd: float = 0.0

    @property
    def cache_savings_percent(self) -> int:
        full = self.usd + self.cache_savings_usd
        return round(100 * self.cache_savings_usd / full) if full > 0 else 0

    def to_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {"usd": round(self.usd, 10)}
        if self.cache_savings_usd > 0:
            out["cache_savings_usd"] = round(self.cache_savings_usd, 10)
            out["cache_savings_percent"] = self.cache_savings_percent
        return out


def compute_cost(usage: Usage | None, prices: Prices) -> Cost | None:
    """USD cost of ``usage`` at ``prices``; ``None`` when the offering is unpriced or nothing was reported."""
    if not prices.priced or usage is None:
        return None
    assert prices.input is not None and prices.output is not None
    inp = usage.input_tokens or 0
    out = usage.output_tokens or 0
    cached = min(usage.cached_tokens or 0, inp)
    written = min(usage.cache_write_tokens or 0, inp - cached)
    fresh = inp - cached - written
    read_price = prices.cache_read if prices.cache_read is not None else prices.input
    write_price = prices.cache_write if prices.cache_write is not None else prices.input
    usd = (fresh * prices.input + cached * read_price + written * write_price + out * prices.output) / PER_TOKEN
    savings = cached * max(0.0, prices.input - read_price) / PER_TOKEN
    return Cost(usd=usd, cache_savings_usd=savings)


def estimate_cost(input_tokens: int, output_tokens: int, prices: Prices, cached_share: float = 0.0) -> float | None:
    """Expected cost before the call (routing and budget reservations)."""
    if not prices.priced:
        return None
    cached = int(input_tokens * cached_share)
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cached_tokens=cached)
    cost = compute_cost(usage, prices)
    return cost.usd if cost else None


__all__ = ["Cost", "Prices", "compute_cost", "estimate_cost"]
