"""The ``interlock`` command line: serve, keys, sim, models (design.md section 3)."""

from __future__ import annotations

from typing import Annotated

import typer

from interlock.accounting.cli_usage import usage_app
from interlock.store.cli_keys import keys_app

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Interlock: a self-hosted LLM routing gateway.",
)
app.add_typer(keys_app, name="keys", help="Create, list and revoke API keys.")
app.add_typer(usage_app, name="usage", help="Spend and tokens from the usage ledger.")

ConfigOpt = Annotated[str | None, typer.Option("--config", help="Config file (default: $INTERLOCK_CONFIG).")]


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes sharing the port.")] = None,
) -> None:
    """Run the gateway."""
    from interlock.api.server import serve as run

    run(config, host, port, workers)


@app.command()
def sim(
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 9090,
) -> None:
    """Run the provider simulator alone."""
    from interlock.sim import serve_forever

    serve_forever(config, host, port)


@app.command()
def models(config: ConfigOpt = None) -> None:
    """The catalog as the gateway sees it."""
    from rich.console import Console
    from rich.table import Table

    from interlock.config import load_catalog, load_settings

    settings = load_settings(config)
    catalog = load_catalog(settings)
    table = Table(title="Interlock catalog" + (" (simulated)" if settings.simulated else ""))
    for col in ("model", "provider", "provider model id", "in $/1M", "out $/1M", "context", "enabled"):
        table.add_column(col)
    for model in catalog.models:
        for o in model.offerings:
            provider = catalog.providers.get(o.provider)
            table.add_row(
                model.id,
                o.provider,
                o.provider_model_id,
                "-" if o.input_price is None else f"{o.input_price:g}",
                "-" if o.output_price is None else f"{o.output_price:g}",
                "-" if o.context_window is None else str(o.context_window),
                "yes" if provider is not None and provider.enabled else "no",
            )
    Console().print(table)


def main() -> None:
    app()


__all__ = ["app", "main"]
