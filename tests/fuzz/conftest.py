"""Fuzz fixtures: one simulator (all four upstream protocols, no faults) and one gateway for the whole fuzz run.

Every generated request goes to the real gateway on 127.0.0.1; the simulator's recorded requests tell whether
the gateway called an upstream. ``FUZZ_STATS`` collects the figures the run reports at its end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from interlock.sim.config import SimConfig, SimProvider
from tests.support.servers import GatewayServer, LoopThread, SimHandle

PROTOCOLS = {
    "fz-oai": "openai-responses",
    "fz-chat": "openai-chat",
    "fz-anthropic": "anthropic",
    "fz-gemini": "gemini",
}
# One model per upstream protocol, so valid requests exercise every adapter.
MODELS = {f"m-{pid[3:]}": pid for pid in PROTOCOLS}
CAPS = ["tools", "tool_choice_required", "parallel_tool_calls", "vision", "json_object", "json_schema", "streaming"]


@dataclass
class FuzzWorld:
    gateway: GatewayServer
    sim: SimHandle
    key: str
    client: httpx.Client
    stats: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)  # upstream-refused requests, for the report

    def upstream_calls(self) -> int:
        return len(self.sim.server.requests())


def gateway_config(sim: SimHandle, db: str) -> dict[str, Any]:
    return {
        "database_url": f"sqlite:///{db}",
        "catalog": "none",
        "providers": [
            {"id": pid, "protocol": proto, "base_url": sim.base_url(pid, proto), "api_key": f"sk-fuzz-{pid}"}
            for pid, proto in PROTOCOLS.items()
        ],
        "models": [
            {
                "id": model,
                "offerings": [
                    {
                        "provider": pid,
                        "provider_model_id": f"{model}-native",
                        "input_price": 1.0,
                        "output_price": 2.0,
                        "context_window": 128000,
                        "max_output_tokens": 4096,
                        "capabilities": CAPS,
                    }
                ],
            }
            for model, pid in MODELS.items()
        ],
        "default_timeout_ms": 10_000,
    }


@pytest.fixture(scope="session")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    tmp = tmp_path_factory.mktemp("fuzz")
    loop = LoopThread()
    config = SimConfig(providers={pid: SimProvider(protocol=proto) for pid, proto in PROTOCOLS.items()}, seed=3)  # type: ignore[arg-type]
    sim = SimHandle(loop, config)
    gateway = GatewayServer(loop, gateway_config(sim, str(tmp / "fuzz.db")), tmp).start()
    key = gateway.create_key(name="fuzz")
    client = httpx.Client(base_url=gateway.base_url, timeout=30)
    world = FuzzWorld(gateway, sim, key, client)
    yield world
    client.close()
    gateway.stop()
    sim.stop()
    loop.stop()
    figures = ", ".join(f"{k}={v}" for k, v in sorted(world.stats.items()))
    print(f"\nfuzz figures: {figures}")
    for sample in world.samples[:5]:
        print(f"  upstream refused: {sample}")
