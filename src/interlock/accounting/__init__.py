"""Accounting: cost from usage and prices, usage ledger, rate limits, budgets."""

from interlock.accounting.cost import Cost, Prices, compute_cost, estimate_cost

__all__ = ["Cost", "Prices", "compute_cost", "estimate_cost"]
