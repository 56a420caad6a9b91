"""The Responses protocol module: request validation and the event stream's lifecycle invariants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock.sim._errors import SimError
from interlock.sim._plan import plan_reply
from interlock.sim.config import SimBehaviour
from interlock.sim.openai_responses import REASONING_DOMAIN, OpenAIResponsesAdapter

from .conftest import SIGNER, MakeCall
from .sse import sse_events

ADAPTER = OpenAIResponsesAdapter()
TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}


def stream(body: dict[str, Any], make_call: MakeCall, behaviour: SimBehaviour | None = None) -> list[Any]:
    call = make_call()
    request = ADAPTER.parse(body, call)
    reply = plan_reply(request, behaviour or SimBehaviour(), 0)
    events = sse_events(ADAPTER.render_stream(reply, request, call).frames)
    assert all(name == data["type"] for name, data in events)
    return [data for _, data in events]


def check_lifecycle(events: list[dict[str, Any]]) -> dict[str, Any]:
    """protocols.md 1.7/1.8 invariants; returns the terminal response."""
    assert events[0]["type"] == "response.created" and events[1]["type"] == "response.in_progress"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] in ("response.completed", "response.incomplete")
    assert len({e["response"]["id"] for e in events if "response" in e}) == 1
    added: dict[int, dict[str, Any]] = {}
    done: dict[int, dict[str, Any]] = {}
    open_index: int | None = None
    for event in events[2:-1]:
        index = event["output_index"]
        if event["type"] == "response.output_item.added":
            assert open_index is None and index == len(added)
            added[index] = event["item"]
            open_index = index
        else:
            assert index == open_index
        if event["type"] == "response.output_item.done":
            done[index] = event["item"]
            open_index = None
    final: dict[str, Any] = events[-1]["response"]
    assert open_index is None
    assert final["output"] == [done[i] for i in range(len(done))]
    return final


def test_text_stream_accumulates_to_the_final_output(make_call: MakeCall) -> None:
    events = stream({"model": "m", "input": "hello", "stream": True}, make_call)
    final = check_lifecycle(events)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert final["output"][0]["content"][0]["text"] == deltas
    assert final["status"] == "completed" and final["usage"]["output_tokens"] == len(deltas.split(" "))
    kinds = [e["type"] for e in events]
    assert kinds.index("response.content_part.added") < kinds.index("response.output_text.delta")


def test_reasoning_summary_and_function_call(make_call: MakeCall) -> None:
    body = {
        "model": "m",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "weather in Paris?"}]}],
        "tools": [TOOL],
        "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
    }
    events = stream(body, make_call)
    final = check_lifecycle(events)
    reasoning, function_call = final["output"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"][0]["type"] == "summary_text"
    assert SIGNER.unseal(REASONING_DOMAIN, reasoning["encrypted_content"]) == reasoning["summary"][0]["text"]
    assert function_call["type"] == "function_call" and function_call["id"].startswith("fc_")
    assert function_call["call_id"].startswith("call_") and json.loads(function_call["arguments"])["city"]
    args = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert args == function_call["arguments"]
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["summary"] == []


def test_reasoning_without_summary_is_a_bare_item(make_call: MakeCall) -> None:
    events = stream({"model": "m", "input": "hi", "reasoning": {"effort": "medium"}}, make_call)
    final = check_lifecycle(events)
    assert final["output"][0] == {"id": final["output"][0]["id"], "type": "reasoning", "summary": []}
    assert not any("reasoning_summary" in e["type"] for e in events)


def test_token_cap_gives_incomplete(make_call: MakeCall) -> None:
    events = stream({"model": "m", "input": "hi", "max_output_tokens": 3}, make_call)
    final = check_lifecycle(events)
    assert events[-1]["type"] == "response.incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete" and final["usage"]["output_tokens"] == 3


def test_non_streaming_response_has_every_field(make_call: MakeCall) -> None:
    call = make_call()
    body = {"model": "m", "input": "hi", "instructions": "be brief", "metadata": {"k": "v"}}
    request = ADAPTER.parse(body, call)
    response = json.loads(ADAPTER.render(plan_reply(request, SimBehaviour(), 0), request, call))
    for key in (
        "background",
        "error",
        "incomplete_details",
        "max_tool_calls",
        "previous_response_id",
        "store",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_p",
        "truncation",
        "user",
        "reasoning",
    ):
        assert key in response
    assert response["instructions"] == "be brief" and response["metadata"] == {"k": "v"}
    assert response["object"] == "response" and response["status"] == "completed"


def test_structured_output_is_valid_json(make_call: MakeCall) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    body = {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "t", "schema": schema}}}
    final = check_lifecycle(stream(body, make_call))
    assert isinstance(json.loads(final["output"][0]["content"][0]["text"])["title"], str)


def test_tool_output_turn_quotes_the_result(make_call: MakeCall) -> None:
    body = {
        "model": "m",
        "tools": [TOOL],
        "input": [
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "12C rain"},
        ],
    }
    final = check_lifecycle(stream(body, make_call))
    assert final["output"][0]["content"][0]["text"].startswith("Tool result: 12C rain.")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}, "input"),
        (
            {"model": "m", "input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "zz"}]},
            "input[0].encrypted_content",
        ),
        ({"model": "m", "input": [3]}, "input[0]"),
    ],
)
def test_rejects_what_the_api_rejects(body: dict[str, Any], param: str, make_call: MakeCall) -> None:
    with pytest.raises(SimError) as caught:
        ADAPTER.parse(body, make_call())
    assert caught.value.status == 400 and caught.value.param == param


def test_issued_encrypted_content_is_accepted(make_call: MakeCall) -> None:
    sealed = SIGNER.seal(REASONING_DOMAIN, "thoughts")
    item = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": sealed}
    ADAPTER.parse({"model": "m", "input": [item, {"role": "user", "content": "go"}]}, make_call())


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [(429, "requests", "rate_limit_exceeded"), (500, "server_error", None), (529, "server_error", "overloaded")],
)
def test_error_envelope(status: int, kind: str, code: str | None) -> None:
    body = json.loads(ADAPTER.render_error(SimError(status)))
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["type"], body["error"]["code"]) == (kind, code)


def test_midstream_error_frames_continue_the_sequence(make_call: MakeCall) -> None:
    call = make_call()
    request = ADAPTER.parse({"model": "m", "input": "x", "stream": True}, call)
    rendered = ADAPTER.render_stream(plan_reply(request, SimBehaviour(), 0), request, call)
    events = sse_events([(rendered.error_frames(5), 0)])
    assert [(name, data["sequence_number"]) for name, data in events] == [("error", 5), ("response.failed", 6)]
    assert events[1][1]["response"]["status"] == "failed"
