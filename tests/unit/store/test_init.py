"""interlock.store exports exactly its public names, in ruff's (isort-style) order."""

from __future__ import annotations

from types import ModuleType

import interlock.store


def _isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted() -> None:
    assert interlock.store.__all__ == sorted(interlock.store.__all__, key=_isort_key)


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name in dir(interlock.store)
        if not name.startswith("_")
        and not isinstance(getattr(interlock.store, name), ModuleType)
        and name not in {"annotations", "TYPE_CHECKING"}
    }
    assert public == set(interlock.store.__all__)


def test_keys_app_is_loaded_lazily() -> None:
    from interlock.store.cli_keys import keys_app

    assert interlock.store.keys_app is keys_app
