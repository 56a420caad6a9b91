"""The provider simulator over real HTTP on loopback, driven by the official SDKs (openai, anthropic) and aiohttp.

These tests prove the wire formats are what real clients accept, and that the behaviour knobs (errors, outages,
timeouts, stream faults, pacing) and the control API work end to end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pydantic
import pytest
import pytest_asyncio

from interlock.sim import SimConfig, SimProtocol, SimProvider, SimServer

PROVIDERS: dict[str, SimProtocol] = {
    "oa": "openai-responses",
    "oc": "openai-chat",
    "an": "anthropic",
    "ge": "gemini",
}
ANTHROPIC_HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
RESPONSES_TOOLS: list[Any] = [
    {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True},
    {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}, "strict": False},
]
CHAT_TOOLS: list[Any] = [
    {"type": "function", "function": {"name": t["name"], "parameters": t["parameters"]}} for t in RESPONSES_TOOLS
]
ANTHROPIC_TOOLS: list[Any] = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
GEMINI_TOOLS: list[Any] = [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": WEATHER_SCHEMA}]}]
_ids = itertools.count()


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    server = SimServer(SimConfig(providers={p: SimProvider(protocol=proto) for p, proto in PROVIDERS.items()}, seed=3))
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def fresh(sim: SimServer, protocol: SimProtocol, **behaviour: Any) -> str:
    """A new provider id with its own behaviour, so tests that inject faults do not disturb each other."""
    provider_id = f"t{next(_ids)}"
    sim.set_behaviour(provider_id, behaviour, protocol=protocol)
    return provider_id


def openai_client(sim: SimServer, provider_id: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sim.base_url(provider_id), api_key="sk-test", max_retries=0)


def anthropic_client(sim: SimServer, provider_id: str) -> anthropic.AsyncAnthropic:
    # The SDK appends /v1/messages itself, so it takes the provider root rather than base_url().
    return anthropic.AsyncAnthropic(base_url=f"{sim.url}/p/{provider_id}", api_key="sk-test", max_retries=0)


def request_for(sim: SimServer, protocol: SimProtocol, provider_id: str, text: str, stream: bool = False) -> Any:
    """(url, json body, headers) for a minimal request in `protocol`."""
    base = sim.base_url(provider_id, protocol)
    if protocol == "openai-responses":
        return f"{base}/responses", {"model": "m", "input": text, "stream": stream}, {}
    if protocol == "openai-chat":
        body = {"model": "m", "messages": [{"role": "user", "content": text}], "stream": stream}
        return f"{base}/chat/completions", body, {}
    if protocol == "anthropic":
        body = {"model": "m", "max_tokens": 256, "messages": [{"role": "user", "content": text}], "stream": stream}
        return f"{base}/messages", body, ANTHROPIC_HEADERS
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base}/models/gemini-2.5-flash:{action}", {"contents": [{"role": "user", "parts": [{"text": text}]}]}, {}


def sse_payloads(text: str) -> list[Any]:
    """The JSON payloads of an SSE body (skipping `[DONE]`)."""
    payloads = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("data: ") and line != "data: [DONE]":
            payloads.append(json.loads(line[len("data: ") :]))
    return payloads


# -- OpenAI Responses ---------------------------------------------------------------------------------------------


async def test_responses_create_and_stream_text(sim: SimServer) -> None:
    async with openai_client(sim, "oa") as client:
        created = await client.responses.create(model="gpt-sim", input="Say hello")
        async with client.responses.stream(model="gpt-sim", input="Say hello") as stream:
            deltas = [event.delta async for event in stream if event.type == "response.output_text.delta"]
            final = await stream.get_final_response()
    assert created.output_text == final.output_text == "".join(deltas)
    assert created.status == "completed" and created.usage is not None
    assert created.usage.output_tokens == len(deltas)
    assert created.usage.input_tokens == max(1, len("Say hello") // 4)


async def test_responses_stream_reasoning_and_tool_call(sim: SimServer) -> None:
    async with (
        openai_client(sim, "oa") as client,
        client.responses.stream(
            model="gpt-sim",
            input="What is the weather in Paris?",
            tools=RESPONSES_TOOLS,
            reasoning={"effort": "low", "summary": "auto"},
            include=["reasoning.encrypted_content"],
        ) as stream,
    ):
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    reasoning, call = final.output
    assert reasoning.type == "reasoning" and reasoning.summary and reasoning.encrypted_content
    assert call.type == "function_call" and call.name == "get_weather"
    assert set(json.loads(call.arguments)) == {"city", "unit"}
    assert "response.reasoning_summary_text.delta" in kinds and "response.function_call_arguments.delta" in kinds
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens > 0

    # Next turn: replay the reasoning item and answer the call; the reply quotes the tool output.
    async with openai_client(sim, "oa") as client:
        turn: list[Any] = [
            {"role": "user", "content": "What is the weather in Paris?"},
            reasoning.model_dump(exclude_none=True),
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C and clear"},
        ]
        follow = await client.responses.create(model="gpt-sim", tools=RESPONSES_TOOLS, input=turn)
        assert "18C and clear" in follow.output_text
        with pytest.raises(openai.BadRequestError, match="could not be verified"):
            tampered: list[Any] = [
                {**reasoning.model_dump(exclude_none=True), "encrypted_content": "AAAA" + "x" * 40},
                {"role": "user", "content": "go"},
            ]
            await client.responses.create(model="gpt-sim", input=tampered)


class Forecast(pydantic.BaseModel):
    city: str
    temperature: int
    tags: list[str]


async def test_responses_parse_structured_output(sim: SimServer) -> None:
    async with openai_client(sim, "oa") as client:
        parsed = await client.responses.parse(model="gpt-sim", input="forecast please", text_format=Forecast)
    assert isinstance(parsed.output_parsed, Forecast)


# -- OpenAI Chat Completions --------------------------------------------------------------------------------------


async def test_chat_create_and_stream_parallel_tools(sim: SimServer) -> None:
    async with openai_client(sim, "oc") as client:
        created = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
        async with client.chat.completions.stream(
            model="m",
            messages=[{"role": "user", "content": "weather and time, in parallel"}],
            tools=CHAT_TOOLS,
            stream_options={"include_usage": True},
        ) as stream:
            async for _ in stream:
                pass
            final = await stream.get_final_completion()
    assert created.choices[0].message.content and created.choices[0].finish_reason == "stop"
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
    assert [call.function.name for call in choice.message.tool_calls] == ["get_weather", "get_time"]
    assert json.loads(choice.message.tool_calls[0].function.arguments)["unit"] in ("celsius", "fahrenheit")
    assert final.usage is not None and final.usage.completion_tokens > 0


async def test_chat_stream_reasoning_content_and_tool_result_turn(sim: SimServer) -> None:
    async with openai_client(sim, "oc") as client:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "think first"}], reasoning_effort="high", stream=True
        )
        reasoning = [
            (chunk.choices[0].delta.model_extra or {}).get("reasoning_content")
            async for chunk in stream
            if chunk.choices
        ]
        follow = await client.chat.completions.create(
            model="m",
            tools=CHAT_TOOLS,
            messages=[
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
            ],
        )
        with pytest.raises(openai.BadRequestError, match="tool_call_ids did not have response messages"):
            await client.chat.completions.create(
                model="m",
                messages=[
                    {"role": "user", "content": "weather?"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "call_1", "type": "function", "function": {"name": "x", "arguments": "{}"}}
                        ],
                    },
                    {"role": "user", "content": "and?"},
                ],
            )
    assert any(reasoning)
    assert (follow.choices[0].message.content or "").startswith("Tool result: rainy.")


# -- Anthropic Messages -------------------------------------------------------------------------------------------


async def test_anthropic_thinking_and_tool_use_round_trip(sim: SimServer) -> None:
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Rome?"}]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    async with anthropic_client(sim, "an") as client:
        async with client.messages.stream(
            model="claude-sim", max_tokens=2048, thinking=thinking, tools=ANTHROPIC_TOOLS, messages=messages
        ) as stream:
            async for _ in stream:
                pass
            first = await stream.get_final_message()
        assert [block.type for block in first.content] == ["thinking", "tool_use"]
        assert first.stop_reason == "tool_use"
        tool_use = first.content[1]
        assert tool_use.type == "tool_use" and set(tool_use.input) == {"city", "unit"}  # type: ignore[arg-type]

        assistant: Any = {
            "role": "assistant",
            "content": [block.model_dump(exclude_none=True) for block in first.content],
        }
        result: Any = {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "31C"}],
        }
        second = await client.messages.create(
            model="claude-sim",
            max_tokens=2048,
            thinking=thinking,
            tools=ANTHROPIC_TOOLS,
            messages=[*messages, assistant, result],
        )
        text = "".join(block.text for block in second.content if block.type == "text")
        assert text.startswith("Tool result: 31C.") and second.stop_reason == "end_turn"

        edited: Any = json.loads(json.dumps(assistant))
        edited["content"][0]["thinking"] += " (edited)"
        with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
            await client.messages.create(
                model="claude-sim",
                max_tokens=2048,
                thinking=thinking,
                tools=ANTHROPIC_TOOLS,
                messages=[*messages, edited, result],
            )
        with pytest.raises(anthropic.BadRequestError, match="without `tool_result`"):
            await client.messages.create(
                model="claude-sim",
                max_tokens=2048,
                tools=ANTHROPIC_TOOLS,
                messages=[*messages, assistant, {"role": "user", "content": "never mind"}],
            )
        with pytest.raises(anthropic.BadRequestError, match="must start with a thinking block"):
            bare: Any = {"role": "assistant", "content": [assistant["content"][1]]}
            await client.messages.create(
                model="claude-sim",
                max_tokens=2048,
                thinking=thinking,
                tools=ANTHROPIC_TOOLS,
                messages=[*messages, bare, result],
            )


async def test_anthropic_create_text_and_usage(sim: SimServer) -> None:
    provider_id = fresh(sim, "anthropic", cached_tokens=2, output_tokens=12)
    async with anthropic_client(sim, provider_id) as client:
        message = await client.messages.create(
            model="claude-sim", max_tokens=100, messages=[{"role": "user", "content": "x" * 40}]
        )
    assert message.content[0].type == "text" and len(message.content[0].text.split()) == 12
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        8,
        2,
        12,
    )


async def test_anthropic_headers_required(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url, body, _ = request_for(sim, "anthropic", "an", "hi")
    async with http.post(url, json=body, headers={"anthropic-version": "2023-06-01"}) as response:
        assert response.status == 401
        assert (await response.json())["error"]["type"] == "authentication_error"
    async with http.post(url, json=body, headers={"x-api-key": "k"}) as response:
        assert response.status == 400
        assert "anthropic-version" in (await response.json())["error"]["message"]


# -- Gemini -------------------------------------------------------------------------------------------------------


async def test_gemini_stream_tool_call_and_signature_round_trip(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = f"{sim.base_url('ge')}/models/gemini-3-pro-preview"
    user = {"role": "user", "parts": [{"text": "Call the weather tool for Oslo"}]}
    body: dict[str, Any] = {
        "contents": [user],
        "tools": GEMINI_TOOLS,
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}},
    }
    async with http.post(
        f"{url}:streamGenerateContent?alt=sse", json=body, headers={"x-goog-api-key": "k"}
    ) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        chunks = sse_payloads(await response.text())
    parts = [part for chunk in chunks for part in chunk["candidates"][0]["content"]["parts"]]
    thoughts = [part for part in parts if part.get("thought")]
    calls = [part for part in parts if "functionCall" in part]
    assert thoughts and len(calls) == 1 and calls[0]["thoughtSignature"]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["thoughtsTokenCount"] == len(thoughts)

    response_turn = {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "-3C"}}}],
    }
    follow = {**body, "contents": [user, {"role": "model", "parts": calls}, response_turn]}
    async with http.post(f"{url}:generateContent", json=follow) as response:
        assert response.status == 200
        answer = await response.json()
    text = "".join(p.get("text", "") for p in answer["candidates"][0]["content"]["parts"] if not p.get("thought"))
    assert text.startswith("Tool result: -3C.")

    unsigned = {"role": "model", "parts": [{"functionCall": calls[0]["functionCall"]}]}
    async with http.post(
        f"{url}:generateContent", json={**body, "contents": [user, unsigned, response_turn]}
    ) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "missing a thought_signature" in error["message"]


async def test_gemini_json_array_stream_and_structured_output(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = f"{sim.base_url('ge')}/models/gemini-2.5-flash"
    body = {"contents": [{"parts": [{"text": "hello"}]}]}
    async with http.post(f"{url}:streamGenerateContent", json=body) as response:
        chunks = json.loads(await response.text())
    text = "".join(chunk["candidates"][0]["content"]["parts"][0]["text"] for chunk in chunks)
    usage = chunks[-1]["usageMetadata"]
    assert usage["candidatesTokenCount"] == len(text.split())
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "number"}}}
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    async with http.post(f"{url}:generateContent", json={**body, "generationConfig": config}) as response:
        document = json.loads((await response.json())["candidates"][0]["content"]["parts"][0]["text"])
    assert isinstance(document["answer"], str) and isinstance(document["score"], float)


# -- Determinism --------------------------------------------------------------------------------------------------


async def reply_text(
    sim: SimServer, http: aiohttp.ClientSession, protocol: SimProtocol, provider_id: str, text: str
) -> str:
    url, body, headers = request_for(sim, protocol, provider_id, text)
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        data = await response.json()
    if protocol == "openai-responses":
        return str(data["output"][0]["content"][0]["text"])
    if protocol == "openai-chat":
        return str(data["choices"][0]["message"]["content"])
    if protocol == "anthropic":
        return str(data["content"][0]["text"])
    return str(data["candidates"][0]["content"]["parts"][0]["text"])


async def test_replies_are_deterministic_across_protocols_and_runs(sim: SimServer, http: aiohttp.ClientSession) -> None:
    texts = {await reply_text(sim, http, proto, pid, "Tell me a story") for pid, proto in PROVIDERS.items()}
    assert len(texts) == 1
    async with SimServer(SimConfig(seed=3)) as again, SimServer(SimConfig(seed=4)) as other:
        assert await reply_text(again, http, "openai-chat", "any", "Tell me a story") in texts
        assert await reply_text(other, http, "openai-chat", "any", "Tell me a story") not in texts
    assert await reply_text(sim, http, "openai-chat", "oc", "Another story") not in texts


# -- Faults -------------------------------------------------------------------------------------------------------

ERROR_CASES = [
    ("openai-responses", 429, lambda b: b["error"]["code"] == "rate_limit_exceeded"),
    ("openai-chat", 500, lambda b: b["error"]["type"] == "server_error" and "param" in b["error"]),
    ("openai-chat", 529, lambda b: b["error"]["code"] == "overloaded"),
    ("anthropic", 529, lambda b: b["type"] == "error" and b["error"]["type"] == "overloaded_error"),
    ("anthropic", 429, lambda b: b["error"]["type"] == "rate_limit_error"),
    ("gemini", 429, lambda b: b["error"]["status"] == "RESOURCE_EXHAUSTED" and b["error"]["code"] == 429),
    ("gemini", 500, lambda b: b["error"]["status"] == "INTERNAL"),
]


@pytest.mark.parametrize(("protocol", "status", "check"), ERROR_CASES, ids=[f"{p}-{s}" for p, s, _ in ERROR_CASES])
async def test_injected_errors_use_the_protocol_envelope(
    sim: SimServer, http: aiohttp.ClientSession, protocol: SimProtocol, status: int, check: Any
) -> None:
    provider_id = fresh(sim, protocol, error_rate=1.0, error_status=status, retry_after_s=2)
    url, body, headers = request_for(sim, protocol, provider_id, "hi")
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == status
        assert response.headers.get("retry-after") == ("2" if status in (429, 503, 529) else None)
        assert check(await response.json())
    assert sim.stats()[provider_id] == {"requests": 1, "errors": 1}


async def test_sdks_map_injected_errors(sim: SimServer) -> None:
    async with openai_client(sim, fresh(sim, "openai-responses", error_rate=1, error_status=429)) as client:
        with pytest.raises(openai.RateLimitError):
            await client.responses.create(model="m", input="x")
    async with anthropic_client(sim, fresh(sim, "anthropic", error_rate=1, error_status=529)) as anthropic_sdk:
        with pytest.raises(anthropic.OverloadedError) as caught:
            await anthropic_sdk.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


@pytest.mark.parametrize("protocol", list(PROVIDERS.values()))
async def test_outage_windows_answer_503(sim: SimServer, http: aiohttp.ClientSession, protocol: SimProtocol) -> None:
    provider_id = fresh(sim, protocol, outages=[[0, 1e9]])
    url, body, headers = request_for(sim, protocol, provider_id, "hi")
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 503
        payload = await response.json()
    assert "error" in payload
    sim.set_behaviour(provider_id, {"outages": [[1e9, 2e9]]})
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 200


async def test_timeout_hangs_until_the_client_gives_up(sim: SimServer, http: aiohttp.ClientSession) -> None:
    provider_id = fresh(sim, "openai-chat", timeout_rate=1.0)
    url, body, _ = request_for(sim, "openai-chat", provider_id, "hi")
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=0.2)):
            pass
    assert sim.stats()[provider_id]["timeouts"] == 1


@pytest.mark.parametrize("protocol", list(PROVIDERS.values()))
async def test_midstream_drop_closes_without_terminal_event(
    sim: SimServer, http: aiohttp.ClientSession, protocol: SimProtocol
) -> None:
    provider_id = fresh(sim, protocol, midstream_drop_rate=1.0, output_tokens=10)
    url, body, headers = request_for(sim, protocol, provider_id, "hi", stream=True)
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(url, json=body, headers=headers) as response:
            assert response.status == 200
            async for chunk in response.content.iter_any():
                received += chunk
    text = received.decode()
    for terminal in ("response.completed", "[DONE]", "message_stop", "finishReason"):
        assert terminal not in text
    assert text.count("data: ") >= 2


@pytest.mark.parametrize("protocol", list(PROVIDERS.values()))
async def test_malformed_frames_and_bodies(sim: SimServer, http: aiohttp.ClientSession, protocol: SimProtocol) -> None:
    provider_id = fresh(sim, protocol, malformed_rate=1.0)
    url, body, headers = request_for(sim, protocol, provider_id, "hi", stream=True)
    async with http.post(url, json=body, headers=headers) as response:
        text = await response.text()
    bad = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("data: ") and line != "data: [DONE]":
            try:
                json.loads(line[6:])
            except json.JSONDecodeError:
                bad += 1
    assert bad == 1
    url, body, headers = request_for(sim, protocol, provider_id, "hi")
    async with http.post(url, json=body, headers=headers) as response:
        with pytest.raises(json.JSONDecodeError):
            json.loads(await response.text())


async def test_midstream_errors_reach_the_sdks(sim: SimServer) -> None:
    async with openai_client(sim, fresh(sim, "openai-responses", midstream_error_rate=1.0)) as client:
        with pytest.raises(openai.APIError):
            async with client.responses.stream(model="m", input="x") as stream:
                async for _ in stream:
                    pass
    async with anthropic_client(sim, fresh(sim, "anthropic", midstream_error_rate=1.0)) as anthropic_sdk:
        with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
            async with anthropic_sdk.messages.stream(
                model="m", max_tokens=50, messages=[{"role": "user", "content": "x"}]
            ) as astream:
                async for _ in astream:
                    pass


async def test_fault_draws_repeat_for_the_same_seed(http: aiohttp.ClientSession) -> None:
    async def statuses(seed: int) -> list[int]:
        config = SimConfig(
            seed=seed, providers={"p": SimProvider(protocol="openai-chat", behaviour={"error_rate": 0.5})}
        )
        async with SimServer(config) as server:
            url, body, _ = request_for(server, "openai-chat", "p", "hi")
            result = []
            for _ in range(16):
                async with http.post(url, json=body) as response:
                    result.append(response.status)
            return result

    first = await statuses(11)
    assert first == await statuses(11)
    assert {200, 500} <= set(first)


# -- Pacing -------------------------------------------------------------------------------------------------------


async def test_ttft_and_tps_pacing(sim: SimServer, http: aiohttp.ClientSession) -> None:
    provider_id = fresh(sim, "openai-chat", ttft_ms=40, tps=250, output_tokens=11)
    url, body, _ = request_for(sim, "openai-chat", provider_id, "hi", stream=True)
    started = time.perf_counter()
    async with http.post(url, json=body) as response:
        first_byte = time.perf_counter() - started
        await response.read()
    total = time.perf_counter() - started
    assert first_byte >= 0.04
    assert total >= 0.04 + 10 / 250
    url, body, _ = request_for(sim, "openai-chat", provider_id, "hi")
    started = time.perf_counter()
    async with http.post(url, json=body) as response:
        await response.read()
    assert time.perf_counter() - started >= 0.04 + 10 / 250


async def test_paced_tokens_arrive_when_due(sim: SimServer, http: aiohttp.ClientSession) -> None:
    provider_id = fresh(sim, "anthropic", tps=20, output_tokens=4)
    url, body, headers = request_for(sim, "anthropic", provider_id, "hi", stream=True)
    started = time.perf_counter()
    arrivals: list[float] = []
    async with http.post(url, json=body, headers=headers) as response:
        async for line in response.content:
            if b"text_delta" in line:
                arrivals.append(time.perf_counter() - started)
    assert len(arrivals) == 4
    # The first token is not held back: the later ones are paced after it (lower bounds only: no timed asserts).
    assert arrivals[-1] - arrivals[0] >= 3 / 20 - 0.01


# -- Routing of provider ids and per-model behaviour --------------------------------------------------------------


async def test_unknown_and_mismatched_providers(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url, body, headers = request_for(sim, "anthropic", "brand-new", "hi")
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 200
    url, body, _ = request_for(sim, "openai-chat", "an", "hi")
    async with http.post(url, json=body) as response:
        assert response.status == 404
        assert "speaks anthropic" in (await response.json())["error"]["message"]
    async with SimServer(SimConfig(allow_unknown_providers=False)) as strict:
        url, body, _ = request_for(strict, "openai-chat", "nope", "hi")
        async with http.post(url, json=body) as response:
            assert response.status == 404


async def test_per_model_behaviour(http: aiohttp.ClientSession) -> None:
    provider = SimProvider(protocol="openai-chat", models={"flaky-*": {"error_rate": 1.0, "error_status": 503}})
    async with SimServer(SimConfig(providers={"p": provider})) as server:
        url, body, _ = request_for(server, "openai-chat", "p", "hi")
        async with http.post(url, json={**body, "model": "flaky-1"}) as response:
            assert response.status == 503
        async with http.post(url, json={**body, "model": "solid"}) as response:
            assert response.status == 200
        assert server.behaviour("p", "flaky-2").error_rate == 1.0


# -- Control API --------------------------------------------------------------------------------------------------


async def test_control_api(sim: SimServer, http: aiohttp.ClientSession) -> None:
    provider_id = fresh(sim, "openai-chat")
    control = f"{sim.url}/_sim"
    async with http.get(f"{control}/health") as response:
        assert (await response.json())["status"] == "ok"

    url, body, _ = request_for(sim, "openai-chat", provider_id, "first")
    async with http.put(
        f"{control}/providers/{provider_id}", json={"error_rate": 1.0, "error_status": 429}
    ) as response:
        assert response.status == 200
        assert (await response.json())["behaviour"]["error_status"] == 429
    async with http.post(url, json=body) as response:
        assert response.status == 429
    async with http.put(f"{control}/providers/{provider_id}", json={"error_rate": None}) as response:
        assert (await response.json())["patch"] == {"error_status": 429}
    async with http.post(url, json={**body, "messages": [{"role": "user", "content": "second"}]}) as response:
        assert response.status == 200
    async with http.put(f"{control}/providers/{provider_id}", json={"tps": -1}) as response:
        assert response.status == 400
    async with http.put(f"{control}/providers/{provider_id}", json={"models": {"m": {"ttft_ms": 5}}}) as response:
        assert (await response.json())["models"] == {"m": {"ttft_ms": 5}}
    async with http.get(f"{control}/providers/{provider_id}") as response:
        assert (await response.json())["base_url"] == sim.base_url(provider_id)
    async with http.get(f"{control}/providers/unknown-id") as response:
        assert response.status == 404

    async with http.get(f"{control}/requests", params={"provider": provider_id}) as response:
        recorded = (await response.json())["requests"]
    assert [r["body"]["messages"][0]["content"] for r in recorded] == ["first", "second"]
    assert recorded[0]["method"] == "POST" and recorded[0]["path"].endswith("/chat/completions")
    assert recorded[0]["headers"]["Content-Type"] == "application/json" and recorded[0]["model"] == "m"

    async with http.get(f"{control}/stats") as response:
        stats = (await response.json())["providers"][provider_id]
    assert stats == {"requests": 2, "errors": 1, "ok": 1}

    async with http.delete(f"{control}/requests", params={"provider": provider_id}) as response:
        assert (await response.json())["cleared"] == 2
    assert sim.requests(provider_id) == []
    async with http.delete(f"{control}/providers/{provider_id}") as response:
        assert response.status == 200
    assert provider_id not in sim.provider_ids


# -- The command-line entry point ---------------------------------------------------------------------------------


def test_serve_forever_runs_until_sigterm(tmp_path: Any) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text("providers:\n  only: {protocol: openai-chat}\n")
    code = f"from interlock.sim import serve_forever; serve_forever({str(config)!r}, '127.0.0.1', 0)"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        root = banner.strip().rsplit(" ", 1)[-1]
        assert root.startswith("http://127.0.0.1:")
        assert "/p/only/v1" in process.stdout.readline()
        with urllib.request.urlopen(f"{root}/_sim/health", timeout=5) as response:
            assert json.loads(response.read())["status"] == "ok"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
