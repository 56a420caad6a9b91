"""The Chat builder: chunk rules, the shared transition table, and generated sequences fed to SDK accumulators."""

from __future__ import annotations

import json
from typing import Any

import auriko.models.chat as auriko_chat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from interlock.ir import events as ev
from interlock.ir.builder import TRANSITIONS, BuilderError, Kind, State
from interlock.ir.chat_builder import ChatBuilder, chat_usage
from interlock.ir.errors import GatewayError
from tests.unit.ir.test_builder import REACH, SAMPLE

CITATION = {"type": "url_citation", "url": "https://x", "title": "X", "start_index": 0, "end_index": 3}
META = {"provider": "p", "provider_model_id": "vendor/model-1", "model_canonical": "m", "routing_strategy": "cost"}


def builder(**kwargs: Any) -> ChatBuilder:
    return ChatBuilder("chatcmpl-1", "vendor/model-1", created=1, **kwargs)


def run(events: list[ev.Event], meta: dict[str, Any] | None = None, **kwargs: Any) -> tuple[ChatBuilder, list[dict]]:
    b = builder(**kwargs)
    out: list[dict[str, Any]] = []
    for e in events:
        out.extend(b.feed(e))
    out.extend(b.complete(meta))
    return b, out


def accumulate(chunks: list[dict[str, Any]]) -> Any:
    """What openai-python's stream helper makes of the chunks (raises on anything it cannot merge).

    The snapshot, not ``get_final_completion()``: the latter refuses ``length`` / ``content_filter`` finishes.
    """
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in chunks:
        for _ in state.handle_chunk(ChatCompletionChunk.model_validate(chunk)):
            pass
    return state.current_completion_snapshot


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


def test_done_rejects_everything() -> None:
    b, _ = run([ev.TextDelta(text="x")])
    assert b.complete() == []
    for kind in Kind:
        with pytest.raises(BuilderError):
            b.feed(SAMPLE[kind])


def test_text_stream_shape() -> None:
    b, out = run(
        [
            ev.ResponseInfo(model="x"),
            ev.TextDelta(text="Hel"),
            ev.TextDelta(text="lo"),
            ev.Usage(input_tokens=10, output_tokens=2, cached_tokens=4),
            ev.Finish(reason="stop", native_reason="end_turn"),
        ],
        META,
    )
    assert [c["choices"][0]["delta"] if c["choices"] else None for c in out] == [
        {"role": "assistant", "content": "Hel"},
        {"content": "lo"},
        {},
        None,
    ]
    assert out[-2]["choices"][0]["finish_reason"] == "stop"
    assert out[-2]["choices"][0]["native_finish_reason"] == "end_turn"
    final = out[-1]
    assert final["choices"] == [] and final["routing_metadata"] == META
    assert final["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert all(c["id"] == "chatcmpl-1" and c["model"] == "vendor/model-1" for c in out)
    done = accumulate(out)
    assert done.choices[0].message.content == "Hello"
    assert done.usage.prompt_tokens == 10
    completion = ChatCompletion.model_validate(b.completion(META))
    assert completion.choices[0].message.content == "Hello"
    assert completion.choices[0].finish_reason == "stop"


def test_parallel_tool_calls_are_indexed_by_call_count() -> None:
    b, out = run(
        [
            ev.TextDelta(text="checking"),
            ev.ToolCallStart(call_id="call_a", name="get_weather"),
            ev.ToolCallDelta(arguments='{"city":'),
            ev.ToolCallDelta(arguments='"Oslo"}'),
            ev.ToolCallEnd(),
            ev.ReasoningDelta(text="between"),
            ev.ToolCallStart(call_id="call_b", name="get_weather"),
            ev.ToolCallEnd(arguments='{"city":"Rome"}'),
            ev.Finish(reason="tool_calls"),
        ]
    )
    calls = [tc for c in out if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [tc["index"] for tc in calls] == [0, 0, 0, 1, 1]
    firsts = [tc for tc in calls if "id" in tc]
    assert [(tc["id"], tc["function"]["name"]) for tc in firsts] == [
        ("call_a", "get_weather"),
        ("call_b", "get_weather"),
    ]
    assert all("id" not in tc and "name" not in tc["function"] for tc in calls if tc not in firsts)
    done = accumulate(out)
    msg = done.choices[0].message
    assert [(t.id, t.function.name, t.function.arguments) for t in msg.tool_calls] == [
        ("call_a", "get_weather", '{"city":"Oslo"}'),
        ("call_b", "get_weather", '{"city":"Rome"}'),
    ]
    assert done.choices[0].finish_reason == "tool_calls"
    assert b.completion()["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"] == '{"city":"Rome"}'


def test_no_argument_call_gets_an_empty_object() -> None:
    _, out = run([ev.ToolCallStart(call_id="c", name="now"), ev.ToolCallEnd()])
    assert accumulate(out).choices[0].message.tool_calls[0].function.arguments == "{}"


def test_authoritative_arguments_complete_the_stream() -> None:
    _, out = run(
        [
            ev.ToolCallStart(call_id="c", name="f"),
            ev.ToolCallDelta(arguments='{"a":'),
            ev.ToolCallEnd(arguments='{"a":1}'),
        ]
    )
    assert accumulate(out).choices[0].message.tool_calls[0].function.arguments == '{"a":1}'


def test_stop_with_calls_is_tool_calls() -> None:
    b, _ = run([ev.ToolCallStart(call_id="c", name="f"), ev.ToolCallEnd(), ev.Finish(reason="stop")])
    assert b.finish_reason == "tool_calls"
    b, _ = run([ev.TextDelta(text="x"), ev.Finish(reason="length")])
    assert b.finish_reason == "length"
    b, _ = run([ev.RefusalDelta(text="no"), ev.Finish(reason="refusal")])
    assert b.finish_reason == "content_filter"


def test_reasoning_blocks_and_signatures() -> None:
    b, out = run(
        [
            ev.ReasoningStart(),
            ev.ReasoningDelta(text="think"),
            ev.ReasoningSignature(encrypted_content="SIG1"),
            ev.ReasoningStart(),
            ev.ReasoningSignature(encrypted_content="RED"),
            ev.TextDelta(text="answer"),
        ]
    )
    deltas = [c["choices"][0]["delta"] for c in out if c["choices"]]
    assert deltas[0] == {"role": "assistant", "reasoning_content": "think"}
    assert {"reasoning_signature": "SIG1"} in deltas
    assert {"reasoning_redacted_data": "RED"} in deltas
    msg = b.completion()["choices"][0]["message"]
    assert msg["reasoning_content"] == "think"
    assert msg["reasoning"] == [
        {"type": "thinking", "thinking": "think", "signature": "SIG1"},
        {"type": "redacted", "data": "RED"},
    ]
    parsed = auriko_chat.ChatCompletion.model_validate(b.completion())
    assert parsed.choices[0].message.reasoning is not None
    assert accumulate(out).choices[0].message.content == "answer"


def test_reasoning_excluded() -> None:
    b, out = run(
        [ev.ReasoningDelta(text="secret"), ev.ReasoningSignature(encrypted_content="S"), ev.TextDelta(text="ok")],
        include_reasoning=False,
    )
    assert "secret" not in json.dumps(out) and '"S"' not in json.dumps(out)
    msg = b.completion()["choices"][0]["message"]
    assert "reasoning_content" not in msg and "reasoning" not in msg


def test_refusal_and_annotations() -> None:
    b, out = run(
        [
            ev.TextDelta(text="see "),
            ev.Annotation(annotation=CITATION),
            ev.RefusalDelta(text="can't"),
        ]
    )
    done = accumulate(out)
    assert done.choices[0].message.refusal == "can't"
    url = {"url": "https://x", "title": "X", "start_index": 0, "end_index": 3}
    assert b.completion()["choices"][0]["message"]["annotations"] == [{"type": "url_citation", "url_citation": url}]
    assert done.choices[0].message.annotations[0].url_citation.url == "https://x"


def test_native_items_are_skipped() -> None:
    _, out = run(
        [SAMPLE[Kind.NATIVE_START], SAMPLE[Kind.NATIVE_EVENT], SAMPLE[Kind.NATIVE_DONE], ev.TextDelta(text="t")]
    )
    assert accumulate(out).choices[0].message.content == "t"


def test_failure_is_an_error_chunk() -> None:
    b = builder()
    out = b.feed(ev.TextDelta(text="x"))
    out += b.feed(ev.StreamError(error=GatewayError("upstream_timeout", provider="p")))
    assert out[-1] == {
        "error": {
            "message": "The upstream provider timed out.",
            "type": "api_error",
            "code": "upstream_timeout",
            "param": None,
            "doc_url": "https://docs.auriko.ai/errors/upstream_timeout",
            "provider": "p",
        }
    }
    assert b.complete() == []


def test_empty_stream_still_has_a_role_and_usage() -> None:
    _, out = run([])
    assert out[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert out[-1]["usage"] == chat_usage(None)
    assert accumulate(out).choices[0].message.content is None


# -- property: any valid event sequence gives chunks the SDK accumulators accept --------------------------------

text = st.text(min_size=0, max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def tool_call(draw: st.DrawFn) -> list[ev.Event]:
    args = json.dumps(draw(st.dictionaries(st.text(max_size=4), json_values, max_size=3)))
    cuts = sorted(draw(st.lists(st.integers(0, len(args)), max_size=4)))
    pieces = [args[a:b] for a, b in zip([0, *cuts], [*cuts, len(args)], strict=True)]
    mode = draw(st.sampled_from(["deltas", "end_only", "both", "prefix"]))
    out: list[ev.Event] = [
        ev.ToolCallStart(
            call_id=f"call_{draw(st.integers(0, 10**6))}", name=draw(st.text("abc_", min_size=1, max_size=6))
        )
    ]
    if mode in ("deltas", "both"):
        out.extend(ev.ToolCallDelta(arguments=p) for p in pieces)
    if mode == "prefix":
        out.extend(ev.ToolCallDelta(arguments=p) for p in pieces[:-1])
    out.append(ev.ToolCallEnd(arguments=args if mode != "deltas" else None))
    return out


item = st.one_of(
    st.lists(text.map(lambda t: ev.TextDelta(text=t)), min_size=1, max_size=4),
    st.lists(text.map(lambda t: ev.RefusalDelta(text=t)), min_size=1, max_size=2),
    st.tuples(st.booleans(), st.lists(text, max_size=3), st.none() | st.text(min_size=1, max_size=4)).map(
        lambda t: (
            ([ev.ReasoningStart()] if t[0] else [])
            + [ev.ReasoningDelta(text=x) for x in t[1]]
            + ([ev.ReasoningSignature(encrypted_content=t[2])] if t[2] else [])
        )
    ),
    tool_call(),
    st.just([SAMPLE[Kind.NATIVE_START], SAMPLE[Kind.NATIVE_EVENT], SAMPLE[Kind.NATIVE_DONE]]),
    st.just([ev.ItemEnd()]),
    st.just([ev.Annotation(annotation=CITATION)]),
    st.just([ev.Annotation(annotation={"type": "file_citation", "file_id": "f", "index": 0})]),
    st.builds(
        lambda i, o, c: [ev.Usage(input_tokens=i, output_tokens=o, cached_tokens=c)],
        st.integers(0, 1000),
        st.integers(0, 1000),
        st.none() | st.integers(0, 10),
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(item, max_size=12),
    st.sampled_from(["stop", "length", "tool_calls", "content_filter", "refusal", "pause", None]),
    st.booleans(),
)
def test_any_valid_sequence_gives_chunks_the_accumulators_accept(
    items: list[list[ev.Event]], finish: str | None, include_reasoning: bool
) -> None:
    events = [e for group in items for e in group]
    if finish:
        events.append(ev.Finish(reason=finish))  # type: ignore[arg-type]
    b, out = run(events, META, include_reasoning=include_reasoning)
    # Every chunk parses with both SDKs; exactly one role; the last chunk carries usage and routing_metadata.
    for chunk in out:
        auriko_chat.ChatCompletionChunk.model_validate(chunk)
    roles = [c for c in out if c["choices"] and "role" in c["choices"][0]["delta"]]
    assert len(roles) == 1 and roles[0] is out[0]
    assert out[-1]["choices"] == [] and "usage" in out[-1] and out[-1]["routing_metadata"] == META
    assert [c for c in out if c["choices"] and c["choices"][0]["finish_reason"]] == [out[-2]]
    # openai-python merges tool calls by index: indexes are 0..n-1 and ids/names are never repeated.
    completion = b.completion(META)
    expected = completion["choices"][0]["message"]
    try:
        done = accumulate(out)
    except Exception as exc:  # the only acceptable failure: openai refuses to parse tool JSON we never promised
        pytest.fail(f"openai accumulator rejected the stream: {exc!r}")
    msg = done.choices[0].message
    assert (msg.content or None) == expected["content"]
    assert msg.refusal == expected["refusal"]
    calls = [(t.id, t.function.name) for t in msg.tool_calls or []]
    assert calls == [(t["id"], t["function"]["name"]) for t in expected.get("tool_calls", [])]
    for got, want in zip(msg.tool_calls or [], expected.get("tool_calls", []), strict=True):
        streamed = got.function.arguments
        assert json.loads(streamed) == json.loads(want["function"]["arguments"])
    assert done.choices[0].finish_reason == completion["choices"][0]["finish_reason"]
    assert (getattr(msg, "reasoning_content", None) or None) == expected.get("reasoning_content")
    assert done.usage is not None and done.usage.total_tokens == completion["usage"]["total_tokens"]
    ChatCompletion.model_validate(completion)
    auriko_chat.ChatCompletion.model_validate(completion)
