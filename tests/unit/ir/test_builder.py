"""The Response stream builder: the transition table, and invariants over generated event sequences."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.ir import events as ev
from interlock.ir.builder import KIND_OF, TRANSITIONS, BuilderError, Kind, ResponseBuilder, State
from interlock.ir.errors import GatewayError
from interlock.ir.request import ResponseRequest
from interlock.ir.response import make_response_shell
from tests.support.invariants import check_response_stream

SAMPLE: dict[Kind, ev.Event] = {
    Kind.INFO: ev.ResponseInfo(upstream_id="u1", model="m-1"),
    Kind.TEXT: ev.TextDelta(text="hi"),
    Kind.REFUSAL: ev.RefusalDelta(text="no"),
    Kind.ANNOTATION: ev.Annotation(annotation={"type": "url_citation", "url": "https://x"}),
    Kind.REASONING_START: ev.ReasoningStart(),
    Kind.REASONING_DELTA: ev.ReasoningDelta(text="think"),
    Kind.REASONING_SIGNATURE: ev.ReasoningSignature(encrypted_content="sig"),
    Kind.TOOL_START: ev.ToolCallStart(call_id="call_1", name="f"),
    Kind.TOOL_DELTA: ev.ToolCallDelta(arguments='{"a"'),
    Kind.TOOL_END: ev.ToolCallEnd(),
    Kind.ITEM_END: ev.ItemEnd(),
    Kind.NATIVE_START: ev.NativeItemStart(item={"id": "ws_1", "type": "web_search_call", "status": "in_progress"}),
    Kind.NATIVE_EVENT: ev.NativeEvent(payload={"type": "response.web_search_call.searching", "output_index": 3}),
    Kind.NATIVE_DONE: ev.NativeItemDone(item={"id": "ws_1", "type": "web_search_call", "status": "completed"}),
    Kind.USAGE: ev.Usage(input_tokens=3, output_tokens=2),
    Kind.FINISH: ev.Finish(reason="stop"),
}

# Events that drive a fresh builder into each state.
REACH: dict[State, list[ev.Event]] = {
    State.IDLE: [],
    State.READY: [ev.ItemEnd()],
    State.MESSAGE: [ev.TextDelta(text="a")],
    State.REASONING: [ev.ReasoningDelta(text="r")],
    State.TOOL: [ev.ToolCallStart(call_id="c", name="f")],
    State.NATIVE: [SAMPLE[Kind.NATIVE_START]],
}


def builder(**kwargs: object) -> ResponseBuilder:
    shell = make_response_shell(ResponseRequest(model="m", input="x"), "resp_1", "m")
    return ResponseBuilder(shell, **kwargs)  # type: ignore[arg-type]


def test_every_event_type_has_a_kind() -> None:
    assert set(KIND_OF.values()) == set(Kind)
    assert set(SAMPLE) == set(Kind)


@pytest.mark.parametrize("state", list(REACH), ids=lambda s: s.value)
@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
def test_transition_table(state: State, kind: Kind) -> None:
    b = builder()
    for e in REACH[state]:
        b.feed(e)
    assert b.state is state
    expected = TRANSITIONS.get((state, kind))
    if expected is None:
        with pytest.raises(BuilderError):
            b.feed(SAMPLE[kind])
        assert b.state is state, "an illegal event must leave the state unchanged"
    else:
        b.feed(SAMPLE[kind])
        assert b.state is expected


def test_done_state_rejects_everything() -> None:
    b = builder()
    b.feed(ev.TextDelta(text="x"))
    b.complete()
    for kind in Kind:
        with pytest.raises(BuilderError):
            b.feed(SAMPLE[kind])


def test_text_then_tools_then_text_lifecycle() -> None:
    b = builder()
    out = []
    for e in [
        ev.ResponseInfo(model="m-2024"),
        ev.TextDelta(text="Let me check. "),
        ev.ToolCallStart(call_id="call_a", name="get"),
        ev.ToolCallDelta(arguments='{"x":'),
        ev.ToolCallDelta(arguments="1}"),
        ev.ToolCallEnd(),
        ev.ToolCallStart(call_id="call_b", name="put"),
        ev.ToolCallEnd(arguments='{"y":2}'),
        ev.Usage(input_tokens=10, output_tokens=5, cached_tokens=4),
        ev.Finish(reason="tool_calls"),
    ]:
        out.extend(b.feed(e))
    out.extend(b.complete({"provider": "p"}))
    final = check_response_stream(out)
    assert [i["type"] for i in final["output"]] == ["message", "function_call", "function_call"]
    assert final["output"][1]["arguments"] == '{"x":1}'
    assert final["output"][2]["arguments"] == '{"y":2}'
    assert final["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert final["routing_metadata"] == {"provider": "p"}
    # A tool call whose arguments only came in the end event still streams them once as a delta.
    deltas = [e for e in out if e["type"] == "response.function_call_arguments.delta" and e["output_index"] == 2]
    assert [d["delta"] for d in deltas] == ['{"y":2}']


def test_length_finish_is_incomplete() -> None:
    b = builder()
    out = b.feed(ev.TextDelta(text="abc")) + b.feed(ev.Finish(reason="length")) + b.complete()
    final = check_response_stream(out)
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"


def test_failure_mid_stream_is_error_then_failed() -> None:
    b = builder()
    out = b.feed(ev.TextDelta(text="abc"))
    out += b.feed(ev.StreamError(error=GatewayError("upstream_error", "boom", provider="p")))
    final = check_response_stream(out)
    assert out[-2]["type"] == "error" and out[-2]["code"] == "upstream_error"
    assert final["status"] == "failed" and final["error"]["code"] == "upstream_error"


def test_no_arg_tool_call_gets_empty_object() -> None:
    b = builder()
    out = b.feed(ev.ToolCallStart(call_id="c", name="now")) + b.feed(ev.ToolCallEnd()) + b.complete()
    assert check_response_stream(out)["output"][0]["arguments"] == "{}"


def test_encrypted_reasoning_only_when_included() -> None:
    for include in (False, True):
        b = builder(include_encrypted_reasoning=include)
        out = b.feed(ev.ReasoningDelta(text="t")) + b.feed(ev.ReasoningSignature(encrypted_content="E")) + b.complete()
        item = check_response_stream(out)["output"][0]
        assert ("encrypted_content" in item) is include


# -- property: any valid sequence of internal events yields a valid lifecycle ------------------------------

text = st.text(min_size=0, max_size=5)
content_event = st.one_of(
    text.map(lambda t: ev.TextDelta(text=t)),
    text.map(lambda t: ev.RefusalDelta(text=t)),
    text.map(lambda t: ev.ReasoningDelta(text=t)),
    st.just(ev.ReasoningStart()),
    text.map(lambda t: ev.ReasoningSignature(encrypted_content=t or "s")),
    st.just(ev.ItemEnd()),
    st.builds(lambda n: ev.Usage(input_tokens=n, output_tokens=n), st.integers(0, 100)),
    st.just(ev.Annotation(annotation={"type": "url_citation"})),
    st.tuples(st.text(min_size=1, max_size=3), st.lists(text, max_size=3), st.booleans()),
)


def expand(seq: list[object]) -> list[ev.Event]:
    out: list[ev.Event] = []
    for i, item in enumerate(seq):
        if isinstance(item, tuple):
            name, parts, explicit = item
            out.append(ev.ToolCallStart(call_id=f"call_{i}", name=name))
            out.extend(ev.ToolCallDelta(arguments=p) for p in parts)
            out.append(ev.ToolCallEnd(arguments=json.dumps({"n": i}) if explicit else None))
        else:
            assert isinstance(item, ev.Event)
            out.append(item)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(content_event, max_size=25),
    st.sampled_from(["stop", "length", "tool_calls", "content_filter", None]),
    st.booleans(),
)
def test_any_valid_sequence_gives_valid_lifecycle(seq: list[object], finish: str | None, fail: bool) -> None:
    b = builder(include_encrypted_reasoning=True)
    out = []
    events = expand(seq)
    for e in events:
        out.extend(b.feed(e))
    if fail:
        out.extend(b.feed(ev.StreamError(error=GatewayError("upstream_error"))))
    else:
        if finish:
            out.extend(b.feed(ev.Finish(reason=finish)))  # type: ignore[arg-type]
        out.extend(b.complete())
    snapshot = copy.deepcopy(out)
    final = check_response_stream(snapshot)
    texts = "".join(e.text for e in events if isinstance(e, ev.TextDelta))
    got = "".join(
        p["text"] for i in final["output"] if i["type"] == "message" for p in i["content"] if p["type"] == "output_text"
    )
    assert got == texts
