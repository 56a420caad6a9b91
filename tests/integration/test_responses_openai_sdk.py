"""POST /v1/responses end to end with the official openai SDK against the real gateway and simulator."""

from __future__ import annotations

import json

import openai
import pydantic
import pytest

from tests.support.servers import GatewayServer

MODELS = ["test-responses", "test-chat", "test-gpt"]


@pytest.fixture
def client(gateway: GatewayServer, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=api_key, max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_create_returns_text_and_routing_metadata(client: openai.OpenAI, model: str) -> None:
    resp = client.responses.create(model=model, input="Say hello to the gateway.")
    assert resp.status == "completed"
    assert resp.output_text.strip()
    assert resp.id.startswith("resp_")
    assert resp.usage is not None and resp.usage.output_tokens > 0
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    meta = resp.model_extra["routing_metadata"]  # type: ignore[index]
    assert meta["model_canonical"] == model
    assert meta["provider"] in ("sim-oai", "sim-chat-a")
    assert meta["routing_strategy"] == "cost-focus"
    assert meta["cost"]["usd"] > 0
    assert "throughput_tps" in meta
    assert resp.model == meta["provider_model_id"]


def test_cost_matches_prices_and_usage(client: openai.OpenAI) -> None:
    resp = client.responses.create(model="test-chat", input="price check")
    meta = resp.model_extra["routing_metadata"]  # type: ignore[index]
    assert resp.usage is not None
    expected = (resp.usage.input_tokens * 0.5 + resp.usage.output_tokens * 1.5) / 1e6
    assert meta["cost"]["usd"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_stream_get_final_response(client: openai.OpenAI, model: str) -> None:
    deltas: list[str] = []
    with client.responses.stream(model=model, input="Stream a short story.") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert final.status == "completed"
    assert "".join(deltas) == final.output_text
    meta = final.model_extra["routing_metadata"]  # type: ignore[index]
    assert meta["ttft_ms"] >= 0
    assert meta["model_canonical"] == model


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: float
    sunny: bool


@pytest.mark.parametrize("model", ["test-responses", "test-chat"])
def test_parse_with_pydantic_text_format(client: openai.OpenAI, model: str) -> None:
    parsed = client.responses.parse(model=model, input="Weather in Paris as JSON.", text_format=Weather)
    assert isinstance(parsed.output_parsed, Weather)


TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]


@pytest.mark.parametrize("model", ["test-responses", "test-chat"])
def test_function_call_round_trip(client: openai.OpenAI, model: str) -> None:
    first = client.responses.create(model=model, input="What is the weather in Oslo? Use the tool.", tools=TOOLS)  # type: ignore[arg-type]
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls, first.output
    call = calls[0]
    assert call.name == "get_weather"
    args = json.loads(call.arguments)
    assert isinstance(args["city"], str)
    second = client.responses.create(
        model=model,
        tools=TOOLS,  # type: ignore[arg-type]
        input=[
            {"role": "user", "content": "What is the weather in Oslo? Use the tool."},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 7, "sky": "rain"}'},
        ],
    )
    assert second.status == "completed"
    assert second.output_text


def test_streamed_tool_call_arguments_accumulate(client: openai.OpenAI) -> None:
    with client.responses.stream(model="test-chat", input="Check the weather tool for Rome", tools=TOOLS) as stream:  # type: ignore[arg-type]
        final = stream.get_final_response()
    calls = [i for i in final.output if i.type == "function_call"]
    assert calls and json.loads(calls[0].arguments)["city"]


def test_explain_header_adds_decision(gateway: GatewayServer, api_key: str) -> None:
    client = openai.OpenAI(
        base_url=gateway.base_url + "/v1",
        api_key=api_key,
        max_retries=0,
        default_headers={"x-interlock-explain": "true"},
    )
    resp = client.responses.create(model="test-gpt", input="explain")
    decision = resp.model_extra["routing_metadata"]["decision"]  # type: ignore[index]
    assert [c["provider"] for c in decision["candidates"]] == ["sim-oai", "sim-chat-a"]
    assert decision["attempts"][0]["outcome"] == "ok"


def test_bad_key_is_401(gateway: GatewayServer) -> None:
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="ak_live_" + "x" * 40, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.responses.create(model="test-gpt", input="hi")
    assert info.value.code == "invalid_api_key"
