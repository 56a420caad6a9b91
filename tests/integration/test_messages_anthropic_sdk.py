"""POST /v1/messages and /v1/messages/count_tokens with the official anthropic SDK, over every upstream."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.support.servers import GatewayServer

UPSTREAMS = ["test-responses", "test-chat", "test-claude", "test-gemini"]
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME: Any = {
    "name": "get_time",
    "description": "Local time in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def client(gateway: GatewayServer, api_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.base_url, api_key=api_key, max_retries=0)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_create(client: anthropic.Anthropic, model: str) -> None:
    msg = client.messages.create(
        model=model, max_tokens=200, system="Be brief.", messages=[{"role": "user", "content": "Say hello."}]
    )
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.content and msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens > 0 and msg.usage.input_tokens > 0
    meta = (msg.model_extra or {})["routing_metadata"]
    assert meta["model_canonical"] == model and msg.model == meta["provider_model_id"]
    assert msg._request_id and msg._request_id.startswith("req_")


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream_text(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model, max_tokens=200, messages=[{"role": "user", "content": "Tell me a story."}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream_raw_event_order(client: anthropic.Anthropic, model: str) -> None:
    events = list(
        client.messages.create(
            model=model,
            max_tokens=100,
            stream=True,
            messages=[{"role": "user", "content": "weather tool for Oslo"}],
            tools=[WEATHER],
        )
    )
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    starts = [e for e in events if e.type == "content_block_start"]
    assert [e.index for e in starts] == list(range(len(starts)))
    tool_blocks = [e.index for e in starts if e.content_block.type == "tool_use"]
    assert tool_blocks
    for index in tool_blocks:  # pitfall 5.12 #4: every tool_use block carries input_json_delta fragments
        assert any(
            e.type == "content_block_delta" and e.index == index and e.delta.type == "input_json_delta" for e in events
        )


@pytest.mark.parametrize("model", UPSTREAMS)
def test_tool_use_round_trip(client: anthropic.Anthropic, model: str) -> None:
    question: list[Any] = [{"role": "user", "content": "What is the weather in Oslo? Use the tool."}]
    first = client.messages.create(model=model, max_tokens=300, messages=question, tools=[WEATHER])
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather" and isinstance(uses[0].input, dict)
    assert isinstance(uses[0].input["city"], str)
    second = client.messages.create(
        model=model,
        max_tokens=300,
        tools=[WEATHER],
        messages=[
            *question,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "7C, rain"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert any(b.type == "text" and b.text for b in second.content)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream_parallel_tool_use(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model,
        max_tokens=300,
        tools=[WEATHER, TIME],
        messages=[{"role": "user", "content": "Use the tools in parallel for Paris weather and time."}],
    ) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"]
    assert all(isinstance(u.input, dict) and u.input.get("city") for u in uses)
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_count_tokens(client: anthropic.Anthropic, model: str) -> None:
    short = client.messages.count_tokens(model=model, messages=[{"role": "user", "content": "Hi"}])
    longer = client.messages.count_tokens(
        model=model,
        system="You are a careful assistant.",
        tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather like in Oslo today? " * 20}],
    )
    assert 0 < short.input_tokens < longer.input_tokens


def test_count_tokens_unknown_model(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "Hi"}])
    assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_errors_use_the_anthropic_envelope(gateway: GatewayServer) -> None:
    bad = anthropic.Anthropic(base_url=gateway.base_url, api_key="ak_live_" + "2" * 40, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(model="test-chat", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error" and "code" not in body["error"]


def test_bad_request(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="test-chat",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"temperature": 1.5},  # anthropic 2.x no longer types sampling parameters
        )
    assert "temperature" in info.value.message
