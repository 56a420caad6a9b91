"""Every Chat Completions request shape, sent raw over HTTP, against each upstream protocol.

A gateway of its own adds, per upstream protocol, a reasoning model (``think-*``) and a model whose upstream
fails mid-stream (``broken-*``), on top of the shared test catalog.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import CAPS, gateway_config, offering
from tests.support.servers import GatewayServer, LoopThread, SimHandle

PROTOCOLS = {
    "responses": ("sim-oai", "openai-responses"),
    "chat": ("sim-chat-a", "openai-chat"),
    "claude": ("sim-anthropic", "anthropic"),
    "gemini": ("sim-gemini", "gemini"),
}
UPSTREAMS = ["test-responses", "test-chat", "test-claude", "test-gemini"]
THINKERS = [f"think-{name}" for name in PROTOCOLS]
BROKEN = [f"broken-{name}" for name in PROTOCOLS]
REASONING: dict[str, dict[str, Any]] = {
    "responses": {"style": "effort", "efforts": ["low", "medium", "high"]},
    "chat": {"style": "effort", "efforts": ["low", "medium", "high"]},
    "claude": {
        "style": "budget",
        "efforts": ["low", "medium", "high", "max"],
        "can_disable": True,
        "budgets": {"low": 2048, "medium": 8192, "high": 16384, "max": 32000},
    },
    "gemini": {
        "style": "budget",
        "efforts": ["low", "medium", "high"],
        "can_disable": True,
        "budgets": {"low": 1024, "medium": 8192, "high": 24576},
    },
}
# A 1x1 transparent PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="


def shapes_config(sim: SimHandle, db_path: str) -> dict[str, Any]:
    """The shared test catalog plus ``think-*`` (reasoning) and ``broken-*`` (mid-stream failure) models."""
    config = gateway_config(sim, db_path)
    for name, (provider, _) in PROTOCOLS.items():
        config["models"].append(
            {
                "id": f"think-{name}",
                "reasoning": REASONING[name],
                "offerings": [offering(provider, f"think-{name}-1", 1.0, 4.0, caps=[*CAPS, "reasoning"])],
            }
        )
        config["models"].append({"id": f"broken-{name}", "offerings": [offering(provider, f"broken-{name}-1", 1, 1)]})
    config["models"].append({"id": "failing-chat", "offerings": [offering("sim-chat-a", "failing-1", 1, 1)]})
    return config


def break_models(sim: SimHandle) -> None:
    """Every ``broken-*`` upstream model answers with the protocol's in-stream error after a few frames."""
    for name, (provider, _) in PROTOCOLS.items():
        sim.server.set_behaviour(provider, {"midstream_error_rate": 1.0, "output_tokens": 60}, model=f"broken-{name}-1")
    sim.server.set_behaviour("sim-chat-a", {"error_rate": 1.0, "error_status": 500}, model="failing-1")


@pytest.fixture(scope="module")
def shapes_gateway(
    loop_thread: LoopThread, sim: SimHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("chat-shapes")
    break_models(sim)
    server = GatewayServer(loop_thread, shapes_config(sim, str(tmp / "gw.db")), tmp).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def post(shapes_gateway: GatewayServer) -> Iterator[Any]:
    key = shapes_gateway.create_key(name="chat-shapes")
    with httpx.Client(base_url=shapes_gateway.base_url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:

        def send(body: dict[str, Any]) -> httpx.Response:
            return c.post("/v1/chat/completions", json=body)

        yield send


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    assert data["object"] == "chat.completion"
    return data


def sse_payloads(r: httpx.Response) -> list[Any]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    lines = [line for line in r.text.split("\n") if line]
    assert all(line.startswith("data: ") for line in lines), "chat streams have data: lines only"
    return [line[6:] if line == "data: [DONE]" else json.loads(line[6:]) for line in lines]


def warning_codes(data: dict[str, Any]) -> set[str]:
    return {w["code"] for w in data.get("routing_metadata", {}).get("warnings", [])}


@pytest.mark.parametrize("model", UPSTREAMS)
def test_system_developer_and_user_parts(post: Any, model: str) -> None:
    data = ok(
        post(
            {
                "model": model,
                "messages": [
                    {"role": "system", "content": "You are terse.", "name": "policy"},
                    {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Describe this image.", "cache_control": {"type": "ephemeral"}},
                            {
                                "type": "image_url",
                                "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
                            },
                        ],
                        "name": "alice",
                    },
                ],
            }
        )
    )
    assert data["choices"][0]["message"]["content"]
    assert "cache_control_ignored" in warning_codes(data)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_multi_turn_with_tool_calls_and_results(post: Any, model: str) -> None:
    data = ok(
        post(
            {
                "model": model,
                "tools": [
                    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
                    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
                ],
                "messages": [
                    {"role": "user", "content": "Weather and time in Paris?"},
                    {
                        "role": "assistant",
                        "content": "Let me check both.",
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                            },
                            {
                                "id": "call_2",
                                "type": "function",
                                "function": {"name": "get_time", "arguments": '{"city":"Paris"}'},
                            },
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 24C"},
                    {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "14:05"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Sunny, 24C at 14:05."}]},
                    {"role": "user", "content": "Thanks! Summarise."},
                ],
            }
        )
    )
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["choices"][0]["message"]["content"]


@pytest.mark.parametrize("model", UPSTREAMS)
def test_legacy_functions(post: Any, model: str) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    first = ok(
        post(
            {
                "model": model,
                "functions": [{"name": "get_weather", "parameters": schema}],
                "function_call": {"name": "get_weather"},
                "messages": [{"role": "user", "content": "Weather in Rome?"}],
            }
        )
    )
    call = first["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    second = ok(
        post(
            {
                "model": model,
                "functions": [{"name": "get_weather", "parameters": schema}],
                "messages": [
                    {"role": "user", "content": "Weather in Rome?"},
                    {
                        "role": "assistant",
                        "content": None,
                        "function_call": {"name": "get_weather", "arguments": call["function"]["arguments"]},
                    },
                    {"role": "function", "name": "get_weather", "content": "Cloudy, 18C"},
                ],
            }
        )
    )
    assert second["choices"][0]["message"]["content"]


@pytest.mark.parametrize("model", UPSTREAMS)
def test_tool_choice_variants(post: Any, model: str) -> None:
    tools = [
        {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}},
    ]
    forced = ok(
        post(
            {
                "model": model,
                "tools": tools,
                "tool_choice": {"type": "function", "function": {"name": "b"}},
                "messages": [{"role": "user", "content": "go"}],
            }
        )
    )
    assert [c["function"]["name"] for c in forced["choices"][0]["message"]["tool_calls"]] == ["b"]
    required = ok(
        post(
            {
                "model": model,
                "tools": tools,
                "tool_choice": "required",
                "parallel_tool_calls": False,
                "messages": [{"role": "user", "content": "go"}],
            }
        )
    )
    assert required["choices"][0]["finish_reason"] == "tool_calls"
    none = ok(
        post(
            {
                "model": model,
                "tools": tools,
                "tool_choice": "none",
                "messages": [{"role": "user", "content": "call the tool"}],
            }
        )
    )
    assert "tool_calls" not in none["choices"][0]["message"]


@pytest.mark.parametrize("model", UPSTREAMS)
def test_sampling_and_other_parameters(post: Any, model: str) -> None:
    data = ok(
        post(
            {
                "model": model,
                "messages": [{"role": "user", "content": "Say something."}],
                "temperature": 0.3,
                "top_p": 0.9,
                "max_completion_tokens": 50,
                "frequency_penalty": 0.1,
                "presence_penalty": 0.1,
                "stop": ["\n\n\n"],
                "seed": 42,
                "n": 1,
                "user": "user-1",
                "logit_bias": {"50256": -100},
                "verbosity": "low",
                "prompt_cache_key": "conv-1",
                "safety_identifier": "hash-1",
                "top_k": 40,
                "min_p": 0.05,
                "top_a": 0.1,
                "repetition_penalty": 1.1,
                "web_search_options": {},
                "stream_options": {"include_usage": False},
                "metadata": {"k": "v"},
                "service_tier": "default",
            }
        )
    )
    assert data["choices"][0]["message"]["content"]
    codes = warning_codes(data)
    assert {"unsupported_field_metadata", "unsupported_field_service_tier"} <= codes


@pytest.mark.parametrize("model", UPSTREAMS)
def test_json_object_mode(post: Any, model: str) -> None:
    data = ok(
        post(
            {
                "model": model,
                "response_format": {"type": "json_object"},
                "messages": [{"role": "user", "content": "Reply in JSON."}],
            }
        )
    )
    assert isinstance(json.loads(data["choices"][0]["message"]["content"]), dict)


@pytest.mark.parametrize("model", THINKERS)
def test_reasoning_effort_and_signed_replay(post: Any, model: str) -> None:
    question = [{"role": "user", "content": "Think about the weather in Oslo, then use the tool."}]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    first = ok(post({"model": model, "reasoning_effort": "high", "tools": tools, "messages": question}))
    message = first["choices"][0]["message"]
    # Anthropic reports no reasoning token count (protocols.md 5.8): the thinking block shows it reasoned.
    assert first["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0 or message.get("reasoning")
    assert message.get("tool_calls"), message
    # Send the assistant turn back verbatim (reasoning blocks with their signatures included) plus the result.
    second = ok(
        post(
            {
                "model": model,
                "reasoning_effort": "high",
                "tools": tools,
                "messages": [
                    *question,
                    message,
                    {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "rain"},
                ],
            }
        )
    )
    assert second["choices"][0]["message"]["content"]


@pytest.mark.parametrize("model", THINKERS)
def test_reasoning_streamed_and_excluded(post: Any, model: str) -> None:
    payloads = sse_payloads(
        post(
            {
                "model": model,
                "reasoning_effort": "medium",
                "stream": True,
                "messages": [{"role": "user", "content": "Think, then answer."}],
            }
        )
    )
    assert payloads[-1] == "[DONE]"
    chunks = [p for p in payloads[:-1] if isinstance(p, dict)]
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"])
    assert reasoning or chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    excluded = ok(
        post(
            {
                "model": model,
                "reasoning_effort": "medium",
                "reasoning": {"exclude": True},
                "messages": [{"role": "user", "content": "Think, then answer."}],
            }
        )
    )
    msg = excluded["choices"][0]["message"]
    assert "reasoning_content" not in msg and "reasoning" not in msg
    assert excluded["usage"]["completion_tokens"] > 0


def test_reasoning_content_is_visible(post: Any) -> None:
    data = ok(
        post(
            {
                "model": "think-claude",
                "reasoning_effort": "low",
                "messages": [{"role": "user", "content": "Think first."}],
            }
        )
    )
    msg = data["choices"][0]["message"]
    assert msg["reasoning_content"]
    assert msg["reasoning"][0]["type"] == "thinking" and msg["reasoning"][0]["signature"]


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream_tool_call_indexes(post: Any, model: str) -> None:
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
    ]
    payloads = sse_payloads(
        post(
            {
                "model": model,
                "stream": True,
                "tools": tools,
                "messages": [{"role": "user", "content": "Use the tools in parallel."}],
            }
        )
    )
    chunks = [p for p in payloads if isinstance(p, dict)]
    deltas = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    by_index: dict[int, list[dict[str, Any]]] = {}
    for d in deltas:
        by_index.setdefault(d["index"], []).append(d)
    assert sorted(by_index) == [0, 1]
    for parts in by_index.values():
        assert "id" in parts[0] and parts[0]["function"]["name"]
        assert all("id" not in p and "name" not in p["function"] for p in parts[1:])
        assert isinstance(json.loads("".join(p["function"]["arguments"] for p in parts)), dict)


@pytest.mark.parametrize("model", BROKEN)
def test_mid_stream_failure_is_an_error_chunk_then_done(post: Any, model: str) -> None:
    payloads = sse_payloads(
        post({"model": model, "stream": True, "messages": [{"role": "user", "content": "Write a long story."}]})
    )
    assert payloads[-1] == "[DONE]"
    error = payloads[-2]
    assert set(error) == {"error"}
    assert error["error"]["type"] == "api_error" and error["error"]["code"]
    assert error["error"]["message"]
    assert any(isinstance(p, dict) and p.get("choices") for p in payloads[:-2]), "expected content before the error"


def test_upstream_failure_without_stream_is_an_http_error(post: Any) -> None:
    r = post({"model": "failing-chat", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502, r.text
    err = r.json()["error"]
    assert (err["type"], err["code"], err["provider"]) == ("api_error", "upstream_error", "sim-chat-a")


BAD: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("no messages", {"model": "test-chat"}, "missing_required_parameter", "messages"),
    (
        "bad part",
        {"model": "test-chat", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
        "invalid_parameter_value",
        "messages[0].content[0].type",
    ),
    (
        "both",
        {"model": "test-chat", "gateway": {"models": ["test-gpt"]}, "messages": [{"role": "user", "content": "x"}]},
        "invalid_parameter_value",
        "gateway.models",
    ),
    (
        "tools unsupported",
        {
            "model": "test-notools",
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
        "tools_not_supported",
        None,
    ),
    (
        "reasoning unsupported",
        {"model": "test-chat", "reasoning_effort": "high", "messages": [{"role": "user", "content": "x"}]},
        "reasoning_not_supported",
        None,
    ),
]


@pytest.mark.parametrize(("name", "body", "code", "param"), BAD, ids=[c[0] for c in BAD])
def test_bad_requests(post: Any, name: str, body: dict[str, Any], code: str, param: str | None) -> None:
    r = post(body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["param"]) == (code, param)
