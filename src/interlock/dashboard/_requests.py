"""The requests pages: the latest requests of this worker, and one request with its routing decision.

The list is server-rendered, then its script polls ``/dashboard/api/requests`` and rebuilds the rows (with DOM
text nodes, never HTML strings) when the log's version moves. The detail page shows the decision exactly as
``routing_metadata.decision`` has it: candidates with their scores and inputs, exclusions with their reasons,
and the attempts in order.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

from interlock.api.context import AppContext
from interlock.api.http import Request, Response
from interlock.dashboard._access import PREFIX, Access, guarded, html_response, json_page
from interlock.dashboard._html import (
    DASH,
    Markup,
    concat,
    escape,
    fmt,
    fmt_count,
    fmt_ms,
    fmt_percent,
    fmt_tps,
    fmt_usd,
    render,
)
from interlock.dashboard._layout import layout, tiles
from interlock.dashboard.recent import DEFAULT_CAPACITY, RecentRequest, RequestLog

__all__ = [
    "REQUEST_COLUMNS",
    "key_names",
    "request_api",
    "request_display",
    "request_page",
    "requests_api",
    "requests_page",
]

# (field, heading, css class): the list's columns, shared by the server render and the page's script.
REQUEST_COLUMNS: Final = (
    ("time", "Time (UTC)", ""),
    ("request_id", "Request", "id"),
    ("endpoint", "Endpoint", ""),
    ("key", "Key", ""),
    ("model", "Model", "model"),
    ("provider", "Provider", ""),
    ("strategy", "Strategy", ""),
    ("status", "Status", "state"),
    ("tokens", "Tokens in / out", "num"),
    ("cost", "Cost", "num"),
    ("ttft", "TTFT", "num"),
    ("latency", "Latency", "num"),
    ("attempts", "Attempts", "num"),
)
PAGE_LIMIT: Final = 100


def _log(ctx: AppContext) -> RequestLog:
    log: RequestLog | None = ctx.extras.get("dashboard")
    return log if log is not None else RequestLog(1)


async def key_names(ctx: AppContext) -> dict[str, str]:
    """Key id -> key name, for showing who sent what."""
    accounting = ctx.extras.get("accounting")
    if accounting is None:
        return {}
    return {k.id: k.name for k in await accounting.keys.list()}


def _tokens(entry: RecentRequest) -> str:
    if entry.input_tokens is None and entry.output_tokens is None:
        return DASH
    return f"{fmt_count(entry.input_tokens)} / {fmt_count(entry.output_tokens)}"


def _short_id(request_id: str) -> str:
    return request_id if len(request_id) <= 16 else request_id[:16] + "\u2026"


def request_display(entry: RecentRequest, names: dict[str, str]) -> dict[str, str]:
    """The list's cells as text (the same strings the server renders and the script writes)."""
    status = entry.status if entry.error_code is None else f"{entry.status}: {entry.error_code}"
    key = names.get(entry.key_id, entry.key_id) if entry.key_id is not None else DASH
    return {
        "time": time.strftime("%H:%M:%S", time.gmtime(entry.started_at)),
        "request_id": _short_id(entry.request_id),
        "endpoint": entry.endpoint,
        "key": key or DASH,
        "model": entry.model or entry.requested_model or DASH,
        "provider": entry.provider or DASH,
        "strategy": entry.strategy,
        "status": status,
        "tokens": _tokens(entry),
        "cost": fmt_usd(entry.cost_usd),
        "ttft": fmt_ms(entry.ttft_ms),
        "latency": fmt_ms(entry.latency_ms),
        "attempts": str(entry.attempts) if entry.status != "running" else DASH,
    }


def _row(entry: RecentRequest, names: dict[str, str]) -> Markup:
    d = request_display(entry, names)
    cells: list[Markup] = []
    for name, _, css in REQUEST_COLUMNS:
        if name == "request_id":
            inner = fmt(
                '<a href="{}/requests/{}" title="{}"><code>{}</code></a>',
                PREFIX,
                entry.request_id,
                entry.request_id,
                d[name],
            )
        else:
            inner = escape(d[name])
        state = fmt(' data-state="{}"', entry.status) if name == "status" else Markup("")
        cells.append(fmt('<td class="{}" data-field="{}"{}>{}</td>', css, name, state, inner))
    return fmt('<tr data-id="{}">{}</tr>', entry.request_id, concat(cells))


@guarded("page")
async def requests_page(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard/requests``: the latest requests."""
    log = _log(ctx)
    names = await key_names(ctx)
    entries = log.latest(PAGE_LIMIT)
    head = concat(fmt('<th class="{}" data-field="{}">{}</th>', c, name, label) for name, label, c in REQUEST_COLUMNS)
    body = render(
        "requests.html",
        prefix=PREFIX,
        capacity=log.capacity if log.capacity > 1 else DEFAULT_CAPACITY,
        limit=PAGE_LIMIT,
        version=log.version,
        head=head,
        rows=concat(_row(e, names) for e in entries),
        empty_hidden=Markup("hidden") if entries else Markup(""),
    )
    return html_response(layout("Requests", "requests", body, access))


def _limit(request: Request) -> int:
    text = request.query_param("limit") or str(PAGE_LIMIT)
    return max(1, min(DEFAULT_CAPACITY, int(text))) if text.isdigit() else PAGE_LIMIT


@guarded("api")
async def requests_api(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard/api/requests?limit=``: the latest requests, newest first, with display strings."""
    log = _log(ctx)
    names = await key_names(ctx)
    data = [{**e.to_dict(), "display": request_display(e, names)} for e in log.latest(_limit(request))]
    return json_page({"object": "list", "version": log.version, "capacity": log.capacity, "data": data})


def _not_found(request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"No request '{request_id}' in this worker's recent requests.",
            "type": "invalid_request_error",
            "code": "resource_not_found",
            "param": None,
        }
    }


@guarded("api")
async def request_api(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard/api/requests/{request_id}``: one request with its decision."""
    request_id = request.path_params["request_id"]
    entry = _log(ctx).get(request_id)
    if entry is None:
        return json_page(_not_found(request_id), 404)
    names = await key_names(ctx)
    return json_page({**entry.to_dict(decision=True), "display": request_display(entry, names)})


# -- the decision page -----------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _candidate_row(i: int, c: dict[str, Any], chosen: tuple[Any, Any]) -> Markup:
    norm = c.get("normalised") or {}
    badness = " / ".join(f"{norm.get(k, 0):.2f}" for k in ("cost", "ttft", "tps"))
    flags = [f for f in ("preferred", "explore") if c.get(f)]
    picked = (c.get("provider"), c.get("provider_model_id")) == chosen
    return fmt(
        '<tr{}><td class="num">{}</td><td>{}{}</td><td class="model">{}</td><td><code>{}</code></td>'
        '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td>'
        '<td class="num">{}</td><td class="num">{}</td><td class="state" data-state="{}">{}</td><td>{}</td></tr>',
        Markup(' class="chosen"') if picked else Markup(""),
        i + 1,
        c.get("provider"),
        fmt(' <span class="tag">{}</span>', ", ".join(flags)) if flags else Markup(""),
        c.get("model"),
        c.get("provider_model_id"),
        _num(c.get("score")),
        fmt_usd(c.get("expected_cost_usd")),
        fmt_ms(c.get("ttft_ms")),
        fmt_tps(c.get("tps")),
        f"{c.get('ttft_source', DASH)} / {c.get('tps_source', DASH)}",
        fmt_percent(c.get("failure_rate")),
        c.get("in_flight", 0),
        c.get("breaker", "closed"),
        c.get("breaker", "closed"),
        badness,
    )


def _excluded_row(x: dict[str, Any]) -> Markup:
    return fmt(
        '<tr><td>{}</td><td class="model">{}</td><td><code>{}</code></td><td><span class="tag warn">{}</span></td>'
        "<td><code>{}</code></td><td>{}</td></tr>",
        x.get("provider"),
        x.get("model"),
        x.get("provider_model_id"),
        x.get("excluded"),
        x.get("code"),
        x.get("detail") or DASH,
    )


def _attempt_row(i: int, a: dict[str, Any]) -> Markup:
    error = DASH
    if a.get("error_code"):
        error = f"{a['error_code']}: {a.get('error_message') or ''}".rstrip(": ")
    return fmt(
        '<tr><td class="num">{}</td><td>{}</td><td><code>{}</code></td><td class="state" data-state="{}">{}</td>'
        '<td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>',
        i + 1,
        a.get("provider"),
        a.get("provider_model_id"),
        a.get("outcome"),
        a.get("outcome"),
        fmt_ms(a.get("latency_ms")),
        fmt_ms(a.get("timeout_ms")),
        error,
    )


def _empty_row(columns: int, text: str) -> Markup:
    return fmt('<tr class="none"><td colspan="{}" class="muted">{}</td></tr>', columns, text)


def _facts(entry: RecentRequest, decision: dict[str, Any], key: str) -> Markup:
    estimate = decision.get("estimate") or {}
    weights = decision.get("weights") or {}
    facts: list[tuple[str, str]] = [
        ("Strategy", str(decision.get("strategy", entry.strategy))),
        ("Mode", str(decision.get("mode", DASH))),
        ("Weights", ", ".join(f"{k} {v:g}" for k, v in weights.items()) or DASH),
        ("Requested model", entry.requested_model or DASH),
        ("Key", key),
        ("Endpoint", f"{entry.endpoint}{' (stream)' if entry.stream else ''}"),
        ("Estimated tokens", f"{_num(estimate.get('input_tokens'))} in / {_num(estimate.get('output_tokens'))} out"),
        ("Max attempts", _num(decision.get("max_attempts"))),
        ("Timeout", fmt_ms(decision.get("timeout_ms")) if decision.get("timeout_ms") else "default"),
        ("Deadline", fmt_ms(decision.get("deadline_ms")) if decision.get("deadline_ms") else "none"),
        ("Explored", "yes" if decision.get("explored") else "no"),
        ("All circuits open", "yes" if decision.get("all_circuits_open") else "no"),
    ]
    return concat(fmt("<div><dt>{}</dt><dd>{}</dd></div>", k, v) for k, v in facts)


@guarded("page")
async def request_page(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard/requests/{request_id}``: one request and its routing decision."""
    request_id = request.path_params["request_id"]
    entry = _log(ctx).get(request_id)
    if entry is None:
        body = fmt(
            '<section class="heading"><p class="crumbs"><a href="{}/requests">Requests</a></p><h1>Not found</h1>'
            "<p>No request <code>{}</code> in this worker's recent requests. With several workers, each keeps its "
            "own; the oldest drop out after {} requests.</p></section>",
            PREFIX,
            request_id,
            _log(ctx).capacity,
        )
        return html_response(layout("Not found", "requests", body, access), 404)
    names = await key_names(ctx)
    d = request_display(entry, names)
    decision = entry.decision
    chosen = (entry.provider, entry.provider_model_id)
    candidates = decision.get("candidates") or []
    excluded = decision.get("excluded") or []
    attempts = decision.get("attempts") or []
    error = Markup("")
    if entry.error_code:
        error = fmt(
            '<section class="card error"><h2>Error</h2><p><code>{}</code> {}</p></section>',
            entry.error_code,
            entry.error_message or "",
        )
    warnings = Markup("")
    if entry.warnings:
        warnings = fmt(
            '<section class="card"><h2>Warnings</h2><ul class="warnings">{}</ul></section>',
            concat(fmt("<li><code>{}</code> {}</li>", w.get("code"), w.get("message")) for w in entry.warnings),
        )
    body = render(
        "request.html",
        prefix=PREFIX,
        request_id=request_id,
        title=entry.model or entry.requested_model or "request",
        status=entry.status,
        subtitle=(
            f"{d['time']} UTC \u00b7 {entry.endpoint} \u00b7 via {entry.provider or 'no provider'}"
            f"{' (' + entry.provider_model_id + ')' if entry.provider_model_id else ''}"
        ),
        tiles=tiles(
            [
                ("tokens", "tokens in / out", d["tokens"]),
                ("cost", "cost", d["cost"]),
                ("ttft", "time to first token", d["ttft"]),
                ("latency", "latency", d["latency"]),
                ("tps", "throughput", fmt_tps(entry.throughput_tps)),
                ("attempts", "attempts", d["attempts"]),
            ]
        ),
        error=error,
        facts=_facts(entry, decision, d["key"]),
        candidates=concat(_candidate_row(i, c, chosen) for i, c in enumerate(candidates))
        or _empty_row(13, "No candidate: nothing could serve the request."),
        excluded=concat(_excluded_row(x) for x in excluded) or _empty_row(6, "Nothing was excluded."),
        attempts=concat(_attempt_row(i, a) for i, a in enumerate(attempts))
        or _empty_row(7, "No attempt was made." if entry.status != "running" else "In progress..."),
        warnings=warnings,
        raw=json.dumps(decision, indent=2, sort_keys=True, default=str),
    )
    return html_response(layout(f"Request {request_id}", "requests", body, access))
