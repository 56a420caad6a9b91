"""The auriko SDK's typed routing options (``auriko.route_types``) sent through ``gateway=`` produce the documented
routing, and the routing_metadata that comes back parses into the SDK's ``RoutingMetadata`` model."""

from __future__ import annotations

from collections.abc import Iterator

import auriko
import openai
import pytest
from auriko.route_types import (
    DataPolicy,
    GatewayOptions,
    Mode,
    Optimize,
    RoutingMetadata,
    RoutingOptions,
    StructuredWarningType,
    parse_routing_metadata,
)

from tests.integration.test_routing import Routing, Servers, start_servers, stop_servers
from tests.support.servers import LoopThread


@pytest.fixture(scope="module")
def sdk_servers(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    servers = start_servers(loop_thread, tmp_path_factory.mktemp("routing-sdk"))
    yield servers
    stop_servers(servers)


@pytest.fixture
def rt(sdk_servers: Servers) -> Iterator[Routing]:
    driver = Routing(sdk_servers)
    driver.reset()
    yield driver
    driver.reset()
    driver.close()


@pytest.fixture
def client(rt: Routing) -> auriko.Client:
    return auriko.Client(base_url=rt.servers.gateway.base_url, api_key=rt.servers.key, max_retries=0)


def meta_of(resp: object) -> RoutingMetadata:
    meta = getattr(resp, "routing_metadata", None)
    assert isinstance(meta, RoutingMetadata)
    return meta


def test_routing_options_choose_the_documented_offering(client: auriko.Client) -> None:
    cases: list[tuple[RoutingOptions, str, str]] = [
        (RoutingOptions(optimize=Optimize.COST), "rt-cheap", "cost"),
        (RoutingOptions(providers=["rt-mid", "rt-fast"]), "rt-mid", "cost-focus"),
        (RoutingOptions(exclude_providers=["rt-cheap"], optimize=Optimize.COST_FOCUS), "rt-mid", "cost-focus"),
        (RoutingOptions(prefer="rt-fast"), "rt-fast", "cost-focus"),
        (RoutingOptions(max_cost_per_1m=0.5, data_policy=DataPolicy.NONE), "rt-cheap", "cost-focus"),
        (RoutingOptions(weights={"cost": 1.0, "ttft": 0.0}), "rt-cheap", "custom"),
        (RoutingOptions(allow_fallbacks=False, max_fallback_attempts=3, timeout_ms=5000, deadline_ms=9000),
         "rt-cheap", "cost-focus"),
    ]  # fmt: skip
    for routing, provider, strategy in cases:
        resp = client.responses.create(model="rt-model", input="hi", gateway=GatewayOptions(routing=routing))
        meta = meta_of(resp)
        assert (meta.provider, meta.routing_strategy) == (provider, strategy), routing
        assert meta.model_canonical == "rt-model"
        assert meta.cost is not None and meta.cost.usd > 0


def test_models_with_pool_and_fallback_modes(client: auriko.Client) -> None:
    pool = GatewayOptions(models=["rt-model", "rt-other"], routing=RoutingOptions(mode=Mode.POOL))
    assert meta_of(client.responses.create(input="hi", gateway=pool)).model_canonical == "rt-other"
    fallback = GatewayOptions(models=["rt-model", "rt-other"], routing=RoutingOptions(mode=Mode.FALLBACK))
    meta = meta_of(client.responses.create(input="hi", gateway=fallback))
    assert (meta.model_canonical, meta.provider) == ("rt-model", "rt-cheap")


def test_stream_metadata_and_provider_timeout_warning(rt: Routing, client: auriko.Client) -> None:
    rt.sim_set("rt-cheap", ttft_ms=3000)
    gateway = GatewayOptions(routing=RoutingOptions(timeout_ms=300))
    stream = client.responses.create(model="rt-model", input="hi", stream=True, gateway=gateway)
    types = [event.type for event in stream]
    assert types[-1] == "response.completed"
    final = stream.completed_response
    assert final is not None
    meta = meta_of(final)
    assert meta.provider == "rt-mid"
    assert meta.ttft_ms is not None and meta.ttft_ms > 0
    assert meta.throughput_tps is not None and meta.throughput_tps > 0
    assert meta.warnings is not None
    assert [w.type for w in meta.warnings] == [StructuredWarningType.PROVIDER_TIMEOUT]


def test_routing_errors_raise_the_sdk_error_with_code_and_suggestion(client: auriko.Client) -> None:
    gateway = GatewayOptions(routing=RoutingOptions(max_cost_per_1m=0.01))
    with pytest.raises(auriko.BadRequestError) as info:
        client.responses.create(model="rt-model", input="hi", gateway=gateway)
    assert info.value.code == "cost_constraint_exceeded"
    assert info.value.param == "gateway.routing.max_cost_per_1m"


def test_chat_completions_and_the_openai_sdk_parse_the_same_metadata(rt: Routing, client: auriko.Client) -> None:
    gateway = GatewayOptions(routing=RoutingOptions(optimize=Optimize.TTFT, providers=["rt-fast"]))
    completion = client.chat.completions.create(
        model="rt-model", messages=[{"role": "user", "content": "hi"}], gateway=gateway
    )
    meta = meta_of(completion)
    assert (meta.provider, meta.routing_strategy) == ("rt-fast", "ttft")

    oai = openai.OpenAI(base_url=rt.servers.gateway.base_url + "/v1", api_key=rt.servers.key, max_retries=0)
    pinned = GatewayOptions(routing=RoutingOptions(providers=["rt-fast"]))  # no optimize: the suffix decides
    resp = oai.responses.create(model="rt-model:tps", input="hi", extra_body=pinned.to_extra_body())
    parsed = parse_routing_metadata(resp)
    assert parsed is not None and parsed.provider == "rt-fast" and parsed.routing_strategy == "tps"
    assert RoutingMetadata.model_validate(resp.model_extra["routing_metadata"]) == parsed  # type: ignore[index]
