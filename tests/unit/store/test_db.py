"""Tests of interlock.store.db and interlock.store.migrations on SQLite."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.store import MIGRATIONS, KeyStore, Migration, MigrationError, begin_write, init_db, make_engine
from interlock.store.migrations import SCHEMA_MIGRATIONS

ALL_VERSIONS = [m.version for m in MIGRATIONS]
ALL_TABLES = {"schema_migrations", "workspaces", "api_keys", "usage_ledger", "budgets", "stored_responses"}


@pytest.mark.parametrize(
    ("url", "drivername"),
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite:///:memory:", "sqlite+aiosqlite"),
        ("sqlite://", "sqlite+aiosqlite"),
        ("postgresql://u:p@db.example/interlock", "postgresql+asyncpg"),
        ("postgres://u@db.example/interlock", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@db.example:6543/interlock", "postgresql+asyncpg"),
    ],
)
async def test_make_engine_picks_the_async_driver(url: str, drivername: str) -> None:
    engine = make_engine(url)
    try:
        assert engine.url.drivername == drivername
    finally:
        await engine.dispose()


async def test_make_engine_postgres_options() -> None:
    engine = make_engine("postgresql://u@db.example/interlock?schema=tenant_1&sslmode=require")
    try:
        assert dict(engine.url.query) == {"ssl": "require"}
        assert engine.url.database == "interlock"
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u@h/db",
        "postgresql+psycopg2://u@h/db",
        "sqlite+pysqlite:///x.db",
        "sqlite:///x.db?schema=s",
        "postgresql://u@h/db?schema=bad-name",
        "postgresql://u@h/db?schema=a&schema=b",
    ],
)
def test_make_engine_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        make_engine(url)


async def test_sqlite_file_pragmas(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        await init_db(engine)  # switches the file to WAL, which is remembered in the file
    finally:
        await engine.dispose()
    engine = make_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1, "synchronous": 1}


async def test_sqlite_ddl_is_transactional(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                raise RuntimeError("roll back")
        async with engine.connect() as conn:
            assert await conn.run_sync(lambda c: inspect(c).get_table_names()) == []
    finally:
        await engine.dispose()


async def test_memory_database_is_shared_and_serialised(memory_engine: AsyncEngine) -> None:
    assert await init_db(memory_engine) == ALL_VERSIONS
    store = KeyStore(memory_engine)
    created = await asyncio.gather(*(store.create(f"k{i}") for i in range(10)))
    assert len(await store.list()) == 10
    assert all([await store.authenticate(raw) == record for raw, record in created])


async def test_memory_databases_are_separate() -> None:
    first, second = make_engine("sqlite:///:memory:"), make_engine("sqlite:///:memory:")
    try:
        await init_db(first)
        async with second.connect() as conn:
            assert await conn.run_sync(lambda c: inspect(c).get_table_names()) == []
    finally:
        await first.dispose()
        await second.dispose()


# -- migrations ---------------------------------------------------------------------------------------------


def test_migration_versions_are_dense() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)


async def _versions(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list(
            (await conn.execute(select(SCHEMA_MIGRATIONS.c.version).order_by(SCHEMA_MIGRATIONS.c.version))).scalars()
        )


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_init_db_applies_then_does_nothing(memory_engine: AsyncEngine) -> None:
    assert await init_db(memory_engine) == ALL_VERSIONS
    assert await init_db(memory_engine) == []
    assert await _versions(memory_engine) == ALL_VERSIONS
    assert await _tables(memory_engine) == ALL_TABLES


def _create_extra(conn: Connection) -> None:
    conn.exec_driver_sql("CREATE TABLE extra (id INTEGER PRIMARY KEY)")


def _create_extra_then_fail(conn: Connection) -> None:
    _create_extra(conn)
    raise RuntimeError("migration 2 is broken")


async def test_later_migration_is_applied_once(memory_engine: AsyncEngine) -> None:
    await init_db(memory_engine)
    migrations = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "extra", _create_extra))
    assert await init_db(memory_engine, migrations) == [len(migrations)]
    assert await init_db(memory_engine, migrations) == []
    assert "extra" in await _tables(memory_engine)


async def test_failed_migration_leaves_no_trace(memory_engine: AsyncEngine) -> None:
    await init_db(memory_engine)
    broken = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "extra", _create_extra_then_fail))
    with pytest.raises(RuntimeError, match="broken"):
        await init_db(memory_engine, broken)
    assert "extra" not in await _tables(memory_engine)
    assert await _versions(memory_engine) == [m.version for m in MIGRATIONS]


async def test_failed_first_run_rolls_back_everything(memory_engine: AsyncEngine) -> None:
    broken = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "extra", _create_extra_then_fail))
    with pytest.raises(RuntimeError):
        await init_db(memory_engine, broken)
    assert await _tables(memory_engine) == set()
    assert await init_db(memory_engine) == [m.version for m in MIGRATIONS]


async def test_database_newer_than_code_is_refused(memory_engine: AsyncEngine) -> None:
    await init_db(memory_engine)
    async with begin_write(memory_engine) as conn:
        await conn.execute(SCHEMA_MIGRATIONS.insert().values(version=999, name="future", applied_at=datetime.now(UTC)))
    with pytest.raises(MigrationError, match="999"):
        await init_db(memory_engine)


async def test_migrations_out_of_order_are_refused(memory_engine: AsyncEngine) -> None:
    with pytest.raises(MigrationError):
        await init_db(memory_engine, (Migration(2, "two", _create_extra),))


async def test_concurrent_init_db_in_one_process(sqlite_url: str) -> None:
    engines = [make_engine(sqlite_url) for _ in range(8)]
    try:
        results = await asyncio.gather(*(init_db(e) for e in engines))
        assert sorted(results) == [[]] * 7 + [ALL_VERSIONS]
        assert await _versions(engines[0]) == ALL_VERSIONS
    finally:
        for engine in engines:
            await engine.dispose()


_INIT_SCRIPT = """
import asyncio, sys
from interlock.store import init_db, make_engine

async def main() -> None:
    engine = make_engine(sys.argv[1])
    try:
        print(await init_db(engine))
    finally:
        await engine.dispose()

asyncio.run(main())
"""


async def run_init_db_processes(url: str, count: int) -> list[str]:
    """Start ``count`` processes that each run init_db on ``url`` at once; return their stdout."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _INIT_SCRIPT,
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    outputs = [await proc.communicate() for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    return sorted(out.decode().strip() for out, _ in outputs)


async def test_concurrent_init_db_in_many_processes(sqlite_url: str) -> None:
    assert await run_init_db_processes(sqlite_url, 4) == [str(ALL_VERSIONS), "[]", "[]", "[]"]
    engine = make_engine(sqlite_url)
    try:
        assert await _versions(engine) == ALL_VERSIONS
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM workspaces"))).scalar() == 1
    finally:
        await engine.dispose()
