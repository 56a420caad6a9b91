"""``interlock usage``: spend and tokens from the usage ledger, grouped by key, model, provider or UTC day."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interlock.store.db import init_db, make_engine
from interlock.store.ledger import GROUPINGS, Grouping, UsageGroup, usage_report

__all__ = ["parse_since", "usage_app", "usage_table"]

_RELATIVE: Final = re.compile(r"^(\d+)([smhdw])$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

usage_app = typer.Typer(name="usage", add_completion=False, pretty_exceptions_show_locals=False)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``7d``, ``24h``, ``30m``, ``2w`` (before now) or an ISO 8601 date or instant (UTC when no offset)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read {value!r}: use 7d, 24h, 30m, 2w or an ISO 8601 date") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def usage_table(groups: list[UsageGroup], by: Grouping, title: str) -> Table:
    """The report as a rich table, with a total row."""
    table = Table(title=title)
    table.add_column(by)
    for name in ("requests", "errors", "input tokens", "cached", "output tokens", "reasoning", "cost USD"):
        table.add_column(name, justify="right")
    for g in groups:
        table.add_row(
            escape(g.group or "-"),
            f"{g.requests:,}",
            f"{g.errors:,}",
            f"{g.input_tokens:,}",
            f"{g.cached_tokens:,}",
            f"{g.output_tokens:,}",
            f"{g.reasoning_tokens:,}",
            f"{g.cost_usd:.6f}",
        )
    if groups:
        table.add_section()
        table.add_row(
            "total",
            f"{sum(g.requests for g in groups):,}",
            f"{sum(g.errors for g in groups):,}",
            f"{sum(g.input_tokens for g in groups):,}",
            f"{sum(g.cached_tokens for g in groups):,}",
            f"{sum(g.output_tokens for g in groups):,}",
            f"{sum(g.reasoning_tokens for g in groups):,}",
            f"{sum(g.cost_usd for g in groups):.6f}",
        )
    return table


async def _report(database_url: str, by: Grouping, since: datetime, until: datetime | None) -> list[UsageGroup]:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        await init_db(engine)
        return await usage_report(engine, by, since=since, until=until)
    finally:
        await engine.dispose()


@usage_app.callback(invoke_without_command=True)
def usage(
    by: Annotated[str, typer.Option("--by", help=f"Group by: {', '.join(GROUPINGS)}.")] = "key",
    since: Annotated[str, typer.Option("--since", help="Start: 7d, 24h, 30m, 2w or an ISO 8601 date.")] = "30d",
    until: Annotated[str | None, typer.Option("--until", help="End (exclusive), same forms as --since.")] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="Config file (YAML). Default: $INTERLOCK_CONFIG.")
    ] = None,
) -> None:
    """Spend and tokens from the usage ledger."""
    from interlock.config import ConfigError, load_settings

    err = Console(stderr=True, soft_wrap=True)
    if by not in GROUPINGS:
        err.print(f"[bold red]error:[/] --by must be one of {', '.join(GROUPINGS)}")
        raise typer.Exit(2)
    try:
        start = parse_since(since)
        end = parse_since(until) if until is not None else None
        settings = load_settings(config)
    except (ValueError, ConfigError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    groups = asyncio.run(_report(settings.database_url, by, start, end))  # type: ignore[arg-type]
    span = f"since {start:%Y-%m-%d %H:%M} UTC" + (f" until {end:%Y-%m-%d %H:%M} UTC" if end else "")
    Console(width=160).print(usage_table(groups, by, f"Usage by {by} {span}"))  # type: ignore[arg-type]
