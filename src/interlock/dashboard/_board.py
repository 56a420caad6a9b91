"""The live provider board: every offering with its price, live TTFT/TPS percentiles, failure rates, load, breaker.

Read from the gateway's own routing state (``Gateway.stats`` and ``Gateway.breakers`` snapshots: no I/O), so
it shows what ranking sees in this worker right now. The page renders the table; its script then polls
``/dashboard/api/board`` and rewrites the live cells from the ``display`` strings formatted here.
"""

from __future__ import annotations

from typing import Any, Final

from interlock.api.context import AppContext
from interlock.api.http import Request, Response
from interlock.dashboard._access import PREFIX, Access, guarded, html_response, json_page
from interlock.dashboard._html import (
    Markup,
    concat,
    fmt,
    fmt_ms,
    fmt_percent,
    fmt_price,
    fmt_tps,
    render,
)
from interlock.dashboard._layout import layout, tiles
from interlock.dashboard.recent import RequestLog
from interlock.engine import Gateway
from interlock.routing import BreakerView, LiveStats
from interlock.routing.catalog import ModelEntry, Offering

__all__ = ["LIVE_FIELDS", "board_api", "board_page", "board_rows", "board_summary"]

# The cells the page's script refreshes, in table order.
LIVE_FIELDS: Final = (
    "ttft_p50",
    "ttft_p95",
    "tps_p50",
    "tps_p95",
    "error_rate",
    "timeout_rate",
    "in_flight",
    "breaker",
    "samples",
)


def _breaker_text(view: BreakerView) -> str:
    if view.state == "open":
        return f"open ({view.retry_in_s:.0f} s)" if view.retry_in_s is not None else "open"
    if view.state == "half_open":
        return "half open"
    return "closed" if not view.failures else f"closed ({view.failures} failed)"


def _row(
    gateway: Gateway, model: ModelEntry, offering: Offering, live: LiveStats, breaker: BreakerView
) -> dict[str, Any]:
    provider = gateway.catalog.providers.get(offering.provider)
    row: dict[str, Any] = {
        "key": offering.key,
        "model": model.id,
        "provider": offering.provider,
        "provider_name": provider.name if provider is not None else offering.provider,
        "provider_model_id": offering.provider_model_id,
        "tier": offering.tier,
        "enabled": provider is not None and provider.enabled,
        "input_price": offering.input_price,
        "output_price": offering.output_price,
        "ttft_p50": live.ttft_p50,
        "ttft_p95": live.ttft_p95,
        "tps_p50": live.tps_p50,
        "tps_p95": live.tps_p95,
        "error_rate": live.error_rate,
        "timeout_rate": live.timeout_rate,
        "in_flight": live.in_flight,
        "samples": round(live.ttft_samples, 2),
        "outcomes": round(live.outcomes, 2),
        "breaker": breaker.state,
        "breaker_failures": breaker.failures,
        "breaker_retry_in_s": breaker.retry_in_s,
    }
    row["display"] = {
        "input_price": fmt_price(offering.input_price),
        "output_price": fmt_price(offering.output_price),
        "ttft_p50": fmt_ms(live.ttft_p50),
        "ttft_p95": fmt_ms(live.ttft_p95),
        "tps_p50": fmt_tps(live.tps_p50, unit=False),
        "tps_p95": fmt_tps(live.tps_p95, unit=False),
        "error_rate": fmt_percent(live.error_rate) if live.outcomes else "\u2014",
        "timeout_rate": fmt_percent(live.timeout_rate) if live.outcomes else "\u2014",
        "in_flight": str(live.in_flight),
        "breaker": _breaker_text(breaker),
        "samples": f"{live.ttft_samples:.1f}" if live.ttft_samples else "0",
    }
    return row


def board_rows(gateway: Gateway, *, include_disabled: bool = False) -> list[dict[str, Any]]:
    """One row per offering, in catalog order (offerings of disabled providers only when asked for)."""
    catalog = gateway.catalog
    pairs = [
        (model, offering)
        for model in catalog.models
        for offering in model.offerings
        if include_disabled or ((p := catalog.providers.get(offering.provider)) is not None and p.enabled)
    ]
    keys = [o.key for _, o in pairs]
    stats = gateway.stats.snapshot(keys)
    breakers = gateway.breakers.snapshot(keys)
    empty, closed = LiveStats(), BreakerView("closed")
    return [_row(gateway, m, o, stats.get(o.key, empty), breakers.get(o.key, closed)) for m, o in pairs]


def board_summary(rows: list[dict[str, Any]], log: RequestLog | None) -> dict[str, Any]:
    """The tiles above the board."""
    recent = list(log) if log is not None else []
    return {
        "offerings": len(rows),
        "providers": len({r["provider"] for r in rows}),
        "in_flight": sum(r["in_flight"] for r in rows),
        "open_breakers": sum(1 for r in rows if r["breaker"] != "closed"),
        "requests": len(recent),
        "errors": sum(1 for e in recent if e.status == "error"),
    }


def _summary_tiles(summary: dict[str, Any]) -> Markup:
    return tiles(
        [
            ("offerings", "offerings", str(summary["offerings"])),
            ("providers", "providers", str(summary["providers"])),
            ("in_flight", "in flight", str(summary["in_flight"])),
            ("open_breakers", "breakers not closed", str(summary["open_breakers"])),
            ("requests", "recent requests", str(summary["requests"])),
            ("errors", "recent errors", str(summary["errors"])),
        ]
    )


def _html_row(row: dict[str, Any]) -> Markup:
    d = row["display"]
    live = concat(
        fmt(
            '<td class="{}" data-field="{}"{}>{}</td>',
            "state" if f == "breaker" else "num",
            f,
            fmt(' data-state="{}"', row["breaker"]) if f == "breaker" else Markup(""),
            d[f],
        )
        for f in LIVE_FIELDS
    )
    return fmt(
        '<tr data-key="{}"><td class="model">{}{}</td><td title="{}">{}</td><td><code>{}</code></td>'
        '<td class="num">{}</td><td class="num">{}</td>{}</tr>',
        row["key"],
        row["model"],
        fmt(' <span class="tag">{}</span>', row["tier"]) if row["tier"] != "standard" else Markup(""),
        row["provider_name"],
        row["provider"],
        row["provider_model_id"],
        d["input_price"],
        d["output_price"],
        live,
    )


@guarded("page")
async def board_page(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard``: the provider board."""
    include_disabled = request.query_param("all") == "1"
    rows = board_rows(ctx.gateway, include_disabled=include_disabled)
    everything = len(board_rows(ctx.gateway, include_disabled=True)) if not include_disabled else len(rows)
    hidden = Markup("")
    if everything > len(rows):
        hidden = fmt(
            '<p class="muted small">{} offerings of disabled providers (no API key) are hidden. '
            '<a href="{}?all=1">Show all</a></p>',
            everything - len(rows),
            PREFIX,
        )
    summary = board_summary(rows, ctx.extras.get("dashboard"))
    body = render(
        "board.html",
        prefix=PREFIX,
        poll=f"{PREFIX}/api/board" + ("?all=1" if include_disabled else ""),
        tiles=_summary_tiles(summary),
        rows=concat(_html_row(r) for r in rows),
        hidden=hidden,
    )
    return html_response(layout("Providers", "board", body, access))


@guarded("api")
async def board_api(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard/api/board``: the board's rows and tiles as JSON."""
    rows = board_rows(ctx.gateway, include_disabled=request.query_param("all") == "1")
    summary = board_summary(rows, ctx.extras.get("dashboard"))
    return json_page({"object": "board", "summary": summary, "offerings": rows})
