"""The admin API (``/admin/v1/...``): keys, workspaces, workspace budgets and usage, behind a separate admin key.

Off unless ``admin_key`` (``INTERLOCK_ADMIN_KEY``) is set: every admin route then answers 404 as if it did not
exist. Requests authenticate with ``Authorization: Bearer <admin key>``, compared in constant time; API keys
are never admin keys. Changes take effect at once in this process (its key and budget caches are invalidated)
and within the cache lifetimes elsewhere (30 s for keys, 5 s for budgets).

Routes::

    GET   /admin/v1/keys[?workspace_id=]        POST  /admin/v1/keys      (the secret is in the answer, once)
    GET   /admin/v1/keys/{key_id}               PATCH /admin/v1/keys/{key_id}
    POST  /admin/v1/keys/{key_id}/revoke
    GET   /admin/v1/workspaces                  POST  /admin/v1/workspaces
    GET   /admin/v1/budgets[?workspace_id=]     POST  /admin/v1/budgets   (workspace budgets)
    GET   /admin/v1/budgets/{budget_id}         PATCH /admin/v1/budgets/{budget_id}
    GET   /admin/v1/usage?by=key|model|provider|day|workspace|endpoint&since=7d&until=&key_id=&workspace_id=

Key budgets are part of the key (``budget: {limit_usd, period}``); ``GET /admin/v1/budgets`` lists them too,
as ``scope_type: "api_key"`` with the id ``bdgt_key_<key id>``, which ``PATCH`` also accepts.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from interlock.accounting.cli_usage import parse_since
from interlock.accounting.service import Accounting
from interlock.api.auth import bearer_token
from interlock.api.context import AppContext
from interlock.api.http import Request, Response, json_response
from interlock.ir.errors import GatewayError
from interlock.store.budgets import BudgetExistsError, BudgetRecord
from interlock.store.errors import WorkspaceNotFoundError
from interlock.store.keys import KeyRecord
from interlock.store.ledger import GROUPINGS, usage_report
from interlock.store.models import DEFAULT_WORKSPACE_ID

__all__ = ["ADMIN_ROUTES"]

Period = Literal["daily", "weekly", "monthly"]
_KEY_BUDGET_PREFIX = "bdgt_key_"


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class KeyBudget(_Body):
    limit_usd: float
    period: Period = "monthly"


class KeyCreate(_Body):
    name: str
    workspace_id: str = DEFAULT_WORKSPACE_ID
    scopes: list[str] | None = None
    rate_limit_rpm: int | None = None
    rate_limit_tpm: int | None = None
    budget: KeyBudget | None = None
    expires_at: datetime | None = None


class KeyPatch(_Body):
    name: str | msgspec.UnsetType = msgspec.UNSET
    scopes: list[str] | msgspec.UnsetType = msgspec.UNSET
    rate_limit_rpm: int | msgspec.UnsetType | None = msgspec.UNSET
    rate_limit_tpm: int | msgspec.UnsetType | None = msgspec.UNSET
    budget: KeyBudget | msgspec.UnsetType | None = msgspec.UNSET
    expires_at: datetime | msgspec.UnsetType | None = msgspec.UNSET


class WorkspaceCreate(_Body):
    name: str
    id: str | None = None


class BudgetCreate(_Body):
    period: Period
    limit_usd: float
    workspace_id: str = DEFAULT_WORKSPACE_ID
    enforce: bool = True


class BudgetPatch(_Body):
    limit_usd: float | msgspec.UnsetType = msgspec.UNSET
    enforce: bool | msgspec.UnsetType = msgspec.UNSET


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        param = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else None
        code = "unknown_field" if "unknown field" in text else "invalid_parameter_value"
        raise GatewayError(code, text, param=param) from None
    except msgspec.DecodeError as exc:
        raise GatewayError("invalid_request", f"The body is not valid JSON: {exc}") from None


def _bad(exc: ValueError) -> GatewayError:
    return GatewayError("invalid_parameter_value", str(exc))


def _not_found(what: str, ident: str) -> GatewayError:
    return GatewayError("resource_not_found", f"No {what} with id '{ident}'.")


async def _admin(ctx: AppContext, request: Request) -> Accounting:
    configured = getattr(ctx.settings, "admin_key", None)
    accounting: Accounting | None = ctx.extras.get("accounting")
    if not configured or accounting is None:
        raise GatewayError("resource_not_found", f"No route for {request.path}.")
    token = bearer_token(request)
    if token is None or not hmac.compare_digest(token.encode("utf-8"), configured.encode("utf-8")):
        raise GatewayError("invalid_api_key", "Invalid admin key. Send 'Authorization: Bearer <admin key>'.")
    return accounting


def _key_json(acct: Accounting, record: KeyRecord) -> dict[str, Any]:
    limits = acct.limits(record)
    return {
        "id": record.id,
        "object": "api_key",
        "name": record.name,
        "key_prefix": record.key_prefix,
        "workspace_id": record.workspace_id,
        "scopes": list(record.scopes),
        "status": record.status,
        "is_active": record.status == "active",
        "rate_limit_rpm": record.rpm_limit,
        "rate_limit_tpm": record.tpm_limit,
        "limits": limits.to_dict(),
        "budget": (
            None if record.budget_usd is None else {"limit_usd": record.budget_usd, "period": record.budget_period}
        ),
        "created_at": _iso(record.created_at),
        "expires_at": _iso(record.expires_at),
        "revoked_at": _iso(record.revoked_at),
        "last_used_at": _iso(record.last_used_at),
    }


def _budget_json(
    *,
    budget_id: str,
    workspace_id: str,
    scope_type: str,
    scope_id: str,
    period: str,
    limit_usd: float,
    enforce: bool,
    spend: float,
    created_at: datetime | None,
    updated_at: datetime | None,
) -> dict[str, Any]:
    return {
        "id": budget_id,
        "object": "budget",
        "workspace_id": workspace_id,
        "scope_type": scope_type,
        "scope_id": scope_id,
        "period": period,
        "limit_usd": limit_usd,
        "enforce": enforce,
        "include_byok": False,
        "spend_usd": round(spend, 9),
        "percent_used": round(100 * spend / limit_usd, 2) if limit_usd > 0 else (100.0 if spend > 0 else 0.0),
        "created_at": _iso(created_at),
        "updated_at": _iso(updated_at),
    }


async def _workspace_budget_json(acct: Accounting, b: BudgetRecord) -> dict[str, Any]:
    spend = await acct.spend("workspace", b.workspace_id, b.period)
    return _budget_json(
        budget_id=b.id,
        workspace_id=b.workspace_id,
        scope_type="workspace",
        scope_id=b.workspace_id,
        period=b.period,
        limit_usd=b.limit_usd,
        enforce=b.enforce,
        spend=spend,
        created_at=b.created_at,
        updated_at=b.updated_at,
    )


async def _key_budget_json(acct: Accounting, k: KeyRecord) -> dict[str, Any]:
    assert k.budget_usd is not None
    spend = await acct.spend("api_key", k.id, k.budget_period)
    return _budget_json(
        budget_id=_KEY_BUDGET_PREFIX + k.id,
        workspace_id=k.workspace_id,
        scope_type="api_key",
        scope_id=k.id,
        period=k.budget_period,
        limit_usd=k.budget_usd,
        enforce=True,
        spend=spend,
        created_at=k.created_at,
        updated_at=None,
    )


# -- keys -----------------------------------------------------------------------------------------------------


async def list_keys(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    records = await acct.keys.list(workspace_id=request.query_param("workspace_id"))
    return json_response({"object": "list", "data": [_key_json(acct, r) for r in records]})


async def create_key(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    body: KeyCreate = _decode(await ctx.read_body(request), KeyCreate)
    try:
        raw, record = await acct.keys.create(
            body.name,
            rpm=body.rate_limit_rpm,
            tpm=body.rate_limit_tpm,
            budget_usd=body.budget.limit_usd if body.budget is not None else None,
            budget_period=body.budget.period if body.budget is not None else "monthly",
            expires_at=body.expires_at,
            workspace_id=body.workspace_id,
            scopes=body.scopes,
        )
    except WorkspaceNotFoundError as exc:
        raise GatewayError("invalid_parameter_value", str(exc), param="workspace_id") from None
    except ValueError as exc:
        raise _bad(exc) from None
    return json_response({**_key_json(acct, record), "api_key": raw}, status=201)


async def get_key(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    key_id = request.path_params["key_id"]
    record = await acct.keys.get(key_id)
    if record is None:
        raise _not_found("API key", key_id)
    return json_response(_key_json(acct, record))


async def update_key(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    key_id = request.path_params["key_id"]
    body: KeyPatch = _decode(await ctx.read_body(request), KeyPatch)
    changes: dict[str, Any] = {}
    for field, target in (("name", "name"), ("scopes", "scopes"), ("expires_at", "expires_at")):
        value = getattr(body, field)
        if value is not msgspec.UNSET:
            changes[target] = value
    if body.rate_limit_rpm is not msgspec.UNSET:
        changes["rpm"] = body.rate_limit_rpm
    if body.rate_limit_tpm is not msgspec.UNSET:
        changes["tpm"] = body.rate_limit_tpm
    if isinstance(body.budget, KeyBudget):
        changes.update(budget_usd=body.budget.limit_usd, budget_period=body.budget.period)
    elif body.budget is None:
        changes["budget_usd"] = None
    try:
        record = await acct.keys.update(key_id, **changes)
    except ValueError as exc:
        raise _bad(exc) from None
    if record is None:
        raise _not_found("API key", key_id)
    acct.invalidate_key(key_id)
    return json_response(_key_json(acct, record))


async def revoke_key(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    key_id = request.path_params["key_id"]
    if not await acct.keys.revoke(key_id):
        raise _not_found("API key", key_id)
    acct.invalidate_key(key_id)
    record = await acct.keys.get(key_id)
    assert record is not None
    return json_response(_key_json(acct, record))


# -- workspaces -----------------------------------------------------------------------------------------------


async def list_workspaces(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    workspaces = await acct.workspaces.list()
    data = [{"id": w.id, "object": "workspace", "name": w.name, "created_at": _iso(w.created_at)} for w in workspaces]
    return json_response({"object": "list", "data": data})


async def create_workspace(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    body: WorkspaceCreate = _decode(await ctx.read_body(request), WorkspaceCreate)
    try:
        w = await acct.workspaces.create(body.name, body.id)
    except ValueError as exc:
        raise _bad(exc) from None
    return json_response({"id": w.id, "object": "workspace", "name": w.name, "created_at": _iso(w.created_at)}, 201)


# -- budgets --------------------------------------------------------------------------------------------------


async def list_budgets(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    workspace_id = request.query_param("workspace_id")
    data = [await _workspace_budget_json(acct, b) for b in await acct.budgets.list(workspace_id=workspace_id)]
    for k in await acct.keys.list(workspace_id=workspace_id, include_revoked=False):
        if k.budget_usd is not None:
            data.append(await _key_budget_json(acct, k))
    return json_response({"object": "list", "data": data})


async def create_budget(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    body: BudgetCreate = _decode(await ctx.read_body(request), BudgetCreate)
    try:
        budget = await acct.budgets.create(body.workspace_id, body.period, body.limit_usd, enforce=body.enforce)
    except WorkspaceNotFoundError as exc:
        raise GatewayError("invalid_parameter_value", str(exc), param="workspace_id") from None
    except BudgetExistsError as exc:
        raise GatewayError("invalid_parameter_value", str(exc), param="period") from None
    except ValueError as exc:
        raise _bad(exc) from None
    acct.invalidate_workspace(budget.workspace_id)
    return json_response(await _workspace_budget_json(acct, budget), status=201)


async def get_budget(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    budget_id = request.path_params["budget_id"]
    if budget_id.startswith(_KEY_BUDGET_PREFIX):
        key = await acct.keys.get(budget_id.removeprefix(_KEY_BUDGET_PREFIX))
        if key is None or key.budget_usd is None:
            raise _not_found("budget", budget_id)
        return json_response(await _key_budget_json(acct, key))
    budget = await acct.budgets.get(budget_id)
    if budget is None:
        raise _not_found("budget", budget_id)
    return json_response(await _workspace_budget_json(acct, budget))


async def update_budget(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    budget_id = request.path_params["budget_id"]
    body: BudgetPatch = _decode(await ctx.read_body(request), BudgetPatch)
    try:
        if budget_id.startswith(_KEY_BUDGET_PREFIX):
            key_id = budget_id.removeprefix(_KEY_BUDGET_PREFIX)
            key = await acct.keys.get(key_id)
            if key is None or key.budget_usd is None:
                raise _not_found("budget", budget_id)
            if body.limit_usd is not msgspec.UNSET:
                key = await acct.keys.update(key_id, budget_usd=body.limit_usd)
                acct.invalidate_key(key_id)
            assert key is not None
            return json_response(await _key_budget_json(acct, key))
        budget = await acct.budgets.update(budget_id, limit_usd=body.limit_usd, enforce=body.enforce)
    except ValueError as exc:
        raise _bad(exc) from None
    if budget is None:
        raise _not_found("budget", budget_id)
    acct.invalidate_workspace(budget.workspace_id)
    return json_response(await _workspace_budget_json(acct, budget))


# -- usage ----------------------------------------------------------------------------------------------------


async def get_usage(ctx: AppContext, request: Request) -> Response:
    acct = await _admin(ctx, request)
    by = request.query_param("by") or "key"
    if by not in GROUPINGS:
        raise GatewayError("invalid_parameter_value", f"'by' must be one of {', '.join(GROUPINGS)}.", param="by")
    try:
        since = parse_since(request.query_param("since") or "30d")
        until_text = request.query_param("until")
        until = parse_since(until_text) if until_text else None
    except ValueError as exc:
        raise GatewayError("invalid_parameter_value", str(exc), param="since") from None
    groups = await usage_report(
        acct.engine,
        by,  # type: ignore[arg-type]
        since=since,
        until=until,
        key_id=request.query_param("key_id"),
        workspace_id=request.query_param("workspace_id"),
    )
    return json_response(
        {
            "object": "list",
            "by": by,
            "since": _iso(since),
            "until": _iso(until),
            "data": [msgspec.to_builtins(g) for g in groups],
        }
    )


ADMIN_ROUTES: list[tuple[str, dict[str, Any]]] = [
    ("/admin/v1/keys", {"GET": list_keys, "POST": create_key}),
    ("/admin/v1/keys/{key_id}", {"GET": get_key, "PATCH": update_key}),
    ("/admin/v1/keys/{key_id}/revoke", {"POST": revoke_key}),
    ("/admin/v1/workspaces", {"GET": list_workspaces, "POST": create_workspace}),
    ("/admin/v1/budgets", {"GET": list_budgets, "POST": create_budget}),
    ("/admin/v1/budgets/{budget_id}", {"GET": get_budget, "PATCH": update_budget}),
    ("/admin/v1/usage", {"GET": get_usage}),
]
