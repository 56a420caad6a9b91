"""Accounting end to end on real gateway processes: the ledger, rate limits, budgets and their headers.

Every test runs twice (``tests.support.cluster``): one replica on SQLite with memory state, and two replicas
sharing PostgreSQL (a fresh schema) and Redis (a fresh key prefix). Requests alternate between the replicas,
so a limit that holds here holds across processes. Each test uses its own keys, so tests do not interact.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support import cluster as fixtures
from tests.support.cluster import Cluster, chat, post

accounting_sim = fixtures.accounting_sim
cluster = fixtures.cluster

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def spread(cluster: Cluster, i: int, path: str = "/v1/chat/completions") -> str:
    urls = cluster.urls
    return urls[i % len(urls)] + path


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in rows}


async def test_ledger_row_per_request_with_usage_and_cost(cluster: Cluster) -> None:
    key, meta = cluster.create_key(name="ledger")
    async with httpx.AsyncClient(timeout=30) as client:
        plain = await post(client, spread(cluster, 0), key, chat(text="Tell me about ledgers"))
        streamed = await post(client, spread(cluster, 1), key, chat(stream=True, text="And streams?"))
        responses = await post(
            client, spread(cluster, 0, "/v1/responses"), key, {"model": "test-claude", "input": "Hi there"}
        )
    assert plain.status_code == streamed.status_code == responses.status_code == 200
    rows = by_id(await cluster.ledger(key_id=meta["id"]))
    assert set(rows) == {r.headers["x-request-id"] for r in (plain, streamed, responses)}

    row = rows[plain.headers["x-request-id"]]
    body = plain.json()
    assert row["status"] == "ok" and row["http_status"] == 200 and row["error_code"] is None
    assert (row["model"], row["provider"], row["provider_model_id"]) == ("test-chat", "sim-chat-a", "vendor/chat-model")
    assert row["workspace_id"] == meta["workspace_id"] and row["endpoint"] == "chat"
    assert row["input_tokens"] == body["usage"]["prompt_tokens"]
    assert row["output_tokens"] == body["usage"]["completion_tokens"]
    assert row["cost_usd"] == pytest.approx(body["routing_metadata"]["cost"]["usd"], rel=1e-9)
    assert row["stream"] is False and row["attempts"] == 1 and row["usage_estimated"] is False
    assert row["latency_ms"] > 0 and row["ttft_ms"] is None

    row = rows[streamed.headers["x-request-id"]]
    assert row["status"] == "ok" and row["stream"] is True and row["ttft_ms"] is not None
    assert row["output_tokens"] and row["cost_usd"] and row["cost_usd"] > 0

    row = rows[responses.headers["x-request-id"]]
    usage = responses.json()["usage"]
    assert (row["endpoint"], row["provider"]) == ("responses", "sim-anthropic")
    assert (row["input_tokens"], row["output_tokens"]) == (usage["input_tokens"], usage["output_tokens"])
    assert row["cost_usd"] == pytest.approx(responses.json()["routing_metadata"]["cost"]["usd"], rel=1e-9)


async def test_rpm_limit_holds_exactly_under_a_concurrent_burst(cluster: Cluster) -> None:
    key, meta = cluster.create_key(name="burst", rate_limit_rpm=10)
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
        answers = await asyncio.gather(
            *(post(client, spread(cluster, i), key, chat(stream=i % 3 == 0)) for i in range(40))
        )
    ok = [a for a in answers if a.status_code == 200]
    limited = [a for a in answers if a.status_code == 429]
    assert (len(ok), len(limited)) == (10, 30)
    for a in limited:
        assert a.json()["error"]["code"] == "rate_limit_exceeded"
        assert a.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(a.headers["retry-after"]) <= 60
    for a in answers:
        assert a.headers["x-ratelimit-limit-requests"] == "10"
        assert 0 <= int(a.headers["x-ratelimit-remaining-requests"]) <= 9
        datetime.fromisoformat(a.headers["x-ratelimit-reset-requests"].replace("Z", "+00:00"))
    assert all(a.headers["x-ratelimit-remaining-requests"] == "0" for a in limited)

    # The ledger matches the requests sent, row for row.
    rows = by_id(await cluster.ledger(key_id=meta["id"]))
    assert set(rows) == {a.headers["x-request-id"] for a in answers}
    for a in answers:
        row = rows[a.headers["x-request-id"]]
        if a.status_code == 200:
            assert row["status"] == "ok" and row["cost_usd"] > 0
        else:
            assert (row["status"], row["http_status"], row["error_code"]) == ("rejected", 429, "rate_limit_exceeded")
            assert row["cost_usd"] is None


async def test_key_budget_is_never_overshot_by_more_than_one_estimate(cluster: Cluster) -> None:
    limit = 0.0004
    key, meta = cluster.create_key(name="budget", budget={"limit_usd": limit, "period": "daily"})
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
        for _ in range(30):
            wave = await asyncio.gather(
                *(
                    post(client, spread(cluster, i), key, chat(max_tokens=16, stream=i % 2 == 0, text=f"budget {i}"))
                    for i in range(12)
                )
            )
            answers.extend(wave)
            if all(a.status_code == 429 for a in wave):
                break
    ok = [a for a in answers if a.status_code == 200]
    exhausted = [a for a in answers if a.status_code == 429]
    assert ok and exhausted and len(ok) + len(exhausted) == len(answers)
    for a in exhausted:
        error = a.json()["error"]
        assert (error["code"], error["type"]) == ("budget_exhausted", "rate_limit_error")
        assert a.headers["x-budget-exceeded"] == "true"
        assert a.headers["x-budget-exceeded-period"] == "daily"
        assert a.headers["x-budget-exceeded-scope"] == "api_key"
        assert float(a.headers["x-budget-daily-limit"]) == pytest.approx(limit)
        assert int(a.headers["retry-after"]) >= 1
    assert all(float(a.headers["x-budget-daily-limit"]) == pytest.approx(limit) for a in ok)

    rows = await cluster.ledger(key_id=meta["id"])
    assert {r["request_id"] for r in rows} == {a.headers["x-request-id"] for a in answers}
    spent = sum(r["cost_usd"] or 0.0 for r in rows)
    estimate = max(r["reserved_usd"] or 0.0 for r in rows)
    for r in rows:
        if r["status"] == "ok":  # every estimate is an upper bound of the real cost here (max_tokens is set)
            assert r["cost_usd"] <= r["reserved_usd"]
    assert spent <= limit + estimate
    assert spent >= limit - estimate  # the budget was used up, not refused early

    budgets = cluster.admin("GET", "/admin/v1/budgets").json()["data"]
    (mine,) = [b for b in budgets if b["scope_id"] == meta["id"]]
    assert (mine["scope_type"], mine["period"], mine["limit_usd"]) == ("api_key", "daily", limit)
    assert mine["spend_usd"] == pytest.approx(spent, abs=1e-8)


async def test_workspace_budget_applies_to_every_key_of_the_workspace(cluster: Cluster) -> None:
    workspace = cluster.admin("POST", "/admin/v1/workspaces", {"name": "team"}).json()
    created = cluster.admin(
        "POST", "/admin/v1/budgets", {"workspace_id": workspace["id"], "period": "monthly", "limit_usd": 0.0002}
    )
    assert created.status_code == 201, created.text
    assert created.json()["scope_type"] == "workspace" and created.json()["spend_usd"] == 0
    keys = [cluster.create_key(name=f"member {i}", workspace_id=workspace["id"])[0] for i in range(2)]
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(60):
            answers.append(await post(client, spread(cluster, i), keys[i % 2], chat(max_tokens=16)))
            if answers[-1].status_code == 429:
                break
    last = answers[-1]
    assert last.status_code == 429, "the workspace budget was never exhausted"
    assert last.json()["error"]["code"] == "budget_exhausted"
    assert last.headers["x-budget-exceeded-scope"] == "workspace"
    assert last.headers["x-budget-exceeded-period"] == "monthly"
    assert {a.status_code for a in answers[:-1]} == {200}
    rows = await cluster.ledger(workspace_id=workspace["id"])
    spent = sum(r["cost_usd"] or 0.0 for r in rows)
    assert 0.0002 <= spent <= 0.0002 + max(r["reserved_usd"] or 0.0 for r in rows)

    # Raising the limit through the admin API lets requests through again (at once on the replica it was sent to).
    patched = cluster.admin("PATCH", f"/admin/v1/budgets/{created.json()['id']}", {"limit_usd": 1.0})
    assert patched.status_code == 200 and patched.json()["limit_usd"] == 1.0
    async with httpx.AsyncClient(timeout=30) as client:
        again = await post(client, cluster.urls[0] + "/v1/chat/completions", keys[0], chat(max_tokens=16))
    assert again.status_code == 200
    assert float(again.headers["x-budget-monthly-limit"]) == 1.0


async def test_cancelled_stream_records_the_tokens_already_produced(cluster: Cluster) -> None:
    key, _ = cluster.create_key(name="cancel")
    headers = {"Authorization": f"Bearer {key}"}
    body = chat("test-slow", stream=True, text="a long story please")
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", spread(cluster, 0), json=body, headers=headers) as response,
    ):
        request_id = response.headers["x-request-id"]
        seen = 0
        async for line in response.aiter_lines():
            if line.startswith("data: {") and '"content"' in line:
                seen += 1
            if seen >= 3:
                break  # hang up mid-stream
    rows: list[dict[str, Any]] = []
    for _ in range(100):
        rows = await cluster.ledger(request_id=request_id)
        if rows:
            break
        await asyncio.sleep(0.05)
    (row,) = rows
    assert row["status"] == "cancelled" and row["error_code"] == "client_disconnected"
    assert row["usage_estimated"] is True
    assert row["output_tokens"] and row["output_tokens"] >= 1
    assert row["cost_usd"] and row["cost_usd"] > 0


async def test_rejections_after_authentication_are_recorded(cluster: Cluster) -> None:
    key, meta = cluster.create_key(name="rejections")
    async with httpx.AsyncClient(timeout=30) as client:
        missing = await post(client, spread(cluster, 0, "/v1/responses"), key, {"model": "test-chat"})
        unknown = await post(client, spread(cluster, 1), key, chat("no-such-model"))
        anonymous = await post(client, spread(cluster, 0), "ak_live_wrong", chat())
    assert (missing.status_code, unknown.status_code, anonymous.status_code) == (400, 404, 401)
    rows = by_id(await cluster.ledger(key_id=meta["id"]))
    assert set(rows) == {missing.headers["x-request-id"], unknown.headers["x-request-id"]}
    assert rows[missing.headers["x-request-id"]]["error_code"] == "missing_required_parameter"
    assert rows[unknown.headers["x-request-id"]]["error_code"] == "model_not_found"
    assert all(r["status"] == "rejected" for r in rows.values())
    assert await cluster.ledger(request_id=anonymous.headers["x-request-id"]) == []


async def test_tokens_per_minute_limit(cluster: Cluster) -> None:
    key, _ = cluster.create_key(name="tpm", rate_limit_tpm=60)
    async with httpx.AsyncClient(timeout=30) as client:
        first = await post(client, spread(cluster, 0), key, chat(text="x " * 200))  # ~100 input tokens
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit-tokens"] == "60"
        await asyncio.sleep(0.2)  # the tokens are added when the request settles
        second = await post(client, spread(cluster, 1), key, chat())
    assert second.status_code == 429, second.text
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert second.headers["x-ratelimit-remaining-tokens"] == "0"


async def test_me_and_models_carry_limit_headers_without_counting(cluster: Cluster) -> None:
    key, _ = cluster.create_key(name="peek", rate_limit_rpm=5, budget={"limit_usd": 2.5, "period": "weekly"})
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        for _ in range(7):
            me = await client.get(cluster.urls[0] + "/v1/me")
            assert me.status_code == 200
        models = await client.get(cluster.urls[-1] + "/v1/models")
    assert me.headers["x-ratelimit-limit-requests"] == "5"
    assert me.headers["x-ratelimit-remaining-requests"] == "5"  # peeked, never counted
    assert me.headers["x-budget-weekly-limit"] == "2.500000"
    assert me.headers["x-budget-weekly-spend"] == "0.000000"
    assert models.headers["x-ratelimit-remaining-requests"] == "5"


async def test_admin_api_manages_keys(cluster: Cluster) -> None:
    assert cluster.admin("GET", "/admin/v1/keys", token="ak_live_not_admin").status_code == 401
    key, meta = cluster.create_key(name="managed", rate_limit_rpm=3)
    assert meta["rate_limit_rpm"] == 3 and meta["status"] == "active" and meta["key_prefix"] == key[:16]
    listed = cluster.admin("GET", "/admin/v1/keys").json()["data"]
    assert meta["id"] in {k["id"] for k in listed}
    assert all("api_key" not in k for k in listed)

    patched = cluster.admin(
        "PATCH", f"/admin/v1/keys/{meta['id']}", {"rate_limit_rpm": 50, "budget": {"limit_usd": 1, "period": "daily"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["rate_limit_rpm"] == 50
    assert patched.json()["budget"] == {"limit_usd": 1.0, "period": "daily"}
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await post(client, cluster.urls[0] + "/v1/chat/completions", key, chat())
        assert answer.headers["x-ratelimit-limit-requests"] == "50"  # at once on the replica that changed it

        bad = cluster.admin("PATCH", f"/admin/v1/keys/{meta['id']}", {"rate_limit_rpm": 0})
        assert bad.status_code == 400
        unknown_field = cluster.admin("PATCH", f"/admin/v1/keys/{meta['id']}", {"rpm": 5})
        assert unknown_field.status_code == 400 and unknown_field.json()["error"]["code"] == "unknown_field"
        assert cluster.admin("GET", "/admin/v1/keys/key_nope").status_code == 404

        revoked = cluster.admin("POST", f"/admin/v1/keys/{meta['id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        after = await post(client, cluster.urls[0] + "/v1/chat/completions", key, chat())
    assert after.status_code == 401


async def test_usage_report_and_cli(cluster: Cluster) -> None:
    key, meta = cluster.create_key(name="report")
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(3):
            assert (await post(client, spread(cluster, i), key, chat(max_tokens=16))).status_code == 200
    report = cluster.admin("GET", f"/admin/v1/usage?by=model&since=1h&key_id={meta['id']}")
    assert report.status_code == 200, report.text
    (row,) = report.json()["data"]
    assert (row["group"], row["requests"], row["errors"]) == ("test-chat", 3, 0)
    rows = await cluster.ledger(key_id=meta["id"])
    assert row["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows))
    assert row["output_tokens"] == sum(r["output_tokens"] for r in rows)
    assert cluster.admin("GET", "/admin/v1/usage?by=colour").status_code == 400

    cli = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "interlock",
            "usage",
            "--by",
            "model",
            "--since",
            "1d",
            "--config",
            str(cluster.config_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert "test-chat" in cli.stdout and "total" in cli.stdout
