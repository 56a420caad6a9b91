"""SIGTERM with 20 open streams: every stream completes inside the grace period, then the server exits 0.

The simulator paces its streams (10 tokens/s, 20 tokens) so each lasts about two seconds; the signal arrives
once every client has its first event. The server must stop accepting new connections at once, let the open
streams run to ``response.completed``, and exit with status 0 well within ``shutdown_grace_seconds``.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Proc, create_key, free_port, start_gateway, start_sim, write_yaml

STREAMS = 20
GRACE_S = 20
STREAM_TOKENS = 20
TPS = 10


def write_configs(tmp: Path, sim_url: str) -> Path:
    return write_yaml(
        tmp / "gateway.yaml",
        {
            "database_url": f"sqlite:///{tmp / 'gw.db'}",
            "catalog": "none",
            "server": {"shutdown_grace_seconds": GRACE_S},
            "providers": [
                {"id": "slow", "protocol": "openai-chat", "base_url": f"{sim_url}/p/slow/v1", "api_key": "sk-x"}
            ],
            "models": [
                {
                    "id": "slow-model",
                    "offerings": [
                        {
                            "provider": "slow",
                            "provider_model_id": "slow-1",
                            "input_price": 1.0,
                            "output_price": 2.0,
                            "capabilities": ["streaming"],
                        }
                    ],
                }
            ],
        },
    )


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_sigterm_lets_open_streams_finish(tmp_path: Path, workers: int) -> None:
    sim_config = write_yaml(
        tmp_path / "sim.yaml",
        {"providers": {"slow": {"protocol": "openai-chat", "behaviour": {"tps": TPS, "output_tokens": STREAM_TOKENS}}}},
    )
    sim, sim_url = start_sim(sim_config, tmp_path)
    gateway: Proc | None = None
    try:
        config = write_configs(tmp_path, sim_url)
        key = create_key(config, tmp_path)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        gateway = start_gateway(config, tmp_path, port, workers=workers)
        opened = threading.Barrier(STREAMS + 1, timeout=30)

        def stream() -> tuple[list[str], float]:
            body = {"model": "slow-model", "input": "tell me a story", "stream": True}
            headers = {"authorization": f"Bearer {key}"}
            types: list[str] = []
            with httpx.stream("POST", url + "/v1/responses", json=body, headers=headers, timeout=60) as s:
                assert s.status_code == 200
                for line in s.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    types.append(json.loads(line[6:])["type"])
                    if len(types) == 1:
                        opened.wait()
            return types, time.monotonic()

        with ThreadPoolExecutor(STREAMS) as pool:
            futures = [pool.submit(stream) for _ in range(STREAMS)]
            opened.wait()  # every stream has its first event
            signalled = time.monotonic()
            gateway.terminate()
            time.sleep(0.5)
            with pytest.raises(httpx.TransportError):  # no longer accepting
                httpx.get(url + "/healthz", timeout=2)
            results = [f.result(timeout=GRACE_S + 10) for f in futures]
            code = gateway.wait(GRACE_S + 10)
            exited = time.monotonic()

        for types, _ in results:
            assert types[0] == "response.created"
            assert types[-1] == "response.completed", types[-3:]
        last_stream_end = max(end for _, end in results)
        assert last_stream_end - signalled > 0.5, "the streams should still have been running at SIGTERM"
        assert exited - signalled < GRACE_S, "the server should exit as soon as the streams are done"
        assert code == 0, gateway.stderr()
    finally:
        if gateway is not None:
            gateway.kill()
        sim.kill()
