"""``GET /metrics`` of ``interlock serve --workers 2`` moves by exactly a known mix of requests.

Everything runs as the operator would run it: the simulator and the gateway as separate processes, the key
from ``interlock keys create``. The mix: plain successes (until both workers have served some, so the scrape
must merge the two workers' values), two streams, one fallback (the cheaper offering's provider fails every
call) and one 429 (the only offering's provider answers 429, so the fallbacks run out).
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import Proc, create_key, free_port, start_gateway, start_sim, write_yaml

PROVIDERS = {
    "ops-a": {},
    "ops-f1": {"error_rate": 1.0},
    "ops-f2": {},
    "ops-r": {"error_rate": 1.0, "error_status": 429},
}
MAX_SUCCESS_BATCHES = 12
BATCH = 4

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def offering(provider: str, model_id: str, price: float) -> dict[str, Any]:
    return {
        "provider": provider,
        "provider_model_id": model_id,
        "input_price": price,
        "output_price": price * 4,
        "capabilities": ["streaming"],
    }


def parse(text: str) -> Samples:
    """Prometheus text exposition -> {(name, labels): value}."""
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        found = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        assert found, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found.group(2) or ""))
        out[(found.group(1), labels)] = float(found.group(3))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ops-metrics")
    sim_config = write_yaml(
        tmp / "sim.yaml",
        {
            "seed": 3,
            "default": {"ttft_ms": 40},
            "providers": {pid: {"protocol": "openai-chat", "behaviour": b} for pid, b in PROVIDERS.items()},
        },
    )
    sim, sim_url = start_sim(sim_config, tmp)
    gateway: Proc | None = None
    try:
        config = write_yaml(
            tmp / "gateway.yaml",
            {
                "database_url": f"sqlite:///{tmp / 'gw.db'}",
                "catalog": "none",
                "log_format": "json",
                "providers": [
                    {"id": pid, "protocol": "openai-chat", "base_url": f"{sim_url}/p/{pid}/v1", "api_key": "sk-ops"}
                    for pid in PROVIDERS
                ],
                "models": [
                    {"id": "ops-ok", "offerings": [offering("ops-a", "a-1", 1.0)]},
                    {"id": "ops-fb", "offerings": [offering("ops-f1", "f-1", 1.0), offering("ops-f2", "f-2", 2.0)]},
                    {"id": "ops-429", "offerings": [offering("ops-r", "r-1", 1.0)]},
                ],
            },
        )
        key = create_key(config, tmp)
        port = free_port()
        gateway = start_gateway(config, tmp, port, workers=2)
        yield {"url": f"http://127.0.0.1:{port}", "key": key, "gateway": gateway, "sim_url": sim_url}
    finally:
        if gateway is not None:
            gateway.kill()
        sim.kill()


def request_pids(gateway: Proc) -> dict[int, int]:
    """Requests served per worker process, from the JSON request log lines."""
    served: dict[int, int] = defaultdict(int)
    for line in gateway.stderr().splitlines():
        if line.startswith("{") and '"logger":"interlock.request"' in line:
            served[json.loads(line)["pid"]] += 1
    return served


def test_metrics_count_a_known_mix_across_two_workers(stack: dict[str, Any]) -> None:
    url, headers = stack["url"], {"authorization": f"Bearer {stack['key']}"}
    before = parse(httpx.get(url + "/metrics").text)
    assert value(before, "interlock_requests_total") == 0

    def chat(model: str) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
        return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=30)

    usage = {"input": 0, "output": 0}
    cost = 0.0
    successes = 0
    with concurrent.futures.ThreadPoolExecutor(BATCH) as pool:
        for _ in range(MAX_SUCCESS_BATCHES):  # until both workers served requests (bounded)
            for r in pool.map(lambda _: chat("ops-ok"), range(BATCH)):
                assert r.status_code == 200, r.text
                usage["input"] += r.json()["usage"]["prompt_tokens"]
                usage["output"] += r.json()["usage"]["completion_tokens"]
                cost += r.json()["routing_metadata"]["cost"]["usd"]
                successes += 1
            if len(request_pids(stack["gateway"])) >= 2:
                break
    assert len(request_pids(stack["gateway"])) == 2, "both workers should have served requests"

    for _ in range(2):
        body = {"model": "ops-ok", "input": "hello", "stream": True}
        with httpx.stream("POST", url + "/v1/responses", json=body, headers=headers, timeout=30) as s:
            events = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: ")]
        done = events[-1]
        assert done["type"] == "response.completed"
        usage["input"] += done["response"]["usage"]["input_tokens"]
        usage["output"] += done["response"]["usage"]["output_tokens"]
        cost += done["response"]["routing_metadata"]["cost"]["usd"]

    fallback = chat("ops-fb")
    assert fallback.status_code == 200, fallback.text
    assert fallback.json()["routing_metadata"]["provider"] == "ops-f2"
    usage["input"] += fallback.json()["usage"]["prompt_tokens"]
    usage["output"] += fallback.json()["usage"]["completion_tokens"]
    cost += fallback.json()["routing_metadata"]["cost"]["usd"]

    limited = chat("ops-429")
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"

    # Every scrape, whichever worker answers it, shows the merged totals.
    scrapes = [parse(httpx.get(url + "/metrics").text) for _ in range(6)]
    for after in scrapes:
        total = 1 + successes + 2 + 1  # + the fallback, the streams and the 429
        assert value(after, "interlock_requests_total") == total
        ok = {"status": "200", "error_code": "none"}
        assert value(after, "interlock_requests_total", ingress="chat", model="ops-ok", provider="ops-a", **ok) == (
            successes
        )
        assert value(after, "interlock_requests_total", ingress="responses", provider="ops-a", **ok) == 2
        assert value(after, "interlock_requests_total", ingress="chat", model="ops-fb", provider="ops-f2", **ok) == 1
        assert (
            value(
                after,
                "interlock_requests_total",
                ingress="chat",
                model="ops-429",
                provider="ops-r",
                status="429",
                error_code="rate_limit_exceeded",
            )
            == 1
        )
        fb = value(after, "interlock_fallbacks_total")
        assert fb == value(after, "interlock_fallbacks_total", model="ops-fb", provider="ops-f1") == 1
        attempts = "interlock_upstream_attempts_total"
        assert value(after, attempts, provider="ops-a", outcome="ok") == successes + 2
        assert value(after, attempts, provider="ops-f1", outcome="error") == 1
        assert value(after, attempts, provider="ops-f2", outcome="ok") == 1
        assert value(after, attempts, provider="ops-r", outcome="error", error_code="rate_limit_exceeded") == 1
        assert value(after, attempts) == successes + 5

        chat_count = successes + 2  # + the fallback and the 429
        duration = "interlock_request_duration_seconds_count"
        assert value(after, duration, ingress="chat", stream="false") == chat_count
        assert value(after, duration, ingress="responses", stream="true") == 2
        overhead = "interlock_gateway_overhead_seconds_count"
        assert value(after, overhead, ingress="chat", stream="false") == chat_count
        assert value(after, overhead, ingress="responses", stream="true") == 2
        assert (
            0
            < value(after, "interlock_gateway_overhead_seconds_sum")
            < value(after, "interlock_request_duration_seconds_sum")
        )
        bucket_le_inf = value(after, "interlock_request_duration_seconds_bucket", ingress="chat", le="+Inf")
        assert bucket_le_inf == chat_count

        assert value(after, "interlock_ttft_seconds_count", provider="ops-a") == 2
        assert value(after, "interlock_ttft_seconds_count") == 2
        assert value(after, "interlock_output_tokens_per_second_count", provider="ops-a") == successes + 2
        assert value(after, "interlock_output_tokens_per_second_count", provider="ops-f2") == 1

        assert value(after, "interlock_tokens_total", kind="input") == usage["input"]
        assert value(after, "interlock_tokens_total", kind="output") == usage["output"]
        assert math.isclose(value(after, "interlock_cost_usd_total"), cost, rel_tol=1e-6)

        assert value(after, "interlock_in_flight_requests") == 0
        assert value(after, "interlock_open_streams") == 0
        assert value(after, "interlock_rate_limit_rejections_total") == 0


def test_ops_endpoints_are_not_counted(stack: dict[str, Any]) -> None:
    url = stack["url"]
    before = value(parse(httpx.get(url + "/metrics").text), "interlock_requests_total")
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(url + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "state": "ok", "catalog": "ok", "providers": "ok"}
    after = value(parse(httpx.get(url + "/metrics").text), "interlock_requests_total")
    assert after == before
