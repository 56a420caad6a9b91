"""interlock.accounting exports exactly its public names, in ruff's (isort-style) order."""

from __future__ import annotations

from types import ModuleType

import interlock.accounting


def _isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted() -> None:
    assert interlock.accounting.__all__ == sorted(interlock.accounting.__all__, key=_isort_key)


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name in dir(interlock.accounting)
        if not name.startswith("_")
        and not isinstance(getattr(interlock.accounting, name), ModuleType)
        and name not in {"annotations", "TYPE_CHECKING"}
    }
    assert public == set(interlock.accounting.__all__)


def test_usage_app_is_loaded_lazily() -> None:
    from interlock.accounting.cli_usage import usage_app

    assert interlock.accounting.usage_app is usage_app
