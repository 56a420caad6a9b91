"""The spend and usage page: cost and tokens over time by model, provider or key, totals, and budget use."""

from __future__ import annotations

from typing import Any, Final

from interlock.api.context import AppContext
from interlock.api.http import Request, Response
from interlock.dashboard._access import PREFIX, Access, guarded, html_response, json_page
from interlock.dashboard._charts import PALETTE, Series, colour, legend, stacked_bars
from interlock.dashboard._html import Markup, concat, fmt, fmt_count, fmt_usd, render
from interlock.dashboard._layout import layout, tiles
from interlock.dashboard._requests import key_names
from interlock.dashboard._usage import DIMENSIONS, RANGES, BudgetUse, Dimension, UsageSeries, budget_uses, usage_series

__all__ = ["usage_api", "usage_page"]

TOP_SERIES: Final = len(PALETTE) - 1  # the rest is stacked as "other", in the last (grey) colour
_LABELS: Final[dict[str, str]] = {"model": "model", "provider": "provider", "key": "key"}
_NONE: Final[dict[str, str]] = {"model": "(no model)", "provider": "(no provider)", "key": "(no key)"}


def _choice(request: Request) -> tuple[Dimension, str]:
    by = request.query_param("by") or "model"
    window = request.query_param("range") or "24h"
    dimension: Dimension = "model"
    for known in DIMENSIONS:
        if by == known:
            dimension = known
    return dimension, window if window in RANGES else "24h"


def _label(group: str | None, by: str, names: dict[str, str]) -> str:
    if group is None:
        return _NONE[by]
    if by == "key":
        name = names.get(group)
        return f"{name} ({group})" if name else group
    return group


def _short(bucket: str, grain: str) -> str:
    if grain == "minute":
        return bucket[11:16]
    if grain == "hour":
        return f"{bucket[5:10]} {bucket[11:13]}h"
    return bucket[5:10]


def _series(usage: UsageSeries, metric: str, names: dict[str, str]) -> tuple[list[Series], list[float]]:
    """The top groups (by cost, the same order and colours in both charts) and "other" for the rest."""
    values = usage.cost if metric == "cost" else usage.tokens
    order = [g.group for g in usage.groups]
    top, rest = order[:TOP_SERIES], order[TOP_SERIES:]
    out = [
        Series(_label(g, usage.by, names), values[g], colour(i))
        for i, g in enumerate(top)
        if g in values and sum(values[g]) > 0
    ]
    other = [sum(values[g][i] for g in rest if g in values) for i in range(len(usage.buckets))]
    if sum(other) > 0:
        out.append(Series("other", other, PALETTE[-1]))
    return out, [sum(s.values) for s in out]


def _tabs(current: str, options: list[tuple[str, str]], param: str, other: str) -> Markup:
    return concat(
        fmt(
            '<a href="{}/usage?{}={}&amp;{}"{}>{}</a>',
            PREFIX,
            param,
            value,
            Markup(other),
            Markup(' aria-current="true"') if value == current else Markup(""),
            label,
        )
        for value, label in options
    )


def _budget_row(b: BudgetUse) -> Markup:
    pct = b.fraction * 100
    state = "over" if b.fraction >= 1 else "high" if b.fraction >= 0.8 else "ok"
    return fmt(
        '<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td>'
        '<td class="use"><meter min="0" max="1" low="0.8" high="0.95" optimum="0" value="{}"></meter> '
        '<span class="pct" data-state="{}">{}</span></td></tr>',
        "key" if b.scope == "api_key" else "workspace",
        b.name,
        b.period,
        fmt_usd(b.spend_usd),
        fmt_usd(b.limit_usd),
        f"{min(b.fraction, 1.0):.4f}",
        state,
        f"{pct:.1f} %",
    )


def budget_rows(budgets: list[BudgetUse]) -> Markup:
    if not budgets:
        return fmt('<tr class="none"><td colspan="6" class="muted">{}</td></tr>', "No budgets set.")
    return concat(_budget_row(b) for b in budgets)


@guarded("page")
async def usage_page(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard/usage?by=model|provider|key&range=1h|24h|7d|30d``."""
    by, window = _choice(request)
    accounting = ctx.extras.get("accounting")
    names = await key_names(ctx)
    usage = (
        await usage_series(accounting.engine, by, window)
        if accounting is not None
        else UsageSeries(by=by, grain="hour", buckets=[])
    )
    budgets = await budget_uses(accounting) if accounting is not None else []
    buckets = [_short(b, usage.grain) for b in usage.buckets]
    cost, cost_totals = _series(usage, "cost", names)
    tokens, token_totals = _series(usage, "tokens", names)
    total_cost = sum(g.cost_usd for g in usage.groups)
    total_tokens = sum(g.tokens for g in usage.groups)
    totals = concat(
        fmt(
            '<tr><td class="model">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td class="num">{}</td></tr>',
            _label(g.group, by, names),
            fmt_count(g.requests),
            fmt_count(g.errors),
            fmt_count(g.input_tokens),
            fmt_count(g.output_tokens),
            fmt_usd(g.cost_usd),
        )
        for g in usage.groups
    ) or fmt('<tr class="none"><td colspan="6" class="muted">{}</td></tr>', "No requests in this period.")
    label = _LABELS[by]
    body = render(
        "usage.html",
        grain=usage.grain,
        by_tabs=_tabs(by, [(d, _LABELS[d].capitalize()) for d in DIMENSIONS], "by", f"range={window}"),
        range_tabs=_tabs(window, [(r, r) for r in RANGES], "range", f"by={by}"),
        tiles=tiles(
            [
                ("cost", f"spent ({window})", fmt_usd(total_cost)),
                ("tokens", f"tokens ({window})", fmt_count(total_tokens)),
                ("requests", f"requests ({window})", fmt_count(sum(g.requests for g in usage.groups))),
                ("errors", f"errors ({window})", fmt_count(sum(g.errors for g in usage.groups))),
            ]
        ),
        by_label=label,
        by_label_cap=label.capitalize(),
        cost_chart=stacked_bars(buckets, cost, title=f"Cost by {label}", value_format=fmt_usd),
        cost_legend=legend(cost, [fmt_usd(v) for v in cost_totals]),
        tokens_chart=stacked_bars(buckets, tokens, title=f"Tokens by {label}", value_format=fmt_count),
        tokens_legend=legend(tokens, [fmt_count(v) for v in token_totals]),
        totals=totals,
        budgets=budget_rows(budgets),
    )
    return html_response(layout("Spend & usage", "usage", body, access))


@guarded("api")
async def usage_api(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard/api/usage?by=&range=``: the series behind the charts, and budget use."""
    by, window = _choice(request)
    accounting = ctx.extras.get("accounting")
    if accounting is None:
        return json_page({"object": "usage", "by": by, "range": window, "buckets": [], "groups": [], "budgets": []})
    usage = await usage_series(accounting.engine, by, window)
    names = await key_names(ctx)
    groups: list[dict[str, Any]] = [
        {
            "group": g.group,
            "label": _label(g.group, by, names),
            "requests": g.requests,
            "errors": g.errors,
            "input_tokens": g.input_tokens,
            "output_tokens": g.output_tokens,
            "cost_usd": round(g.cost_usd, 10),
            "cost_series": usage.cost.get(g.group, []),
            "token_series": usage.tokens.get(g.group, []),
        }
        for g in usage.groups
    ]
    budgets = [
        {
            "scope": b.scope,
            "scope_id": b.scope_id,
            "name": b.name,
            "period": b.period,
            "limit_usd": b.limit_usd,
            "spend_usd": round(b.spend_usd, 10),
            "fraction": round(b.fraction, 6),
        }
        for b in await budget_uses(accounting)
    ]
    return json_page(
        {
            "object": "usage",
            "by": by,
            "range": window,
            "grain": usage.grain,
            "buckets": usage.buckets,
            "groups": groups,
            "budgets": budgets,
        }
    )
