"""Every Anthropic Messages request shape, sent raw over HTTP, against each upstream protocol.

Uses a gateway of its own with the ``think-*`` and ``broken-*`` models of ``test_chat_shapes``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.test_chat_shapes import BROKEN, PNG, THINKERS, UPSTREAMS, break_models, shapes_config
from tests.support.servers import GatewayServer, LoopThread, SimHandle

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture(scope="module")
def messages_gateway(
    loop_thread: LoopThread, sim: SimHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("messages-shapes")
    break_models(sim)
    server = GatewayServer(loop_thread, shapes_config(sim, str(tmp / "gw.db")), tmp).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def post(messages_gateway: GatewayServer) -> Iterator[Any]:
    key = messages_gateway.create_key(name="messages-shapes")
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01", "anthropic-beta": "fine-grained-tool-streaming"}
    with httpx.Client(base_url=messages_gateway.base_url, headers=headers, timeout=30) as client:

        def send(body: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
            return client.post(path, json=body)

        yield send


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    assert data["type"] == "message" and data["role"] == "assistant"
    assert r.headers["request-id"] == r.headers["x-request-id"]
    return data


def events(r: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs; every frame must have an ``event:`` line equal to its data's type."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    out: list[tuple[str, dict[str, Any]]] = []
    for frame in r.text.strip().split("\n\n"):
        lines = frame.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["type"] == name
        out.append((name, data))
    return out


def texts(message: dict[str, Any]) -> str:
    return "".join(b["text"] for b in message["content"] if b["type"] == "text")


@pytest.mark.parametrize("model", UPSTREAMS)
def test_system_blocks_images_and_documents(post: Any, model: str) -> None:
    data = ok(
        post(
            {
                "model": model,
                "max_tokens": 200,
                "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                            {
                                "type": "document",
                                "title": "Notes",
                                "source": {"type": "text", "media_type": "text/plain", "data": "Oslo is rainy."},
                            },
                            {"type": "text", "text": "Describe the image and the notes."},
                        ],
                    }
                ],
                "metadata": {"user_id": "user-1"},
                "stop_sequences": ["\n\n\n"],
                "temperature": 0.5,
                "top_p": 0.9,
            }
        )
    )
    assert texts(data) and data["stop_reason"] == "end_turn"
    assert data["usage"]["input_tokens"] > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_tool_history_with_results_and_text(post: Any, model: str) -> None:
    data = ok(
        post(
            {
                "model": model,
                "max_tokens": 200,
                "tools": [WEATHER, TIME],
                "messages": [
                    {"role": "user", "content": "Weather and time in Paris?"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "text", "text": "Checking."},
                            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {"city": "Paris"}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                            {
                                "type": "tool_result",
                                "tool_use_id": "toolu_2",
                                "is_error": True,
                                "content": [{"type": "text", "text": "clock unavailable"}],
                            },
                            {"type": "text", "text": "Summarise please."},
                        ],
                    },
                ],
            }
        )
    )
    assert texts(data) and data["stop_reason"] == "end_turn"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_tool_choice_variants(post: Any, model: str) -> None:
    ask = [{"role": "user", "content": "go"}]
    forced = ok(
        post(
            {
                "model": model,
                "max_tokens": 200,
                "tools": [WEATHER, TIME],
                "tool_choice": {"type": "tool", "name": "get_time"},
                "messages": ask,
            }
        )
    )
    assert [b["name"] for b in forced["content"] if b["type"] == "tool_use"] == ["get_time"]
    anyone = ok(
        post(
            {
                "model": model,
                "max_tokens": 200,
                "tools": [WEATHER, TIME],
                "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
                "messages": ask,
            }
        )
    )
    assert anyone["stop_reason"] == "tool_use"
    none = ok(
        post(
            {
                "model": model,
                "max_tokens": 200,
                "tools": [WEATHER],
                "tool_choice": {"type": "none"},
                "messages": [{"role": "user", "content": "call the weather tool"}],
            }
        )
    )
    assert all(b["type"] != "tool_use" for b in none["content"])


@pytest.mark.parametrize("model", UPSTREAMS)
def test_structured_output(post: Any, model: str) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    data = ok(
        post(
            {
                "model": model,
                "max_tokens": 200,
                "output_config": {"format": {"type": "json_schema", "schema": schema}},
                "messages": [{"role": "user", "content": "Which city? JSON."}],
            }
        )
    )
    assert set(json.loads(texts(data))) == {"city"}


@pytest.mark.parametrize("model", UPSTREAMS)
def test_stream_events_with_tools(post: Any, model: str) -> None:
    got = events(
        post(
            {
                "model": model,
                "max_tokens": 300,
                "stream": True,
                "tools": [WEATHER, TIME],
                "messages": [{"role": "user", "content": "Use the tools in parallel for Paris."}],
            }
        )
    )
    names = [n for n, _ in got]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert "ping" in names
    start = got[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, str] = {}
    for name, data in got:
        if name == "content_block_start":
            assert data["index"] == len(blocks)
            blocks[data["index"]] = data["content_block"]
        elif name == "content_block_delta" and data["delta"]["type"] == "input_json_delta":
            partial[data["index"]] = partial.get(data["index"], "") + data["delta"]["partial_json"]
    tools = [i for i, b in blocks.items() if b["type"] == "tool_use"]
    assert [blocks[i]["name"] for i in tools] == ["get_weather", "get_time"]
    assert all(blocks[i]["input"] == {} and json.loads(partial[i])["city"] for i in tools)
    delta = got[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] > 0
    assert delta["routing_metadata"]["model_canonical"] == model


@pytest.mark.parametrize("model", THINKERS)
@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 4096}, {"type": "adaptive"}])
def test_thinking_round_trip(post: Any, model: str, thinking: dict[str, Any]) -> None:
    question = [{"role": "user", "content": "Think about Oslo's weather, then use the tool."}]
    first = ok(
        post({"model": model, "max_tokens": 4000, "thinking": thinking, "tools": [WEATHER], "messages": question})
    )
    kinds = [b["type"] for b in first["content"]]
    assert "tool_use" in kinds, kinds
    use = next(b for b in first["content"] if b["type"] == "tool_use")
    second = ok(
        post(
            {
                "model": model,
                "max_tokens": 4000,
                "thinking": thinking,
                "tools": [WEATHER],
                "messages": [
                    *question,
                    {"role": "assistant", "content": first["content"]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "7C"}]},
                ],
            }
        )
    )
    assert texts(second)


@pytest.mark.parametrize("model", THINKERS)
def test_thinking_streamed(post: Any, model: str) -> None:
    got = events(
        post(
            {
                "model": model,
                "max_tokens": 4000,
                "stream": True,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "messages": [{"role": "user", "content": "Think, then answer."}],
            }
        )
    )
    starts = [d["content_block"]["type"] for n, d in got if n == "content_block_start"]
    # Gemini may sign its last text part: that signature comes back as a trailing redacted_thinking block.
    assert "text" in starts
    if "thinking" in starts:  # upstreams that return reasoning text: thinking_delta then one signature_delta
        deltas = [d["delta"]["type"] for n, d in got if n == "content_block_delta" and d["index"] == 0]
        assert deltas[0] == "thinking_delta"
        assert deltas.count("signature_delta") <= 1 and (
            not deltas.count("signature_delta") or deltas[-1] == "signature_delta"
        )


def test_thinking_disabled(post: Any) -> None:
    data = ok(
        post(
            {
                "model": "think-claude",
                "max_tokens": 100,
                "thinking": {"type": "disabled"},
                "messages": [{"role": "user", "content": "hi"}],
            }
        )
    )
    assert [b["type"] for b in data["content"]] == ["text"]


@pytest.mark.parametrize("model", BROKEN)
def test_mid_stream_failure_is_an_error_event(post: Any, model: str) -> None:
    got = events(
        post(
            {
                "model": model,
                "max_tokens": 300,
                "stream": True,
                "messages": [{"role": "user", "content": "Write a long story."}],
            }
        )
    )
    name, data = got[-1]
    assert name == "error" and data["error"]["type"] in ("api_error", "overloaded_error", "timeout_error")
    assert "message_stop" not in [n for n, _ in got]
    assert got[0][0] == "message_start"


def test_upstream_failure_without_stream(post: Any) -> None:
    r = post({"model": "failing-chat", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502
    assert r.json() == {"type": "error", "error": {"type": "api_error", "message": r.json()["error"]["message"]}}


def test_count_tokens_raw(post: Any) -> None:
    r = post(
        {"model": "test-chat", "messages": [{"role": "user", "content": "Hello there"}]}, "/v1/messages/count_tokens"
    )
    assert r.status_code == 200 and r.json()["input_tokens"] > 0
    r = post({"model": "test-chat"}, "/v1/messages/count_tokens")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_bearer_auth_also_works(messages_gateway: GatewayServer) -> None:
    key = messages_gateway.create_key(name="bearer")
    r = httpx.post(
        messages_gateway.base_url + "/v1/messages",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "test-chat", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200


BAD: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "no max_tokens",
        {"model": "test-chat", "messages": [{"role": "user", "content": "x"}]},
        400,
        "invalid_request_error",
    ),
    (
        "bad block",
        {
            "model": "test-chat",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}],
        },
        400,
        "invalid_request_error",
    ),
    (
        "unknown model",
        {"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        404,
        "not_found_error",
    ),
    (
        "tools unsupported",
        {"model": "test-notools", "max_tokens": 5, "tools": [WEATHER], "messages": [{"role": "user", "content": "x"}]},
        400,
        "invalid_request_error",
    ),
    ("bad json", "{nope", 400, "invalid_request_error"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("name", "body", "status", "kind"), BAD, ids=[c[0] for c in BAD])
def test_errors_in_anthropic_envelope(
    messages_gateway: GatewayServer, post: Any, name: str, body: Any, status: int, kind: str
) -> None:
    if isinstance(body, str):
        key = messages_gateway.create_key(name="raw")
        r = httpx.post(messages_gateway.base_url + "/v1/messages", content=body, headers={"x-api-key": key})
    else:
        r = post(body)
    assert r.status_code == status, r.text
    data = r.json()
    assert data["type"] == "error" and data["error"]["type"] == kind and data["error"]["message"]
    assert "code" not in data["error"]
