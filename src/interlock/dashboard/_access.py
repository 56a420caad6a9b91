"""Who may see the dashboard, and the responses it sends: admin-key checks, CSRF on forms, security headers.

The dashboard is off (every route 404, as if it did not exist) unless ``admin_key`` / ``INTERLOCK_ADMIN_KEY``
is set, like the admin API. A request is let in with ``Authorization: Bearer <admin key>`` (compared in
constant time, as ``api.admin`` does) or with a valid session cookie (``_session``). Refusals: a page asked for
without credentials redirects to the login form; the JSON API answers 401; a form post without credentials
answers 401 and one whose CSRF token or ``Origin`` is wrong answers 403. Bearer-authenticated posts need no
token: browsers never attach that header on their own, so it cannot be forged across sites.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qs, quote

from interlock.api.auth import bearer_token
from interlock.api.context import AppContext
from interlock.api.http import Request, Response, encode_json
from interlock.dashboard._html import Markup, render
from interlock.dashboard._session import (
    SESSION_COOKIE,
    Session,
    csrf_token,
    parse_cookies,
    same_origin,
    tokens_match,
    verify_session,
)
from interlock.ir.errors import GatewayError

__all__ = [
    "HTML_TYPE",
    "PREFIX",
    "Access",
    "Kind",
    "admin_key_of",
    "guarded",
    "html_response",
    "is_secure",
    "json_page",
    "redirect",
    "refusal",
]

PREFIX: Final = "/dashboard"
HTML_TYPE: Final = b"text/html; charset=utf-8"

# Everything is same-origin and committed with the package: no inline script, no third-party origin.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Kind = Literal["page", "api", "action"]
_ADMIN_KEY_REQUIRED: Final = "The admin key is required. Log in, or send 'Authorization: Bearer <admin key>'."


@dataclass(slots=True)
class Access:
    """An admitted request: how it got in, the token its forms must carry, and a parsed form body (posts)."""

    admin_key: str
    session: Session | None  # None: admitted by the Authorization header
    csrf: str
    form: dict[str, str] = field(default_factory=dict)


PageHandler = Callable[[AppContext, Request, Access], Awaitable[Response]]
Handler = Callable[[AppContext, Request], Awaitable[Response]]


def admin_key_of(ctx: AppContext, request: Request) -> str:
    """The configured admin key; raises 404 ``resource_not_found`` when the dashboard is off."""
    key: str | None = getattr(ctx.settings, "admin_key", None)
    if not key:
        raise GatewayError("resource_not_found", f"No route for {request.path}.")
    return key


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or through a proxy saying so)."""
    return request.scope.get("scheme") == "https" or request.headers.get("x-forwarded-proto") == "https"


def html_response(body: Markup, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, body.encode("utf-8"), {**SECURITY_HEADERS, **(headers or {})}, content_type=HTML_TYPE)


def json_page(obj: Any, status: int = 200) -> Response:
    return Response(status, encode_json(obj), dict(SECURITY_HEADERS))


def redirect(location: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(303, b"", {**SECURITY_HEADERS, "location": location, **(headers or {})}, content_type=HTML_TYPE)


def refusal(kind: Kind, status: int, message: str) -> Response:
    """A 401/403 in the form the caller understands (JSON for the API, a small page otherwise)."""
    if kind == "api":
        code = "invalid_api_key" if status == 401 else "forbidden"
        body = {"error": {"message": message, "type": "authentication_error", "code": code, "param": None}}
        return json_page(body, status)
    page = render("refused.html", title=f"{status}", message=message, prefix=PREFIX)
    return html_response(page, status)


def _admit(request: Request, admin_key: str) -> Access | None:
    token = bearer_token(request)
    if token is not None:
        if hmac.compare_digest(token.encode("utf-8"), admin_key.encode("utf-8")):
            return Access(admin_key, None, "")
        return None
    session = verify_session(admin_key, parse_cookies(request.headers.get("cookie")).get(SESSION_COOKIE))
    if session is None:
        return None
    return Access(admin_key, session, csrf_token(admin_key, session.nonce))


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (first value of each field)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def guarded(kind: Kind) -> Callable[[PageHandler], Handler]:
    """Wrap a dashboard handler: 404 when off, then the admin-key / session check, then CSRF for actions."""

    def wrap(handler: PageHandler) -> Handler:
        async def run(ctx: AppContext, request: Request) -> Response:
            admin_key = admin_key_of(ctx, request)
            access = _admit(request, admin_key)
            if access is None:
                if kind == "page" and bearer_token(request) is None:
                    target = request.path + (f"?{request.query}" if request.query else "")
                    return redirect(f"{PREFIX}/login?next={quote(target, safe='/')}")
                return refusal(kind, 401, _ADMIN_KEY_REQUIRED)
            if kind == "action":
                access.form = parse_form(await ctx.read_body(request))
                if access.session is not None:
                    scheme = "https" if is_secure(request) else "http"
                    if not same_origin(request.headers, scheme):
                        return refusal(kind, 403, "Cross-origin form posts are refused.")
                    if not tokens_match(access.csrf, access.form.get("csrf")):
                        return refusal(kind, 403, "The form's CSRF token is missing or stale. Reload the page.")
            response = await handler(ctx, request, access)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap
