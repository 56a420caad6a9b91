"""The ``interlock keys`` commands: create, list and revoke API keys.

Each command reads ``database_url`` from the config (``interlock.config.load_settings``), brings the schema up
to date with ``init_db`` and runs one ``KeyStore`` call. ``create`` prints its summary on stderr and the new key
alone on the last line of stdout, so ``KEY=$(interlock keys create --name ci)`` captures just the key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from interlock.store.db import init_db, make_engine
from interlock.store.errors import StoreError
from interlock.store.keys import BudgetPeriod, KeyRecord, KeyStore

__all__ = ["keys_app"]

keys_app = typer.Typer(
    name="keys",
    help="Create, list and revoke API keys.",
    no_args_is_help=True,
    # Locals of a failing frame could include a freshly generated key.
    pretty_exceptions_show_locals=False,
)

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", help="Config file (YAML). Default: $INTERLOCK_CONFIG, then built-in defaults."),
]

_T = TypeVar("_T")


def _resolve_database_url(config: str | None) -> str:
    from interlock.config import ConfigError, load_settings  # imported late: only the CLI needs the config

    try:
        return load_settings(config).database_url
    except ConfigError as exc:
        _fail(str(exc))


@asynccontextmanager
async def _open_store(database_url: str) -> AsyncIterator[KeyStore]:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        await init_db(engine)
        yield KeyStore(engine)
    finally:
        await engine.dispose()


def _fail(message: str, code: int = 1) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _check_sqlite_directory(database_url: str) -> None:
    # sqlite3 only says "unable to open database file" (and aiosqlite then leaves a thread behind that
    # complains after the event loop closes), so name the actual problem first.
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    directory = Path(url.database).parent
    if not directory.is_dir():
        _fail(f"database {database_url}: directory {directory} does not exist")


def _run(config: str | None, action: Callable[[KeyStore], Awaitable[_T]]) -> _T:
    database_url = _resolve_database_url(config)
    _check_sqlite_directory(database_url)

    async def main() -> _T:
        async with _open_store(database_url) as store:
            return await action(store)

    try:
        return asyncio.run(main())
    except (SQLAlchemyError, OSError, StoreError) as exc:
        shown = make_url(database_url).render_as_string(hide_password=True)
        _fail(f"database {shown}: {exc}")


def _parse_expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date or date-time", param_hint="--expires-at") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when <= datetime.now(UTC):
        raise typer.BadParameter(f"{value!r} is in the past", param_hint="--expires-at")
    return when


def _when(value: datetime | None, never: str = "never") -> str:
    return never if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _budget(record: KeyRecord) -> str:
    return "-" if record.budget_usd is None else f"${record.budget_usd:,.2f}/{record.budget_period}"


def _limit(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Option("--name", help="A label for the key, 1 to 255 characters.")],
    rpm: Annotated[int | None, typer.Option("--rpm", min=1, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option("--tpm", min=1, help="Tokens per minute.")] = None,
    budget_usd: Annotated[
        float | None, typer.Option("--budget-usd", min=0.0, help="Spend limit in USD per budget period.")
    ] = None,
    budget_period: Annotated[BudgetPeriod, typer.Option("--budget-period", help="Budget window.")] = "monthly",
    expires_at: Annotated[
        str | None, typer.Option("--expires-at", help="ISO 8601 date or date-time; UTC if no offset is given.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create an API key and print it, once, alone on the last line of stdout."""
    expiry = _parse_expiry(expires_at)
    if not name.strip() or len(name) > 255:
        raise typer.BadParameter("must be 1 to 255 characters and not blank", param_hint="--name")
    raw_key, record = _run(
        config,
        lambda store: store.create(
            name, rpm=rpm, tpm=tpm, budget_usd=budget_usd, budget_period=budget_period, expires_at=expiry
        ),
    )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    err.print(f"Created API key [bold]{record.id}[/] {escape(repr(record.name))} ({record.key_prefix}...)")
    err.print(f"  workspace  {escape(record.workspace_name)} ({record.workspace_id})")
    err.print(f"  limits     rpm {_limit(record.rpm_limit)}, tpm {_limit(record.tpm_limit)}, budget {_budget(record)}")
    err.print(f"  expires    {'never' if record.expires_at is None else _when(record.expires_at) + ' UTC'}")
    err.print("[yellow]Copy the key now: it is stored only as a hash and cannot be shown again.[/]")
    typer.echo(raw_key)


@keys_app.command("list")
def list_keys(config: ConfigOption = None) -> None:
    """List API keys (never their secrets)."""
    records = _run(config, lambda store: store.list())
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=200)  # piped: do not wrap rows at 80 columns
    if not records:
        out.print("No API keys. Create one with: interlock keys create --name NAME")
        return
    table = Table("id", "name", "prefix", "status", "rpm", "budget", "created (UTC)", "expires (UTC)")
    for column in table.columns:
        column.no_wrap = column.header != "name"
    now = datetime.now(UTC)
    for record in records:
        status = record.status_at(now)
        style = {"active": "green", "revoked": "red", "expired": "yellow"}[status]
        table.add_row(
            record.id,
            escape(record.name),
            record.key_prefix,
            f"[{style}]{status}[/]",
            _limit(record.rpm_limit),
            _budget(record),
            _when(record.created_at),
            _when(record.expires_at),
        )
    out.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key id (key_...), as shown by `interlock keys list`.")],
    config: ConfigOption = None,
) -> None:
    """Revoke an API key. Running gateways refuse it once their key cache entry expires (30 s by default)."""

    async def revoke(store: KeyStore) -> KeyRecord | None:
        record = await store.get(key_id)
        if record is not None and record.revoked_at is None:
            await store.revoke(key_id)
        return record

    record = _run(config, revoke)
    if record is None:
        _fail(f"no API key with id {key_id!r}")
    if record.revoked_at is not None:
        typer.echo(f"{key_id} was already revoked at {_when(record.revoked_at)} UTC")
    else:
        typer.echo(f"Revoked {key_id} ({record.name})")
