"""Integration fixtures: one simulator and one gateway per session, real sockets on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from interlock.sim.config import SimConfig, SimProvider
from tests.support.servers import GatewayServer, LoopThread, SimHandle

CAPS = ["tools", "tool_choice_required", "parallel_tool_calls", "vision", "json_object", "json_schema", "streaming"]

SIM_PROVIDERS = {
    "sim-oai": "openai-responses",
    "sim-chat-a": "openai-chat",
    "sim-chat-b": "openai-chat",
    "sim-anthropic": "anthropic",
    "sim-gemini": "gemini",
}


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def sim(loop_thread: LoopThread) -> Iterator[SimHandle]:
    config = SimConfig(providers={pid: SimProvider(protocol=proto) for pid, proto in SIM_PROVIDERS.items()}, seed=7)  # type: ignore[arg-type]
    handle = SimHandle(loop_thread, config)
    yield handle
    handle.stop()


def offering(
    provider: str, model_id: str, inp: float, out: float, caps: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "provider": provider,
        "provider_model_id": model_id,
        "input_price": inp,
        "output_price": out,
        "cache_read_price": inp / 10,
        "context_window": 128000,
        "max_output_tokens": 8192,
        "capabilities": caps if caps is not None else CAPS,
        **extra,
    }


def gateway_config(sim: SimHandle, db_path: str) -> dict[str, Any]:
    return {
        "database_url": f"sqlite:///{db_path}",
        "catalog": "none",
        "providers": [
            {"id": pid, "protocol": proto, "base_url": sim.base_url(pid, proto), "api_key": f"sk-test-{pid}"}
            for pid, proto in SIM_PROVIDERS.items()
        ],
        "models": [
            {
                "id": "test-gpt",
                "aliases": ["test-gpt-alias"],
                "offerings": [
                    offering("sim-oai", "sim-gpt-2025-01-01", 2.5, 10.0),
                    offering("sim-chat-a", "vendor/sim-gpt", 3.0, 12.0),
                ],
            },
            {"id": "test-responses", "offerings": [offering("sim-oai", "sim-gpt-native", 1.0, 4.0)]},
            {"id": "test-chat", "offerings": [offering("sim-chat-a", "vendor/chat-model", 0.5, 1.5)]},
            {"id": "test-claude", "offerings": [offering("sim-anthropic", "claude-sim-4", 3.0, 15.0)]},
            {"id": "test-gemini", "offerings": [offering("sim-gemini", "gemini-sim-2.5", 0.3, 2.5)]},
            {"id": "test-notools", "offerings": [offering("sim-chat-b", "plain", 0.1, 0.1, caps=["streaming"])]},
        ],
    }


@pytest.fixture(scope="session")
def gateway(
    loop_thread: LoopThread, sim: SimHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("gw")
    server = GatewayServer(loop_thread, gateway_config(sim, str(tmp / "gw.db")), tmp).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_key(gateway: GatewayServer) -> str:
    return gateway.create_key(name="integration")
