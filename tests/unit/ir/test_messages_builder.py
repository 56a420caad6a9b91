"""The Anthropic Messages builder: event order, blocks, usage mapping, and generated sequences fed to the SDK."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.ir import events as ev
from interlock.ir.builder import TRANSITIONS, BuilderError, Kind, State
from interlock.ir.messages_builder import MessagesBuilder, anthropic_usage
from tests.unit.ir.test_builder import REACH, SAMPLE
from tests.unit.ir.test_chat_builder import item

EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)
META = {"provider": "p", "provider_model_id": "x", "model_canonical": "m", "routing_strategy": "cost"}


def builder(**kwargs: Any) -> MessagesBuilder:
    return MessagesBuilder("msg_1", "gpt-sim", **kwargs)


def run(events: list[ev.Event], **kwargs: Any) -> tuple[MessagesBuilder, list[dict[str, Any]]]:
    b = builder(**kwargs)
    out: list[dict[str, Any]] = []
    for e in events:
        out.extend(b.feed(e))
    out.extend(b.complete(META))
    return b, out


def accumulate(events: list[dict[str, Any]]) -> Any:
    """What anthropic-python's MessageStream makes of the events (validating each against the SDK types)."""
    snapshot = None
    bufs: dict[int, bytes] = {}
    for raw in events:
        if raw["type"] == "ping":
            continue
        event = EVENT.validate_python(raw)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)
    return snapshot


def check_order(events: list[dict[str, Any]]) -> None:
    """message_start first, dense sequential blocks, message_delta then message_stop last."""
    assert events[0]["type"] == "message_start"
    assert events[-2]["type"] == "message_delta" and events[-1]["type"] == "message_stop"
    open_index: int | None = None
    next_index = 0
    for e in events[1:-2]:
        if e["type"] == "content_block_start":
            assert open_index is None and e["index"] == next_index
            open_index, next_index = e["index"], next_index + 1
        elif e["type"] == "content_block_delta":
            assert e["index"] == open_index
        elif e["type"] == "content_block_stop":
            assert e["index"] == open_index
            open_index = None
        else:
            assert e["type"] == "ping"
    assert open_index is None


@pytest.mark.parametrize("state", list(REACH), ids=lambda s: s.value)
@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
def test_transition_table(state: State, kind: Kind) -> None:
    b = builder()
    for e in REACH[state]:
        b.feed(e)
    expected = TRANSITIONS.get((state, kind))
    if expected is None:
        with pytest.raises(BuilderError):
            b.feed(SAMPLE[kind])
        assert b.state is state
    else:
        b.feed(SAMPLE[kind])
        assert b.state is expected


def test_text_stream() -> None:
    b, out = run(
        [
            ev.Usage(input_tokens=20, cached_tokens=5, cache_write_tokens=3),
            ev.TextDelta(text="Hel"),
            ev.TextDelta(text="lo"),
            ev.Usage(output_tokens=7),
            ev.Finish(reason="stop"),
        ]
    )
    assert [e["type"] for e in out] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert out[0]["message"]["usage"] == {
        "input_tokens": 12,
        "cache_creation_input_tokens": 3,
        "cache_read_input_tokens": 5,
        "output_tokens": 0,
    }
    assert out[-2]["usage"]["output_tokens"] == 7 and out[-2]["delta"]["stop_reason"] == "end_turn"
    assert out[-2]["routing_metadata"] == META
    final = accumulate(out)
    assert final.content[0].text == "Hello" and final.usage.output_tokens == 7
    msg = Message.model_validate(b.message)
    assert msg.content[0].text == "Hello" and msg.stop_reason == "end_turn"  # type: ignore[union-attr]


def test_usage_reverse_mapping() -> None:
    usage = anthropic_usage(ev.Usage(input_tokens=100, output_tokens=9, cached_tokens=60))
    assert usage == {
        "input_tokens": 40,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 60,
        "output_tokens": 9,
    }


def test_tool_use_from_deltas_and_from_end_only() -> None:
    b, out = run(
        [
            ev.ToolCallStart(call_id="call_a", name="get"),
            ev.ToolCallDelta(arguments='{"city":'),
            ev.ToolCallDelta(arguments='"Oslo"}'),
            ev.ToolCallEnd(),
            ev.ToolCallStart(call_id="call_b", name="put"),
            ev.ToolCallEnd(arguments='{"x":1}'),
            ev.ToolCallStart(call_id="call_c", name="now"),
            ev.ToolCallEnd(),
            ev.Finish(reason="stop"),
        ]
    )
    check_order(out)
    fragments: dict[int, list[str]] = {}
    for e in out:
        if e["type"] == "content_block_delta":
            fragments.setdefault(e["index"], []).append(e["delta"]["partial_json"])
    # Pitfall 5.12 #4: every tool_use block streams its input, even when it only came at the end or is empty.
    assert fragments == {0: ['{"city":', '"Oslo"}'], 1: ['{"x":1}'], 2: ["{}"]}
    final = accumulate(out)
    assert [(c.id, c.name, c.input) for c in final.content] == [
        ("call_a", "get", {"city": "Oslo"}),
        ("call_b", "put", {"x": 1}),
        ("call_c", "now", {}),
    ]
    assert final.stop_reason == "tool_use" and b.message["stop_reason"] == "tool_use"
    assert b.message["content"][1]["input"] == {"x": 1}


def test_thinking_with_signature_and_redacted() -> None:
    b, out = run(
        [
            ev.ReasoningStart(),
            ev.ReasoningDelta(text="think"),
            ev.ReasoningSignature(encrypted_content="SIG"),
            ev.ReasoningStart(),
            ev.ReasoningSignature(encrypted_content="RED"),
            ev.ReasoningStart(),  # an empty block: nothing at all is sent for it
            ev.TextDelta(text="answer"),
        ]
    )
    check_order(out)
    starts = [e["content_block"]["type"] for e in out if e["type"] == "content_block_start"]
    assert starts == ["thinking", "redacted_thinking", "text"]
    sig = [e for e in out if e["type"] == "content_block_delta" and e["delta"]["type"] == "signature_delta"]
    assert len(sig) == 1 and sig[0]["delta"]["signature"] == "SIG"
    final = accumulate(out)
    assert final.content[0].thinking == "think" and final.content[0].signature == "SIG"
    assert final.content[1].data == "RED"
    assert b.message["content"][0] == {"type": "thinking", "thinking": "think", "signature": "SIG"}


def test_thinking_text_omitted() -> None:
    _, out = run(
        [ev.ReasoningDelta(text="secret"), ev.ReasoningSignature(encrypted_content="S"), ev.TextDelta(text="ok")],
        include_thinking_text=False,
    )
    assert "secret" not in json.dumps(out)
    final = accumulate(out)
    assert final.content[0].type == "thinking" and final.content[0].thinking == "" and final.content[0].signature == "S"


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        (ev.Finish(reason="length"), "max_tokens"),
        (ev.Finish(reason="refusal"), "refusal"),
        (ev.Finish(reason="content_filter"), "refusal"),
        (ev.Finish(reason="pause"), "pause_turn"),
        (ev.Finish(reason="stop", native_reason="stop_sequence"), "stop_sequence"),
        (ev.Finish(reason="tool_calls"), "end_turn"),  # no call was made
    ],
)
def test_stop_reasons(finish: ev.Finish, stop_reason: str) -> None:
    b, _ = run([ev.TextDelta(text="x"), finish])
    assert b.message["stop_reason"] == stop_reason


def test_refusal_text_and_native_items() -> None:
    _, out = run(
        [SAMPLE[Kind.NATIVE_START], SAMPLE[Kind.NATIVE_DONE], ev.RefusalDelta(text="no"), ev.Finish(reason="refusal")]
    )
    final = accumulate(out)
    assert final.content[0].text == "no" and final.stop_reason == "refusal"


def test_failure_is_one_error_event() -> None:
    b = builder()
    out = b.feed(ev.TextDelta(text="x"))
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    out += b.fail(body)
    assert out[-1] == body and b.complete() == [] and b.fail(body) == []


def test_empty_answer() -> None:
    _, out = run([])
    assert [e["type"] for e in out] == ["message_start", "message_delta", "message_stop"]
    assert accumulate(out).content == []


@settings(max_examples=400, deadline=None)
@given(
    st.lists(item, max_size=12),
    st.sampled_from(["stop", "length", "tool_calls", "content_filter", "refusal", "pause", None]),
    st.booleans(),
)
def test_any_valid_sequence_gives_events_the_accumulator_accepts(
    items: list[list[ev.Event]], finish: str | None, include_text: bool
) -> None:
    events = [e for group in items for e in group]
    if finish:
        events.append(ev.Finish(reason=finish))  # type: ignore[arg-type]
    b, out = run(events, include_thinking_text=include_text)
    check_order(out)
    final = accumulate(out)
    assert final is not None
    expected = Message.model_validate(b.message)
    assert final.stop_reason == expected.stop_reason
    assert final.usage.output_tokens == expected.usage.output_tokens
    assert len(final.content) == len(expected.content)
    for got, want in zip(final.content, expected.content, strict=True):
        assert got.type == want.type
        if want.type == "text":
            assert got.text == want.text  # type: ignore[union-attr]
        elif want.type == "tool_use":
            assert (got.id, got.name, got.input) == (want.id, want.name, want.input)  # type: ignore[union-attr]
        elif want.type == "thinking":
            assert (got.thinking, got.signature) == (want.thinking, want.signature)  # type: ignore[union-attr]
    texts = "".join(e.text for e in events if isinstance(e, ev.TextDelta | ev.RefusalDelta))
    assert "".join(c.text for c in final.content if c.type == "text") == texts
