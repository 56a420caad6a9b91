"""Gateway *processes* for the accounting, replica and response-store tests.

Each gateway runs as ``python -m interlock serve --config F --port P``, as an operator would run it, so tests
can run several replicas against one database and one state backend, and can kill one with SIGKILL. Two
backends: ``sqlite-memory`` (a SQLite file, ``memory://`` state, so one replica) and ``postgres-redis`` (a fresh
PostgreSQL schema and a fresh Redis key prefix, both removed afterwards; skipped when either is unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select, text

from interlock.sim.config import SimConfig, SimProvider
from interlock.store.db import init_db, make_engine
from interlock.store.models import StoredResponse, UsageRow
from tests.integration.conftest import SIM_PROVIDERS, gateway_config, offering
from tests.support.servers import LoopThread, SimHandle

POSTGRES_URL = os.environ.get("INTERLOCK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ("sqlite-memory", "postgres-redis")
ADMIN_KEY = "test-admin-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GatewayProcess:
    """One ``interlock serve`` subprocess."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interlock", "serve", "--config", str(config_path), "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"gateway did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int | None:
        """SIGTERM (graceful: the ledger is flushed), then SIGKILL after 20 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


class Cluster:
    """Gateways sharing one config (database, state backend, key prefix), plus direct access to the database."""

    def __init__(self, backend: str, database_url: str, config: dict[str, Any], tmp: Path) -> None:
        self.backend = backend
        self.database_url = database_url
        self.config = config
        self.tmp = tmp
        self.config_path = tmp / "interlock.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.gateways: list[GatewayProcess] = []

    @property
    def replicas(self) -> int:
        return 2 if self.backend == "postgres-redis" else 1

    def start(self, count: int | None = None) -> Cluster:
        fresh = [
            GatewayProcess(self.config_path, self.tmp / f"gateway-{len(self.gateways) + i}.log")
            for i in range(count or self.replicas)
        ]
        self.gateways.extend(fresh)
        for g in fresh:
            g.wait_ready()
        return self

    def stop(self) -> None:
        for g in self.gateways:
            g.stop()

    @property
    def urls(self) -> list[str]:
        return [g.base_url for g in self.gateways if g.proc.poll() is None]

    def admin(self, method: str, path: str, body: Any = None, *, token: str = ADMIN_KEY) -> httpx.Response:
        return httpx.request(
            method,
            self.urls[0] + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def create_key(self, **body: Any) -> tuple[str, dict[str, Any]]:
        """A new API key through the admin API: ``(secret, key object)``."""
        answer = self.admin("POST", "/admin/v1/keys", {"name": "test", **body})
        assert answer.status_code == 201, answer.text
        data = answer.json()
        return data.pop("api_key"), data

    @asynccontextmanager
    async def _engine(self) -> AsyncIterator[Any]:
        engine = make_engine(self.database_url, pool_size=1, max_overflow=0)
        try:
            yield engine
        finally:
            await engine.dispose()

    async def ledger(self, **where: Any) -> list[dict[str, Any]]:
        """Ledger rows (as dicts), optionally filtered by column equality."""
        query = select(UsageRow.__table__)
        for column, value in where.items():
            query = query.where(getattr(UsageRow, column) == value)
        async with self._engine() as engine, engine.connect() as conn:
            return [dict(row._mapping) for row in (await conn.execute(query)).all()]

    async def stored_responses(self) -> int:
        async with self._engine() as engine, engine.connect() as conn:
            return len((await conn.execute(select(StoredResponse.id))).all())

    async def execute(self, sql: str) -> None:
        async with self._engine() as engine, engine.begin() as conn:
            await conn.execute(text(sql))


@asynccontextmanager
async def backend_resources(backend: str, tmp: Path) -> AsyncIterator[tuple[str, str, str]]:
    """``(database_url, state_url, state_prefix)`` for ``backend``, created fresh and removed afterwards."""
    prefix = f"interlock-test:{uuid.uuid4().hex[:12]}:"
    if backend == "sqlite-memory":
        url = f"sqlite:///{tmp / 'interlock.db'}"
        engine = make_engine(url)
        await init_db(engine)
        await engine.dispose()
        yield url, "memory://", prefix
        return
    import asyncpg

    from interlock.store.state import make_redis

    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (TimeoutError, OSError) as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")
    redis = make_redis(REDIS_URL)
    try:
        await redis.ping()
    except OSError as exc:
        await admin.close()
        await redis.aclose()
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    schema = f"interlock_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?schema={schema}", REDIS_URL, prefix
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
        keys = [key async for key in redis.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


# -- fixtures (import them into a test module to use them) ----------------------------------------------------

# 20 ms to the first token, then 400 tokens/s: a 20-40 token answer streams for ~70-120 ms.
SLOW = {"ttft_ms": 20.0, "tps": 400.0}


@pytest.fixture(scope="module")
def accounting_sim(loop_thread: LoopThread) -> Iterator[SimHandle]:
    providers: dict[str, SimProvider] = {
        pid: SimProvider(protocol=proto)  # type: ignore[arg-type]
        for pid, proto in SIM_PROVIDERS.items()
    }
    providers["sim-slow"] = SimProvider(protocol="openai-chat", behaviour=SLOW)
    handle = SimHandle(loop_thread, SimConfig(providers=providers, seed=11))
    yield handle
    handle.stop()


def cluster_config(sim: SimHandle, database_url: str, state_url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    config = gateway_config(sim, "unused")
    config["providers"].append(
        {
            "id": "sim-slow",
            "protocol": "openai-chat",
            "base_url": sim.base_url("sim-slow", "openai-chat"),
            "api_key": "sk-test-slow",
        }
    )
    config["models"].append({"id": "test-slow", "offerings": [offering("sim-slow", "slow-model", 1.0, 3.0)]})
    config.update(
        database_url=database_url,
        state_url=state_url,
        state_prefix=prefix,
        admin_key=ADMIN_KEY,
        log_level="warning",
        telemetry={"request_logs": False},
        **extra,
    )
    return config


@pytest.fixture(scope="module", params=BACKENDS)
async def cluster(
    request: pytest.FixtureRequest, accounting_sim: SimHandle, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    tmp: Path = tmp_path_factory.mktemp(request.param)
    async with backend_resources(request.param, tmp) as (database_url, state_url, prefix):
        config = cluster_config(accounting_sim, database_url, state_url, prefix)
        cluster = Cluster(request.param, database_url, config, tmp)
        await asyncio.to_thread(cluster.start)
        try:
            yield cluster
        finally:
            await asyncio.to_thread(cluster.stop)


async def post(client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    """POST a request and read it to the end (streams included)."""
    headers = {"Authorization": f"Bearer {key}"}
    async with client.stream("POST", url, json=body, headers=headers) as response:
        await response.aread()
    return response


def chat(
    model: str = "test-chat", *, stream: bool = False, max_tokens: int | None = None, text: str = "Hello"
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if max_tokens is not None:
        body["max_completion_tokens"] = max_tokens
    return body


__all__ = [
    "ADMIN_KEY",
    "BACKENDS",
    "SLOW",
    "Cluster",
    "GatewayProcess",
    "accounting_sim",
    "backend_resources",
    "chat",
    "cluster",
    "cluster_config",
    "free_port",
    "post",
]
