"""Exceptions raised by the storage layer.

The tree::

    StoreError                      base of every error raised by interlock.store
    ├── MigrationError              the schema cannot be brought to this version
    └── WorkspaceNotFoundError      a key names a workspace that does not exist (also a LookupError)

Driver errors (SQLAlchemy, asyncpg, sqlite3) are not wrapped: they mean the database is unreachable or broken,
and the caller maps them to ``service_unavailable`` or ``internal_error`` at its own boundary.
"""

from __future__ import annotations

__all__ = ["MigrationError", "StoreError", "WorkspaceNotFoundError"]


class StoreError(Exception):
    """Base class of the errors raised by the storage layer."""


class MigrationError(StoreError):
    """Raised by ``init_db`` when the database holds migrations this code does not know.

    That happens when an older Interlock opens a database a newer one has migrated; running on would risk
    writing rows the newer schema does not expect.
    """


class WorkspaceNotFoundError(StoreError, LookupError):
    """Raised when a key is created for a workspace id that has no row in ``workspaces``."""

    def __init__(self, workspace_id: str) -> None:
        super().__init__(f"workspace {workspace_id!r} does not exist")
        self.workspace_id = workspace_id
