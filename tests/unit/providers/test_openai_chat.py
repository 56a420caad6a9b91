"""openai_chat: IR -> Chat request tables, chunk streams -> events, and the shared OpenAI error mapping."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Sequence
from email.utils import formatdate
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.ir import events as ev
from interlock.ir.builder import ResponseBuilder
from interlock.ir.errors import GatewayError, UpstreamError
from interlock.ir.parse import parse_response_request
from interlock.ir.request import ResponseRequest
from interlock.ir.response import make_response_shell
from interlock.providers import _openai_common, openai_chat
from interlock.providers.base import Target
from interlock.providers.sse import SSEDecoder
from tests.support.invariants import check_response_stream


def target(provider: str = "together", api_key: str | None = "tok-secret-123") -> Target:
    return Target(
        provider=provider,
        protocol="openai-chat",
        base_url="https://api.example.com/v1",
        api_key=api_key,
        provider_model_id="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        model_canonical="llama-3.3-70b",
    )


TARGET = target()
OPENAI = target("openai")


def ir(body: dict[str, Any]) -> ResponseRequest:
    req, unknown = parse_response_request({"model": "m", **body})
    assert unknown == []
    return req


def build(body: dict[str, Any], tgt: Target = TARGET, stream: bool = False) -> tuple[dict[str, Any], list[str]]:
    native = openai_chat.build_request(ir(body), tgt, stream=stream)
    msgspec.json.encode(native.body)
    return native.body, [w.code for w in native.warnings]


def refused(body: dict[str, Any], req: ResponseRequest | None = None) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        openai_chat.build_request(req or ir(body), TARGET, stream=False)
    return info.value


# --- build_request ------------------------------------------------------------------------------------------


def test_params_table_covers_every_request_field() -> None:
    assert set(openai_chat.PARAMS) == set(ResponseRequest.__struct_fields__)


def test_url_headers_and_stream_options() -> None:
    native = openai_chat.build_request(ir({"input": "hi"}), TARGET, stream=True)
    assert native.url == "https://api.example.com/v1/chat/completions"
    assert native.headers["Authorization"] == "Bearer tok-secret-123"
    assert native.body == {
        "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    plain = openai_chat.build_request(ir({"input": "hi"}), target(api_key=None), stream=False)
    assert "Authorization" not in plain.headers
    assert plain.body["stream"] is False and "stream_options" not in plain.body


MESSAGE_CASES: list[tuple[str, dict[str, Any], Target, list[dict[str, Any]]]] = [
    (
        "instructions-and-system-roles",
        {
            "instructions": "Be brief.",
            "input": [
                {"role": "system", "content": "sys"},
                {"role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
                {"role": "user", "content": "hi"},
            ],
        },
        TARGET,
        [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "sys"},
            {"role": "system", "content": "dev"},  # generic servers (DeepSeek...) reject "developer"
            {"role": "user", "content": "hi"},
        ],
    ),
    (
        "developer-kept-for-openai",
        {"input": [{"role": "developer", "content": "dev"}, {"role": "user", "content": "hi"}]},
        OPENAI,
        [{"role": "developer", "content": "dev"}, {"role": "user", "content": "hi"}],
    ),
    (
        "user-parts",
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "https://x/cat.png", "detail": "low"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                        {"type": "input_image", "image_url": "https://x/dog.png", "detail": "original"},
                        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                        {"type": "input_file", "file_id": "file-1"},
                    ],
                }
            ]
        },
        TARGET,
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://x/dog.png", "detail": "high"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
                    {"type": "file", "file": {"file_id": "file-1"}},
                ],
            }
        ],
    ),
    (
        "text-parts-become-a-string",
        {
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]}
            ]
        },
        TARGET,
        [{"role": "user", "content": "a\nb"}],
    ),
    (
        "assistant-history-text-and-refusal",
        {
            "input": [
                {"role": "user", "content": "hi"},
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Hello "}, {"type": "output_text", "text": "there"}],
                },
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            ]
        },
        TARGET,
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello there"},
            {"role": "assistant", "content": "I can't."},
        ],
    ),
    (
        "parallel-tool-calls-and-results",
        {
            "input": [
                {"role": "user", "content": "weather?"},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}]},
                {"role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {
                    "type": "function_call",
                    "call_id": "call_a",
                    "name": "weather",
                    "arguments": '{"c":"SF"}',
                    "id": "fc_1",
                },
                {"type": "function_call", "call_id": "call_b", "name": "weather", "arguments": '{"c":"NY"}'},
                {"type": "function_call", "call_id": "call_c", "name": "now", "arguments": ""},
                {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
                {
                    "type": "function_call_output",
                    "call_id": "call_b",
                    "output": [{"type": "input_text", "text": "rain"}],
                },
                {"type": "function_call_output", "call_id": "call_c", "output": "noon"},
                {"type": "function_call", "call_id": "call_d", "name": "now", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_d", "output": "later"},
            ]
        },
        TARGET,
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": '{"c":"SF"}'}},
                    {"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": '{"c":"NY"}'}},
                    {"id": "call_c", "type": "function", "function": {"name": "now", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_b", "content": "rain"},
            {"role": "tool", "tool_call_id": "call_c", "content": "noon"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_d", "type": "function", "function": {"name": "now", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_d", "content": "later"},
        ],
    ),
    (
        "images-in-tool-output-follow-the-results",
        {
            "input": [
                {"type": "function_call", "call_id": "call_a", "name": "shot", "arguments": "{}"},
                {"type": "function_call", "call_id": "call_b", "name": "shot", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "call_a",
                    "output": [
                        {"type": "input_text", "text": "screen:"},
                        {"type": "input_image", "image_url": "https://x/s.png"},
                    ],
                },
                {"type": "function_call_output", "call_id": "call_b", "output": "none"},
                {"role": "user", "content": "and?"},
            ]
        },
        TARGET,
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "shot", "arguments": "{}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "shot", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "screen:"},
            {"role": "tool", "tool_call_id": "call_b", "content": "none"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/s.png"}}]},
            {"role": "user", "content": "and?"},
        ],
    ),
]


@pytest.mark.parametrize(("body", "tgt", "expected"), [c[1:] for c in MESSAGE_CASES], ids=[c[0] for c in MESSAGE_CASES])
def test_messages(body: dict[str, Any], tgt: Target, expected: list[dict[str, Any]]) -> None:
    native, warnings = build(body, tgt)
    assert native["messages"] == expected
    assert warnings == []


def test_tools_and_choices() -> None:
    tools = [
        {"type": "function", "name": "weather", "description": "d", "parameters": {"type": "object"}, "strict": True},
        {"type": "function", "name": "now"},
    ]
    body, _ = build({"input": "hi", "tools": tools, "tool_choice": "required", "parallel_tool_calls": False})
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "weather", "description": "d", "parameters": {"type": "object"}, "strict": True},
        },
        {"type": "function", "function": {"name": "now"}},
    ]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected", "names"),
    [
        ("auto", "auto", ["weather", "now"]),
        ("none", "none", ["weather", "now"]),
        ({"type": "function", "name": "now"}, {"type": "function", "function": {"name": "now"}}, ["weather", "now"]),
        (
            {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "now"}]},
            "required",
            ["now"],
        ),
    ],
    ids=["auto", "none", "function", "allowed-tools"],
)
def test_tool_choice_mapping(choice: Any, expected: Any, names: list[str]) -> None:
    tools = [{"type": "function", "name": "weather"}, {"type": "function", "name": "now"}]
    body, _ = build({"input": "hi", "tools": tools, "tool_choice": choice})
    assert body["tool_choice"] == expected
    assert [t["function"]["name"] for t in body["tools"]] == names


def test_tool_fields_are_omitted_without_tools() -> None:
    body, _ = build({"input": "hi", "tool_choice": "auto", "parallel_tool_calls": True})
    assert {"tools", "tool_choice", "parallel_tool_calls"}.isdisjoint(body)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "hosted_tool_not_supported", "tools"),
        (
            {"input": "hi", "tools": [{"type": "custom", "name": "sql"}]},
            "hosted_tool_not_supported",
            "tools",
        ),
        (
            {
                "input": "hi",
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "web_search_preview"},
            },
            "hosted_tool_not_supported",
            "tool_choice",
        ),
        (
            {"input": [{"type": "web_search_call", "id": "ws_1", "status": "completed"}]},
            "input_requires_responses_endpoint",
            "input[0]",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
            "invalid_parameter_value",
            "input[0].content[0].file_id",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}]},
            "invalid_parameter_value",
            "input[0].content[0].file_url",
        ),
        ({"input": "hi", "previous_response_id": "resp_1"}, "invalid_parameter_value", "previous_response_id"),
    ],
    ids=["hosted-tool", "custom-tool", "hosted-choice", "hosted-item", "image-file-id", "file-url", "stateful"],
)
def test_untranslatable_input_is_refused(body: dict[str, Any], code: str, param: str) -> None:
    error = refused(body)
    assert (error.code, error.param, error.status) == (code, param, 400)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ({"format": {"type": "text"}}, {}),
        ({"format": {"type": "json_object"}}, {"response_format": {"type": "json_object"}}),
        (
            {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
                }
            },
        ),
        (
            {"format": {"type": "json_schema", "schema": {"type": "object"}, "description": "d"}, "verbosity": "low"},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": {"type": "object"}, "description": "d"},
                },
                "verbosity": "low",
            },
        ),
    ],
    ids=["text", "json-object", "json-schema", "json-schema-defaults"],
)
def test_response_format(text: dict[str, Any], expected: dict[str, Any]) -> None:
    body, _ = build({"input": "hi", "text": text})
    assert {k: body[k] for k in ("response_format", "verbosity") if k in body} == expected


@pytest.mark.parametrize(("effort", "native"), [("high", "high"), ("off", "none"), ("minimal", "minimal")])
def test_reasoning_effort(effort: str, native: str) -> None:
    body, _ = build({"input": "hi", "reasoning": {"effort": effort, "summary": "auto"}})
    assert body["reasoning_effort"] == native


def test_max_tokens_name_depends_on_the_server() -> None:
    assert build({"input": "hi", "max_output_tokens": 50}, OPENAI)[0]["max_completion_tokens"] == 50
    body, _ = build({"input": "hi", "max_output_tokens": 50})
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body


def test_sampling_and_chat_extras_pass_through() -> None:
    req = msgspec.structs.replace(
        ir(
            {
                "input": "hi",
                "temperature": 0.3,
                "top_p": 0.9,
                "frequency_penalty": 0.1,
                "presence_penalty": 0.2,
                "metadata": {"k": "v"},
                "user": "u",
                "safety_identifier": "sid",
                "prompt_cache_key": "pck",
                "service_tier": "auto",
                "top_logprobs": 3,
                "truncation": "disabled",
                "store": False,
                "background": False,
            }
        ),
        stop=["END"],
        seed=7,
        n=2,
        logit_bias={"50256": -100.0},
        top_k=40,
        extra_params={"min_p": 0.05, "repetition_penalty": 1.1, "temperature": 2.0, "model": "evil"},
    )
    native = openai_chat.build_request(req, TARGET, stream=False)
    body = native.body
    expected = {
        "temperature": 0.3,
        "top_p": 0.9,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "metadata": {"k": "v"},
        "user": "u",
        "safety_identifier": "sid",
        "prompt_cache_key": "pck",
        "service_tier": "auto",
        "top_logprobs": 3,
        "logprobs": True,
        "stop": ["END"],
        "seed": 7,
        "n": 2,
        "logit_bias": {"50256": -100.0},
        "top_k": 40,
        "min_p": 0.05,
        "repetition_penalty": 1.1,
    }
    assert {k: body[k] for k in expected} == expected
    assert body["model"] == TARGET.provider_model_id  # extra_params never override translated fields
    assert {"store", "background", "truncation", "extra_params", "gateway", "extensions"}.isdisjoint(body)
    assert [(w.type, w.code) for w in native.warnings] == [("blocked_field", "model_blocked")]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"store": True}, "store_dropped"),
        ({"background": True}, "background_dropped"),
        ({"truncation": "auto"}, "truncation_dropped"),
        ({"max_tool_calls": 2}, "max_tool_calls_dropped"),
    ],
)
def test_what_chat_cannot_honour_is_dropped_with_a_warning(fields: dict[str, Any], code: str) -> None:
    body, warnings = build({"input": "hi", **fields})
    assert warnings == [code]
    assert set(fields).isdisjoint(body)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"include": ["message.output_text.logprobs"]}, {"logprobs": True}),
        ({"include": ["reasoning.encrypted_content"]}, {}),
        ({"logprobs": False}, {"logprobs": False}),
        ({"logprobs": False, "top_logprobs": 2}, {"logprobs": False, "top_logprobs": 2}),
    ],
)
def test_logprobs(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    req = msgspec.structs.replace(ir({"input": "hi"}), **fields)
    body = openai_chat.build_request(req, TARGET, stream=False).body
    assert {k: body[k] for k in ("logprobs", "top_logprobs") if k in body} == expected


# --- streams ------------------------------------------------------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None and finish is None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "llama-3.3", "choices": choices, **extra}


def call(index: int, args: str = "", id: str | None = None, name: str | None = None) -> dict[str, Any]:
    frag: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id is not None:
        frag["id"] = id
        frag["type"] = "function"
    if name is not None:
        frag["function"]["name"] = name
    return frag


ROLE = chunk({"role": "assistant", "content": "", "refusal": None})
USAGE_CHUNK = chunk(
    usage={
        "prompt_tokens": 20,
        "completion_tokens": 9,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 4},
    }
)


def sse(chunks: Sequence[dict[str, Any] | str], done: bool = True) -> bytes:
    frames = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    if done:
        frames.append("data: [DONE]\n\n")
    return "".join(frames).encode()


def parse(data: bytes, pieces: list[bytes] | None = None) -> list[ev.Event]:
    decoder = SSEDecoder()
    parser = openai_chat.stream_parser(TARGET)
    out: list[ev.Event] = []
    for piece in pieces if pieces is not None else [data]:
        for event in decoder.decode(piece):
            out.extend(parser.feed(event))
    for event in decoder.flush():
        out.extend(parser.feed(event))
    out.extend(parser.close())
    return out


SYNTHETIC_ID = re.compile(r"^call_[0-9a-f]{24}$")


def comparable(events: list[ev.Event]) -> list[Any]:
    """Errors as plain values (exceptions compare by identity) and synthesized call ids masked."""
    out: list[Any] = []
    for e in events:
        if isinstance(e, ev.StreamError):
            out.append(("error", e.error.code, e.error.message, e.error.retryable))
        elif isinstance(e, ev.ToolCallStart) and SYNTHETIC_ID.match(e.call_id):
            out.append(msgspec.structs.replace(e, call_id="call_<synthesized>"))
        else:
            out.append(e)
    return out


def render(events: list[ev.Event]) -> dict[str, Any]:
    builder = ResponseBuilder(make_response_shell(ResponseRequest(model="m", input="hi"), "resp_x", "m"))
    out: list[dict[str, Any]] = []
    for event in events:
        out.extend(builder.feed(event))
    out.extend(builder.complete())
    return check_response_stream(out)


def run(chunks: Sequence[dict[str, Any] | str], done: bool = True) -> tuple[list[ev.Event], dict[str, Any]]:
    """Parse whole and byte by byte (identical events), then render through the builder and check invariants."""
    data = sse(chunks, done)
    events = parse(data)
    assert comparable(parse(data, [data[i : i + 1] for i in range(len(data))])) == comparable(events)
    return events, render(events)


def calls_of(final: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [
        (o["call_id"], o["name"], json.loads(o["arguments"])) for o in final["output"] if o["type"] == "function_call"
    ]


def test_text_stream_with_usage() -> None:
    events, final = run([ROLE, chunk({"content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop"), USAGE_CHUNK])
    assert events == [
        ev.ResponseInfo(upstream_id="chatcmpl-1", model="llama-3.3"),
        ev.TextDelta(text="Hel"),
        ev.TextDelta(text="lo"),
        ev.Finish(reason="stop", native_reason="stop"),
        ev.Usage(input_tokens=20, output_tokens=9, cached_tokens=8, reasoning_tokens=4),
    ]
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["usage"]["input_tokens_details"]["cached_tokens"] == 8
    assert final["usage"]["total_tokens"] == 29


def test_refusal_stream() -> None:
    _, final = run([ROLE, chunk({"refusal": "I can"}), chunk({"refusal": "'t."}), chunk({}, "stop")])
    assert final["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't."}]


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_then_text(key: str) -> None:
    _, final = run([ROLE, chunk({key: "Let me "}), chunk({key: "think."}), chunk({"content": "42"}), chunk({}, "stop")])
    assert [o["type"] for o in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "Let me think."}]


def test_sequential_parallel_tool_calls_stream_without_delay() -> None:
    chunks = [
        ROLE,
        chunk({"tool_calls": [call(0, "", "call_a", "weather")]}),
        chunk({"tool_calls": [call(0, '{"c":')]}),
        chunk({"tool_calls": [call(0, '"SF"}')]}),
        chunk({"tool_calls": [call(1, "", "call_b", "weather")]}),
        chunk({"tool_calls": [call(1, '{"c":"NY"}')]}),
        chunk({}, "tool_calls"),
    ]
    events, final = run(chunks)
    tool_events = [e for e in events if isinstance(e, (ev.ToolCallStart, ev.ToolCallDelta, ev.ToolCallEnd))]
    assert tool_events == [
        ev.ToolCallStart(call_id="call_a", name="weather"),
        ev.ToolCallDelta(arguments='{"c":'),
        ev.ToolCallDelta(arguments='"SF"}'),
        ev.ToolCallEnd(),  # ended as soon as the next call appeared: its JSON was complete
        ev.ToolCallStart(call_id="call_b", name="weather"),
        ev.ToolCallDelta(arguments='{"c":"NY"}'),
        ev.ToolCallEnd(),
    ]
    assert calls_of(final) == [("call_a", "weather", {"c": "SF"}), ("call_b", "weather", {"c": "NY"})]
    assert events[-1] == ev.Finish(reason="tool_calls", native_reason="tool_calls")


def test_interleaved_tool_call_fragments_are_reordered() -> None:
    chunks = [
        ROLE,
        chunk({"tool_calls": [call(0, "", "call_a", "f"), call(1, "", "call_b", "g")]}),
        chunk({"tool_calls": [call(1, '{"y"'), call(0, '{"x"')]}),
        chunk({"tool_calls": [call(0, ":1}"), call(1, ":2}")]}),
        chunk({"tool_calls": [call(2, '{"z":3}', "call_c", "h")]}),
        chunk({}, "tool_calls"),
    ]
    _, final = run(chunks)
    assert calls_of(final) == [("call_a", "f", {"x": 1}), ("call_b", "g", {"y": 2}), ("call_c", "h", {"z": 3})]


def test_calls_all_sent_as_index_zero_with_distinct_ids_stay_separate() -> None:
    chunks = [
        chunk({"tool_calls": [call(0, "", "call_a", "f")]}),
        chunk({"tool_calls": [call(0, '{"x":1}')]}),
        chunk({"tool_calls": [call(0, "", "call_b", "g")]}),
        chunk({"tool_calls": [call(0, '{"y":2}')]}),
        chunk({}, "tool_calls"),
    ]
    _, final = run(chunks)
    assert calls_of(final) == [("call_a", "f", {"x": 1}), ("call_b", "g", {"y": 2})]


def test_whole_calls_without_index_are_matched_by_id() -> None:
    whole = [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": '{"y":2}'}},
    ]
    _, final = run([chunk({"tool_calls": whole}), chunk({}, "tool_calls")])
    assert calls_of(final) == [("call_a", "f", {"x": 1}), ("call_b", "g", {"y": 2})]


def test_no_argument_tool_and_missing_id() -> None:
    chunks = [
        chunk({"tool_calls": [{"index": 0, "function": {"name": "now", "arguments": ""}}]}),
        chunk({"tool_calls": [call(1, "", "call_b", "later")]}),
        chunk({}, "tool_calls"),
    ]
    _, final = run(chunks)
    (first_id, first, first_args), second = calls_of(final)
    assert first_id.startswith("call_") and (first, first_args) == ("now", {})
    assert second == ("call_b", "later", {})


def test_repeated_name_and_id_are_not_concatenated() -> None:
    chunks = [
        chunk({"tool_calls": [call(0, '{"a"', "call_a", "f")]}),
        chunk({"tool_calls": [call(0, ":1}", "call_a", "f")]}),
        chunk({}, "tool_calls"),
    ]
    _, final = run(chunks)
    assert calls_of(final) == [("call_a", "f", {"a": 1})]


def test_text_after_a_tool_call_closes_it() -> None:
    chunks = [
        chunk({"tool_calls": [call(0, "{}", "call_a", "f")]}),
        chunk({"content": "done"}),
        chunk({}, "tool_calls"),
    ]
    _, final = run(chunks)
    assert [o["type"] for o in final["output"]] == ["function_call", "message"]


@pytest.mark.parametrize(
    ("native", "reason", "status"),
    [
        ("length", "length", "incomplete"),
        ("content_filter", "content_filter", "incomplete"),
        ("function_call", "tool_calls", "completed"),
        ("eos", "stop", "completed"),
    ],
)
def test_finish_reasons(native: str, reason: str, status: str) -> None:
    events, final = run([chunk({"content": "x"}), chunk({}, native)])
    assert events[-1] == ev.Finish(reason=reason, native_reason=native)  # type: ignore[arg-type]
    assert final["status"] == status


def test_stop_after_tool_calls_means_tool_calls() -> None:
    events, _ = run([chunk({"tool_calls": [call(0, "{}", "call_a", "f")]}), chunk({}, "stop")])
    assert events[-1] == ev.Finish(reason="tool_calls", native_reason="stop")
    events, _ = run([chunk({"tool_calls": [call(0, "{}", "call_a", "f")]}), chunk({}, "length")])
    assert events[-1] == ev.Finish(reason="length", native_reason="length")


def test_list_content_chunks() -> None:
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}
    _, final = run(
        [chunk({"content": [thinking]}), chunk({"content": [{"type": "text", "text": "ok"}]}), chunk({}, "stop")]
    )
    assert [o["type"] for o in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["summary"][0]["text"] == "hmm"
    assert final["output"][1]["content"][0]["text"] == "ok"


def test_usage_repeated_on_every_chunk_is_reported_once_per_change() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6, "prompt_cache_hit_tokens": 2}
    events, final = run([chunk({"content": "a"}, usage=usage), chunk({}, "stop", usage=usage)])
    assert [e for e in events if isinstance(e, ev.Usage)] == [
        ev.Usage(input_tokens=5, output_tokens=1, cached_tokens=2)
    ]
    assert final["usage"]["input_tokens_details"]["cached_tokens"] == 2


def test_other_choices_are_ignored() -> None:
    second = {"index": 1, "delta": {"content": "other"}, "finish_reason": None}
    _, final = run(
        [
            {**chunk({"content": "mine"}), "choices": [chunk({"content": "mine"})["choices"][0], second]},
            chunk({}, "stop"),
        ]
    )
    assert final["output"][0]["content"][0]["text"] == "mine"


def test_mid_stream_error() -> None:
    error = {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}}
    events, final = run([ROLE, chunk({"content": "Hel"}), error, chunk({"content": "lo"})], done=False)
    assert isinstance(events[-1], ev.StreamError)
    assert (events[-1].error.code, events[-1].error.retryable) == ("upstream_error", True)
    assert final["status"] == "failed"
    assert final["output"][0]["status"] == "incomplete"


def test_missing_done_after_finish_is_fine() -> None:
    events, final = run([chunk({"content": "ok"}), chunk({}, "stop"), USAGE_CHUNK], done=False)
    assert not any(isinstance(e, ev.StreamError) for e in events)
    assert final["status"] == "completed"


def test_missing_finish_and_done_is_an_error() -> None:
    events, final = run([ROLE, chunk({"content": "Hel"})], done=False)
    assert isinstance(events[-1], ev.StreamError)
    assert (events[-1].error.code, events[-1].error.retryable) == ("upstream_error", True)
    assert final["status"] == "failed"


def test_done_without_finish_reason_finishes() -> None:
    events, _ = run([chunk({"tool_calls": [call(0, "{}", "call_a", "f")]})])
    assert events[-1] == ev.Finish(reason="tool_calls", native_reason=None)


def test_malformed_chunk_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as info:
        parse(sse(["{not json"]))
    assert info.value.code == "upstream_error" and info.value.retryable


def test_annotations_are_flattened() -> None:
    note = {
        "type": "url_citation",
        "url_citation": {"url": "https://x", "title": "X", "start_index": 0, "end_index": 1},
    }
    _, final = run([chunk({"content": "x", "annotations": [note]}), chunk({}, "stop")])
    assert final["output"][0]["content"][0]["annotations"] == [
        {"type": "url_citation", "url": "https://x", "title": "X", "start_index": 0, "end_index": 1}
    ]


@st.composite
def tool_streams(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, str, Any]]]:
    """Several calls, each split into fragments, interleaved in a random order that keeps each call's own order."""
    n = draw(st.integers(1, 4))
    expected: list[tuple[str, str, Any]] = []
    queues: list[list[dict[str, Any]]] = []
    for i in range(n):
        args = draw(st.dictionaries(st.sampled_from("abc"), st.integers(-5, 5), max_size=3))
        text = json.dumps(args, separators=(",", ":"))
        cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=4)))
        bounds = [0, *cuts, len(text)]
        pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
        frags = [call(i, pieces[0], f"call_{i}", f"fn{i}")] + [call(i, p) for p in pieces[1:]]
        queues.append(frags)
        expected.append((f"call_{i}", f"fn{i}", args))
    order: list[dict[str, Any]] = []
    heads = [0] * n
    while any(heads[i] < len(queues[i]) for i in range(n)):
        # a call's first fragment may only come once every earlier call has started (indices appear in order)
        ready = [i for i in range(n) if heads[i] < len(queues[i]) and all(heads[j] > 0 for j in range(i))]
        i = draw(st.sampled_from(ready))
        order.append(queues[i][heads[i]])
        heads[i] += 1
    per_chunk = draw(st.integers(1, 3))
    chunks = [chunk({"tool_calls": order[k : k + per_chunk]}) for k in range(0, len(order), per_chunk)]
    return [*chunks, chunk({}, "tool_calls")], expected


@settings(max_examples=150, deadline=None)
@given(tool_streams())
def test_any_interleaving_of_tool_call_fragments(case: tuple[list[dict[str, Any]], list[tuple[str, str, Any]]]) -> None:
    chunks, expected = case
    _, final = run(list(chunks))
    assert calls_of(final) == expected


# --- non-streaming ------------------------------------------------------------------------------------------


def test_non_streaming_completion() -> None:
    body = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "model": "llama-3.3",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "reasoning_content": "hmm",
                    "content": "Calling.",
                    "tool_calls": [
                        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
                        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": ""}},
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    events = openai_chat.parse_response(json.dumps(body).encode(), TARGET)
    final = render(events)
    assert [o["type"] for o in final["output"]] == ["reasoning", "message", "function_call", "function_call"]
    assert calls_of(final) == [("call_a", "f", {"x": 1}), ("call_b", "g", {})]
    assert final["usage"]["total_tokens"] == 7
    assert events[-2] == ev.Finish(reason="tool_calls", native_reason="tool_calls")


def test_non_streaming_error_body() -> None:
    events = openai_chat.parse_response(b'{"error": {"message": "boom", "type": "server_error"}}', TARGET)
    assert len(events) == 1 and isinstance(events[0], ev.StreamError)
    assert events[0].error.code == "upstream_error"


# --- error mapping (shared by both OpenAI adapters) ---------------------------------------------------------


def envelope(message: str = "m", type_: str = "invalid_request_error", code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()


VLLM_CONTEXT = b'{"object":"error","message":"This model\'s maximum context length is 8192 tokens","code":400}'


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable", "gateway_status"),
    [
        (400, envelope(), "invalid_request", False, 400),
        (400, envelope(code="context_length_exceeded"), "context_length_exceeded", False, 400),
        (400, VLLM_CONTEXT, "context_length_exceeded", False, 400),
        (401, envelope("Incorrect API key: tok-secr***123", code="invalid_api_key"), "upstream_error", False, 502),
        (403, envelope("Country not supported"), "upstream_error", False, 502),
        (404, envelope("The model `x` does not exist", code="model_not_found"), "upstream_error", True, 502),
        (408, b"", "upstream_error", True, 502),
        (409, b"", "upstream_error", True, 502),
        (413, b"too big", "payload_too_large", False, 413),
        (422, envelope(), "invalid_request", False, 400),
        (429, envelope("slow down", "requests", "rate_limit_exceeded"), "rate_limit_exceeded", True, 429),
        (429, envelope("pay up", "insufficient_quota", "insufficient_quota"), "insufficient_quota", False, 429),
        (500, envelope("oops", "server_error"), "upstream_error", True, 502),
        (503, b"<html>Service Unavailable</html>", "upstream_error", True, 502),
        (529, envelope("Overloaded", "server_error", "overloaded"), "model_unavailable", True, 503),
    ],
)  # fmt: skip
def test_error_mapping(status: int, body: bytes, code: str, retryable: bool, gateway_status: int) -> None:
    error = openai_chat.map_error(status, body, {}, TARGET)
    assert (error.code, error.retryable, error.status) == (code, retryable, gateway_status)
    assert error.upstream_status == status and error.provider == "together"
    assert "tok-secret-123" not in error.message and "secr" not in error.message
    assert "<html>" not in error.message


def test_error_message_is_the_upstream_message_truncated_and_scrubbed() -> None:
    body = envelope(f"bad key tok-secret-123 {'x' * 2000}")
    error = openai_chat.map_error(400, body, {}, TARGET)
    assert "tok-secret-123" not in error.message
    assert len(error.message) <= _openai_common.MAX_MESSAGE + 60
    assert error.message.startswith("together returned HTTP 400: bad key ***")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7),
        ({"retry-after": "1.2"}, 2),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 2),
        ({"Retry-After": "<http-date in 30 s>"}, 30),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: int | None) -> None:
    if headers.get("Retry-After", "").startswith("<http-date"):
        headers = {"Retry-After": formatdate(time.time() + 30, usegmt=True)}
        error = openai_chat.map_error(429, envelope(code="rate_limit_exceeded"), headers, TARGET)
        assert error.retry_after is not None and 28 <= error.retry_after <= 30  # the date has whole seconds
        return
    error = openai_chat.map_error(429, envelope(code="rate_limit_exceeded"), headers, TARGET)
    assert error.retry_after == seconds


def test_both_adapters_share_the_mapping() -> None:
    from interlock.providers import openai_responses

    assert openai_chat.map_error is openai_responses.map_error is _openai_common.map_error
