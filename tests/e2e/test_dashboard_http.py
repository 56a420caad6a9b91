"""The dashboard over plain HTTP: off without an admin key, refused without it, sessions, CSRF, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from interlock.dashboard._session import SESSION_COOKIE, issue_session
from tests.e2e.conftest import ADMIN_KEY
from tests.support.servers import GatewayServer

PAGES = ["/dashboard", "/dashboard/requests", "/dashboard/usage", "/dashboard/keys", "/dashboard/requests/req_x"]
APIS = ["/dashboard/api/board", "/dashboard/api/requests", "/dashboard/api/usage", "/dashboard/api/requests/req_x"]
POSTS = ["/dashboard/keys", "/dashboard/keys/key_x", "/dashboard/keys/key_x/revoke", "/dashboard/logout"]
BEARER = {"authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture()
def client(dash_gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dash_gateway.base_url, follow_redirects=False, timeout=30) as c:
        yield c


def login(client: httpx.Client, key: str = ADMIN_KEY, next_path: str = "/dashboard") -> httpx.Response:
    form = client.get("/dashboard/login", params={"next": next_path})
    assert form.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return client.post(
        "/dashboard/login", data={"csrf": token.group(1), "next": next_path, "admin_key": key, "username": "admin"}
    )


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None, "the page has no form token"
    return match.group(1)


# -- off without an admin key ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, *APIS, "/dashboard/login", "/dashboard/static/dashboard.css"])
def test_off_without_admin_key(plain_gateway: GatewayServer, path: str) -> None:
    r = httpx.get(plain_gateway.base_url + path, headers={"authorization": "Bearer anything"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "resource_not_found"


@pytest.mark.parametrize("path", [*POSTS, "/dashboard/login"])
def test_off_without_admin_key_posts(plain_gateway: GatewayServer, path: str) -> None:
    assert httpx.post(plain_gateway.base_url + path, data={"name": "x"}).status_code == 404


def test_no_recording_without_admin_key(plain_gateway: GatewayServer) -> None:
    ctx = plain_gateway.app.ctx
    assert ctx is not None and "dashboard" not in ctx.extras


# -- refused without the admin key -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_login(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/dashboard/login?next=")
    assert r.content == b""


@pytest.mark.parametrize("path", APIS)
def test_api_refuses_without_key(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("path", [*PAGES, *APIS])
def test_wrong_bearer_is_refused(client: httpx.Client, path: str, user_key: str) -> None:
    for token in ("wrong", ADMIN_KEY + "x", user_key):  # an inference key is never an admin key
        r = client.get(path, headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 401, (path, token)
        assert "<table" not in r.text


@pytest.mark.parametrize("path", POSTS)
def test_posts_refuse_without_key(client: httpx.Client, path: str) -> None:
    r = client.post(path, data={"name": "sneaky"})
    assert r.status_code == 401


def test_bearer_opens_every_page(client: httpx.Client) -> None:
    for path in PAGES[:-1] + APIS[:-1]:
        r = client.get(path, headers=BEARER)
        assert r.status_code == 200, path
    assert client.get("/dashboard/requests/req_missing", headers=BEARER).status_code == 404
    assert client.get("/dashboard/api/requests/req_missing", headers=BEARER).status_code == 404


def test_security_headers(client: httpx.Client) -> None:
    r = client.get("/dashboard", headers=BEARER)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"].startswith("text/html")


def test_static_assets_need_no_key_but_only_known_names(client: httpx.Client) -> None:
    css = client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = client.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200 and "textContent" in js.text
    assert client.get("/dashboard/static/..%2F_session.py").status_code == 404
    assert client.get("/dashboard/static/layout.html").status_code == 404


def test_pages_reference_nothing_external(client: httpx.Client) -> None:
    for path in PAGES[:-1]:
        html = client.get(path, headers=BEARER).text
        assert not re.search(r'(src|href)="(https?:)?//', html), path
        assert "<script>" not in html  # no inline script (the CSP would block it anyway)


# -- login sessions --------------------------------------------------------------------------------------------


def test_login_sets_a_strict_httponly_session(client: httpx.Client) -> None:
    r = login(client, next_path="/dashboard/keys")
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/keys"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=v1.")
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age=43200"):
        assert flag in cookie
    page = client.get("/dashboard/keys")
    assert page.status_code == 200 and "Create a key" in page.text
    assert client.get("/dashboard/api/board").status_code == 200


def test_wrong_admin_key_at_login(client: httpx.Client) -> None:
    r = login(client, key="not-the-key")
    assert r.status_code == 401
    assert not r.headers.get("set-cookie", "").startswith(f"{SESSION_COOKIE}=")
    assert client.get("/dashboard").status_code == 303


def test_login_needs_its_form_token(client: httpx.Client) -> None:
    client.get("/dashboard/login")
    r = client.post("/dashboard/login", data={"admin_key": ADMIN_KEY, "csrf": "forged"})
    assert r.status_code == 403
    fresh = httpx.post(client.base_url.join("/dashboard/login"), data={"admin_key": ADMIN_KEY})  # no cookie
    assert fresh.status_code == 403


def test_login_does_not_redirect_off_site(client: httpx.Client) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/elsewhere", "/dashboard\\@evil"):
        with httpx.Client(base_url=str(client.base_url), follow_redirects=False) as fresh:
            r = login(fresh, next_path=target)
            assert r.status_code == 303
            assert r.headers["location"] == "/dashboard", target


def test_tampered_and_expired_cookies_are_refused(client: httpx.Client) -> None:
    value, _ = issue_session(ADMIN_KEY)
    head, _, sig = value.rpartition(".")
    tampered = head.replace("v1.", "v1.9", 1) + "." + sig
    expired, _ = issue_session(ADMIN_KEY, ttl_s=60, now=1_000_000)
    other_key, _ = issue_session("some-other-admin-key")
    for bad in (tampered, expired, other_key, "garbage", ""):
        r = client.get("/dashboard", cookies={SESSION_COOKIE: bad})
        assert r.status_code == 303, bad
        assert client.get("/dashboard/api/board", cookies={SESSION_COOKIE: bad}).status_code == 401
    assert client.get("/dashboard", cookies={SESSION_COOKIE: value}).status_code == 200


def test_logout_clears_the_cookie(client: httpx.Client) -> None:
    login(client)
    token = csrf_of(client.get("/dashboard").text)
    r = client.post("/dashboard/logout", data={"csrf": token})
    assert r.status_code == 303
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert client.get("/dashboard").status_code == 303


# -- CSRF on forms ---------------------------------------------------------------------------------------------


def test_session_posts_need_the_csrf_token(client: httpx.Client) -> None:
    login(client)
    assert client.post("/dashboard/keys", data={"name": "no-token"}).status_code == 403
    assert client.post("/dashboard/keys", data={"name": "bad", "csrf": "x" * 43}).status_code == 403
    token = csrf_of(client.get("/dashboard/keys").text)
    cross = client.post(
        "/dashboard/keys", data={"name": "cross", "csrf": token}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    ok = client.post("/dashboard/keys", data={"name": "with-token", "csrf": token})
    assert ok.status_code == 200
    assert re.search(r'<code id="new-key">ak_live_\w+</code>', ok.text)


def test_bearer_posts_need_no_token(client: httpx.Client) -> None:
    r = client.post("/dashboard/keys", data={"name": "bearer-made"}, headers=BEARER)
    assert r.status_code == 200 and "ak_live_" in r.text


def test_invalid_form_values_are_reported(client: httpx.Client) -> None:
    for fields, message in (
        ({"name": "x", "rpm": "-3"}, "Requests / min must be a whole number"),
        ({"name": "x", "budget_usd": "lots"}, "Budget must be an amount"),
        ({"name": "  "}, "The key needs a name"),
    ):
        r = client.post("/dashboard/keys", data=fields, headers=BEARER)
        assert r.status_code == 400 and message in r.text


# -- user data is escaped --------------------------------------------------------------------------------------


def test_key_names_are_escaped(client: httpx.Client) -> None:
    evil = '<script>alert("k")</script><img src=x onerror=alert(1)>'
    created = client.post("/dashboard/keys", data={"name": evil, "budget_usd": "1"}, headers=BEARER)
    assert created.status_code == 200
    for html in (created.text, client.get("/dashboard/keys", headers=BEARER).text):
        assert evil not in html
        assert "&lt;script&gt;alert(&quot;k&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    usage = client.get("/dashboard/usage", headers=BEARER).text
    assert "<script>alert" not in usage
