"""Versioned schema migrations, applied in order by ``init_db``.

Theory of operation. ``schema_migrations`` holds one row per applied version. ``init_db`` opens one
transaction, takes a lock that serialises every process starting at the same time (``pg_advisory_xact_lock``
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), reads the applied versions and runs the missing migrations in
version order, recording each one. Both dialects have transactional DDL, so a failing migration leaves no
trace and the next start retries it; a process that waited on the lock finds the versions applied and does
nothing.

Adding a table or column: write ``_vN_<what>(conn)`` below, append ``Migration(N, "<what>", _vN_<what>)`` to
``MIGRATIONS`` and update ``models.py``. Never edit a migration that has shipped. Each migration declares the
tables it creates in its own ``MetaData`` (frozen as they were at that version) instead of importing the
models, because the models describe the latest schema and would make old migrations create future columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final, NamedTuple

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
)

from interlock.store._sqltypes import JSON_TYPE, UTCDateTime
from interlock.store.errors import MigrationError
from interlock.store.models import DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_NAME, NAMING_CONVENTION

__all__ = ["MIGRATIONS", "SCHEMA_MIGRATIONS", "Migration", "apply_migrations"]


class Migration(NamedTuple):
    """One schema step: ``upgrade`` runs inside the migration transaction on a synchronous connection."""

    version: int
    name: str
    upgrade: Callable[[Connection], None]


SCHEMA_MIGRATIONS: Final = Table(
    "schema_migrations",
    MetaData(naming_convention=NAMING_CONVENTION),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
)


def _v1_workspaces_and_api_keys(conn: Connection) -> None:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    workspaces = Table(
        "workspaces",
        metadata,
        Column("id", String(64), primary_key=True),
        Column("name", String(255), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
    )
    Table(
        "api_keys",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("name", String(255), nullable=False),
        Column("key_hash", String(64), nullable=False, unique=True, index=True),
        Column("key_prefix", String(16), nullable=False),
        Column("workspace_id", String(64), ForeignKey("workspaces.id"), nullable=False, index=True),
        Column("scopes", JSON_TYPE, nullable=False),
        Column("rpm_limit", Integer),
        Column("tpm_limit", Integer),
        Column("budget_usd", Float),
        Column("budget_period", String(16), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime()),
        Column("revoked_at", UTCDateTime()),
        Column("last_used_at", UTCDateTime()),
        CheckConstraint("budget_period IN ('daily', 'weekly', 'monthly')", name="budget_period"),
        CheckConstraint("rpm_limit IS NULL OR rpm_limit > 0", name="rpm_limit"),
        CheckConstraint("tpm_limit IS NULL OR tpm_limit > 0", name="tpm_limit"),
        CheckConstraint("budget_usd IS NULL OR budget_usd >= 0", name="budget_usd"),
    )
    # checkfirst=False: the version table says these do not exist yet; if they do, fail loudly.
    metadata.create_all(conn, checkfirst=False)
    conn.execute(
        insert(workspaces).values(id=DEFAULT_WORKSPACE_ID, name=DEFAULT_WORKSPACE_NAME, created_at=datetime.now(UTC))
    )


def _v2_ledger_budgets_responses(conn: Connection) -> None:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Reflect-free stand-in for the existing table, so the foreign key below can name it.
    Table("workspaces", metadata, Column("id", String(64), primary_key=True))
    Table(
        "usage_ledger",
        metadata,
        Column("request_id", String(64), primary_key=True),
        Column("created_at", UTCDateTime(), nullable=False, index=True),
        Column("key_id", String(32)),
        Column("workspace_id", String(64)),
        Column("endpoint", String(32), nullable=False),
        Column("model", String(255)),
        Column("provider", String(64)),
        Column("provider_model_id", String(255)),
        Column("input_tokens", Integer),
        Column("cached_tokens", Integer),
        Column("cache_write_tokens", Integer),
        Column("output_tokens", Integer),
        Column("reasoning_tokens", Integer),
        Column("usage_estimated", Boolean, nullable=False),
        Column("cost_usd", Float),
        Column("reserved_usd", Float),
        Column("ttft_ms", Float),
        Column("latency_ms", Float),
        Column("status", String(16), nullable=False),
        Column("http_status", Integer),
        Column("error_code", String(64)),
        Column("stream", Boolean, nullable=False),
        Column("attempts", Integer, nullable=False),
        CheckConstraint("status IN ('ok', 'error', 'cancelled', 'rejected')", name="status"),
        Index("ix_usage_ledger_key_id_created_at", "key_id", "created_at"),
        Index("ix_usage_ledger_workspace_id_created_at", "workspace_id", "created_at"),
    )
    Table(
        "budgets",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("workspace_id", String(64), ForeignKey("workspaces.id"), nullable=False, index=True),
        Column("period", String(16), nullable=False),
        Column("limit_usd", Float, nullable=False),
        Column("enforce", Boolean, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        CheckConstraint("period IN ('daily', 'weekly', 'monthly')", name="period"),
        CheckConstraint("limit_usd >= 0", name="limit_usd"),
        UniqueConstraint("workspace_id", "period", name="uq_budgets_workspace_id_period"),
    )
    Table(
        "stored_responses",
        metadata,
        Column("id", String(64), primary_key=True),
        Column("workspace_id", String(64), nullable=False, index=True),
        Column("key_id", String(32)),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime(), nullable=False, index=True),
        Column("input_items", JSON_TYPE, nullable=False),
        Column("output_items", JSON_TYPE, nullable=False),
        Column("body", JSON_TYPE, nullable=False),
    )
    tables = [metadata.tables[name] for name in ("usage_ledger", "budgets", "stored_responses")]
    metadata.create_all(conn, tables=tables, checkfirst=False)


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "workspaces and api_keys", _v1_workspaces_and_api_keys),
    Migration(2, "usage ledger, budgets and stored responses", _v2_ledger_budgets_responses),
)


def _check_sequence(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must be 1, 2, 3, ... in order; got {versions}")


def apply_migrations(conn: Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the missing migrations on ``conn`` and return their versions.

    The caller owns the transaction and the lock; see ``init_db``.
    """
    _check_sequence(migrations)
    SCHEMA_MIGRATIONS.create(conn, checkfirst=True)
    applied = set(conn.scalars(select(SCHEMA_MIGRATIONS.c.version)))
    unknown = applied - {m.version for m in migrations}
    if unknown:
        raise MigrationError(
            f"the database has schema versions {sorted(unknown)} that this Interlock does not know "
            f"(it knows 1 to {len(migrations)}); upgrade Interlock or use another database"
        )
    done: list[int] = []
    for migration in migrations:
        if migration.version in applied:
            continue
        migration.upgrade(conn)
        conn.execute(
            insert(SCHEMA_MIGRATIONS).values(
                version=migration.version, name=migration.name, applied_at=datetime.now(UTC)
            )
        )
        done.append(migration.version)
    return done
