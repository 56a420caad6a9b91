"""Declarative table models: what the database looks like after the last migration.

The models are the query-side view of the schema. The schema itself is created by ``migrations.py``, which
keeps its own frozen copy of every table as it was when the migration was written; a unit test checks that
applying every migration yields exactly these tables. A new table (usage ledger, stored responses, budgets)
therefore needs both a model here and a new migration there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from interlock.store._sqltypes import JSON_TYPE, UTCDateTime

__all__ = [
    "DEFAULT_WORKSPACE_ID",
    "DEFAULT_WORKSPACE_NAME",
    "NAMING_CONVENTION",
    "ApiKey",
    "Base",
    "Workspace",
]

DEFAULT_WORKSPACE_ID: Final = "ws_default"
DEFAULT_WORKSPACE_NAME: Final = "Default"

# Deterministic constraint names, so later migrations can drop or alter constraints by name on both dialects.
NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every Interlock table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: Any = {datetime: UTCDateTime(), list[str]: JSON_TYPE}


class Workspace(Base):
    """A tenant that owns keys (and later budgets and usage)."""

    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class ApiKey(Base):
    """An API key. Only the SHA-256 of the secret is stored; the secret itself is shown once at creation."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("budget_period IN ('daily', 'weekly', 'monthly')", name="budget_period"),
        CheckConstraint("rpm_limit IS NULL OR rpm_limit > 0", name="rpm_limit"),
        CheckConstraint("tpm_limit IS NULL OR tpm_limit > 0", name="tpm_limit"),
        CheckConstraint("budget_usd IS NULL OR budget_usd >= 0", name="budget_usd"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), ForeignKey("workspaces.id"), index=True)
    scopes: Mapped[list[str]]
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    tpm_limit: Mapped[int | None] = mapped_column(Integer)
    budget_usd: Mapped[float | None] = mapped_column(Float)
    budget_period: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
