"""The KeyStore contract and the migration guarantees on a real PostgreSQL, each test in a fresh schema.

Uses ``INTERLOCK_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``). Every test creates
its own schema, points the engine at it with ``?schema=``, and drops it afterwards. The module is skipped only
when the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.store import KeyStore, MigrationError, begin_write, init_db, make_engine
from interlock.store.migrations import SCHEMA_MIGRATIONS
from tests.unit.store.keystore_contract import KeyStoreContract
from tests.unit.store.test_db import ALL_VERSIONS, run_init_db_processes

POSTGRES_URL = os.environ.get("INTERLOCK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

Schema = Callable[[], Awaitable[str]]


async def _admin() -> asyncpg.Connection:
    return await asyncpg.connect(POSTGRES_URL, timeout=3)


@pytest.fixture
async def new_schema() -> AsyncIterator[Schema]:
    """A factory of fresh schemas (returns the engine URL for each), all dropped at teardown."""
    try:
        admin = await _admin()
    except (TimeoutError, OSError) as exc:  # unreachable; any other error (auth, no database) fails
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")
    created: list[str] = []

    async def create() -> str:
        name = f"interlock_test_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE SCHEMA "{name}"')
        created.append(name)
        return f"{POSTGRES_URL}?schema={name}"

    try:
        yield create
    finally:
        for name in created:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await admin.close()


@pytest.fixture
async def engine(new_schema: Schema) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(await new_schema())
    await init_db(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def empty_engine(new_schema: Schema) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(await new_schema())
    yield engine
    await engine.dispose()


class TestKeyStorePostgres(KeyStoreContract):
    async def test_tables_live_in_the_test_schema_only(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar()
            rows = (
                await conn.execute(
                    text(
                        "SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_name IN ('api_keys', 'workspaces', 'schema_migrations')"
                    )
                )
            ).all()
        assert schema is not None and schema.startswith("interlock_test_")
        assert {tuple(r) for r in rows if r[0] == schema} == {
            (schema, "api_keys"),
            (schema, "workspaces"),
            (schema, "schema_migrations"),
        }
        assert all(r[0] != "public" for r in rows)

    async def test_timestamps_are_timestamptz(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            types: dict[str, str] = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name = 'api_keys'"
                        )
                    )
                ).all()
            )
        assert {types[c] for c in ("created_at", "expires_at", "revoked_at", "last_used_at")} == {
            "timestamp with time zone"
        }
        assert types["scopes"] == "jsonb"


async def test_concurrent_init_db_in_one_process(new_schema: Schema) -> None:
    url = await new_schema()
    engines = [make_engine(url) for _ in range(8)]
    try:
        results = await asyncio.gather(*(init_db(e) for e in engines))
        assert sorted(results) == [[]] * 7 + [ALL_VERSIONS]
        _, record = await KeyStore(engines[3]).create("after the race")
        assert await KeyStore(engines[5]).get(record.id) == record
    finally:
        for engine in engines:
            await engine.dispose()


async def test_concurrent_init_db_in_many_processes(new_schema: Schema) -> None:
    url = await new_schema()
    assert await run_init_db_processes(url, 4) == [str(ALL_VERSIONS), "[]", "[]", "[]"]


async def test_database_newer_than_code_is_refused(engine: AsyncEngine) -> None:
    async with begin_write(engine) as conn:
        await conn.execute(SCHEMA_MIGRATIONS.insert().values(version=999, name="future", applied_at=text("now()")))
    with pytest.raises(MigrationError, match="999"):
        await init_db(engine)
