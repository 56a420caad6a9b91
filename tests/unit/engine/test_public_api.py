"""The engine package exports exactly its public names, sorted (style.md, "Small public names")."""

from __future__ import annotations

import types

import interlock.engine


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(interlock.engine).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert interlock.engine.__all__ == sorted(interlock.engine.__all__, key=isort_key)
    assert set(interlock.engine.__all__) == public
