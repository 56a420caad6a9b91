"""The dashboard's pieces without a server: sessions and tokens, escaping, charts, the request log, buckets."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import interlock.dashboard as dashboard
from interlock.dashboard._charts import Series, legend, nice_ceiling, stacked_bars
from interlock.dashboard._html import Markup, escape, fmt, fmt_ms, fmt_percent, fmt_tps, fmt_usd, render
from interlock.dashboard._session import (
    LoginThrottle,
    csrf_token,
    issue_session,
    login_token,
    parse_cookies,
    same_origin,
    session_cookie,
    tokens_match,
    verify_session,
)
from interlock.dashboard._usage import bucket_keys
from interlock.dashboard.recent import RecentRequest, RequestLog
from tests.e2e.conftest import browser_unavailable, find_chromium

KEY = "admin-key-for-units"


def test_public_names() -> None:
    modules = ("annotations", "recent", "routes")
    public = sorted(n for n in vars(dashboard) if not n.startswith("_") and n not in modules)
    assert dashboard.__all__ == sorted(dashboard.__all__)
    assert sorted(dashboard.__all__) == public


# -- sessions ------------------------------------------------------------------------------------------------------


def test_session_round_trip_and_expiry() -> None:
    value, session = issue_session(KEY, ttl_s=100, now=1_000)
    assert verify_session(KEY, value, now=1_050) == session
    assert verify_session(KEY, value, now=1_100) is None  # expired at exactly its expiry
    assert verify_session("another key", value, now=1_050) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # signature
        lambda v: v.replace(".", ".9", 1),  # expiry pushed out
        lambda v: "v2" + v[2:],
        lambda v: v + ".extra",
        lambda v: v.rsplit(".", 1)[0],
        lambda v: "",
        lambda v: "v1.x.y.z",
    ],
)
def test_forged_sessions_are_refused(mangle: object) -> None:
    value, _ = issue_session(KEY)
    assert callable(mangle)
    assert verify_session(KEY, mangle(value)) is None


def test_tokens_are_bound_to_their_nonce_and_purpose() -> None:
    assert tokens_match(csrf_token(KEY, "n1"), csrf_token(KEY, "n1"))
    assert not tokens_match(csrf_token(KEY, "n1"), csrf_token(KEY, "n2"))
    assert not tokens_match(csrf_token(KEY, "n1"), login_token(KEY, "n1"))
    assert not tokens_match(csrf_token(KEY, "n1"), None)
    assert not tokens_match(csrf_token(KEY, "n1"), "é")


def test_cookie_flags_and_parsing() -> None:
    cookie = session_cookie("s", "v1.1.n.sig", max_age=60, path="/dashboard", secure=True)
    assert cookie == "s=v1.1.n.sig; Path=/dashboard; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
    assert "Secure" not in session_cookie("s", "v", max_age=1, path="/", secure=False)
    assert parse_cookies('a=1; s="two"; a=3; broken; =x') == {"a": "1", "s": "two"}


def test_same_origin() -> None:
    assert same_origin({"host": "gw:8080"}, "http")
    assert same_origin({"host": "gw:8080", "origin": "http://gw:8080"}, "http")
    assert not same_origin({"host": "gw:8080", "origin": "https://evil.example"}, "http")
    assert not same_origin({"host": "gw:8080", "origin": "null"}, "http")


def test_login_throttle() -> None:
    now = [0.0]
    throttle = LoginThrottle(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after() == 0
        throttle.failed()
    assert throttle.retry_after() == 60
    now[0] = 59.5
    assert throttle.retry_after() == 1
    now[0] = 60.0
    assert throttle.retry_after() == 0


# -- escaping ------------------------------------------------------------------------------------------------------


def test_escape_everything_but_markup() -> None:
    evil = "<script>alert('x')</script>&\""
    assert escape(evil) == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;"
    assert escape(Markup("<b>")) == "<b>"
    assert escape(None) == ""
    assert fmt('<a title="{}">{}</a>', evil, Markup("<i>ok</i>")).count("<script>") == 0
    page = render("refused.html", title=evil, message=evil, prefix="/dashboard")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_number_formats() -> None:
    assert fmt_ms(None) == "\u2014" and fmt_ms(412.4) == "412 ms" and fmt_ms(1534) == "1.53 s"
    assert fmt_tps(95.24) == "95.2 tok/s" and fmt_tps(300.4, unit=False) == "300"
    assert fmt_percent(0) == "0 %" and fmt_percent(0.125) == "12.5 %" and fmt_percent(0.0001) == "<0.1 %"
    assert fmt_usd(0) == "$0" and fmt_usd(7.96e-05) == "$0.0000796" and fmt_usd(0.0123) == "$0.0123"
    assert fmt_usd(1234.5) == "$1,234.50" and fmt_usd(None) == "\u2014" and fmt_usd(float("nan")) == "\u2014"


# -- charts --------------------------------------------------------------------------------------------------------


def test_nice_ceiling() -> None:
    assert nice_ceiling(0.000224) == pytest.approx(0.0004)
    assert nice_ceiling(722) == pytest.approx(800)
    assert nice_ceiling(0.000899) == pytest.approx(0.001)
    assert nice_ceiling(0) == 4


def test_chart_escapes_labels_and_stacks() -> None:
    series = [Series("<b>m1</b>", [1.0, 0.0, 2.0]), Series("m2", [1.0, 1.0, 0.0])]
    svg = stacked_bars(["a", "b", "<c>"], series, title="Cost <by> model", value_format=lambda v: f"{v:g}")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<b>" not in svg and "&lt;b&gt;m1&lt;/b&gt;" in svg and "&lt;c&gt;" in svg
    assert len(re.findall(r"<rect ", svg)) == 4  # zero values draw nothing
    assert "style=" not in svg  # presentation attributes only: the CSP allows no inline style
    empty = stacked_bars([], [], title="t", value_format=str)
    assert "No usage in this period yet" in empty
    assert "&lt;b&gt;" in legend(series, ["2", "2"])


# -- the request log -----------------------------------------------------------------------------------------------


def entry(log: RequestLog, request_id: str) -> RecentRequest:
    return RecentRequest(
        seq=log.next_seq(),
        request_id=request_id,
        started_at=0.0,
        endpoint="responses",
        key_id=None,
        requested_model="m",
        stream=False,
        strategy="balanced",
    )


def test_request_log_is_a_ring() -> None:
    log = RequestLog(capacity=3)
    for i in range(5):
        log.add(entry(log, f"req_{i}"))
    assert len(log) == 3
    assert [e.request_id for e in log.latest(10)] == ["req_4", "req_3", "req_2"]
    assert log.get("req_1") is None and log.get("req_4") is not None
    assert [e.request_id for e in log.latest(2)] == ["req_4", "req_3"]
    before = log.version
    log.changed()
    assert log.version == before + 1
    data = log.latest(1)[0].to_dict()
    assert "decision" not in data and data["request_id"] == "req_4"
    assert log.latest(1)[0].to_dict(decision=True)["decision"] == {}


def test_buckets() -> None:
    since = datetime(2026, 1, 1, 22, 58, 30, tzinfo=UTC)
    until = datetime(2026, 1, 1, 23, 1, 5, tzinfo=UTC)
    assert bucket_keys(since, until, "minute") == [
        "2026-01-01 22:58",
        "2026-01-01 22:59",
        "2026-01-01 23:00",
        "2026-01-01 23:01",
    ]
    assert bucket_keys(since, until, "hour") == ["2026-01-01 22", "2026-01-01 23"]
    assert bucket_keys(since, datetime(2026, 1, 3, tzinfo=UTC), "day") == ["2026-01-01", "2026-01-02", "2026-01-03"]


# -- the browser requirement ---------------------------------------------------------------------------------------


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"headless Chromium is unavailable.*CI is set"):
        browser_unavailable("not installed")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        browser_unavailable("not installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        browser_unavailable("not installed")
    monkeypatch.setenv("INTERLOCK_CHROMIUM", "/nonexistent/chromium")
    assert find_chromium() is None
