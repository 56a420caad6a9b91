"""API keys: generation, hashing and the ``KeyStore`` that persists them.

A key is ``ak_live_`` plus 40 base62 characters from ``secrets`` (about 238 bits). The database keeps only
the SHA-256 hex digest of the whole key and its first 16 characters (``key_prefix``, for display), so a
leaked database does not leak usable keys. Authentication hashes the presented key first and looks the row
up by digest: the query never sees the secret, and its timing does not depend on how much of a guess was
right.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import math
import secrets
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast, get_args

import msgspec
from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from interlock.store.db import begin_write
from interlock.store.errors import WorkspaceNotFoundError
from interlock.store.models import DEFAULT_WORKSPACE_ID, ApiKey, Workspace

__all__ = [
    "KEY_PREFIX",
    "BudgetPeriod",
    "KeyRecord",
    "KeyStatus",
    "KeyStore",
    "generate_key",
    "hash_key",
]

BudgetPeriod = Literal["daily", "weekly", "monthly"]
KeyStatus = Literal["active", "revoked", "expired"]

KEY_PREFIX: Final = "ak_live_"
_BASE62: Final = string.ascii_letters + string.digits
_SECRET_LENGTH: Final = 40
_ID_LENGTH: Final = 16
_DISPLAY_PREFIX_LENGTH: Final = 16  # "ak_live_" + 8 characters of the secret, as in auriko-api.md 1.7
_DEFAULT_SCOPES: Final = ("inference",)
_BUDGET_PERIODS: Final = frozenset(get_args(BudgetPeriod))


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def generate_key() -> str:
    """Return a new random API key: ``ak_live_`` followed by 40 base62 characters."""
    return KEY_PREFIX + _random_base62(_SECRET_LENGTH)


def hash_key(key: str) -> str:
    """Return the SHA-256 hex digest of ``key``, the only form in which keys are stored or cached."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key_id() -> str:
    return "key_" + _random_base62(_ID_LENGTH)


class KeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An API key as stored, without its secret. Timestamps are timezone-aware UTC."""

    id: str
    name: str
    key_prefix: str
    workspace_id: str
    workspace_name: str
    scopes: tuple[str, ...]
    rpm_limit: int | None
    tpm_limit: int | None
    budget_usd: float | None
    budget_period: BudgetPeriod
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def status(self) -> KeyStatus:
        """``revoked`` once revoked, else ``expired`` from ``expires_at`` on, else ``active``."""
        return self.status_at(datetime.now(UTC))

    def status_at(self, now: datetime) -> KeyStatus:
        """The status at the instant ``now`` (timezone-aware)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


_RECORD_COLUMNS: Final = (
    ApiKey.id,
    ApiKey.name,
    ApiKey.key_prefix,
    ApiKey.workspace_id,
    Workspace.name.label("workspace_name"),
    ApiKey.scopes,
    ApiKey.rpm_limit,
    ApiKey.tpm_limit,
    ApiKey.budget_usd,
    ApiKey.budget_period,
    ApiKey.created_at,
    ApiKey.expires_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
)
_SELECT_RECORDS: Final = select(*_RECORD_COLUMNS).join_from(ApiKey, Workspace, ApiKey.workspace_id == Workspace.id)


def _record_from_row(row: Row[*tuple[Any, ...]]) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        name=row.name,
        key_prefix=row.key_prefix,
        workspace_id=row.workspace_id,
        workspace_name=row.workspace_name,
        scopes=tuple(row.scopes),
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        budget_usd=row.budget_usd,
        budget_period=row.budget_period,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _check_name(name: str) -> str:
    if not name.strip() or len(name) > 255:
        raise ValueError("name must be 1 to 255 characters and not blank")
    return name


def _check_limit(field: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or value <= 0):
        raise ValueError(f"{field} must be a positive integer or None")
    return value


def _check_budget(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise ValueError("budget_usd must be a finite number >= 0 or None")
    return None if value is None else float(value)


def _check_period(value: str) -> BudgetPeriod:
    if value not in _BUDGET_PERIODS:
        raise ValueError(f"budget_period must be one of {sorted(_BUDGET_PERIODS)}, not {value!r}")
    return cast(BudgetPeriod, value)


def _check_timestamp(field: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware")
    return value.astimezone(UTC)


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    result = tuple(scopes)
    if not result or not all(isinstance(s, str) and s for s in result):
        raise ValueError("scopes must be a non-empty list of non-empty strings")
    return result


class KeyStore:
    """Create, list, revoke, update and authenticate API keys in the database behind ``engine``.

    Run ``init_db(engine)`` first. Every method is one short transaction.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self,
        name: str,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
        budget_period: BudgetPeriod = "monthly",
        expires_at: datetime | None = None,
        workspace_id: str = DEFAULT_WORKSPACE_ID,
        scopes: Iterable[str] | None = None,
    ) -> tuple[str, KeyRecord]:
        """Create a key and return ``(raw_key, record)``.

        The raw key is returned here and nowhere else: only its hash is stored. Raises ``ValueError`` for
        invalid fields and ``WorkspaceNotFoundError`` for an unknown workspace.
        """
        raw_key = generate_key()
        record = KeyRecord(
            id=_new_key_id(),
            name=_check_name(name),
            key_prefix=raw_key[:_DISPLAY_PREFIX_LENGTH],
            workspace_id=workspace_id,
            workspace_name="",  # filled in from the workspace row below
            scopes=_check_scopes(_DEFAULT_SCOPES if scopes is None else scopes),
            rpm_limit=_check_limit("rpm", rpm),
            tpm_limit=_check_limit("tpm", tpm),
            budget_usd=_check_budget(budget_usd),
            budget_period=_check_period(budget_period),
            created_at=datetime.now(UTC),
            expires_at=_check_timestamp("expires_at", expires_at),
            revoked_at=None,
            last_used_at=None,
        )
        row = {f: getattr(record, f) for f in record.__struct_fields__ if f != "workspace_name"}
        row.update(scopes=list(record.scopes), key_hash=hash_key(raw_key))
        async with begin_write(self._engine) as conn:
            workspace_name = await conn.scalar(select(Workspace.name).where(Workspace.id == workspace_id))
            if workspace_name is None:
                raise WorkspaceNotFoundError(workspace_id)
            await conn.execute(insert(ApiKey).values(row))
        record = msgspec.structs.replace(record, workspace_name=workspace_name)
        return raw_key, record

    async def list(self, *, workspace_id: str | None = None, include_revoked: bool = True) -> builtins.list[KeyRecord]:
        """All keys, oldest first, optionally of one workspace and without the revoked ones."""
        query = _SELECT_RECORDS
        if workspace_id is not None:
            query = query.where(ApiKey.workspace_id == workspace_id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(ApiKey.created_at, ApiKey.id))).all()
        return [_record_from_row(row) for row in rows]

    async def get(self, key_id: str) -> KeyRecord | None:
        """The key with id ``key_id``, or ``None``."""
        async with self._engine.connect() as conn:
            return await self._get(conn, key_id)

    @staticmethod
    async def _get(conn: AsyncConnection, key_id: str) -> KeyRecord | None:
        row = (await conn.execute(_SELECT_RECORDS.where(ApiKey.id == key_id))).first()
        return None if row is None else _record_from_row(row)

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; return ``False`` if there is no such key.

        Revoking twice is not an error and keeps the first ``revoked_at``. Other processes holding a
        ``CachedKeyAuthenticator`` keep accepting the key until their cache entry expires.
        """
        async with begin_write(self._engine) as conn:
            result = await conn.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            if result.rowcount:
                return True
            return await conn.scalar(select(ApiKey.id).where(ApiKey.id == key_id)) is not None

    async def update(
        self,
        key_id: str,
        *,
        name: str | msgspec.UnsetType = msgspec.UNSET,
        rpm: int | msgspec.UnsetType | None = msgspec.UNSET,
        tpm: int | msgspec.UnsetType | None = msgspec.UNSET,
        budget_usd: float | msgspec.UnsetType | None = msgspec.UNSET,
        budget_period: BudgetPeriod | msgspec.UnsetType = msgspec.UNSET,
        expires_at: datetime | msgspec.UnsetType | None = msgspec.UNSET,
        scopes: Iterable[str] | msgspec.UnsetType = msgspec.UNSET,
    ) -> KeyRecord | None:
        """Change the given fields of a key (``None`` clears a limit) and return it, or ``None`` if absent."""
        values: dict[str, Any] = {}
        if not isinstance(name, msgspec.UnsetType):
            values["name"] = _check_name(name)
        if not isinstance(rpm, msgspec.UnsetType):
            values["rpm_limit"] = _check_limit("rpm", rpm)
        if not isinstance(tpm, msgspec.UnsetType):
            values["tpm_limit"] = _check_limit("tpm", tpm)
        if not isinstance(budget_usd, msgspec.UnsetType):
            values["budget_usd"] = _check_budget(budget_usd)
        if not isinstance(budget_period, msgspec.UnsetType):
            values["budget_period"] = _check_period(budget_period)
        if not isinstance(expires_at, msgspec.UnsetType):
            values["expires_at"] = _check_timestamp("expires_at", expires_at)
        if not isinstance(scopes, msgspec.UnsetType):
            values["scopes"] = list(_check_scopes(scopes))
        async with begin_write(self._engine) as conn:
            if values:
                result = await conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(values))
                if not result.rowcount:
                    return None
            return await self._get(conn, key_id)

    async def mark_used(self, key_ids: Iterable[str], at: datetime | None = None) -> None:
        """Set ``last_used_at`` of the given keys, in one statement (for batched, off-hot-path updates)."""
        ids = sorted(set(key_ids))
        if not ids:
            return
        when = _check_timestamp("at", at) or datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            await conn.execute(update(ApiKey).where(ApiKey.id.in_(ids)).values(last_used_at=when))

    async def authenticate(self, raw_key: str) -> KeyRecord | None:
        """The key matching ``raw_key`` if it exists and is not revoked, else ``None``.

        Expired keys are returned (``record.status == "expired"``) so the caller can answer
        ``expired_api_key`` rather than ``invalid_api_key``.
        """
        return await self.authenticate_hash(hash_key(raw_key))

    async def authenticate_hash(self, key_hash: str) -> KeyRecord | None:
        """Like ``authenticate``, for a key already hashed with ``hash_key``."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(_SELECT_RECORDS.add_columns(ApiKey.key_hash).where(ApiKey.key_hash == key_hash))
            ).first()
        # The index lookup already matched; compare again in constant time so that correctness never rests on
        # the database's collation or comparison semantics.
        if row is None or not hmac.compare_digest(row.key_hash, key_hash) or row.revoked_at is not None:
            return None
        return _record_from_row(row)
