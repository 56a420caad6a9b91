"""openai_responses: request building, and the recorded OpenAI streams replayed through decoder, parser and builder."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._models import construct_type
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from interlock.ir import events as ev
from interlock.ir.builder import ResponseBuilder
from interlock.ir.errors import UpstreamError
from interlock.ir.parse import parse_response_request
from interlock.ir.request import ResponseRequest
from interlock.ir.response import make_response_shell
from interlock.providers import _openai_common, _signatures, openai_responses
from interlock.providers.base import SSEEvent, Target
from interlock.providers.sse import SSEDecoder
from tests.support.invariants import check_response_stream

FIXTURES = Path("/work/shared/fixtures/openai-responses")
TERMINAL = ("response.completed", "response.incomplete", "response.failed")

TARGET = Target(
    provider="openai",
    protocol="openai-responses",
    base_url="https://api.openai.com/v1/",
    api_key="sk-test-secret",
    provider_model_id="gpt-5-2025-08-07",
    model_canonical="gpt-5",
)


def ir(body: dict[str, Any]) -> ResponseRequest:
    req, unknown = parse_response_request({"model": "gpt-5", **body})
    assert unknown == []
    return req


def build(body: dict[str, Any], target: Target = TARGET, stream: bool = False) -> tuple[dict[str, Any], list[str]]:
    native = openai_responses.build_request(ir(body), target, stream=stream)
    msgspec.json.encode(native.body)  # JSON-ready
    return native.body, [w.code for w in native.warnings]


# --- build_request ------------------------------------------------------------------------------------------


def test_params_table_covers_every_request_field() -> None:
    assert set(openai_responses.PARAMS) == set(ResponseRequest.__struct_fields__)


def test_url_headers_model_and_stream() -> None:
    native = openai_responses.build_request(ir({"input": "hi"}), TARGET, stream=True)
    assert native.url == "https://api.openai.com/v1/responses"
    assert native.method == "POST" and native.stream is True
    assert native.headers["Authorization"] == "Bearer sk-test-secret"
    assert native.headers["Content-Type"] == "application/json"
    assert native.body == {"model": "gpt-5-2025-08-07", "input": "hi", "stream": True}


def test_no_auth_header_without_key_and_provider_headers_kept() -> None:
    target = Target(
        provider="local",
        protocol="openai-responses",
        base_url="http://127.0.0.1:9000/v1",
        api_key=None,
        provider_model_id="m",
        model_canonical="m",
        headers={"OpenAI-Project": "proj_1"},
    )
    native = openai_responses.build_request(ir({"input": "hi"}), target, stream=False)
    assert "Authorization" not in native.headers
    assert native.headers["OpenAI-Project"] == "proj_1"
    assert native.body["stream"] is False


def test_response_api_fields_pass_through() -> None:
    fields: dict[str, Any] = {
        "instructions": "Be brief.",
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_output_tokens": 100,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_logprobs": 2,
        "max_tool_calls": 3,
        "truncation": "auto",
        "metadata": {"k": "v"},
        "include": ["reasoning.encrypted_content"],
        "user": "u1",
        "store": False,
        "previous_response_id": "resp_prev",
        "prompt_cache_key": "pck",
        "safety_identifier": "sid",
        "service_tier": "flex",
    }
    body, warnings = build({"input": "hi", "tools": [{"type": "function", "name": "f"}], **fields})
    assert warnings == []
    for key, value in fields.items():
        assert body[key] == value, key


def test_gateway_fields_never_reach_the_upstream() -> None:
    body, warnings = build(
        {
            "input": "hi",
            "gateway": {"routing": {"optimize": "cost"}},
            "extensions": {"openai": {"x": 1}},
        }
    )
    assert "gateway" not in body and "extensions" not in body
    assert warnings == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stop", ["END"]),
        ("seed", 7),
        ("n", 2),
        ("logit_bias", {"50256": -100}),
        ("logprobs", True),
        ("top_k", 40),
        ("frequency_penalty", 0.5),
        ("presence_penalty", 0.5),
        ("background", True),
    ],
)
def test_fields_the_responses_api_lacks_are_dropped_with_a_warning(field: str, value: Any) -> None:
    req = msgspec.structs.replace(ir({"input": "hi"}), **{field: value})
    native = openai_responses.build_request(req, TARGET, stream=False)
    assert field not in native.body
    assert [(w.type, w.code) for w in native.warnings] == [("unsupported_parameter", f"{field}_dropped")]


def test_defaults_of_chat_extras_drop_silently() -> None:
    req = msgspec.structs.replace(ir({"input": "hi"}), n=1, logprobs=False, background=False)
    native = openai_responses.build_request(req, TARGET, stream=False)
    assert native.warnings == []
    assert {"n", "logprobs", "background"}.isdisjoint(native.body)


def test_extra_params_verbosity_maps_and_the_rest_warn() -> None:
    req = msgspec.structs.replace(ir({"input": "hi"}), extra_params={"verbosity": "low", "min_p": 0.1})
    native = openai_responses.build_request(req, TARGET, stream=False)
    assert native.body["text"] == {"verbosity": "low"}
    assert "min_p" not in native.body and "extra_params" not in native.body
    assert [w.code for w in native.warnings] == ["min_p_dropped"]


def test_input_items_are_reencoded() -> None:
    body, _ = build(
        {
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"},
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Hello"}],
                },
                {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}", "id": "fc_1"},
                {"type": "function_call", "call_id": "call_2", "name": "f", "arguments": "{}", "id": "call_2"},
                {"type": "function_call", "call_id": "toolu_3", "name": "f", "arguments": "{}", "id": "toolu_3"},
                {"type": "function_call_output", "call_id": "call_1", "output": "42"},
                {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
                {"type": "item_reference", "id": "msg_0"},
            ]
        }
    )
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
            "id": "msg_1",
            "status": "completed",
        },
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}", "id": "fc_1"},
        # ids that do not start with "fc" are rejected by the API (pitfall 5.12 #13): call_id stays
        {"type": "function_call", "call_id": "call_2", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "toolu_3", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
        {"type": "item_reference", "id": "msg_0"},
    ]


def test_reasoning_from_other_providers_is_not_replayed() -> None:
    envelope = _signatures.encode(
        _signatures.Envelope(
            protocol="anthropic",
            provider="anthropic",
            model="claude",
            blocks=(_signatures.SignedBlock(kind="thinking", data="sig", text="hmm"),),
        )
    )
    body, _ = build(
        {
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "reasoning", "id": "rs_a", "summary": [], "encrypted_content": envelope},
                {"type": "reasoning", "id": "rs_b", "summary": [], "encrypted_content": "gAAAA-openai"},
            ]
        }
    )
    assert [i.get("id") for i in body["input"]] == [None, "rs_b"]


def test_tools_are_flat_and_hosted_tools_pass_untouched() -> None:
    mcp = {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.deepwiki.com/mcp"}
    body, _ = build(
        {
            "input": "hi",
            "tools": [
                {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": True},
                {"type": "function", "name": "now"},
                {"type": "web_search", "search_context_size": "low"},
                mcp,
            ],
            "tool_choice": {"type": "function", "name": "get_weather"},
        }
    )
    assert body["tools"] == [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": True},
        {
            "type": "function",
            "name": "now",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
        {"type": "web_search", "search_context_size": "low"},
        mcp,
    ]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ({"format": {"type": "text"}}, {"format": {"type": "text"}}),
        ({"format": {"type": "json_object"}}, {"format": {"type": "json_object"}}),
        (
            {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
            {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        ),
        ({"verbosity": "high"}, {"verbosity": "high"}),
    ],
)
def test_text_config(text: dict[str, Any], expected: dict[str, Any]) -> None:
    body, _ = build({"input": "hi", "text": text})
    assert body["text"] == expected


def test_reasoning_config() -> None:
    body, _ = build({"input": "hi", "reasoning": {"effort": "off", "summary": "auto", "exclude": True}})
    assert body["reasoning"] == {"effort": "none", "summary": "auto"}


# --- recorded streams ---------------------------------------------------------------------------------------


def fixture_turns() -> list[tuple[str, list[str]]]:
    """Every recorded stream, split at each terminal event (one file holds several turns)."""
    cases: list[tuple[str, list[str]]] = []
    for path in sorted(FIXTURES.glob("*.chunks.txt")):
        turn: list[str] = []
        number = 0
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            turn.append(line)
            if any(f'"type":"{t}"' in line[:40] for t in TERMINAL):
                cases.append((f"{path.name.removesuffix('.chunks.txt')}#{number}", turn))
                turn, number = [], number + 1
        if turn:
            cases.append((f"{path.name.removesuffix('.chunks.txt')}#{number}", turn))
    return cases


TURNS = fixture_turns()


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def repaired(lines: list[str]) -> list[str]:
    """The vercel fixture ``parallel-tool-call-wrapper.1`` has its first and last frame one brace short."""
    return [line if _is_json(line) else line + "}" for line in lines]


def sse_bytes(lines: list[str]) -> bytes:
    out = []
    for line in lines:
        kind = line.split('"type":"', 1)[1].split('"', 1)[0]
        out.append(f"event: {kind}\ndata: {line}\n\n")
    return "".join(out).encode()


def parse_chunks(chunks: list[bytes], target: Target = TARGET) -> list[ev.Event]:
    decoder = SSEDecoder()
    parser = openai_responses.stream_parser(target)
    out: list[ev.Event] = []
    for chunk in chunks:
        for sse in decoder.decode(chunk):
            out.extend(parser.feed(sse))
    for sse in decoder.flush():
        out.extend(parser.feed(sse))
    out.extend(parser.close())
    return out


def comparable(events: list[ev.Event]) -> list[Any]:
    """Events with errors as plain values (exceptions compare by identity)."""
    return [
        ("error", e.error.code, e.error.message, e.error.retryable, e.error.status)
        if isinstance(e, ev.StreamError)
        else e
        for e in events
    ]


def render(events: list[ev.Event]) -> list[dict[str, Any]]:
    shell = make_response_shell(ResponseRequest(model="gpt-5", input="hi"), "resp_gateway", "gpt-5")
    builder = ResponseBuilder(shell, include_encrypted_reasoning=True)
    out: list[dict[str, Any]] = []
    for event in events:
        out.extend(builder.feed(event))
    out.extend(builder.complete())
    return out


def upstream_view(lines: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The done items and the terminal response the upstream sent."""
    payloads = [json.loads(line) for line in lines]
    items = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    return items, payloads[-1]["response"]


def assert_same_output(final: dict[str, Any], items: list[dict[str, Any]], upstream: dict[str, Any]) -> None:
    """The gateway's response carries exactly what the upstream sent: text, calls, reasoning, hosted items, usage."""
    output = final["output"]
    assert [o["type"] for o in output] == [i["type"] for i in items]
    for mine, theirs in zip(output, items, strict=True):
        kind = theirs["type"]
        if kind == "message":
            assert mine["content"] == [
                {**part, "logprobs": []} if part["type"] == "output_text" else part for part in theirs["content"]
            ]
        elif kind == "function_call":
            for key in ("id", "call_id", "name", "status"):
                assert mine[key] == theirs[key], key
            assert json.loads(mine["arguments"]) == json.loads(theirs["arguments"])
        elif kind == "reasoning":
            assert mine["id"] == theirs["id"]
            assert mine["summary"] == theirs["summary"]
            assert mine.get("encrypted_content") == theirs.get("encrypted_content")
        else:
            assert mine == theirs  # hosted and custom tool items pass through untouched
    usage = upstream["usage"]
    if usage is not None:
        assert final["usage"]["input_tokens"] == usage["input_tokens"]
        assert final["usage"]["output_tokens"] == usage["output_tokens"]
        assert final["usage"]["total_tokens"] == usage["total_tokens"]
        assert final["usage"]["input_tokens_details"]["cached_tokens"] == usage["input_tokens_details"]["cached_tokens"]
        assert (
            final["usage"]["output_tokens_details"]["reasoning_tokens"]
            == usage["output_tokens_details"]["reasoning_tokens"]
        )


def sdk_final(events: list[dict[str, Any]]) -> Any:
    """Accumulate the gateway's events with openai-python's own stream state machine."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=event))  # type: ignore[arg-type]
    return state._completed_response


def good_turns() -> list[Any]:
    return [pytest.param(name, repaired(lines), id=name) for name, lines in TURNS]


@pytest.mark.parametrize(("name", "lines"), good_turns())
def test_fixture_whole_and_bytewise_agree_and_keep_everything(name: str, lines: list[str]) -> None:
    data = sse_bytes(lines)
    whole = parse_chunks([data])
    assert comparable(parse_chunks([data[i : i + 1] for i in range(len(data))])) == comparable(whole)
    events = render(whole)
    final = check_response_stream(events)
    items, upstream = upstream_view(lines)
    if upstream["status"] == "failed":
        assert final["status"] == "failed"
        assert final["error"]["code"] == "insufficient_quota"
        errors = [e for e in whole if isinstance(e, ev.StreamError)]
        assert len(errors) == 1 and errors[0].error.retryable is False
        return
    assert final["status"] == upstream["status"]
    assert_same_output(final, items, upstream)
    info = [e for e in whole if isinstance(e, ev.ResponseInfo)]
    assert info[0] == ev.ResponseInfo(upstream_id=upstream["id"], model=upstream["model"])
    calls = [i for i in items if i["type"] == "function_call"]
    finish = [e for e in whole if isinstance(e, ev.Finish)]
    assert [f.reason for f in finish] == ["tool_calls" if calls else "stop"]
    sdk = sdk_final(events)
    assert sdk is not None
    assert sdk.output_text == "".join(
        p["text"] for i in items if i["type"] == "message" for p in i["content"] if p["type"] == "output_text"
    )


@pytest.mark.parametrize(("name", "lines"), good_turns())
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_fixture_random_chunkings_agree(name: str, lines: list[str], data: st.DataObject) -> None:
    raw = sse_bytes(lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=40)))
    bounds = [0, *cuts, len(raw)]
    chunks = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    assert comparable(parse_chunks(chunks)) == comparable(parse_chunks([raw]))


def test_malformed_upstream_frame_is_an_upstream_error() -> None:
    lines = next(ls for n, ls in TURNS if n.startswith("parallel-tool-call-wrapper"))
    assert not _is_json(lines[0])  # recorded as published: the first frame is not valid JSON
    with pytest.raises(UpstreamError) as info:
        parse_chunks([sse_bytes(lines)])
    assert info.value.code == "upstream_error" and info.value.retryable is True


def test_non_streaming_bodies_give_the_streamed_result() -> None:
    for name, lines in TURNS:
        lines = repaired(lines)
        _, upstream = upstream_view(lines)
        if upstream["status"] == "failed" or not upstream["output"]:
            continue
        final = check_response_stream(render(openai_responses.parse_response(json.dumps(upstream).encode(), TARGET)))
        assert_same_output(final, upstream["output"], upstream)
        assert final["status"] == upstream["status"], name


# --- hand-written streams: the edge cases -------------------------------------------------------------------

CREATED = {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5-x", "output": []}}
USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": 7,
    "output_tokens_details": {"reasoning_tokens": 3},
    "total_tokens": 17,
}


def completed(**response: Any) -> dict[str, Any]:
    return {
        "type": "response.completed",
        "response": {"id": "resp_1", "status": "completed", "usage": USAGE, **response},
    }


def feed(payloads: list[dict[str, Any]], close: bool = True) -> list[ev.Event]:
    parser = openai_responses.stream_parser(TARGET)
    out: list[ev.Event] = []
    for payload in payloads:
        out.extend(parser.feed(SSEEvent(data=json.dumps(payload), event=payload.get("type"))))
    if close:
        out.extend(parser.close())
    return out


def final_of(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    return check_response_stream(render(feed(payloads)))


def call_added(index: int = 0, **item: Any) -> dict[str, Any]:
    base = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "", **item}
    return {"type": "response.output_item.added", "output_index": index, "item": base}


def call_done(index: int = 0, **item: Any) -> dict[str, Any]:
    base = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "status": "completed", **item}
    return {"type": "response.output_item.done", "output_index": index, "item": base}


def test_usage_and_info_are_mapped() -> None:
    events = feed([CREATED, completed()])
    assert events == [
        ev.ResponseInfo(upstream_id="resp_1", model="gpt-5-x"),
        ev.Usage(input_tokens=10, output_tokens=7, cached_tokens=4, reasoning_tokens=3),
        ev.Finish(reason="stop", native_reason="completed"),
    ]


@pytest.mark.parametrize(
    "tail",
    [
        [{"type": "response.function_call_arguments.done", "output_index": 0, "arguments": '{"a":1}'}, call_done()],
        [call_done(arguments='{"a":1}')],
    ],
    ids=["arguments-done-only", "item-done-only"],
)
def test_arguments_without_deltas_are_not_lost(tail: list[dict[str, Any]]) -> None:
    final = final_of([CREATED, call_added(), *tail, completed()])
    assert final["output"][0]["arguments"] == '{"a":1}'


def test_arguments_deltas_then_done() -> None:
    deltas = [
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": d} for d in ('{"a"', ":1}")
    ]
    events = feed([CREATED, call_added(), *deltas, call_done(arguments='{"a":1}'), completed()])
    assert [e for e in events if isinstance(e, (ev.ToolCallStart, ev.ToolCallDelta, ev.ToolCallEnd))] == [
        ev.ToolCallStart(call_id="call_1", name="f", id="fc_1"),
        ev.ToolCallDelta(arguments='{"a"'),
        ev.ToolCallDelta(arguments=":1}"),
        ev.ToolCallEnd(arguments='{"a":1}'),
    ]
    assert events[-1] == ev.Finish(reason="tool_calls", native_reason="completed")


def message(index: int, text: str, status: str = "completed", kind: str = "output_text") -> dict[str, Any]:
    part = {"type": kind, "text": text, "annotations": []} if kind == "output_text" else {"type": kind, "refusal": text}
    return {
        "type": "response.output_item.done",
        "output_index": index,
        "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": status, "content": [part]},
    }


def test_text_only_in_done_events_is_reconciled() -> None:
    added = {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1"}}
    part = {
        "type": "response.content_part.added",
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "output_text"},
    }
    delta = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hel"}
    done = {"type": "response.output_text.done", "output_index": 0, "content_index": 0, "text": "Hello"}
    final = final_of([CREATED, added, part, delta, done, message(0, "Hello"), completed()])
    assert final["output"][0]["content"][0]["text"] == "Hello"


def test_a_done_item_never_announced_is_replayed_whole() -> None:
    final = final_of([CREATED, message(0, "ghost"), completed()])
    assert final["output"][0]["content"][0]["text"] == "ghost"


def test_refusal_stream() -> None:
    added = {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1"}}
    part = {"type": "response.content_part.added", "output_index": 0, "content_index": 0, "part": {"type": "refusal"}}
    delta = {"type": "response.refusal.delta", "output_index": 0, "content_index": 0, "delta": "No."}
    final = final_of([CREATED, added, part, delta, message(0, "No.", kind="refusal"), completed()])
    assert final["output"][0]["content"] == [{"type": "refusal", "refusal": "No."}]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter"), ("something_new", "length")],
)
def test_incomplete(reason: str, finish: str) -> None:
    added = {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1"}}
    delta = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hel"}
    terminal = {
        "type": "response.incomplete",
        "response": {"id": "resp_1", "status": "incomplete", "incomplete_details": {"reason": reason}, "usage": USAGE},
    }
    events = feed([CREATED, added, delta, message(0, "Hel", status="incomplete"), terminal])
    assert ev.Finish(reason=finish, native_reason=reason) in events  # type: ignore[arg-type]
    final = check_response_stream(render(events))
    assert final["status"] == "incomplete"
    assert final["output"][0]["status"] == "incomplete"


def test_incomplete_without_item_done_leaves_the_item_incomplete() -> None:
    added = {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1"}}
    delta = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hel"}
    terminal = {
        "type": "response.incomplete",
        "response": {"id": "resp_1", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}},
    }
    final = final_of([CREATED, added, delta, terminal])
    assert final["status"] == "incomplete"
    assert final["output"][0]["status"] == "incomplete"
    assert final["output"][0]["content"][0]["text"] == "Hel"


def test_an_incomplete_item_followed_by_another_is_closed_first() -> None:
    second = {"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "id": "msg_2"}}
    delta = {"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": "B"}
    final = final_of([CREATED, message(0, "A", status="incomplete"), second, delta, message(1, "B"), completed()])
    assert [o["content"][0]["text"] for o in final["output"]] == ["A", "B"]


def reasoning_added() -> dict[str, Any]:
    item = {"type": "reasoning", "id": "rs_1", "summary": []}
    return {"type": "response.output_item.added", "output_index": 0, "item": item}


def test_reasoning_summary_parts_are_joined_and_signature_kept() -> None:
    def part(i: int) -> dict[str, Any]:
        return {"type": "response.reasoning_summary_part.added", "output_index": 0, "summary_index": i}

    def delta(i: int, text: str) -> dict[str, Any]:
        return {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": i, "delta": text}

    done_item = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "One."}, {"type": "summary_text", "text": "Two."}],
        "encrypted_content": "gAAA",
    }
    done = {"type": "response.output_item.done", "output_index": 0, "item": done_item}
    final = final_of(
        [CREATED, reasoning_added(), part(0), delta(0, "One."), part(1), delta(1, "Two."), done, completed()]
    )
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "One.\n\nTwo."}]
    assert final["output"][0]["encrypted_content"] == "gAAA"


def test_reasoning_sent_as_both_kinds_is_not_duplicated() -> None:
    summary = {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0, "delta": "x"}
    text = {"type": "response.reasoning_text.delta", "output_index": 0, "content_index": 0, "delta": "x"}
    events = feed([CREATED, reasoning_added(), text, summary, text, summary, completed()])
    assert [e for e in events if isinstance(e, ev.ReasoningDelta)] == [ev.ReasoningDelta(text="x")] * 2


FAILED_ONLY = {
    "type": "response.failed",
    "response": {"id": "resp_1", "status": "failed", "error": {"code": "server_error", "message": "x"}},
}
NESTED = {"type": "error", "error": {"type": "insufficient_quota", "code": "insufficient_quota", "message": "pay"}}


@pytest.mark.parametrize(
    ("payload", "code", "retryable"),
    [
        (
            {"type": "error", "code": "rate_limit_exceeded", "message": "slow", "param": None},
            "rate_limit_exceeded",
            True,
        ),
        ({"type": "error", "code": "server_error", "message": "oops"}, "upstream_error", True),
        (NESTED, "insufficient_quota", False),
        ({"type": "error", "code": None, "message": "unknown"}, "upstream_error", True),
        (FAILED_ONLY, "upstream_error", True),
    ],
    ids=["flat-rate-limit", "flat-server-error", "nested-quota", "null-code", "failed-only"],
)
def test_stream_errors(payload: dict[str, Any], code: str, retryable: bool) -> None:
    failed = {"type": "response.failed", "response": {"id": "resp_1", "status": "failed", "error": {"code": "x"}}}
    events = feed([CREATED, payload, failed, completed()])
    errors = [e for e in events if isinstance(e, ev.StreamError)]
    assert len(errors) == 1 and not any(isinstance(e, ev.Finish) for e in events)
    error = errors[0].error
    assert isinstance(error, UpstreamError)
    assert (error.code, error.retryable, error.provider) == (code, retryable, "openai")
    assert check_response_stream(render(events))["status"] == "failed"


def test_stream_error_message_is_truncated() -> None:
    events = feed([CREATED, {"type": "error", "code": "server_error", "message": "x" * 5000}])
    error = next(e for e in events if isinstance(e, ev.StreamError)).error
    assert len(error.message) < 600


def test_close_without_terminal_event_is_a_retryable_error() -> None:
    added = {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1"}}
    delta = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hel"}
    events = feed([CREATED, added, delta])
    error = events[-1]
    assert isinstance(error, ev.StreamError)
    assert (error.error.code, error.error.retryable) == ("upstream_error", True)
    final = check_response_stream(render(events))
    assert final["status"] == "failed" and final["output"][0]["status"] == "incomplete"


def test_events_after_the_terminal_event_are_ignored() -> None:
    parser = openai_responses.stream_parser(TARGET)
    parser.feed(SSEEvent(data=json.dumps(completed())))
    assert parser.feed(SSEEvent(data=json.dumps(CREATED))) == []
    assert parser.feed(SSEEvent(data="[DONE]")) == []
    assert parser.close() == []


def test_unknown_events_pass_through_and_untyped_payloads_are_ignored() -> None:
    custom = {"type": "response.something_new", "sequence_number": 9, "detail": {"a": 1}}
    events = feed([CREATED, custom, {"ping": True}, completed()])
    assert ev.NativeEvent(payload=custom) in events
    assert len([e for e in events if isinstance(e, ev.NativeEvent)]) == 1


def test_completed_output_is_used_when_nothing_was_streamed() -> None:
    item = {
        "type": "function_call",
        "id": "fc_9",
        "call_id": "call_9",
        "name": "g",
        "arguments": "{}",
        "status": "completed",
    }
    final = final_of([CREATED, completed(output=[item])])
    assert final["output"] == [item]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("queued", "upstream_error"), ("cancelled", "upstream_error"), ("failed", "upstream_error")],
)
def test_non_streaming_unfinished_or_failed(status: str, expected: str) -> None:
    body: dict[str, Any] = {
        "id": "resp_1",
        "status": status,
        "output": [],
        "error": {"code": "server_error", "message": "m"} if status == "failed" else None,
    }
    events = openai_responses.parse_response(json.dumps(body).encode(), TARGET)
    assert isinstance(events[-1], ev.StreamError) and events[-1].error.code == expected


def test_non_streaming_incomplete() -> None:
    body = {
        "id": "resp_1",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [message(0, "cut")["item"]],
        "usage": USAGE,
    }
    events = openai_responses.parse_response(json.dumps(body).encode(), TARGET)
    assert events[-1] == ev.Finish(reason="length", native_reason="max_output_tokens")
    assert check_response_stream(render(events))["output"][0]["content"][0]["text"] == "cut"


def test_map_error_is_the_shared_mapping() -> None:
    assert openai_responses.map_error is _openai_common.map_error
