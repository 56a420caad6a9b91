"""Replicas: a limit shared by every endpoint of several gateway processes, and a replica killed with SIGKILL.

The SIGKILL bound under test: a response whose last byte reached the client has its ledger row committed
(the gateway holds the last byte until the row's batch commits, ``accounting.ledger``), so killing the
process loses only rows of requests that were still in flight. The test kills a replica under mixed load
(streams and plain requests) and checks every response completed before the kill against the ledger.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.support import cluster as fixtures
from tests.support.cluster import Cluster, chat

accounting_sim = fixtures.accounting_sim
cluster = fixtures.cluster


async def test_rpm_limit_is_shared_by_all_endpoints_and_replicas(cluster: Cluster) -> None:
    key, meta = cluster.create_key(name="shared", rate_limit_rpm=12)
    bodies = [
        ("/v1/responses", {"model": "test-chat", "input": "hi"}),
        ("/v1/chat/completions", chat(stream=True)),
        ("/v1/messages", {"model": "test-gemini", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}),
    ]
    headers = {"Authorization": f"Bearer {key}", "x-api-key": key}

    async def send(client: httpx.AsyncClient, i: int) -> httpx.Response:
        path, body = bodies[i % len(bodies)]
        url = cluster.urls[i % len(cluster.urls)] + path
        async with client.stream("POST", url, json=body, headers=headers) as response:
            await response.aread()
        return response

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
        answers = await asyncio.gather(*(send(client, i) for i in range(36)))
    assert sorted(a.status_code for a in answers) == [200] * 12 + [429] * 24
    rows = {r["request_id"]: r for r in await cluster.ledger(key_id=meta["id"])}
    assert set(rows) == {a.headers["x-request-id"] for a in answers}
    assert sorted(r["endpoint"] for r in rows.values()) == ["chat"] * 12 + ["messages"] * 12 + ["responses"] * 12


async def test_sigkill_loses_no_row_of_a_completed_response(cluster: Cluster) -> None:
    key, meta = cluster.create_key(name="crash")
    await asyncio.to_thread(cluster.start, 1)
    victim = cluster.gateways[-1]
    completed: list[str] = []
    broken = 0
    killed, enough = asyncio.Event(), asyncio.Event()

    async def worker(client: httpx.AsyncClient, n: int) -> None:
        nonlocal broken
        i = 0
        while not killed.is_set():
            i += 1
            body = chat("test-slow", stream=(n + i) % 2 == 0, text=f"worker {n} request {i}")
            try:
                async with client.stream(
                    "POST",
                    victim.base_url + "/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                ) as response:
                    data = await response.aread()
            except httpx.HTTPError:
                broken += 1
                return
            assert response.status_code == 200, data
            if body["stream"]:
                assert data.endswith(b"data: [DONE]\n\n")
            completed.append(response.headers["x-request-id"])
            if len(completed) >= 100:
                enough.set()

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
        workers = [asyncio.create_task(worker(client, n)) for n in range(24)]
        await asyncio.wait_for(enough.wait(), 20)
        victim.kill()  # SIGKILL: no shutdown hook, no final flush
        killed.set()
        await asyncio.gather(*workers)

    assert len(completed) >= 100
    assert broken > 0, "no request was in flight at the kill; the test proves nothing"
    recorded = {r["request_id"] for r in await cluster.ledger(key_id=meta["id"])}
    missing = set(completed) - recorded
    assert not missing, f"{len(missing)} completed response(s) have no ledger row"
