"""The Chat Completions protocol module: tool-message validation and chunk shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock.sim._errors import SimError
from interlock.sim._plan import plan_reply
from interlock.sim.config import SimBehaviour
from interlock.sim.openai_chat import OpenAIChatAdapter

from .conftest import MakeCall
from .sse import sse_events

ADAPTER = OpenAIChatAdapter()


def tool(name: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


def chunks(body: dict[str, Any], make_call: MakeCall) -> list[Any]:
    call = make_call()
    request = ADAPTER.parse(body, call)
    rendered = ADAPTER.render_stream(plan_reply(request, SimBehaviour(), 0), request, call)
    events = sse_events(rendered.frames)
    assert all(name is None for name, _ in events)
    return [data for _, data in events]


def test_text_stream_with_usage_chunk(make_call: MakeCall) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": True}}
    data = chunks(body, make_call)
    assert data[-1] == "[DONE]"
    first, *middle, finish, usage, _ = data
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert all(chunk["usage"] is None for chunk in [first, *middle, finish])
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(middle)
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in [first, *middle, finish, usage])


def test_parallel_tool_call_deltas_use_distinct_indices(make_call: MakeCall) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "call both in parallel"}],
        "tools": [tool("a"), tool("b")],
    }
    data = chunks(body, make_call)
    calls: dict[int, dict[str, str]] = {}
    for chunk in data[:-1]:
        for delta in chunk["choices"][0]["delta"].get("tool_calls", []):
            entry = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.get("id", "")
            entry["name"] += delta.get("function", {}).get("name", "")
            entry["arguments"] += delta["function"]["arguments"]
    assert [calls[i]["name"] for i in sorted(calls)] == ["a", "b"]
    assert all(c["id"].startswith("call_") and json.loads(c["arguments"])["q"] for c in calls.values())
    assert data[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" not in data[-2]


def test_non_streaming_completion(make_call: MakeCall) -> None:
    call = make_call()
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "weather"}],
        "tools": [tool("w")],
        "reasoning_effort": "low",
    }
    request = ADAPTER.parse(body, call)
    completion = json.loads(ADAPTER.render(plan_reply(request, SimBehaviour(), 0), request, call))
    choice = completion["choices"][0]
    assert completion["object"] == "chat.completion" and choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None and choice["message"]["reasoning_content"]
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "w"
    usage = completion["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_tool_results_and_json_schema(make_call: MakeCall) -> None:
    call = make_call()
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "weather"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
            },
        },
    }
    request = ADAPTER.parse(body, call)
    assert request.tool_outputs == ["sunny"]
    completion = json.loads(ADAPTER.render(plan_reply(request, SimBehaviour(), 0), request, call))
    assert isinstance(json.loads(completion["choices"][0]["message"]["content"])["ok"], bool)


ASSISTANT_CALLS = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "w", "arguments": "{}"}},
    ],
}


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "tool", "tool_call_id": "c1", "content": "x"}], "must be a response to a preceeding"),
        (
            [ASSISTANT_CALLS, {"role": "tool", "tool_call_id": "c1", "content": "x"}, {"role": "user", "content": "?"}],
            "did not have response messages: c2",
        ),
        ([ASSISTANT_CALLS], "did not have response messages: c1, c2"),
        ([ASSISTANT_CALLS, {"role": "tool", "tool_call_id": "zz", "content": "x"}], "preceeding"),
    ],
)
def test_tool_message_rules(messages: list[Any], message: str, make_call: MakeCall) -> None:
    with pytest.raises(SimError, match=message) as caught:
        ADAPTER.parse({"model": "m", "messages": [{"role": "user", "content": "u"}, *messages]}, make_call())
    assert caught.value.status == 400


@pytest.mark.parametrize(("body", "param"), [({"messages": []}, "model"), ({"model": "m"}, "messages")])
def test_required_fields(body: dict[str, Any], param: str, make_call: MakeCall) -> None:
    with pytest.raises(SimError) as caught:
        ADAPTER.parse(body, make_call())
    assert caught.value.param == param and caught.value.code == "missing_required_parameter"


def test_midstream_error_is_an_error_payload(make_call: MakeCall) -> None:
    call = make_call()
    request = ADAPTER.parse({"model": "m", "messages": [{"role": "user", "content": "x"}]}, call)
    rendered = ADAPTER.render_stream(plan_reply(request, SimBehaviour(), 0), request, call)
    ((_, data),) = sse_events([(rendered.error_frames(3), 0)])
    assert set(data) == {"error"} and data["error"]["type"] == "server_error"
