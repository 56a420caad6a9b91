"""POST /v1/chat/completions end to end with the official openai SDK, across every upstream protocol."""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
import pytest

from tests.support.servers import GatewayServer

# One model per upstream protocol: openai-responses, openai-chat, anthropic, gemini.
UPSTREAMS = ["test-responses", "test-chat", "test-claude", "test-gemini"]
PROVIDERS = {
    "test-responses": "sim-oai",
    "test-chat": "sim-chat-a",
    "test-claude": "sim-anthropic",
    "test-gemini": "sim-gemini",
}


@pytest.fixture
def client(gateway: GatewayServer, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=api_key, max_retries=0)


def meta_of(obj: Any) -> dict[str, Any]:
    extra = obj.model_extra or {}
    meta = extra.get("routing_metadata")
    assert isinstance(meta, dict), extra
    return meta


@pytest.mark.parametrize("model", UPSTREAMS)
def test_create(client: openai.OpenAI, model: str) -> None:
    resp = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
    )
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "stop"
    assert resp.usage is not None and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    meta = meta_of(resp)
    assert meta["model_canonical"] == model
    assert meta["provider"] == PROVIDERS[model]
    assert resp.model == meta["provider_model_id"]  # the body's model is the provider model id
    assert meta["cost"]["usd"] > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream_final_chunk_has_usage_and_routing_metadata(client: openai.OpenAI, model: str) -> None:
    chunks = list(
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Stream it."}], stream=True)
    )
    assert chunks, "no chunks"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0  # include_usage is forced on
    meta = meta_of(last)
    assert meta["model_canonical"] == model and meta["ttft_ms"] >= 0
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role) == 1


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream_helper_accumulates(client: openai.OpenAI, model: str) -> None:
    with client.chat.completions.stream(model=model, messages=[{"role": "user", "content": "Tell a story."}]) as s:
        deltas = [e.delta for e in s if e.type == "content.delta"]
        final = s.get_final_completion()
    assert "".join(deltas) == final.choices[0].message.content
    assert final.usage is not None


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.parametrize("model", UPSTREAMS)
def test_tool_round_trip(client: openai.OpenAI, model: str) -> None:
    question: list[Any] = [{"role": "user", "content": "What is the weather in Oslo? Use the tool."}]
    first = client.chat.completions.create(model=model, messages=question, tools=[WEATHER])  # type: ignore[list-item]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].function.name == "get_weather"
    assert isinstance(json.loads(calls[0].function.arguments)["city"], str)
    second = client.chat.completions.create(
        model=model,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            *question,
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp_c": 7, "sky": "rain"}'},
        ],
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content


@pytest.mark.parametrize("model", UPSTREAMS)
def test_parallel_tool_calls_streamed(client: openai.OpenAI, model: str) -> None:
    messages: Any = [{"role": "user", "content": "Use the tools in parallel for Paris weather and time."}]
    stream = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER, TIME], stream=True)
    chunks = list(stream)
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert {d.index for d in deltas} == {0, 1}, [d.model_dump() for d in deltas]
    assert sum(1 for d in deltas if d.id) == 2  # ids (and names) are sent once per call
    with client.chat.completions.stream(model=model, messages=messages, tools=[WEATHER, TIME]) as s:
        final = s.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert all(isinstance(json.loads(c.function.arguments), dict) for c in calls)
    assert final.choices[0].finish_reason == "tool_calls"


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}, "sunny": {"type": "boolean"}},
    "required": ["city", "temperature_c", "sunny"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("model", UPSTREAMS)
def test_response_format_json_schema(client: openai.OpenAI, model: str) -> None:
    resp = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Paris as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}},
    )
    data = json.loads(resp.choices[0].message.content or "")
    assert set(data) == {"city", "temperature_c", "sunny"}


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: float
    sunny: bool


@pytest.mark.parametrize("model", UPSTREAMS)
def test_parse_with_pydantic(client: openai.OpenAI, model: str) -> None:
    parsed = client.chat.completions.parse(
        model=model, messages=[{"role": "user", "content": "Weather in Paris."}], response_format=Weather
    )
    assert isinstance(parsed.choices[0].message.parsed, Weather)


def test_bad_key_is_401(gateway: GatewayServer) -> None:
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="ak_live_" + "x" * 40, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="test-chat", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_api_key"


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "model_not_found"
