"""POST /v1/chat/completions with the official auriko SDK 1.2.0: typed responses, streams and typed errors."""

from __future__ import annotations

import auriko
import pytest
from auriko.models.chat import ChatCompletion, ChatCompletionChunk
from auriko.route_types import GatewayOptions, RoutingOptions

from tests.support.servers import GatewayServer

UPSTREAMS = ["test-responses", "test-chat", "test-claude", "test-gemini"]


@pytest.fixture
def client(gateway: GatewayServer, api_key: str) -> auriko.Client:
    return auriko.Client(base_url=gateway.base_url, api_key=api_key, max_retries=0)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_create(client: auriko.Client, model: str) -> None:
    resp = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello from auriko"}])
    assert isinstance(resp, ChatCompletion)
    assert resp.choices[0].message.content
    assert resp.usage is not None and resp.usage.total_tokens > 0
    meta = resp.routing_metadata
    assert meta is not None and meta.model_canonical == model
    assert meta.cost is not None and meta.cost.usd > 0
    assert resp.model == meta.provider_model_id
    assert resp.response_headers is not None and resp.response_headers.request_id


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream(client: auriko.Client, model: str) -> None:
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "stream please"}], stream=True
    )
    chunks = list(stream)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert stream.usage is not None and stream.usage.completion_tokens > 0
    meta = stream.routing_metadata
    assert meta is not None and meta.model_canonical == model and meta.ttft_ms is not None


def test_gateway_models_and_strategy(client: auriko.Client) -> None:
    gw = GatewayOptions(models=["test-chat", "test-gpt"], routing=RoutingOptions(optimize="ttft", mode="fallback"))  # type: ignore[arg-type]
    resp = client.chat.completions.create(messages=[{"role": "user", "content": "routing"}], gateway=gw)
    assert resp.routing_metadata is not None and resp.routing_metadata.routing_strategy == "ttft"


def test_reasoning_exclude_and_effort_are_accepted(client: auriko.Client) -> None:
    resp = client.chat.completions.create(
        model="test-chat",
        messages=[{"role": "user", "content": "think"}],
        reasoning={"exclude": True},
        min_p=0.1,
        top_k=20,
        repetition_penalty=1.05,
    )
    assert resp.choices[0].message.reasoning_content is None
    warnings = resp.routing_metadata.warnings if resp.routing_metadata else None
    assert warnings is None or all(w.type != "unsupported_field" for w in warnings)


def test_authentication_error(gateway: GatewayServer) -> None:
    client = auriko.Client(base_url=gateway.base_url, api_key="ak_live_" + "0" * 40, max_retries=0)
    with pytest.raises(auriko.AuthenticationError) as info:
        client.chat.completions.create(model="test-chat", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_api_key"


def test_not_found_error(client: auriko.Client) -> None:
    with pytest.raises(auriko.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "model_not_found"
    assert info.value.param == "model"


def test_bad_request_error(client: auriko.Client) -> None:
    with pytest.raises(auriko.BadRequestError) as info:
        client.chat.completions.create(model="test-chat", messages=[{"role": "user", "content": "hi"}], temperature=5)
    assert info.value.code == "invalid_parameter_value"
    assert info.value.param == "temperature"
