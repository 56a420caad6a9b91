"""The Messages protocol module: the API's validation rules, signatures, and the event stream."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock.sim._errors import SimError
from interlock.sim._plan import plan_reply
from interlock.sim.anthropic import THINKING_DOMAIN, AnthropicAdapter
from interlock.sim.config import SimBehaviour

from .conftest import SIGNER, MakeCall
from .sse import sse_events

ADAPTER = AnthropicAdapter()
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
THINKING = {"type": "enabled", "budget_tokens": 1024}


def parse(body: dict[str, Any], make_call: MakeCall, headers: dict[str, str] | None = None) -> Any:
    return ADAPTER.parse({"model": "claude", "max_tokens": 2048, **body}, make_call(headers=headers or HEADERS))


def signed(text: str) -> dict[str, str]:
    return {"type": "thinking", "thinking": text, "signature": SIGNER.sign(THINKING_DOMAIN, text)}


def tool_turns(first_block: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    assistant = [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}}]
    return [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": ([first_block] if first_block else []) + assistant},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "hot"}]},
    ]


def test_stream_event_order_and_usage(make_call: MakeCall) -> None:
    call = make_call(headers=HEADERS)
    body = {
        "model": "claude",
        "max_tokens": 4096,
        "thinking": THINKING,
        "tools": [TOOL],
        "messages": [{"role": "user", "content": "weather?"}],
        "stream": True,
    }
    request = ADAPTER.parse(body, call)
    reply = plan_reply(request, SimBehaviour(cached_tokens=1), 0)
    events = sse_events(ADAPTER.render_stream(reply, request, call).frames)
    assert all(name == data["type"] for name, data in events)
    kinds = [name for name, _ in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds[1:3] == ["content_block_start", "ping"]
    starts = [data for name, data in events if name == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1]
    assert [s["content_block"]["type"] for s in starts] == ["thinking", "tool_use"]
    thinking = "".join(
        d["delta"]["thinking"]
        for n, d in events
        if n == "content_block_delta" and d["index"] == 0 and d["delta"]["type"] == "thinking_delta"
    )
    signature_at = kinds.index("content_block_stop") - 1
    signature = events[signature_at][1]["delta"]
    assert signature["type"] == "signature_delta" and SIGNER.verify(THINKING_DOMAIN, thinking, signature["signature"])
    partial = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta" and d["index"] == 1)
    assert json.loads(partial)["city"]
    start_usage = events[0][1]["message"]["usage"]
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"]["output_tokens"] == reply.output_tokens and start_usage["output_tokens"] == 1
    assert start_usage["input_tokens"] == reply.input_tokens - 1 and start_usage["cache_read_input_tokens"] == 1


def test_non_streaming_message(make_call: MakeCall) -> None:
    call = make_call(headers=HEADERS)
    body = {
        "model": "claude",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "s"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    request = ADAPTER.parse(body, call)
    message = json.loads(ADAPTER.render(plan_reply(request, SimBehaviour(), 0), request, call))
    assert message["type"] == "message" and message["stop_reason"] == "max_tokens"
    assert message["content"][0]["type"] == "text" and message["usage"]["output_tokens"] == 5


def test_json_output_format(make_call: MakeCall) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    request = parse(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "output_config": {"format": {"type": "json_schema", "schema": schema}},
        },
        make_call,
    )
    assert isinstance(json.loads(plan_reply(request, SimBehaviour(), 0).output_text)["x"], int)


def test_valid_round_trip_passes(make_call: MakeCall) -> None:
    request = parse({"thinking": THINKING, "tools": [TOOL], "messages": tool_turns(signed("I think"))}, make_call)
    assert request.tool_outputs == ["hot"] and request.last_user_text == "weather?"


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, {"anthropic-version": "v"}, 401, "x-api-key"),
        ({"messages": [{"role": "user", "content": "x"}]}, {"x-api-key": "k"}, 400, "anthropic-version"),
        ({"messages": []}, None, 400, "at least 1"),
        ({"messages": [{"role": "system", "content": "x"}]}, None, 400, "role"),
        (
            {"messages": [{"role": "user", "content": "x"}], "thinking": {"type": "enabled", "budget_tokens": 10}},
            None,
            400,
            "greater than or equal to 1024",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "thinking": {"type": "enabled", "budget_tokens": 4096}},
            None,
            400,
            "must be greater than `thinking.budget_tokens`",
        ),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "thinking": THINKING,
                "tools": [TOOL],
                "tool_choice": {"type": "any"},
            },
            None,
            400,
            "forces tool use",
        ),
        ({"messages": tool_turns()[:2]}, None, 400, "without `tool_result` blocks immediately after: toolu_1"),
        (
            {
                "messages": [
                    *tool_turns()[:2],
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "first"},
                            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"},
                        ],
                    },
                ]
            },
            None,
            400,
            "without `tool_result`",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "x"}]}]},
            None,
            400,
            "unexpected `tool_use_id`",
        ),
        (
            {"messages": tool_turns({"type": "thinking", "thinking": "I think", "signature": "Zm9v"})},
            None,
            400,
            "Invalid `signature`",
        ),
        ({"messages": tool_turns({"type": "thinking", "thinking": "I think"})}, None, 400, "signature: Field required"),
        ({"thinking": THINKING, "messages": tool_turns()}, None, 400, "must start with a thinking block"),
    ],
)
def test_rejects_what_the_api_rejects(
    body: dict[str, Any], headers: dict[str, str] | None, status: int, message: str, make_call: MakeCall
) -> None:
    with pytest.raises(SimError, match=message) as caught:
        parse(body, make_call, headers)
    assert caught.value.status == status


def test_max_tokens_is_required(make_call: MakeCall) -> None:
    with pytest.raises(SimError, match="max_tokens"):
        ADAPTER.parse({"model": "c", "messages": [{"role": "user", "content": "x"}]}, make_call(headers=HEADERS))


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error"), (418, "invalid_request_error")],
)
def test_error_envelope(status: int, kind: str) -> None:
    body = json.loads(ADAPTER.render_error(SimError(status)))
    assert body["type"] == "error" and body["error"]["type"] == kind and body["request_id"].startswith("req_")


def test_midstream_error_is_overloaded(make_call: MakeCall) -> None:
    call = make_call(headers=HEADERS)
    request = parse({"messages": [{"role": "user", "content": "x"}]}, make_call)
    rendered = ADAPTER.render_stream(plan_reply(request, SimBehaviour(), 0), request, call)
    assert sse_events([(rendered.error_frames(2), 0)]) == [
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    ]
