"""Declarative table models: what the database looks like after the last migration.

The models are the query-side view of the schema. The schema itself is created by ``migrations.py``, which
keeps its own frozen copy of every table as it was when the migration was written; a unit test checks that
applying every migration yields exactly these tables. A new table therefore needs both a model here and a new
migration there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from interlock.store._sqltypes import JSON_TYPE, UTCDateTime

__all__ = [
    "DEFAULT_WORKSPACE_ID",
    "DEFAULT_WORKSPACE_NAME",
    "NAMING_CONVENTION",
    "ApiKey",
    "Base",
    "Budget",
    "StoredResponse",
    "UsageRow",
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


class UsageRow(Base):
    """One finished request in the usage ledger (never prompt or output text).

    Token counts are ``None`` when the upstream did not report them; ``usage_estimated`` marks rows whose
    counts were estimated instead (a stream that ended before the upstream sent its usage). ``status`` is
    ``ok``, ``error`` (the upstream or the gateway failed, before or after the first byte), ``cancelled`` (the
    client left) or ``rejected`` (refused before routing: rate limit, invalid request).
    """

    __tablename__ = "usage_ledger"
    __table_args__ = (
        CheckConstraint("status IN ('ok', 'error', 'cancelled', 'rejected')", name="status"),
        Index("ix_usage_ledger_key_id_created_at", "key_id", "created_at"),
        Index("ix_usage_ledger_workspace_id_created_at", "workspace_id", "created_at"),
    )

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    key_id: Mapped[str | None] = mapped_column(String(32))
    workspace_id: Mapped[str | None] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(64))
    provider_model_id: Mapped[str | None] = mapped_column(String(255))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    cached_tokens: Mapped[int | None] = mapped_column(Integer)
    cache_write_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    reasoning_tokens: Mapped[int | None] = mapped_column(Integer)
    usage_estimated: Mapped[bool] = mapped_column(Boolean)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    reserved_usd: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    stream: Mapped[bool] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer)


class Budget(Base):
    """A workspace spending limit for one period (key budgets live on the key: ``ApiKey.budget_usd``)."""

    __tablename__ = "budgets"
    __table_args__ = (
        CheckConstraint("period IN ('daily', 'weekly', 'monthly')", name="period"),
        CheckConstraint("limit_usd >= 0", name="limit_usd"),
        UniqueConstraint("workspace_id", "period", name="uq_budgets_workspace_id_period"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), ForeignKey("workspaces.id"), index=True)
    period: Mapped[str] = mapped_column(String(16))
    limit_usd: Mapped[float] = mapped_column(Float)
    enforce: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StoredResponse(Base):
    """A response kept for ``previous_response_id`` and ``GET /v1/responses/{id}`` until ``expires_at``.

    ``input_items`` are the effective input (the chain it continued, expanded, plus its own input; never the
    instructions), ``output_items`` its output items, ``body`` the response object as the client received it.
    """

    __tablename__ = "stored_responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    input_items: Mapped[Any] = mapped_column(JSON_TYPE)
    output_items: Mapped[Any] = mapped_column(JSON_TYPE)
    body: Mapped[Any] = mapped_column(JSON_TYPE)
