"""Logging in and out of the dashboard, and its static assets (the only routes open without the admin key)."""

from __future__ import annotations

import functools
import hmac
import importlib.resources
from typing import Final
from urllib.parse import urlsplit

from interlock.api.context import AppContext
from interlock.api.http import Request, Response
from interlock.dashboard._access import (
    PREFIX,
    SECURITY_HEADERS,
    Access,
    admin_key_of,
    guarded,
    html_response,
    is_secure,
    parse_form,
    redirect,
)
from interlock.dashboard._html import Markup, fmt, render
from interlock.dashboard._session import (
    LOGIN_COOKIE,
    LOGIN_TTL_S,
    SESSION_COOKIE,
    SESSION_TTL_S,
    LoginThrottle,
    clear_cookie,
    issue_session,
    login_token,
    new_nonce,
    parse_cookies,
    same_origin,
    session_cookie,
    tokens_match,
    verify_session,
)

__all__ = ["STATIC", "index", "login_form", "login_submit", "logout", "static_asset"]

# name -> content type: the only files served from static/ (no path ever reaches the file system).
STATIC: Final[dict[str, str]] = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}
_THROTTLE: Final = "dashboard_login_throttle"


def _next(value: str | None) -> str:
    """A safe place to go after logging in: a path inside the dashboard, never another site."""
    if not value or not value.startswith(PREFIX) or "\\" in value or value.startswith("//"):
        return PREFIX
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return PREFIX
    return value


def _throttle(ctx: AppContext) -> LoginThrottle:
    throttle = ctx.extras.get(_THROTTLE)
    if not isinstance(throttle, LoginThrottle):
        throttle = ctx.extras[_THROTTLE] = LoginThrottle()
    return throttle


def _form(admin_key: str, request: Request, next_path: str, error: str, status: int) -> Response:
    nonce = new_nonce()
    page = render(
        "login.html",
        prefix=PREFIX,
        csrf=login_token(admin_key, nonce),
        next=next_path,
        error=fmt('<p class="notice error" role="alert">{}</p>', error) if error else Markup(""),
    )
    cookie = session_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_TTL_S, path=f"{PREFIX}/login", secure=is_secure(request))
    return html_response(page, status, {"set-cookie": cookie})


async def login_form(ctx: AppContext, request: Request) -> Response:
    """``GET /dashboard/login``: the form (straight to the dashboard when the session is still valid)."""
    admin_key = admin_key_of(ctx, request)
    next_path = _next(request.query_param("next"))
    if verify_session(admin_key, parse_cookies(request.headers.get("cookie")).get(SESSION_COOKIE)) is not None:
        return redirect(next_path)
    return _form(admin_key, request, next_path, "", 200)


async def login_submit(ctx: AppContext, request: Request) -> Response:
    """``POST /dashboard/login``: check the admin key, set the session cookie, go where the user was going."""
    admin_key = admin_key_of(ctx, request)
    form = parse_form(await ctx.read_body(request))
    next_path = _next(form.get("next"))
    throttle = _throttle(ctx)
    wait = throttle.retry_after()
    if wait:
        response = _form(admin_key, request, next_path, f"Too many failed attempts. Try again in {wait} s.", 429)
        response.headers["retry-after"] = str(wait)
        return response
    nonce = parse_cookies(request.headers.get("cookie")).get(LOGIN_COOKIE)
    scheme = "https" if is_secure(request) else "http"
    if not same_origin(request.headers, scheme):
        return _form(admin_key, request, next_path, "Cross-origin login refused.", 403)
    if nonce is None or not tokens_match(login_token(admin_key, nonce), form.get("csrf")):
        return _form(admin_key, request, next_path, "The form expired (or cookies are off). Try again.", 403)
    given = form.get("admin_key", "")
    if not hmac.compare_digest(given.encode("utf-8"), admin_key.encode("utf-8")):
        throttle.failed()
        return _form(admin_key, request, next_path, "That is not the admin key.", 401)
    value, _ = issue_session(admin_key)
    # The pre-session cookie is left to expire: it only ever goes to /dashboard/login and grants nothing.
    cookie = session_cookie(SESSION_COOKIE, value, max_age=SESSION_TTL_S, path=PREFIX, secure=is_secure(request))
    return redirect(next_path, {"set-cookie": cookie})


@guarded("action")
async def logout(ctx: AppContext, request: Request, access: Access) -> Response:
    """``POST /dashboard/logout``: forget the session cookie."""
    cookie = clear_cookie(SESSION_COOKIE, path=PREFIX, secure=is_secure(request))
    return redirect(f"{PREFIX}/login", {"set-cookie": cookie})


async def index(ctx: AppContext, request: Request) -> Response:
    """``GET /dashboard/``: the board lives at ``/dashboard``."""
    admin_key_of(ctx, request)
    return redirect(PREFIX)


@functools.cache
def _asset(name: str) -> bytes:
    return importlib.resources.files("interlock.dashboard").joinpath("static", name).read_bytes()


async def static_asset(ctx: AppContext, request: Request) -> Response:
    """``GET /dashboard/static/{name}``: the page's stylesheet and script, shipped in the package."""
    admin_key_of(ctx, request)
    name = request.path_params["name"]
    content_type = STATIC.get(name)
    if content_type is None:
        return Response(404, b"", dict(SECURITY_HEADERS), content_type=b"text/plain; charset=utf-8")
    headers = {**SECURITY_HEADERS, "cache-control": "public, max-age=300"}
    return Response(200, _asset(name), headers, content_type=content_type.encode())
