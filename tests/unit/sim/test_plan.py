"""The protocol-neutral reply decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock.sim._plan import SimRequest, ToolSpec, plan_reply
from interlock.sim.config import SimBehaviour

WEATHER = ToolSpec(
    "get_weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolSpec("get_time", {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]})
DEFAULT = SimBehaviour()


def request(text: str, **fields: Any) -> SimRequest:
    return SimRequest(model="m", last_user_text=text, text_chars=len(text), **fields)


def test_plain_text_reply_and_usage() -> None:
    reply = plan_reply(request("hello there, how are you"), DEFAULT, 0)
    assert not reply.calls and not reply.reasoning
    assert 20 <= len(reply.text) <= 40
    assert reply.output_tokens == len(reply.text) == reply.visible_tokens
    assert reply.input_tokens == len("hello there, how are you") // 4
    assert reply.cached_tokens == 0
    assert reply.finish == "stop"


def test_same_text_same_reply_and_seed_override() -> None:
    assert plan_reply(request("x"), DEFAULT, 1) == plan_reply(request("x"), DEFAULT, 1)
    assert plan_reply(request("x"), DEFAULT, 1).text != plan_reply(request("x"), DEFAULT, 2).text
    seeded = SimBehaviour(seed=2)
    assert plan_reply(request("x"), seeded, 1).text == plan_reply(request("x"), DEFAULT, 2).text


def test_configured_lengths_and_cached_tokens() -> None:
    behaviour = SimBehaviour(output_tokens=7, reasoning_tokens=3, cached_tokens=1000)
    reply = plan_reply(request("abcdefgh" * 4, reasoning=True), behaviour, 0)
    assert (len(reply.text), reply.reasoning_tokens, reply.output_tokens) == (7, 3, 10)
    assert reply.cached_tokens == reply.input_tokens == 8


@pytest.mark.parametrize("text", ["use a tool", "what's the WEATHER", "call it", "two calls please"])
def test_keywords_trigger_a_call_of_the_first_tool(text: str) -> None:
    reply = plan_reply(request(text, tools=[WEATHER, TIME]), DEFAULT, 0)
    assert [call.name for call in reply.calls] == ["get_weather"]
    assert reply.finish == "tool_calls" and not reply.text
    assert set(json.loads(reply.calls[0].arguments)) == {"city"}
    assert "".join(reply.calls[0].fragments) == reply.calls[0].arguments
    assert reply.output_tokens == len(reply.calls[0].fragments)


def test_no_trigger_no_call_unless_forced() -> None:
    assert not plan_reply(request("hello", tools=[WEATHER]), DEFAULT, 0).calls
    assert plan_reply(request("hello", tools=[WEATHER], tool_choice="required"), DEFAULT, 0).calls
    forced = plan_reply(request("hello", tools=[WEATHER, TIME], forced_tool="get_time"), DEFAULT, 0)
    assert [call.name for call in forced.calls] == ["get_time"]


def test_tool_choice_none_and_no_tools_never_call() -> None:
    assert not plan_reply(request("weather", tools=[WEATHER], tool_choice="none"), DEFAULT, 0).calls
    assert not plan_reply(request("weather"), DEFAULT, 0).calls


def test_parallel_calls_two_tools_when_allowed() -> None:
    text = "weather and time in parallel"
    assert len(plan_reply(request(text, tools=[WEATHER, TIME]), DEFAULT, 0).calls) == 2
    assert len(plan_reply(request(text, tools=[WEATHER]), DEFAULT, 0).calls) == 1
    assert len(plan_reply(request(text, tools=[WEATHER, TIME], parallel_tool_calls=False), DEFAULT, 0).calls) == 1


def test_tool_results_are_quoted_instead_of_calling_again() -> None:
    reply = plan_reply(
        request("weather?", tools=[WEATHER], tool_choice="required", tool_outputs=["72F and sunny", "UTC+1"]),
        DEFAULT,
        0,
    )
    assert not reply.calls
    assert reply.output_text.startswith("Tool result: 72F and sunny; UTC+1. ")


def test_schema_reply_is_a_json_document() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    reply = plan_reply(request("hi", response_schema=schema), DEFAULT, 0)
    assert isinstance(json.loads(reply.output_text)["n"], int)
    assert len(reply.text) == reply.output_tokens
    assert set(json.loads(plan_reply(request("hi", json_mode=True), DEFAULT, 0).output_text)) == {"answer"}


def test_token_cap_truncates_text_after_reasoning() -> None:
    behaviour = SimBehaviour(output_tokens=30, reasoning_tokens=10)
    reply = plan_reply(request("hi", reasoning=True, max_output_tokens=15), behaviour, 0)
    assert (reply.reasoning_tokens, len(reply.text), reply.finish) == (10, 5, "length")
    starved = plan_reply(request("hi", reasoning=True, max_output_tokens=4), behaviour, 0)
    assert (starved.reasoning_tokens, starved.text, starved.finish) == (4, (), "length")
    roomy = plan_reply(request("hi", reasoning=True, max_output_tokens=100), behaviour, 0)
    assert roomy.finish == "stop" and roomy.output_tokens == 40
