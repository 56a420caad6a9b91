"""Routing end to end: the real gateway in front of simulated providers serving one model at different prices and
speeds. Strategies, warm stats, exploration, fallback, breakers, timeouts, deadlines, mid-stream failures and the
explain header. Simulated delays are tens of milliseconds; every wait is a bounded poll."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from interlock.engine import Gateway
from interlock.sim.config import SimConfig, SimProvider
from tests.support.servers import GatewayServer, LoopThread, SimHandle

PROVIDERS = ("rt-cheap", "rt-mid", "rt-fast")
BASE: dict[str, dict[str, Any]] = {
    "rt-cheap": {"ttft_ms": 60, "tps": 400, "output_tokens": 12},
    "rt-mid": {"ttft_ms": 30, "tps": 800, "output_tokens": 12},
    "rt-fast": {"ttft_ms": 5, "tps": 4000, "output_tokens": 12},
}
CAPS = ["tools", "tool_choice_required", "json_object", "json_schema", "streaming"]


def _offering(provider: str, pmid: str, inp: float | None, out: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "provider_model_id": pmid,
        "input_price": inp,
        "output_price": out,
        "capabilities": CAPS,
        **extra,
    }


def routing_config(sim: SimHandle, db_path: str) -> dict[str, Any]:
    """One model on three hosts (no priors: only live stats tell them apart), plus a few special models."""
    return {
        "database_url": f"sqlite:///{db_path}",
        "catalog": "none",
        "providers": [
            {"id": p, "protocol": "openai-chat", "base_url": sim.base_url(p, "openai-chat"), "api_key": f"sk-{p}"}
            for p in PROVIDERS
        ],
        "models": [
            {
                "id": "rt-model",
                "aliases": ["rt-model-latest"],
                "offerings": [
                    _offering("rt-cheap", "rt-model-cheap", 0.1, 0.2),
                    _offering("rt-mid", "rt-model-mid", 0.4, 0.8),
                    _offering("rt-fast", "rt-model-fast", 1.0, 2.0),
                ],
            },
            {"id": "rt-other", "offerings": [_offering("rt-mid", "rt-other-mid", 0.05, 0.05)]},
            {
                "id": "rt-strict",
                "offerings": [_offering("rt-cheap", "rt-strict-1", 0.1, 0.1, accepted_params=["temperature"])],
            },
            {"id": "rt-free", "offerings": [_offering("rt-fast", "rt-free-1", None, None)]},
            {"id": "rt-cache", "offerings": [_offering("rt-cheap", "rt-cache-1", 1.0, 2.0, cache_read_price=0.1)]},
        ],
    }


def sim_config() -> SimConfig:
    providers = {p: SimProvider(protocol="openai-chat", behaviour=dict(BASE[p])) for p in PROVIDERS}
    providers["rt-cheap"].models = {"rt-cache-1": {"cached_tokens": 40}}
    return SimConfig(providers=providers, seed=11)


@dataclass
class Servers:
    sim: SimHandle
    gateway: GatewayServer
    key: str


def start_servers(loop_thread: LoopThread, tmp: Path) -> Servers:
    sim = SimHandle(loop_thread, sim_config())
    server = GatewayServer(loop_thread, routing_config(sim, str(tmp / "gw.db")), tmp).start()
    return Servers(sim, server, server.create_key(name="routing"))


def stop_servers(servers: Servers) -> None:
    servers.gateway.stop()
    servers.sim.stop()


class Routing:
    """Drives one test: requests to the gateway, steering of the simulator, access to the engine's state."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.http = httpx.Client(
            base_url=servers.gateway.base_url, headers={"authorization": f"Bearer {servers.key}"}, timeout=30
        )
        self.control = httpx.Client(base_url=f"http://127.0.0.1:{servers.sim.port}", timeout=10)

    @property
    def gw(self) -> Gateway:
        ctx = self.servers.gateway.app.ctx
        assert ctx is not None
        return ctx.gateway

    def reset(self) -> None:
        for p in PROVIDERS:
            self.control.delete(f"/_sim/providers/{p}").raise_for_status()
        gw = self.gw
        gw.stats.reset(refresh_s=0.0)  # type: ignore[attr-defined]
        gw.breakers.reset()
        gw.policy = replace(gw.policy, explore_rate=0.0)
        gw.rng = random.Random(7)

    def close(self) -> None:
        self.http.close()
        self.control.close()

    def sim_set(self, provider: str, **behaviour: Any) -> None:
        self.control.put(f"/_sim/providers/{provider}", json=behaviour).raise_for_status()

    def sim_requests(self, provider: str) -> int:
        stats = self.control.get("/_sim/stats").json()["providers"]
        return int(stats.get(provider, {}).get("requests", 0))

    def post(self, body: dict[str, Any], explain: bool = False) -> httpx.Response:
        headers = {"x-interlock-explain": "true"} if explain else {}
        return self.http.post("/v1/responses", json={"input": "Tell me about routing.", **body}, headers=headers)

    def create(self, explain: bool = False, **body: Any) -> dict[str, Any]:
        r = self.post(body, explain)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def stream_events(self, explain: bool = False, **body: Any) -> list[dict[str, Any]]:
        headers = {"x-interlock-explain": "true"} if explain else {}
        payload = {"input": "Tell me about routing.", "stream": True, **body}
        events = []
        with self.http.stream("POST", "/v1/responses", json=payload, headers=headers) as r:
            assert r.status_code == 200, r.read()
            for line in r.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
        return events

    def stream_meta(self, explain: bool = False, **body: Any) -> dict[str, Any]:
        events = self.stream_events(explain, **body)
        assert events[-1]["type"] == "response.completed", events[-1]
        return events[-1]["response"]["routing_metadata"]  # type: ignore[no-any-return]

    def warm(self, n: int = 5) -> None:
        """Streamed requests pinned to each provider, so every offering has live TTFT and TPS samples."""
        for provider in PROVIDERS:
            for _ in range(n):
                meta = self.stream_meta(model="rt-model", gateway={"routing": {"providers": [provider]}})
                assert meta["provider"] == provider


@pytest.fixture(scope="module")
def routing_servers(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    servers = start_servers(loop_thread, tmp_path_factory.mktemp("routing"))
    yield servers
    stop_servers(servers)


@pytest.fixture
def rt(routing_servers: Servers) -> Iterator[Routing]:
    driver = Routing(routing_servers)
    driver.reset()
    yield driver
    driver.reset()
    driver.close()


# -- strategies ----------------------------------------------------------------------------------------


def test_cost_picks_the_cheap_one(rt: Routing) -> None:
    for routing in ({}, {"optimize": "cost"}, {"optimize": "cost-focus"}):
        meta = rt.create(model="rt-model", gateway={"routing": routing})["routing_metadata"]
        assert (meta["provider"], meta["model_canonical"]) == ("rt-cheap", "rt-model")
        assert meta["provider_model_id"] == "rt-model-cheap"
        assert meta["routing_strategy"] == routing.get("optimize", "cost-focus")
        assert meta["cost"]["usd"] > 0


def test_ttft_and_tps_pick_the_fast_one_once_stats_are_warm(rt: Routing) -> None:
    # Cold: no priors, so speed cannot tell the hosts apart and the price decides.
    assert rt.create(model="rt-model:ttft-focus")["routing_metadata"]["provider"] == "rt-cheap"
    rt.warm()
    for suffix in ("ttft", "ttft-focus", "tps", "tps-focus"):
        meta = rt.stream_meta(model=f"rt-model-latest:{suffix}", explain=True)
        assert meta["provider"] == "rt-fast", (suffix, meta["decision"]["candidates"])
        assert meta["routing_strategy"] == suffix
        assert meta["ttft_ms"] > 0 and meta["throughput_tps"] > 0
        assert {c["ttft_source"] for c in meta["decision"]["candidates"]} == {"live"}
    # And cost still goes to the cheap host with the same warm stats.
    assert rt.stream_meta(model="rt-model:cost")["provider"] == "rt-cheap"
    # A TTFT ceiling below every measured TTFT is the documented 400.
    r = rt.post({"model": "rt-model", "gateway": {"routing": {"max_ttft_ms": 1}}})
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["code"], err["param"]) == ("latency_constraint_exceeded", "gateway.routing.max_ttft_ms")
    assert err["suggestion"]


def test_a_provider_that_got_faster_is_found_by_exploration(rt: Routing) -> None:
    gw = rt.gw
    gw.stats.reset(half_life_s=1.0, refresh_s=0.0)  # type: ignore[attr-defined]
    gw.policy = replace(gw.policy, explore_rate=0.3, explore_stale_s=0.3)
    rt.sim_set("rt-mid", ttft_ms=250)
    routing = {"optimize": "ttft-focus", "exclude_providers": ["rt-fast"]}
    for provider in ("rt-cheap", "rt-mid"):
        for _ in range(4):
            rt.stream_meta(model="rt-model", gateway={"routing": {"providers": [provider]}})
    rt.sim_set("rt-mid", ttft_ms=2)  # rt-mid is now far quicker than rt-cheap (60 ms), but nobody has seen it yet
    explored_mid = found = False
    for _ in range(120):
        meta = rt.stream_meta(model="rt-model", gateway={"routing": routing}, explain=True)
        explored = meta["decision"]["explored"]
        if explored and meta["provider"] == "rt-mid":
            explored_mid = True
        if not explored and meta["provider"] == "rt-mid":
            found = True
            break
    assert explored_mid, "exploration never sent traffic to the stale offering"
    assert found, "the faster provider was never chosen on its merits"


# -- failures ------------------------------------------------------------------------------------------


def test_a_failing_provider_is_fallen_back_from_then_kept_out_by_its_breaker(rt: Routing) -> None:
    rt.gw.breakers.threshold = 3
    rt.sim_set("rt-cheap", error_rate=1.0, error_status=500)
    meta = rt.create(model="rt-model", explain=True)["routing_metadata"]
    attempts = [(a["provider"], a["outcome"]) for a in meta["decision"]["attempts"]]
    assert attempts == [("rt-cheap", "error"), ("rt-mid", "ok")]
    assert meta["decision"]["attempts"][0]["error_code"] == "upstream_error"
    assert meta["provider"] == "rt-mid"
    for _ in range(10):
        meta = rt.create(model="rt-model", explain=True)["routing_metadata"]
        if any(x["excluded"] == "circuit_open" for x in meta["decision"]["excluded"]):
            break
    else:
        pytest.fail("the breaker never opened")
    before = rt.sim_requests("rt-cheap")
    for _ in range(3):
        meta = rt.create(model="rt-model", explain=True)["routing_metadata"]
        assert meta["provider"] == "rt-mid"
        assert [a["provider"] for a in meta["decision"]["attempts"]] == ["rt-mid"]
    assert rt.sim_requests("rt-cheap") == before


def test_a_timed_out_attempt_falls_back_with_a_warning(rt: Routing) -> None:
    rt.sim_set("rt-cheap", ttft_ms=3000)
    started = time.monotonic()
    meta = rt.create(model="rt-model", gateway={"routing": {"timeout_ms": 300}})["routing_metadata"]
    assert time.monotonic() - started < 2.5
    assert meta["provider"] == "rt-mid"
    assert [w["type"] for w in meta["warnings"]] == ["provider_timeout"]


def test_deadline_ms_is_honoured(rt: Routing) -> None:
    for provider in PROVIDERS:
        rt.sim_set(provider, ttft_ms=3000)
    started = time.monotonic()
    r = rt.post({"model": "rt-model", "gateway": {"routing": {"timeout_ms": 150, "deadline_ms": 400}}})
    elapsed = time.monotonic() - started
    assert r.status_code == 504, r.text
    assert r.json()["error"]["code"] == "upstream_timeout"
    assert 0.35 < elapsed < 1.5


@pytest.mark.parametrize("fault", ["midstream_error_rate", "midstream_drop_rate"])
def test_a_failure_after_the_first_byte_gives_the_error_event_and_no_duplicate_output(rt: Routing, fault: str) -> None:
    rt.sim_set("rt-cheap", **{fault: 1.0, "output_tokens": 30, "tps": 600})
    others = rt.sim_requests("rt-mid") + rt.sim_requests("rt-fast")
    cheap = rt.sim_requests("rt-cheap")
    events = rt.stream_events(model="rt-model")
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and types.count("response.created") == 1
    assert types[-1] == "response.failed"
    assert types.count("error") == 1
    assert types.count("response.output_item.added") == 1
    assert [e for e in events if e["type"] == "response.output_text.delta"]
    # Exactly one upstream call: nothing was replayed from another provider after bytes reached the client.
    assert rt.sim_requests("rt-cheap") == cheap + 1
    assert rt.sim_requests("rt-mid") + rt.sim_requests("rt-fast") == others


# -- request shape, metadata, explain ------------------------------------------------------------------


def test_pool_and_fallback_modes(rt: Routing) -> None:
    models = ["rt-model", "rt-other"]
    meta = rt.create(gateway={"models": models})["routing_metadata"]
    assert (meta["model_canonical"], meta["provider"]) == ("rt-other", "rt-mid")  # cheapest of all offerings
    meta = rt.create(gateway={"models": models, "routing": {"mode": "fallback"}})["routing_metadata"]
    assert (meta["model_canonical"], meta["provider"]) == ("rt-model", "rt-cheap")  # model order first


def test_prefer_is_used_when_available(rt: Routing) -> None:
    meta = rt.create(model="rt-model", gateway={"routing": {"prefer": "rt-fast"}})["routing_metadata"]
    assert meta["provider"] == "rt-fast"
    meta = rt.create(model="rt-other", gateway={"routing": {"prefer": "rt-fast"}})["routing_metadata"]
    assert meta["provider"] == "rt-mid"


def test_require_parameters(rt: Routing) -> None:
    r = rt.post({"model": "rt-strict", "top_p": 0.5, "gateway": {"routing": {"require_parameters": True}}})
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["code"], err["param"]) == ("required_params_not_supported", "top_p")
    assert err["suggestion"]
    meta = rt.create(model="rt-strict", top_p=0.5)["routing_metadata"]
    assert any(w["type"] == "unsupported_parameter" for w in meta["warnings"])


def test_cost_reports_cache_savings_and_unpriced_offerings_report_no_cost(rt: Routing) -> None:
    meta = rt.create(model="rt-cache", input="cached " * 200)["routing_metadata"]
    cost = meta["cost"]
    assert cost["usd"] > 0 and cost["cache_savings_usd"] > 0 and 0 < cost["cache_savings_percent"] <= 100
    meta = rt.create(model="rt-model")["routing_metadata"]
    assert "cache_savings_usd" not in meta["cost"]
    meta = rt.create(model="rt-free")["routing_metadata"]
    assert meta["provider"] == "rt-fast" and "cost" not in meta


def test_explain_header_reports_candidates_exclusions_and_attempts(rt: Routing) -> None:
    body = {"model": "rt-model", "gateway": {"routing": {"max_cost_per_1m": 1.0}}}
    assert "decision" not in rt.create(**body)["routing_metadata"]
    decision = rt.create(explain=True, **body)["routing_metadata"]["decision"]
    assert decision["strategy"] == "cost-focus" and decision["mode"] == "pool"
    assert [c["provider"] for c in decision["candidates"]] == ["rt-cheap", "rt-mid"]
    for c in decision["candidates"]:
        assert c["input_price"] is not None and c["output_price"] is not None
        assert c["ttft_ms"] > 0 and c["tps"] > 0 and isinstance(c["score"], float)
    (gone,) = decision["excluded"]
    assert (gone["provider"], gone["excluded"], gone["code"]) == (
        "rt-fast",
        "max_cost_per_1m",
        "cost_constraint_exceeded",
    )
    (attempt,) = decision["attempts"]
    assert (attempt["provider"], attempt["outcome"], attempt["error_code"]) == ("rt-cheap", "ok", None)
    assert attempt["latency_ms"] > 0


@pytest.mark.parametrize(
    ("routing", "code", "status"),
    [
        ({"providers": ["nobody"]}, "provider_not_in_allowlist", 400),
        ({"exclude_providers": list(PROVIDERS)}, "provider_blocked", 400),
        ({"max_cost_per_1m": 0.01}, "cost_constraint_exceeded", 400),
        ({"only_byok": True}, "byok_keys_required", 400),
        ({"data_policy": "zdr"}, "no_provider_available", 503),
    ],
)
def test_empty_candidate_sets_answer_with_the_documented_code(
    rt: Routing, routing: dict[str, Any], code: str, status: int
) -> None:
    r = rt.post({"model": "rt-model", "gateway": {"routing": routing}})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["suggestion"]


# -- shared stats --------------------------------------------------------------------------------------

REDIS_URL = os.environ.get("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_live_stats_are_shared_between_replicas_through_redis(
    loop_thread: LoopThread, routing_servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"interlock-test:{uuid.uuid4().hex}:"
    replicas: list[GatewayServer] = []
    try:
        for name in ("a", "b"):
            tmp = tmp_path_factory.mktemp(f"replica-{name}")
            config = routing_config(routing_servers.sim, str(tmp / "gw.db"))
            config["state_url"] = f"{REDIS_URL}?key_prefix={prefix}"
            replicas.append(GatewayServer(loop_thread, config, tmp).start())
        a, b = (Routing(Servers(routing_servers.sim, r, r.create_key(name="replica"))) for r in replicas)
        for driver in (a, b):
            driver.gw.policy = replace(driver.gw.policy, explore_rate=0.0)
        # b has routed rt-model once, so it follows those offerings' shared stats from now on.
        assert b.create(model="rt-model:ttft-focus")["routing_metadata"]["provider"] == "rt-cheap"
        for _ in range(3):
            a.stream_meta(model="rt-model", gateway={"routing": {"providers": ["rt-fast"]}})
        for _ in range(400):  # b learns rt-fast's speed from a's samples without sending it any traffic
            meta = b.create(model="rt-model:ttft-focus", explain=True)["routing_metadata"]
            fast = next(c for c in meta["decision"]["candidates"] if c["provider"] == "rt-fast")
            if fast["ttft_source"] == "live" and meta["provider"] == "rt-fast":
                break
            time.sleep(0.05)
        else:
            pytest.fail("replica b never saw replica a's samples")
        assert client.llen(f"{prefix}rt-fast/rt-model-fast@standard:ttft") >= 3
        a.close()
        b.close()
    finally:
        for server in replicas:
            server.stop()
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
