"""The dashboard in headless Chromium against the real gateway and its embedded simulator.

Each page is saved as a screenshot under ``test-artifacts/dashboard/`` (login, board, requests, request,
usage, keys).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, browser_unavailable, in_ci
from tests.support.servers import GatewayServer

try:
    from playwright.sync_api import Dialog, Page, expect
except ImportError as exc:
    if not in_ci():
        browser_unavailable(f"playwright is not installed ({exc})", module_level=True)
    # Under CI each test below fails in the browser fixture with the reason (a collection error would stop the
    # whole run instead).

EXPLAIN = {"x-interlock-explain": "1"}
# A model the embedded catalog offers on several providers, so its decision has real choices in it.
MULTI = "gpt-4o-mini"


# Structured output: the embedded catalog's cheap host lacks json_schema, so the decision excludes it.
JSON_SCHEMA = {
    "format": {
        "type": "json_schema",
        "name": "greeting",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"hello": {"type": "string"}},
            "required": ["hello"],
            "additionalProperties": False,
        },
    }
}


def send(
    gateway: GatewayServer, key: str, model: str = MULTI, *, stream: bool = False, **extra: object
) -> httpx.Response:
    body = {"model": model, "input": "Say hello to the dashboard.", "stream": stream, **extra}
    headers = {"authorization": f"Bearer {key}", **EXPLAIN}
    return httpx.post(gateway.base_url + "/v1/responses", json=body, headers=headers, timeout=60)


def log_in(page: Page, gateway: GatewayServer, artifacts: Path | None = None, target: str = "/dashboard") -> None:
    page.goto(gateway.base_url + target)
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
    if artifacts is not None:
        page.screenshot(path=str(artifacts / "login.png"))
    page.fill("input[name=admin_key]", ADMIN_KEY)
    page.click("button[type=submit]")
    expect(page).to_have_url(gateway.base_url + target)


def test_login_then_board_shows_every_offering_and_moves_live(
    page: Page, dash_gateway: GatewayServer, user_key: str, artifacts: Path
) -> None:
    page.goto(dash_gateway.base_url + "/dashboard/login")
    page.fill("input[name=admin_key]", "wrong key")
    page.click("button[type=submit]")
    expect(page.locator(".notice.error")).to_contain_text("not the admin key")

    log_in(page, dash_gateway, artifacts)
    configured = [(m.id, o) for m in dash_gateway.settings.models for o in m.offerings]
    assert len(configured) >= 10
    rows = page.locator("table#board tbody tr")
    expect(rows).to_have_count(len(configured))
    for model_id, offering in configured:
        row = page.locator(f'table#board tr[data-key="{offering.key}"]')
        expect(row).to_contain_text(model_id)
        expect(row).to_contain_text(offering.provider)
        expect(row).to_contain_text(offering.provider_model_id)
        expect(row.locator('td[data-field="breaker"]')).to_have_text(re.compile("closed"))
    expect(page.locator("#live")).to_have_attribute("data-state", "on")

    # Traffic moves the board without a reload: the offering that served a streamed request gets live numbers.
    served = send(dash_gateway, user_key, stream=True)
    assert served.status_code == 200
    completed = [json.loads(line[6:]) for line in served.text.splitlines() if line.startswith("data: {")]
    meta = next(e for e in completed if e.get("type") == "response.completed")["response"]["routing_metadata"]
    chosen = next(
        o.key
        for _, o in configured
        if o.provider == meta["provider"] and o.provider_model_id == meta["provider_model_id"]
    )
    cell = page.locator(f'table#board tr[data-key="{chosen}"] td[data-field="ttft_p50"]')
    expect(cell).to_have_text(re.compile(r"\d+ ms|\d+\.\d+ s"), timeout=10_000)
    expect(page.locator("#tile-requests")).not_to_have_text("0")
    page.screenshot(path=str(artifacts / "board.png"), full_page=True)


def test_a_request_appears_with_its_decision(
    page: Page, dash_gateway: GatewayServer, user_key: str, artifacts: Path
) -> None:
    log_in(page, dash_gateway, target="/dashboard/requests")
    for model in ("llama-3.3-70b", "gemini-2.5-flash"):  # some neighbours in the list
        assert send(dash_gateway, user_key, model).status_code == 200
    response = send(dash_gateway, user_key, text=JSON_SCHEMA)  # sent while the page is open: no reload needed
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    decision = response.json()["routing_metadata"]["decision"]
    meta = response.json()["routing_metadata"]

    row = page.locator(f'table#requests tr[data-id="{request_id}"]')
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator('td[data-field="model"]')).to_have_text(MULTI)
    expect(row.locator('td[data-field="provider"]')).to_have_text(meta["provider"])
    expect(row.locator('td[data-field="strategy"]')).to_have_text(meta["routing_strategy"])
    expect(row.locator('td[data-field="status"]')).to_have_text("ok")
    expect(row.locator('td[data-field="key"]')).to_have_text("e2e-traffic")
    expect(row.locator('td[data-field="cost"]')).to_have_text(re.compile(r"^\$"))
    page.screenshot(path=str(artifacts / "requests.png"), full_page=True)

    row.locator("a").click()
    expect(page).to_have_url(f"{dash_gateway.base_url}/dashboard/requests/{request_id}")
    candidates = page.locator("table#candidates tbody tr")
    expect(candidates).to_have_count(len(decision["candidates"]))
    assert len(decision["candidates"]) >= 2
    for i, candidate in enumerate(decision["candidates"]):
        expect(candidates.nth(i)).to_contain_text(candidate["provider"])
        expect(candidates.nth(i)).to_contain_text(candidate["provider_model_id"])
    expect(page.locator("table#candidates tr.chosen")).to_contain_text(meta["provider"])
    excluded = page.locator("table#excluded tbody tr")
    assert decision["excluded"], "the json_schema request should exclude an offering"
    expect(excluded).to_have_count(len(decision["excluded"]))
    for i, left_out in enumerate(decision["excluded"]):
        expect(excluded.nth(i)).to_contain_text(left_out["provider"])
        expect(excluded.nth(i)).to_contain_text(left_out["excluded"])
        expect(excluded.nth(i)).to_contain_text(left_out["code"])
    attempts = page.locator("table#attempts tbody tr")
    expect(attempts).to_have_count(len(decision["attempts"]))
    expect(attempts.last).to_contain_text("ok")
    expect(page.locator("dl.facts")).to_contain_text(decision["strategy"])
    page.locator("details summary").click()
    raw = json.loads(page.locator("pre.json").inner_text())
    assert raw == decision  # the same data the client got in routing_metadata.decision
    page.screenshot(path=str(artifacts / "request.png"), full_page=True)


def test_usage_charts_from_the_ledger(page: Page, dash_gateway: GatewayServer, user_key: str, artifacts: Path) -> None:
    assert send(dash_gateway, user_key, "o4-mini").status_code == 200
    budgeted = dash_gateway.create_key(name="team-budget", budget_usd=0.001, budget_period="daily")
    assert send(dash_gateway, budgeted, "gpt-oss-120b").status_code == 200
    log_in(page, dash_gateway, target="/dashboard/usage?by=model&range=1h")
    budget = page.locator("table#budgets tbody tr", has_text="team-budget")
    expect(budget).to_contain_text("daily")
    expect(budget).to_contain_text("$0.001")
    assert float(budget.locator("meter").get_attribute("value") or 0) > 0
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(2)
    expect(charts.first.locator("rect").first).to_be_attached()
    expect(page.locator("ul.legend").first).to_contain_text("o4-mini")
    expect(page.locator("table#usage-totals")).to_contain_text(MULTI)
    page.screenshot(path=str(artifacts / "usage.png"), full_page=True)
    page.click(".tabs a:text('Key')")
    expect(page).to_have_url(re.compile(r"by=key"))
    expect(page.locator("table#usage-totals")).to_contain_text("e2e-traffic")
    page.click(".tabs a:text('Provider')")
    expect(page.locator("table#usage-totals")).to_contain_text("sim-")


def test_key_created_in_the_ui_works_and_stops_when_revoked(
    page: Page, dash_gateway: GatewayServer, artifacts: Path
) -> None:
    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    log_in(page, dash_gateway, target="/dashboard/keys")
    name = "ui-made <b>key</b>"
    page.fill("#create-key input[name=name]", name)
    page.fill("#create-key input[name=rpm]", "120")
    page.fill("#create-key input[name=budget_usd]", "5")
    page.select_option("#create-key select[name=budget_period]", "daily")
    page.click("#create-key button[type=submit]")
    secret = page.locator("#new-key").inner_text().strip()
    assert re.fullmatch(r"ak_live_[A-Za-z0-9]{40}", secret)
    row = page.locator("table#keys tbody tr", has_text=name)
    expect(row).to_have_count(1)
    expect(row.locator("td.state")).to_have_text("active")
    expect(row).to_contain_text("120")
    expect(row).to_contain_text("daily")
    page.screenshot(path=str(artifacts / "keys.png"), full_page=True)

    assert send(dash_gateway, secret).status_code == 200

    # Set limits through the edit form: a budget of 0 refuses the next request.
    row.locator("details.edit summary").click()
    row.locator("input[name=budget_usd]").fill("0")
    row.locator("details.edit button[type=submit]").click()
    expect(page.locator(".notice.success")).to_contain_text("Saved the limits")
    expect(page.locator("table#keys tbody tr", has_text=name)).to_contain_text(" / $0 daily")
    refused = send(dash_gateway, secret)
    assert refused.json()["error"]["code"] == "budget_exhausted", refused.text
    row = page.locator("table#keys tbody tr", has_text=name)
    row.locator("details.edit summary").click()
    row.locator("input[name=budget_usd]").fill("")
    row.locator("details.edit button[type=submit]").click()
    expect(page.locator(".notice.success")).to_be_visible()
    assert send(dash_gateway, secret).status_code == 200

    page.locator("table#keys tbody tr", has_text=name).locator("button.danger").click()
    expect(page.locator(".notice.success")).to_contain_text("Revoked")
    expect(page.locator("table#keys tbody tr", has_text=name).locator("td.state")).to_have_text("revoked")
    assert dialogs and "Revoke the key" in dialogs[0]
    denied = send(dash_gateway, secret)
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "invalid_api_key"


def test_no_dialog_from_user_data(page: Page, dash_gateway: GatewayServer) -> None:
    """Names full of markup are shown as text on every page: no script runs."""
    evil = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    key = dash_gateway.create_key(name=evil)
    assert send(dash_gateway, key).status_code == 200
    fired: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        fired.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    log_in(page, dash_gateway, target="/dashboard/keys")
    expect(page.locator("table#keys")).to_contain_text(evil)
    for path in ("/dashboard/requests", "/dashboard/usage?by=key&range=1h"):
        page.goto(dash_gateway.base_url + path)
        expect(page.locator("main")).to_contain_text(evil, timeout=10_000)
    page.wait_for_timeout(500)
    assert fired == []


@pytest.fixture(autouse=True)
def _screens_need_a_browser(browser: object) -> None:
    """Every test here drives the browser (so each fails or skips with the browser fixture's reason)."""
