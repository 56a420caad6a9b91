"""The dashboard's routes, and ``install``, which starts recording recent requests when the dashboard is on."""

from __future__ import annotations

from interlock.api.app import Handler, Route, route
from interlock.api.context import AppContext
from interlock.dashboard._board import board_api, board_page
from interlock.dashboard._keys import create_key, keys_page, revoke_key, update_key
from interlock.dashboard._login import index, login_form, login_submit, logout, static_asset
from interlock.dashboard._requests import request_api, request_page, requests_api, requests_page
from interlock.dashboard._spend import usage_api, usage_page
from interlock.dashboard.recent import DEFAULT_CAPACITY, RecentObserver, RequestLog
from interlock.engine import Observers

__all__ = ["dashboard_routes", "install"]


def dashboard_routes() -> list[Route]:
    """Every ``/dashboard`` route, not observed (the pages' polling would otherwise fill the request metrics
    and logs). ``create_app`` adds them only when an admin key is configured; each handler checks it again."""
    table: list[tuple[str, dict[str, Handler]]] = [
        ("/dashboard", {"GET": board_page}),
        ("/dashboard/", {"GET": index}),
        ("/dashboard/login", {"GET": login_form, "POST": login_submit}),
        ("/dashboard/logout", {"POST": logout}),
        ("/dashboard/requests", {"GET": requests_page}),
        ("/dashboard/requests/{request_id}", {"GET": request_page}),
        ("/dashboard/usage", {"GET": usage_page}),
        ("/dashboard/keys", {"GET": keys_page, "POST": create_key}),
        ("/dashboard/keys/{key_id}", {"POST": update_key}),
        ("/dashboard/keys/{key_id}/revoke", {"POST": revoke_key}),
        ("/dashboard/api/board", {"GET": board_api}),
        ("/dashboard/api/requests", {"GET": requests_api}),
        ("/dashboard/api/requests/{request_id}", {"GET": request_api}),
        ("/dashboard/api/usage", {"GET": usage_api}),
        ("/dashboard/static/{name}", {"GET": static_asset}),
    ]
    return [route(path, methods, observed=False) for path, methods in table]


def install(ctx: AppContext, capacity: int = DEFAULT_CAPACITY) -> RequestLog | None:
    """When an admin key is configured: a request log in ``ctx.extras["dashboard"]``, fed by a gateway observer.

    Call once at startup, after the gateway's other observers are in place. Returns the log (``None`` when the
    dashboard is off, in which case nothing is recorded and the hot path is untouched).
    """
    if not getattr(ctx.settings, "admin_key", None):
        return None
    log = RequestLog(capacity)
    ctx.extras["dashboard"] = log
    gateway = ctx.gateway
    gateway.observer = Observers(gateway.observer, RecentObserver(log, gateway))
    return log
