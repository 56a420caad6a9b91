"""Backend-independent tests of ``KeyStore``, run against SQLite (unit) and PostgreSQL (integration).

A test module subclasses ``KeyStoreContract`` and provides two fixtures: ``engine`` (an initialised engine on
an isolated database) and ``empty_engine`` (an engine on a second, empty, isolated database).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, event, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.store import (
    ApiKey,
    Base,
    CachedKeyAuthenticator,
    KeyStore,
    WorkspaceNotFoundError,
    hash_key,
    init_db,
)
from interlock.store.migrations import MIGRATIONS, SCHEMA_MIGRATIONS

KEY_RE = re.compile(r"^ak_live_[A-Za-z0-9]{40}$")
KEY_ID_RE = re.compile(r"^key_[A-Za-z0-9]{16}$")


class QueryLog:
    """Every SQL statement an engine sends, recorded by a ``before_cursor_execute`` listener."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[str] = []
        self._engine = engine
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def remove(self) -> None:
        event.remove(self._engine.sync_engine, "before_cursor_execute", self._record)

    def selects_from(self, table: str) -> int:
        return sum(1 for s in self.statements if s.lstrip().upper().startswith("SELECT") and table in s)

    def clear(self) -> None:
        self.statements.clear()


def schema_snapshot(conn: Connection) -> dict[str, Any]:
    """Tables, columns, keys, indexes and checks as reflected, in a comparable form."""
    inspector = inspect(conn)
    snapshot: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        snapshot[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"])) for ix in inspector.get_indexes(table)
            ),
            "uniques": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split())) for c in inspector.get_check_constraints(table)
            ),
        }
    return snapshot


async def stored_values(engine: AsyncEngine) -> list[str]:
    """Every value of every row of every table, as text."""

    def dump(conn: Connection) -> list[str]:
        values: list[str] = []
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                values.extend(str(v) for v in row)
        return values

    async with engine.connect() as conn:
        return await conn.run_sync(dump)


class KeyStoreContract:
    @pytest.fixture
    def store(self, engine: AsyncEngine) -> KeyStore:
        return KeyStore(engine)

    @pytest.fixture
    def queries(self, engine: AsyncEngine) -> Iterator[QueryLog]:
        log = QueryLog(engine)
        yield log
        log.remove()

    # -- create ---------------------------------------------------------------------------------------------

    async def test_create_returns_raw_key_and_record(self, store: KeyStore) -> None:
        before = datetime.now(UTC)
        raw, record = await store.create("ci")
        assert KEY_RE.match(raw)
        assert KEY_ID_RE.match(record.id)
        assert record.key_prefix == raw[:16]
        assert record.key_prefix.startswith("ak_live_")
        assert (record.name, record.workspace_id, record.workspace_name) == ("ci", "ws_default", "Default")
        assert record.scopes == ("inference",)
        assert record.budget_period == "monthly"
        assert (record.rpm_limit, record.tpm_limit, record.budget_usd) == (None, None, None)
        assert (record.expires_at, record.revoked_at, record.last_used_at) == (None, None, None)
        assert record.created_at.tzinfo is not None
        assert before <= record.created_at <= datetime.now(UTC)
        assert record.status == "active"
        assert await store.get(record.id) == record

    async def test_create_keeps_every_field(self, store: KeyStore) -> None:
        expires = datetime(2999, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
        _, record = await store.create(
            "full",
            rpm=60,
            tpm=100_000,
            budget_usd=12.5,
            budget_period="weekly",
            expires_at=expires,
            scopes=["inference", "keys:read"],
        )
        stored = await store.get(record.id)
        assert stored == record
        assert stored is not None
        assert (stored.rpm_limit, stored.tpm_limit, stored.budget_usd, stored.budget_period) == (
            60,
            100_000,
            12.5,
            "weekly",
        )
        assert stored.scopes == ("inference", "keys:read")
        assert stored.expires_at == expires
        assert stored.expires_at is not None and stored.expires_at.utcoffset() == timedelta(0)

    async def test_keys_are_unique(self, store: KeyStore) -> None:
        created = await asyncio.gather(*(store.create(f"k{i}") for i in range(20)))
        assert len({raw for raw, _ in created}) == 20
        assert len({record.id for _, record in created}) == 20
        assert len(await store.list()) == 20

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"name": ""},
            {"name": "   "},
            {"name": "x" * 256},
            {"rpm": 0},
            {"tpm": -1},
            {"budget_usd": -0.01},
            {"budget_usd": float("nan")},
            {"budget_period": "yearly"},
            {"expires_at": datetime(2999, 1, 1)},  # naive
            {"scopes": []},
        ],
        ids=lambda kwargs: next(iter(kwargs)) + "=" + repr(next(iter(kwargs.values())))[:20],
    )
    async def test_create_rejects_invalid_fields(self, store: KeyStore, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            await store.create(**{"name": "ok", **kwargs})
        assert await store.list() == []

    async def test_create_in_unknown_workspace(self, store: KeyStore) -> None:
        with pytest.raises(WorkspaceNotFoundError) as info:
            await store.create("x", workspace_id="ws_nope")
        assert info.value.workspace_id == "ws_nope"
        assert isinstance(info.value, LookupError)
        assert await store.list() == []

    # -- secrecy ---------------------------------------------------------------------------------------------

    async def test_only_the_hash_is_stored(self, engine: AsyncEngine, store: KeyStore) -> None:
        raws = [(await store.create(f"k{i}"))[0] for i in range(3)]
        values = await stored_values(engine)
        dump = "\n".join(values)
        for raw in raws:
            assert raw not in dump
            assert raw[8:] not in dump  # the 40-character secret, not just the full key
            assert raw[:16] in values  # the display prefix is stored on purpose
            assert hash_key(raw) in values

    async def test_authenticate(self, store: KeyStore) -> None:
        raw, record = await store.create("auth")
        other_raw, _ = await store.create("other")
        assert await store.authenticate(raw) == record
        assert await store.authenticate(raw[:-1] + ("a" if raw[-1] != "a" else "b")) is None
        assert await store.authenticate(raw[:16] + other_raw[16:]) is None
        assert await store.authenticate(raw + " ") is None
        assert await store.authenticate("") is None
        assert await store.authenticate_hash(hash_key(raw)) == record
        assert await store.authenticate_hash("0" * 64) is None

    # -- list, get, revoke, expire, update -------------------------------------------------------------------

    async def test_list_and_get(self, store: KeyStore) -> None:
        records = [(await store.create(name))[1] for name in ("a", "b", "c")]
        assert await store.list() == records
        assert await store.get(records[1].id) == records[1]
        assert await store.get("key_doesnotexist00") is None
        assert await store.list(workspace_id="ws_default") == records
        assert await store.list(workspace_id="ws_other") == []

    async def test_revoke(self, store: KeyStore) -> None:
        raw, record = await store.create("rev")
        _, kept = await store.create("kept")
        assert await store.revoke(record.id) is True
        revoked = await store.get(record.id)
        assert revoked is not None and revoked.revoked_at is not None
        assert revoked.status == "revoked"
        assert await store.authenticate(raw) is None
        assert await store.revoke(record.id) is True  # idempotent
        again = await store.get(record.id)
        assert again is not None and again.revoked_at == revoked.revoked_at
        assert await store.revoke("key_doesnotexist00") is False
        assert [r.id for r in await store.list(include_revoked=False)] == [kept.id]
        assert [r.status for r in await store.list()] == ["revoked", "active"]

    async def test_expired_key_is_returned_with_status_expired(self, store: KeyStore) -> None:
        past = datetime.now(UTC) - timedelta(seconds=1)
        raw, record = await store.create("old", expires_at=past)
        assert record.status == "expired"
        found = await store.authenticate(raw)
        assert found is not None
        assert found.status == "expired"
        assert found.expires_at == past

    async def test_revoked_wins_over_expired(self, store: KeyStore) -> None:
        raw, record = await store.create("old", expires_at=datetime.now(UTC) - timedelta(days=1))
        await store.revoke(record.id)
        assert await store.authenticate(raw) is None
        got = await store.get(record.id)
        assert got is not None and got.status == "revoked"

    async def test_update(self, store: KeyStore) -> None:
        raw, record = await store.create("upd", rpm=10, budget_usd=5.0)
        when = datetime(2999, 6, 1, tzinfo=UTC)
        updated = await store.update(record.id, name="renamed", tpm=500, budget_period="daily", expires_at=when)
        assert updated is not None
        assert (updated.name, updated.rpm_limit, updated.tpm_limit) == ("renamed", 10, 500)
        assert (updated.budget_usd, updated.budget_period, updated.expires_at) == (5.0, "daily", when)
        cleared = await store.update(record.id, rpm=None, budget_usd=None, expires_at=None)
        assert cleared is not None
        assert (cleared.rpm_limit, cleared.budget_usd, cleared.expires_at) == (None, None, None)
        assert cleared.tpm_limit == 500  # not given, not changed
        assert await store.update(record.id) == cleared
        assert await store.update(record.id, scopes=["keys:read"]) is not None
        assert await store.authenticate(raw) == await store.get(record.id)
        assert await store.update("key_doesnotexist00", rpm=1) is None
        with pytest.raises(ValueError):
            await store.update(record.id, rpm=0)

    async def test_mark_used(self, store: KeyStore) -> None:
        _, a = await store.create("a")
        _, b = await store.create("b")
        at = datetime(2030, 1, 1, tzinfo=UTC)
        await store.mark_used([a.id, a.id], at=at)
        await store.mark_used([])
        got_a, got_b = await store.get(a.id), await store.get(b.id)
        assert got_a is not None and got_a.last_used_at == at
        assert got_b is not None and got_b.last_used_at is None

    # -- schema ------------------------------------------------------------------------------------------------

    async def test_init_db_is_idempotent(self, engine: AsyncEngine, store: KeyStore) -> None:
        _, record = await store.create("survives")
        assert await init_db(engine) == []
        assert await init_db(engine) == []
        async with engine.connect() as conn:
            versions = (await conn.execute(select(SCHEMA_MIGRATIONS.c.version))).scalars().all()
            workspaces = (await conn.execute(text("SELECT id, name FROM workspaces"))).all()
        assert versions == [m.version for m in MIGRATIONS]
        assert [tuple(w) for w in workspaces] == [("ws_default", "Default")]
        assert await store.list() == [record]

    async def test_migrated_schema_matches_models(self, engine: AsyncEngine, empty_engine: AsyncEngine) -> None:
        async with empty_engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            from_models = await conn.run_sync(schema_snapshot)
        async with engine.connect() as conn:
            migrated = await conn.run_sync(schema_snapshot)
        assert migrated.pop("schema_migrations")
        assert migrated == from_models
        assert set(migrated) == {"api_keys", "workspaces", "usage_ledger", "budgets", "stored_responses"}

    # -- the cache on the real store -----------------------------------------------------------------------------

    async def test_cache_hits_do_not_query(self, store: KeyStore, queries: QueryLog) -> None:
        raw, record = await store.create("hot")
        cache = CachedKeyAuthenticator(store)
        queries.clear()
        assert await cache.authenticate(raw) == record
        assert queries.selects_from(ApiKey.__tablename__) == 1
        queries.clear()
        for _ in range(50):
            assert await cache.authenticate(raw) == record
        assert queries.statements == []

    async def test_cache_single_flight_on_real_store(self, store: KeyStore, queries: QueryLog) -> None:
        raw, record = await store.create("burst")
        cache = CachedKeyAuthenticator(store)
        queries.clear()
        results = await asyncio.gather(*(cache.authenticate(raw) for _ in range(30)))
        assert results == [record] * 30
        assert queries.selects_from(ApiKey.__tablename__) == 1

    async def test_cache_invalidate_after_revoke(self, store: KeyStore, queries: QueryLog) -> None:
        raw, record = await store.create("soon revoked")
        cache = CachedKeyAuthenticator(store)
        assert await cache.authenticate(raw) == record
        await store.revoke(record.id)
        assert await cache.authenticate(raw) == record  # still cached: revoke happened behind its back
        cache.invalidate(record.id)
        queries.clear()
        assert await cache.authenticate(raw) is None
        assert queries.selects_from(ApiKey.__tablename__) == 1
