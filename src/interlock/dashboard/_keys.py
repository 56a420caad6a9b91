"""The keys page: list, create (the secret is shown once), revoke, and set limits and budgets.

Changes go through the same stores as the admin API (``Accounting.keys``) and invalidate this process's key
cache, so a revoked key stops working here at once (other workers within the key cache lifetime, 30 s).
Forms post back here with the session's CSRF token; after an update or a revocation the browser is redirected
(post/redirect/get), while a creation answers with the page itself, since the new secret must not be put in a URL.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from interlock.accounting import Accounting
from interlock.api.context import AppContext
from interlock.api.http import Request, Response
from interlock.dashboard._access import PREFIX, Access, guarded, html_response, redirect
from interlock.dashboard._html import DASH, Markup, concat, fmt, fmt_usd, render
from interlock.dashboard._layout import layout
from interlock.store import KeyRecord, WorkspaceNotFoundError

__all__ = ["create_key", "keys_page", "revoke_key", "update_key"]

PERIODS: Final = ("daily", "weekly", "monthly")


class FormError(ValueError):
    """A form field the user got wrong (shown on the page)."""


def _accounting(ctx: AppContext) -> Accounting:
    accounting: Accounting | None = ctx.extras.get("accounting")
    if accounting is None:
        raise FormError("Key management needs the database; the gateway started without it.")
    return accounting


def _positive_int(form: dict[str, str], name: str, label: str) -> int | None:
    text = form.get(name, "").strip().replace(",", "").replace("_", "")
    if not text:
        return None
    if not text.isdigit() or int(text) <= 0:
        raise FormError(f"{label} must be a whole number above 0, or empty for no limit.")
    return int(text)


def _budget(form: dict[str, str]) -> float | None:
    text = form.get("budget_usd", "").strip().lstrip("$").replace(",", "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FormError("Budget must be an amount in USD, or empty for none.") from None
    if not math.isfinite(value) or value < 0:
        raise FormError("Budget must be 0 or more.")
    return value


def _period(form: dict[str, str]) -> str:
    period = form.get("budget_period", "monthly") or "monthly"
    if period not in PERIODS:
        raise FormError(f"Period must be one of {', '.join(PERIODS)}.")
    return period


def _period_select(current: str, name: str = "budget_period") -> Markup:
    options = concat(
        fmt('<option value="{}"{}>{}</option>', p, Markup(" selected") if p == current else Markup(""), p)
        for p in PERIODS
    )
    return fmt('<select name="{}">{}</select>', name, options)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else DASH


async def _spend(accounting: Accounting, record: KeyRecord) -> float | None:
    if record.budget_usd is None:
        return None
    return await accounting.spend("api_key", record.id, record.budget_period)


def _budget_cell(record: KeyRecord, spend: float | None) -> Markup:
    if record.budget_usd is None:
        return Markup(DASH)
    fraction = (spend or 0.0) / record.budget_usd if record.budget_usd > 0 else (1.0 if spend else 0.0)
    return fmt(
        '<div class="budget">{} / {} {}</div><meter min="0" max="1" low="0.8" high="0.95" optimum="0" value="{}" '
        'title="{}"></meter>',
        fmt_usd(spend or 0.0),
        fmt_usd(record.budget_usd),
        record.budget_period,
        f"{min(fraction, 1.0):.4f}",
        f"{fraction * 100:.1f} % used",
    )


def _value(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _actions(record: KeyRecord, csrf: str) -> Markup:
    if record.status == "revoked":
        return Markup(DASH)
    edit = fmt(
        '<details class="edit"><summary>Limits</summary>'
        '<form method="post" action="{prefix}/keys/{id}" class="stack">'
        '<input type="hidden" name="csrf" value="{csrf}">'
        '<label>Name <input name="name" value="{name}" maxlength="255" required></label>'
        '<label>Requests / min <input name="rpm" value="{rpm}" inputmode="numeric" placeholder="no limit"></label>'
        '<label>Tokens / min <input name="tpm" value="{tpm}" inputmode="numeric" placeholder="no limit"></label>'
        '<label>Budget USD <input name="budget_usd" value="{budget}" inputmode="decimal" placeholder="none"></label>'
        "<label>Period {period}</label>"
        '<button type="submit">Save</button></form></details>',
        prefix=PREFIX,
        id=record.id,
        csrf=csrf,
        name=record.name,
        rpm=_value(record.rpm_limit),
        tpm=_value(record.tpm_limit),
        budget=_value(record.budget_usd),
        period=_period_select(record.budget_period),
    )
    revoke = fmt(
        '<form method="post" action="{}/keys/{}/revoke" data-confirm="{}">'
        '<input type="hidden" name="csrf" value="{}"><button type="submit" class="danger">Revoke</button></form>',
        PREFIX,
        record.id,
        f"Revoke the key '{record.name}'? Requests using it will be refused.",
        csrf,
    )
    return fmt('<div class="actions">{}{}</div>', edit, revoke)


def _row(record: KeyRecord, spend: float | None, csrf: str) -> Markup:
    return fmt(
        '<tr data-key-id="{}" data-status="{}"><td class="name">{}</td><td><code>{}</code></td><td><code>{}</code></td>'
        '<td class="state" data-state="{}">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td>'
        "<td>{}</td><td>{}</td><td>{}</td></tr>",
        record.id,
        record.status,
        record.name,
        record.id,
        record.key_prefix + "\u2026",
        record.status,
        record.status,
        _value(record.rpm_limit) or DASH,
        _value(record.tpm_limit) or DASH,
        _budget_cell(record, spend),
        _when(record.created_at),
        _when(record.last_used_at),
        _actions(record, csrf),
    )


async def _page(ctx: AppContext, access: Access, notice: Markup = Markup(""), status: int = 200) -> Response:
    rows = Markup("")
    records: list[KeyRecord] = []
    accounting: Accounting | None = ctx.extras.get("accounting")
    if accounting is not None:
        records = await accounting.keys.list()
        active = [r for r in records if r.status != "revoked"] + [r for r in records if r.status == "revoked"]
        rows = concat([_row(r, await _spend(accounting, r), access.csrf) for r in active])
    body = render(
        "keys.html",
        prefix=PREFIX,
        csrf=access.csrf,
        notice=notice,
        period_select=_period_select("monthly"),
        rows=rows,
        empty_hidden=Markup("hidden") if records else Markup(""),
    )
    return html_response(layout("Keys", "keys", body, access), status)


def _notice(kind: str, message: Markup) -> Markup:
    return fmt('<section class="card notice {}" role="status">{}</section>', kind, message)


@guarded("page")
async def keys_page(ctx: AppContext, request: Request, access: Access) -> Response:
    """``GET /dashboard/keys``."""
    notice = Markup("")
    for param, verb in (("updated", "Saved the limits of"), ("revoked", "Revoked")):
        key_id = request.query_param(param)
        if key_id:
            notice = _notice("success", fmt("<p>{} key <code>{}</code>.</p>", verb, key_id))
    return await _page(ctx, access, notice)


@guarded("action")
async def create_key(ctx: AppContext, request: Request, access: Access) -> Response:
    """``POST /dashboard/keys``: create a key and show its secret, once."""
    form = access.form
    try:
        accounting = _accounting(ctx)
        name = form.get("name", "").strip()
        if not name:
            raise FormError("The key needs a name.")
        raw, record = await accounting.keys.create(
            name,
            rpm=_positive_int(form, "rpm", "Requests / min"),
            tpm=_positive_int(form, "tpm", "Tokens / min"),
            budget_usd=_budget(form),
            budget_period=_period(form),  # type: ignore[arg-type]
        )
    except (FormError, WorkspaceNotFoundError, ValueError) as exc:
        return await _page(ctx, access, _notice("error", fmt("<p>{}</p>", str(exc))), 400)
    shown = fmt(
        "<h2>Created the key {}</h2><p>Copy it now: it is not stored and will not be shown again.</p>"
        '<div class="secret"><code id="new-key">{}</code>'
        '<button type="button" data-copy="new-key">Copy</button></div>',
        record.name,
        raw,
    )
    return await _page(ctx, access, _notice("success", shown))


@guarded("action")
async def update_key(ctx: AppContext, request: Request, access: Access) -> Response:
    """``POST /dashboard/keys/{key_id}``: set the name, rate limits and budget of a key."""
    key_id = request.path_params["key_id"]
    form = access.form
    try:
        accounting = _accounting(ctx)
        changes: dict[str, Any] = {
            "rpm": _positive_int(form, "rpm", "Requests / min"),
            "tpm": _positive_int(form, "tpm", "Tokens / min"),
            "budget_usd": _budget(form),
            "budget_period": _period(form),
        }
        name = form.get("name", "").strip()
        if name:
            changes["name"] = name
        record = await accounting.keys.update(key_id, **changes)
    except (FormError, ValueError) as exc:
        return await _page(ctx, access, _notice("error", fmt("<p>{}</p>", str(exc))), 400)
    if record is None:
        return await _page(ctx, access, _notice("error", fmt("<p>No key <code>{}</code>.</p>", key_id)), 404)
    accounting.invalidate_key(key_id)
    return redirect(f"{PREFIX}/keys?updated={quote(key_id, safe='')}")


@guarded("action")
async def revoke_key(ctx: AppContext, request: Request, access: Access) -> Response:
    """``POST /dashboard/keys/{key_id}/revoke``."""
    key_id = request.path_params["key_id"]
    try:
        accounting = _accounting(ctx)
    except FormError as exc:
        return await _page(ctx, access, _notice("error", fmt("<p>{}</p>", str(exc))), 400)
    if not await accounting.keys.revoke(key_id):
        return await _page(ctx, access, _notice("error", fmt("<p>No key <code>{}</code>.</p>", key_id)), 404)
    accounting.invalidate_key(key_id)
    return redirect(f"{PREFIX}/keys?revoked={quote(key_id, safe='')}")
