"""POST /v1/responses with the official auriko SDK 1.2.0."""

from __future__ import annotations

import auriko
import pytest
from auriko.route_types import GatewayOptions, RoutingOptions

from tests.support.servers import GatewayServer


@pytest.fixture
def client(gateway: GatewayServer, api_key: str) -> auriko.Client:
    return auriko.Client(base_url=gateway.base_url, api_key=api_key, max_retries=0)


def test_create(client: auriko.Client) -> None:
    resp = client.responses.create(model="test-gpt", input="Hello from auriko")
    assert resp.status == "completed"
    text = "".join(p.text for item in resp.output if item.type == "message" for p in item.content)  # type: ignore[union-attr]
    assert text
    meta = resp.routing_metadata
    assert meta is not None
    assert meta.model_canonical == "test-gpt"
    assert meta.provider == "sim-oai"
    assert meta.cost is not None and meta.cost.usd > 0


def test_stream_to_completed_response(client: auriko.Client) -> None:
    stream = client.responses.create(model="test-chat", input="stream please", stream=True)
    types = [event.type for event in stream]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    final = stream.completed_response
    assert final is not None and final.status == "completed"
    assert final.routing_metadata is not None and final.routing_metadata.ttft_ms is not None


def test_gateway_options_pass_through(client: auriko.Client) -> None:
    gw = GatewayOptions(routing=RoutingOptions(optimize="cost", allow_fallbacks=True))  # type: ignore[arg-type]
    resp = client.responses.create(model="test-gpt", input="routing", gateway=gw)
    assert resp.routing_metadata is not None and resp.routing_metadata.routing_strategy == "cost"


def test_bad_key_raises_authentication_error(gateway: GatewayServer) -> None:
    client = auriko.Client(base_url=gateway.base_url, api_key="ak_live_" + "0" * 40, max_retries=0)
    with pytest.raises(auriko.AuthenticationError) as info:
        client.responses.create(model="test-gpt", input="hi")
    assert info.value.code == "invalid_api_key"
