"""``accounting: {enabled: false}`` (the bench's baseline) and an admin API that is off without an admin key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from interlock.store.db import make_engine
from interlock.store.models import UsageRow
from tests.integration.conftest import gateway_config
from tests.support.servers import GatewayServer, LoopThread, SimHandle


@pytest.fixture(scope="module")
def unmetered(
    loop_thread: LoopThread, sim: SimHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    tmp: Path = tmp_path_factory.mktemp("unmetered")
    config = gateway_config(sim, str(tmp / "gw.db"))
    config["accounting"] = {"enabled": False}
    server = GatewayServer(loop_thread, config, tmp).start()
    yield server
    server.stop()


def test_accounting_off_records_and_limits_nothing(unmetered: GatewayServer, loop_thread: LoopThread) -> None:
    key = unmetered.create_key(name="free", rpm=1, budget_usd=0.0)
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "test-chat", "messages": [{"role": "user", "content": "hi"}]}
    answers = [httpx.post(unmetered.base_url + "/v1/chat/completions", json=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert not any(h.startswith(("x-ratelimit", "x-budget")) for a in answers for h in a.headers)

    async def rows() -> int:
        engine = make_engine(unmetered.settings.database_url)
        try:
            async with engine.connect() as conn:
                return int(await conn.scalar(select(func.count()).select_from(UsageRow)) or 0)
        finally:
            await engine.dispose()

    assert loop_thread.run(rows()) == 0


def test_admin_api_is_absent_without_an_admin_key(unmetered: GatewayServer) -> None:
    assert unmetered.settings.admin_key is None
    for method, path in [("GET", "/admin/v1/keys"), ("POST", "/admin/v1/keys"), ("GET", "/admin/v1/usage")]:
        answer = httpx.request(method, unmetered.base_url + path, headers={"Authorization": "Bearer anything"})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "resource_not_found"
