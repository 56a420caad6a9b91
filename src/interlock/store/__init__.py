"""Storage: the database engine and migrations, API keys and their hot-path cache.

``keys_app`` (the ``interlock keys`` CLI) is imported on first access so that the server, which never needs
it, does not import typer and rich through this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.store.db import begin_write, init_db, make_engine
from interlock.store.errors import MigrationError, StoreError, WorkspaceNotFoundError
from interlock.store.keycache import CachedKeyAuthenticator, KeyLookup
from interlock.store.keys import KEY_PREFIX, BudgetPeriod, KeyRecord, KeyStatus, KeyStore, generate_key, hash_key
from interlock.store.migrations import MIGRATIONS, Migration
from interlock.store.models import DEFAULT_WORKSPACE_ID, ApiKey, Base, Workspace

if TYPE_CHECKING:
    from interlock.store.cli_keys import keys_app

__all__ = [
    "DEFAULT_WORKSPACE_ID",
    "KEY_PREFIX",
    "MIGRATIONS",
    "ApiKey",
    "Base",
    "BudgetPeriod",
    "CachedKeyAuthenticator",
    "KeyLookup",
    "KeyRecord",
    "KeyStatus",
    "KeyStore",
    "Migration",
    "MigrationError",
    "StoreError",
    "Workspace",
    "WorkspaceNotFoundError",
    "begin_write",
    "generate_key",
    "hash_key",
    "init_db",
    "keys_app",
    "make_engine",
]


def __getattr__(name: str) -> object:
    if name == "keys_app":
        from interlock.store.cli_keys import keys_app

        return keys_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "keys_app"})
