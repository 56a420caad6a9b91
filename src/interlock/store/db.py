"""Engine construction for SQLite and PostgreSQL, and schema initialisation.

``make_engine`` takes the ``database_url`` of the config file (``sqlite:///./interlock.db``,
``sqlite:///:memory:``, ``postgresql://user@host/db``) and returns an async engine on the async driver of
that database (aiosqlite, asyncpg). ``init_db`` brings the schema to the latest migration.

SQLite notes. Every connection gets ``busy_timeout`` (a writer waits for the lock instead of failing at once),
``foreign_keys=ON`` and ``synchronous=NORMAL`` (safe with WAL). The sqlite3 driver's own transaction handling is
switched off and SQLAlchemy emits ``BEGIN`` itself, so that DDL is transactional and writers can ask for
``BEGIN IMMEDIATE`` (the recipe in SQLAlchemy's SQLite dialect documentation, "Enabling Non-Legacy SQLite
Transactional Modes"). SQLite has one writer at a time, so ``begin_write`` also queues the writers of one
engine on an ``asyncio.Lock``: waiting there is instant, whereas writers contending for the file lock poll it
with growing sleeps (48 concurrent inserts took 2 s that way, against 0.08 s queued). A ``:memory:`` database
lives in one connection; the pool holds exactly that one, so concurrent tasks queue for it instead of sharing
its transaction.

``init_db`` switches a file database to ``journal_mode=WAL`` (readers do not block the writer). The mode is
stored in the file, so once is enough. It is not done on connect because the switch needs an exclusive lock
that SQLite refuses at once, ignoring the busy timeout, while another connection is opening the same new file;
it needs a retry loop, and only async code can wait between tries without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final
from weakref import WeakKeyDictionary

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from interlock.store.migrations import MIGRATIONS, Migration, apply_migrations

__all__ = ["begin_write", "init_db", "make_engine"]

SQLITE_BUSY_TIMEOUT_MS: Final = 5_000

# pg_advisory_xact_lock key guarding migrations: an arbitrary constant ("ilck" in ASCII), the same for
# every process that runs init_db on one database.
_PG_MIGRATION_LOCK_KEY: Final = 0x696C636B

# Execution option read by the "begin" hook: which BEGIN the next SQLite transaction uses.
_SQLITE_BEGIN_OPTION: Final = "interlock_sqlite_begin"
_SQLITE_BEGIN_MODES: Final = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}

# Per-engine writer queue for SQLite engines made by make_engine (see the module docstring).
_SQLITE_WRITE_LOCKS: Final[WeakKeyDictionary[Engine, asyncio.Lock]] = WeakKeyDictionary()

_SCHEMA_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def make_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    echo: bool = False,
) -> AsyncEngine:
    """Create an async engine for ``database_url``.

    Accepts ``sqlite://`` and ``postgresql://`` (also ``postgres://``) URLs, with or without an explicit async
    driver. A PostgreSQL URL may carry ``?schema=NAME``: every connection then uses that (existing) schema
    as its ``search_path``, which lets tests and tenants share one database. ``sslmode`` is translated to
    asyncpg's ``ssl``. Raises ``ValueError`` for other databases or drivers.
    """
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
    if backend in ("postgresql", "postgres"):
        return _postgres_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
    raise ValueError(f"unsupported database URL {url.render_as_string()!r}: use sqlite:/// or postgresql://")


def _require_driver(url: URL, async_driver: str) -> None:
    # Split by hand: URL.get_driver_name() loads the dialect, which fails for aliases such as postgres://.
    backend, _, driver = url.drivername.partition("+")
    if driver and driver != async_driver:
        raise ValueError(
            f"unsupported driver {driver!r} in {url.drivername!r}: Interlock uses {async_driver} "
            f"(write {backend}:// and it is chosen for you)"
        )


def _sqlite_engine(url: URL, *, echo: bool, pool_size: int, max_overflow: int) -> AsyncEngine:
    _require_driver(url, "aiosqlite")
    if "schema" in url.query:
        raise ValueError("the schema= option is only supported for PostgreSQL URLs")
    url = url.set(drivername="sqlite+aiosqlite")
    in_memory = _sqlite_in_memory(url)
    options: dict[str, Any] = {"echo": echo}
    if in_memory:
        # One connection is the whole database; queue for it rather than share it (see module docstring).
        options.update(poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0)
    else:
        options.update(pool_size=pool_size, max_overflow=max_overflow)
    engine = create_async_engine(url, **options)
    _install_sqlite_hooks(engine)
    _SQLITE_WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
    return engine


def _sqlite_in_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Hand transaction control to SQLAlchemy (see the "begin" hook below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _postgres_engine(url: URL, *, echo: bool, pool_size: int, max_overflow: int) -> AsyncEngine:
    _require_driver(url, "asyncpg")
    connect_args: dict[str, Any] = {}
    schema = url.query.get("schema")
    if schema is not None:
        if not isinstance(schema, str) or not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}: use letters, digits and underscores")
        # Quoted, so a mixed-case name means exactly that schema.
        connect_args["server_settings"] = {"search_path": f'"{schema}"'}
    sslmode = url.query.get("sslmode")
    url = url.difference_update_query(["schema", "sslmode"]).set(drivername="postgresql+asyncpg")
    if sslmode is not None:
        url = url.update_query_dict({"ssl": sslmode})
    return create_async_engine(
        url,
        echo=echo,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,  # survive a database restart without failing the first request after it
        pool_recycle=1800,  # stay under common idle-connection timeouts of proxies and managed databases
    )


@asynccontextmanager
async def begin_write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that is going to write; commits on success, rolls back on error.

    On SQLite it starts with ``BEGIN IMMEDIATE``, taking the write lock up front. A deferred transaction that
    reads first and writes later would instead fail at once with "database is locked" whenever another
    connection wrote in between (SQLite cannot upgrade a stale read snapshot, and the busy timeout does not
    apply to that case); writers of one engine also wait their turn on an in-process lock first. On
    PostgreSQL it is an ordinary transaction.
    """
    lock = _SQLITE_WRITE_LOCKS.get(engine.sync_engine)
    if lock is None:
        async with _begin_immediate(engine) as conn:
            yield conn
    else:
        async with lock, _begin_immediate(engine) as conn:
            yield conn


@asynccontextmanager
async def _begin_immediate(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        await conn.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        async with conn.begin():
            yield conn


async def init_db(engine: AsyncEngine, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Create or upgrade the schema; return the versions applied by this call (empty if up to date).

    Safe to call from several processes at once: PostgreSQL serialises them with a transaction-scoped
    advisory lock, SQLite with ``BEGIN IMMEDIATE`` plus the busy timeout. Either way the first process
    migrates and the others then find nothing to do.
    """
    if engine.dialect.name == "sqlite" and not _sqlite_in_memory(engine.url):
        await _enable_sqlite_wal(engine)
    async with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})
        return await conn.run_sync(apply_migrations, migrations)


async def _enable_sqlite_wal(engine: AsyncEngine) -> None:
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    async with engine.connect() as conn:
        # Straight to aiosqlite: through SQLAlchemy the statement would run inside a transaction, where SQLite
        # refuses to change the journal mode.
        driver_connection = (await conn.get_raw_connection()).driver_connection
        assert driver_connection is not None
        while True:
            try:
                async with driver_connection.execute("PRAGMA journal_mode = WAL") as cursor:
                    await cursor.fetchall()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)
