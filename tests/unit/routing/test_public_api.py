"""The routing package exports exactly its public names, sorted (style.md, "Small public names")."""

from __future__ import annotations

import types

import interlock.routing


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(interlock.routing).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert interlock.routing.__all__ == sorted(interlock.routing.__all__, key=isort_key)
    assert set(interlock.routing.__all__) == public


def test_bench_rank_times_the_engine() -> None:
    result = interlock.routing.bench_rank(200)
    assert result.n == 200 and result.candidates == 6
    assert 0 < result.p50_us <= result.p99_us <= result.max_us
