"""Chaos soak (CI size): the simulator injects 5xx, held requests, TTFT spikes, an outage window, mid-stream drops,
mid-stream errors and malformed JSON, one upstream answers with wrong content types, while a mixed load runs
(Responses, Chat and Messages; streaming and not). With a healthy offering behind every model:

- at least 99.9% of the requests the gateway can mask succeed (faults after content reached the client cannot
  be masked; those must end in the documented in-stream error with the terminal event);
- every failure is a documented error; every stream ends with its terminal event;
- nothing leaks: upstream connections in use, asyncio tasks and file descriptors return to their baseline, and
  Python memory does not grow with the number of requests.

The bench lane runs the same driver (``tests.support.chaos.run_soak``) longer.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from interlock.sim.config import SimConfig
from tests.support.chaos import (
    FAULTY,
    HEALTHY,
    SoakReport,
    WrongTypeUpstream,
    chaos_gateway_config,
    chaos_sim_config,
    connector_counts,
    default_schedule,
    open_fds,
    rss_bytes,
    run_soak,
    settle,
)
from tests.support.servers import GatewayServer, LoopThread, SimHandle

TIMEOUT_MS = 1000  # per attempt: held requests end here; healthy answers stay well inside it under load
WARMUP = 300
REQUESTS = 2000
CONCURRENCY = 48


@dataclass
class World:
    loop: LoopThread
    sim: SimHandle
    sim_started: float
    wrong: WrongTypeUpstream
    gateway: GatewayServer
    key: str

    def session(self) -> Any:
        assert self.gateway.app.ctx is not None
        return self.gateway.app.ctx.gateway.session

    def tasks(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks())

        return self.loop.run(count())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("chaos")
    loop = LoopThread()
    sim = SimHandle(loop, msgspec.convert(chaos_sim_config(), SimConfig))
    sim_started = time.monotonic()
    wrong = WrongTypeUpstream()
    wrong_url = loop.run(wrong.start())
    urls = {pid: sim.base_url(pid, proto) for pid, (proto, _) in FAULTY.items()}
    urls |= {pid: sim.base_url(pid, proto) for pid, proto in HEALTHY.items()}
    config = chaos_gateway_config(urls, wrong_url, f"sqlite:///{tmp / 'chaos.db'}", timeout_ms=TIMEOUT_MS)
    gateway = GatewayServer(loop, config, tmp)
    # As `interlock serve` runs it (api.limits.uvicorn_options): uvicorn's own 5 s equals httpx's idle expiry and
    # races the client's next request on a reused connection.
    gateway.server.config.timeout_keep_alive = int(gateway.settings.limits.keep_alive_timeout_s)
    gateway.start()
    key = gateway.create_key(name="chaos")
    yield World(loop, sim, sim_started, wrong, gateway, key)
    gateway.stop()
    loop.run(wrong.stop())
    sim.stop()
    loop.stop()


def soak(world: World, requests: int, schedule: bool) -> SoakReport:
    sim_url = f"http://127.0.0.1:{world.sim.port}"
    steps = (
        default_schedule(TIMEOUT_MS, lambda: time.monotonic() - world.sim_started, soak_seconds=20.0)
        if schedule
        else []
    )
    return asyncio.run(
        run_soak(
            world.gateway.base_url,
            world.key,
            requests=requests,
            concurrency=CONCURRENCY,
            sim_control_url=sim_url,
            schedule=steps,
            timeout_ms=TIMEOUT_MS,
        )
    )


def test_chaos_soak(world: World) -> None:
    warm = soak(world, WARMUP, schedule=False)  # pools, caches, stats and breakers reach their working size
    assert not warm.violations, warm.violations[:5]

    gc.collect()
    before = {"fds": open_fds(), "tasks": world.tasks(), "rss": rss_bytes(), **connector_counts(world.session())}
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]

    report = soak(world, REQUESTS, schedule=True)

    async def quiet() -> bool:
        # Idle pooled upstream connections are kept (and each has a simulator-side task): allow for their growth.
        pool = connector_counts(world.session())
        growth = max(0, pool["idle"] - before["idle"])
        return pool["acquired"] == 0 and len(asyncio.all_tasks()) <= before["tasks"] + growth

    settled = asyncio.run_coroutine_threadsafe(settle(quiet, timeout_s=15), world.loop.loop).result(30)
    gc.collect()
    traced_growth = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    after = {"fds": open_fds(), "tasks": world.tasks(), "rss": rss_bytes(), **connector_counts(world.session())}
    stats = world.sim.server.stats()
    print(f"\nchaos soak: {report.summary()}")
    print(f"  schedule: {report.steps}")
    print(f"  resources before: {before}")
    print(f"  resources after:  {after} (python memory growth {traced_growth / 1e6:.1f} MB)")
    print(f"  simulator: { {pid: dict(s) for pid, s in sorted(stats.items())} }")
    print(f"  wrong-content-type upstream answered {world.wrong.requests} requests")

    assert not report.violations, report.violations[:10]
    assert report.sent == REQUESTS
    assert report.maskable_success_rate >= 0.999, report.summary()
    assert report.midstream <= 0.02 * REQUESTS, report.summary()
    # The faults really happened.
    assert sum(s.get("errors", 0) for s in stats.values()) > 0.1 * REQUESTS
    assert sum(s.get("timeouts", 0) for s in stats.values()) > 0.02 * REQUESTS
    assert len(report.steps) == 5  # TTFT spike and its end, the outage window, the malformed burst and its end
    assert world.wrong.requests > 0
    # Nothing leaked.
    assert settled, f"connections in use or tasks did not return to baseline: {after}"
    assert after["acquired"] == 0
    idle_growth = max(0, after["idle"] - before["idle"])
    assert after["fds"] <= before["fds"] + 2 * idle_growth + 16, (before, after)
    assert traced_growth < 32e6, f"python memory grew {traced_growth / 1e6:.1f} MB over {REQUESTS} requests"
