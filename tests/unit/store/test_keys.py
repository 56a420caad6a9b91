"""Tests of interlock.store.keys: key format, hashing, records, and the KeyStore on SQLite."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.store import KeyRecord, KeyStore, generate_key, hash_key, init_db, make_engine
from tests.unit.store.keystore_contract import KEY_RE, KeyStoreContract


def test_generate_key_format() -> None:
    keys = {generate_key() for _ in range(2000)}
    assert len(keys) == 2000
    assert all(KEY_RE.match(key) for key in keys)
    # Every base62 character shows up: the alphabet is not accidentally truncated.
    assert set("".join(key[8:] for key in keys)) == set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    )


def test_hash_key_is_sha256_hex() -> None:
    key = "ak_live_" + "a" * 40
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert len(hash_key(key)) == 64
    assert hash_key(key) != hash_key(key[:-1] + "b")


def _record(**changes: object) -> KeyRecord:
    fields: dict[str, object] = {
        "id": "key_0123456789abcdef",
        "name": "n",
        "key_prefix": "ak_live_abcdefgh",
        "workspace_id": "ws_default",
        "workspace_name": "Default",
        "scopes": ("inference",),
        "rpm_limit": None,
        "tpm_limit": None,
        "budget_usd": None,
        "budget_period": "monthly",
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        "expires_at": None,
        "revoked_at": None,
        "last_used_at": None,
    }
    fields.update(changes)
    return KeyRecord(**fields)  # type: ignore[arg-type]


def test_record_status() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert _record().status_at(now) == "active"
    assert _record(expires_at=now + timedelta(seconds=1)).status_at(now) == "active"
    assert _record(expires_at=now).status_at(now) == "expired"
    assert _record(revoked_at=now).status_at(now) == "revoked"
    assert _record(revoked_at=now, expires_at=now - timedelta(days=1)).status_at(now) == "revoked"
    assert _record(expires_at=datetime(2000, 1, 1, tzinfo=UTC)).status == "expired"


def test_record_is_frozen() -> None:
    with pytest.raises(AttributeError):
        _record().name = "other"  # type: ignore[misc]


@pytest.fixture(params=["file", "memory"])
async def engine(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(sqlite_url if request.param == "file" else "sqlite:///:memory:")
    await init_db(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def empty_engine(memory_engine: AsyncEngine) -> AsyncEngine:
    return memory_engine


class TestKeyStoreSQLite(KeyStoreContract):
    async def test_raw_key_is_nowhere_in_the_database_file(self, sqlite_url: str, sqlite_path: Path) -> None:
        engine = make_engine(sqlite_url)
        try:
            await init_db(engine)
            raw, _ = await KeyStore(engine).create("file")
        finally:
            await engine.dispose()
        files = [p for p in sqlite_path.parent.iterdir() if p.name.startswith(sqlite_path.name)]
        data = b"".join(p.read_bytes() for p in files)
        assert hash_key(raw).encode() in data
        assert raw[8:].encode() not in data
