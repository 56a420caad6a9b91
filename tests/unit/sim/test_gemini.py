"""The Gemini protocol module: history validation, thought signatures, and stream chunks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock.sim._errors import SimError
from interlock.sim._plan import plan_reply
from interlock.sim.config import SimBehaviour
from interlock.sim.gemini import CALL_DOMAIN, GeminiAdapter, call_payload

from .conftest import SIGNER, MakeCall
from .sse import sse_events

ADAPTER = GeminiAdapter()
TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
            },
            {"name": "get_time", "parametersJsonSchema": {"type": "object", "properties": {"tz": {"type": "string"}}}},
        ]
    }
]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def history(signature: str | None) -> list[dict[str, Any]]:
    call: dict[str, Any] = {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
    if signature is not None:
        call["thoughtSignature"] = signature
    return [
        user("weather?"),
        {"role": "model", "parts": [call]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "hot"}}}]},
    ]


def test_stream_chunks_and_cumulative_usage(make_call: MakeCall) -> None:
    call = make_call(path_model="gemini-2.5-flash", stream=True, query={"alt": "sse"})
    body = {"contents": [user("hello")], "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    request = ADAPTER.parse(body, call)
    reply = plan_reply(request, SimBehaviour(), 0)
    rendered = ADAPTER.render_stream(reply, request, call)
    assert rendered.content_type == "text/event-stream"
    assert all(frame.endswith(b"\r\n\r\n") for frame, _ in rendered.frames)
    chunks = [data for _, data in sse_events(rendered.frames)]
    parts = [chunk["candidates"][0]["content"]["parts"] for chunk in chunks]
    thoughts = [p[0]["text"] for p in parts if p[0].get("thought")]
    assert "".join(thoughts) == reply.reasoning_text
    assert all("finishReason" not in chunk["candidates"][0] for chunk in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert parts[-1] == [{"text": "", "thoughtSignature": parts[-1][0]["thoughtSignature"]}]
    totals = [chunk["usageMetadata"]["totalTokenCount"] for chunk in chunks]
    assert totals == sorted(totals)
    usage = chunks[-1]["usageMetadata"]
    assert usage["candidatesTokenCount"] == len(reply.text) and usage["thoughtsTokenCount"] == reply.reasoning_tokens
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + len(reply.text) + reply.reasoning_tokens


def test_function_calls_arrive_whole_with_a_signature_on_the_first(make_call: MakeCall) -> None:
    call = make_call(path_model="gemini-2.5-pro", stream=True)
    body = {"contents": [user("weather and time in parallel")], "tools": TOOLS}
    request = ADAPTER.parse(body, call)
    rendered = ADAPTER.render_stream(plan_reply(request, SimBehaviour(), 0), request, call)
    assert rendered.content_type == "application/json"
    chunks = json.loads(b"".join(frame for frame, _ in rendered.frames))
    first, second = chunks[0]["candidates"][0]["content"]["parts"]
    assert first["functionCall"]["name"] == "get_weather" and second["functionCall"]["name"] == "get_time"
    payload = call_payload("get_weather", first["functionCall"]["args"])
    assert SIGNER.verify(CALL_DOMAIN, payload, first["thoughtSignature"]) and "thoughtSignature" not in second
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_non_streaming_structured_output(make_call: MakeCall) -> None:
    call = make_call(path_model="gemini-2.5-flash")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = {
        "contents": [user("x")],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema},
    }
    request = ADAPTER.parse(body, call)
    response = json.loads(ADAPTER.render(plan_reply(request, SimBehaviour(), 0), request, call))
    (part,) = response["candidates"][0]["content"]["parts"]
    assert isinstance(json.loads(part["text"])["n"], int)


def test_signatures_required_on_gemini_3(make_call: MakeCall) -> None:
    good = SIGNER.sign(CALL_DOMAIN, call_payload("get_weather", {"city": "Rome"}))
    ADAPTER.parse({"contents": history(good)}, make_call(path_model="gemini-3-pro-preview"))
    ADAPTER.parse({"contents": history("skip_thought_signature_validator")}, make_call(path_model="gemini-3-pro"))
    ADAPTER.parse({"contents": history(None)}, make_call(path_model="gemini-2.5-flash"))
    with pytest.raises(SimError, match="missing a thought_signature") as caught:
        ADAPTER.parse({"contents": history(None)}, make_call(path_model="gemini-3-pro-preview"))
    assert caught.value.status == 400
    strict = SimBehaviour(require_thought_signature=True)
    with pytest.raises(SimError, match="Corrupted thought signature"):
        ADAPTER.parse({"contents": history("Zm9v")}, make_call(path_model="gemini-2.5", behaviour=strict))


def test_signatures_of_earlier_turns_are_not_checked(make_call: MakeCall) -> None:
    contents = [*history(None), {"role": "model", "parts": [{"text": "It is hot."}]}, user("thanks")]
    request = ADAPTER.parse({"contents": contents}, make_call(path_model="gemini-3-pro"))
    assert request.tool_outputs is None and request.last_user_text == "thanks"


def test_tool_result_turn(make_call: MakeCall) -> None:
    request = ADAPTER.parse({"contents": history(None)}, make_call(path_model="gemini-2.5-flash"))
    assert request.tool_outputs == ["hot"] and request.last_user_text == "weather?"


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ([], "contents is not specified"),
        (
            [user("a"), {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}],
            "immediately after a function call turn",
        ),
        ([*history(None)[:2], user("no answer")], "number of function response parts"),
        ([{"role": "user"}], "parts"),
    ],
)
def test_rejects_bad_histories(contents: list[Any], message: str, make_call: MakeCall) -> None:
    with pytest.raises(SimError, match=message):
        ADAPTER.parse({"contents": contents}, make_call(path_model="gemini-2.5-flash"))


def test_tool_config_forces_a_named_function(make_call: MakeCall) -> None:
    body = {
        "contents": [user("hello")],
        "tools": TOOLS,
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}},
    }
    request = ADAPTER.parse(body, make_call(path_model="gemini-2.5-flash"))
    assert [c.name for c in plan_reply(request, SimBehaviour(), 0).calls] == ["get_time"]


@pytest.mark.parametrize(("status", "name"), [(429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE"), (500, "INTERNAL")])
def test_error_envelope(status: int, name: str) -> None:
    body = json.loads(ADAPTER.render_error(SimError(status)))
    assert body["error"]["code"] == status and body["error"]["status"] == name
