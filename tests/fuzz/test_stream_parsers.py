"""Fuzzing the upstream parsers: the SSE decoder and each adapter's stream parser, non-streaming parser and error
mapper, fed arbitrary byte splits, reordered and corrupted events and garbage. Each either parses or raises our
error (``GatewayError`` / ``UpstreamError``), and every call returns (no hangs).

``providers.transport`` also turns ``ValueError``, ``KeyError``, ``TypeError`` and msgspec errors raised while
parsing into ``upstream_error`` (:data:`TRANSPORT_MAPPED`), so those are tolerated here but counted: the count
is a list of adapter spots that should raise ``UpstreamError`` themselves. Anything else (``IndexError``,
``AttributeError``, ``OverflowError``, ``RecursionError``...) would escape the transport as a 500 and fails.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlock.ir.errors import GatewayError, UpstreamError
from interlock.ir.events import Event
from interlock.providers import get_adapter
from interlock.providers._retry import MAX_RETRY_AFTER_S
from interlock.providers.base import SSEEvent, Target
from interlock.providers.sse import SSEDecoder
from tests.fuzz.strategies import HOSTILE_TOKENS, json_values

# What providers.transport.call maps to upstream_error besides GatewayError (its last ``except`` clause).
TRANSPORT_MAPPED = (msgspec.DecodeError, msgspec.ValidationError, ValueError, KeyError, TypeError)
LOOSE: Counter[str] = Counter()  # (protocol, exception) -> how often a transport-mapped exception was seen


def parse_or_our_error(protocol: str, call: Callable[[], object]) -> None:
    try:
        call()
    except GatewayError:
        return
    except TRANSPORT_MAPPED as exc:
        LOOSE[f"{protocol}:{type(exc).__name__}"] += 1


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- a valid stream per protocol (what the simulator and the recorded fixtures look like) --------------------

RESPONSES = [
    {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}},
    {"type": "response.output_item.added", "output_index": 0,
     "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "status": "in_progress"}},
    {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
     "part": {"type": "output_text", "text": "", "annotations": []}},
    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hi"},
    {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": "Hi"},
    {"type": "response.output_item.added", "output_index": 1,
     "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}},
    {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": "{\"a\":"},
    {"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 1, "arguments": "{\"a\":1}"},
    {"type": "response.output_item.done", "output_index": 1,
     "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"}},
    {"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "output": [],
                                                "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}},
]  # fmt: skip
CHAT = [
    {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                                     "content": "Hi"}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                                    "function": {"name": "f", "arguments": "{"}}]}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    "[DONE]",
]  # fmt: skip
ANTHROPIC = [
    {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                          "model": "c", "usage": {"input_tokens": 3, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "tu_1", "name": "f",
                                                                  "input": {}}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
    {"type": "message_stop"},
]  # fmt: skip
GEMINI = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "thinking", "thought": True}]}, "index": 0}]},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
    {"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}},
                                                             "thoughtSignature": "c2ln"}]}, "index": 0}]},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
     "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5, "totalTokenCount": 8}},
]  # fmt: skip
STREAMS: dict[str, list[Any]] = {
    "openai-responses": RESPONSES,
    "openai-chat": CHAT,
    "anthropic": ANTHROPIC,
    "gemini": GEMINI,
}


def target(protocol: str) -> Target:
    return Target(
        provider="fz",
        protocol=protocol,  # type: ignore[arg-type]
        base_url="http://127.0.0.1:9",
        api_key="k",
        provider_model_id="model-x",
        model_canonical="model-x",
        capabilities=frozenset({"tools", "reasoning", "vision"}),
        reasoning={"style": "budget", "efforts": ["low", "high"], "can_disable": True, "budgets": {"low": 1024}},
    )


def frame(event: Any) -> bytes:
    if isinstance(event, bytes):
        return b"data: " + event + b"\n\n"
    if isinstance(event, str):
        return f"data: {event}\n\n".encode("utf-8", "surrogatepass")
    name = event.get("type") if isinstance(event, dict) else None
    head = f"event: {name}\n".encode("utf-8", "surrogatepass") if isinstance(name, str) else b""
    return head + b"data: " + json.dumps(event).encode() + b"\n\n"


def _mutate_node(value: Any, replacement: Any, path: list[int]) -> Any:
    """Replace the node picked by ``path`` (indices into the children, cycling) with ``replacement``."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = _mutate_node(value[key], replacement, path[1:])
    return copy


@st.composite
def corrupted_streams(draw: st.DrawFn, protocol: str) -> bytes:
    events: list[Any] = list(STREAMS[protocol])
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        op = draw(st.sampled_from(["drop", "dup", "swap", "node", "garbage", "truncate", "token", "done"]))
        i = draw(st.integers(min_value=0, max_value=max(0, len(events) - 1)))
        if not events:
            break
        if op == "drop":
            del events[i]
        elif op == "dup":
            events.insert(i, events[i])
        elif op == "swap":
            j = draw(st.integers(min_value=0, max_value=len(events) - 1))
            events[i], events[j] = events[j], events[i]
        elif op == "node":
            path = draw(st.lists(st.integers(min_value=0, max_value=7), max_size=5))
            events[i] = _mutate_node(events[i], draw(json_values), path)
        elif op == "garbage":
            events.insert(i, draw(st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b)))
        elif op == "truncate":
            text = json.dumps(events[i]) if not isinstance(events[i], bytes | str) else str(events[i])
            events[i] = text[: draw(st.integers(min_value=0, max_value=len(text)))]
        elif op == "token":
            events.insert(i, draw(st.sampled_from(HOSTILE_TOKENS)))
        else:
            events.insert(i, "[DONE]")
    raw = b"".join(frame(e) for e in events)
    if draw(st.booleans()):  # framing damage too: a cut tail, CR line ends, comments
        raw = draw(st.sampled_from([raw[: len(raw) // 2], raw.replace(b"\n", b"\r"), b": ping\n\n" + raw]))
    return raw


RETRY_AFTERS = ["1", "-5", "1e9", "nan", "Wed, 21 Oct"]


def finite(value: str | None) -> bool:
    try:
        return value is None or not math.isinf(float(value))
    except ValueError:
        return True


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, last = [], 0
    for p in points:
        chunks.append(data[last:p])
        last = p
    chunks.append(data[last:])
    return chunks


def run_stream(protocol: str, chunks: list[bytes]) -> list[Event]:
    """What ``transport.call`` does with a stream body: decode SSE, feed the parser, close it."""
    parser = get_adapter(protocol).stream_parser(target(protocol))
    decoder = SSEDecoder()
    out: list[Event] = []
    for chunk in chunks:
        for sse in decoder.decode(chunk):
            out += parser.feed(sse)
    for sse in decoder.flush():
        out += parser.feed(sse)
    out += parser.close()
    return out


def normalised(events: list[Event]) -> list[Any]:
    """Events as data, with generated call ids replaced by their order of appearance."""
    ids: dict[str, str] = {}
    out = []
    for event in events:
        data = msgspec.to_builtins(event)
        if isinstance(data, dict) and isinstance(data.get("call_id"), str):
            data["call_id"] = ids.setdefault(data["call_id"], f"call#{len(ids)}")
        out.append((type(event).__name__, data))
    return out


PROTOCOLS = sorted(STREAMS)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_valid_stream_parses_at_every_split(protocol: str) -> None:
    raw = b"".join(frame(e) for e in STREAMS[protocol])
    whole = run_stream(protocol, [raw])
    assert whole, "the valid stream produced no events"
    for cut in range(len(raw) + 1):
        assert normalised(run_stream(protocol, [raw[:cut], raw[cut:]])) == normalised(whole)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@FUZZ
@given(data=st.data())
def test_corrupted_streams_parse_or_raise_our_error(protocol: str, data: st.DataObject) -> None:
    raw = data.draw(corrupted_streams(protocol))
    chunks = splits(raw, data.draw(st.lists(st.integers(min_value=0), max_size=8)))
    parse_or_our_error(protocol, lambda: run_stream(protocol, chunks))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300), st.sampled_from(HOSTILE_TOKENS), json_values.map(lambda v: json.dumps(v).encode())
    )
)
def test_non_streaming_bodies_parse_or_raise_our_error(protocol: str, body: bytes) -> None:
    parse_or_our_error(protocol, lambda: get_adapter(protocol).parse_response(body, target(protocol)))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@FUZZ
@given(
    status=st.integers(min_value=400, max_value=599),
    body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                   st.builds(lambda e: json.dumps({"error": e, "type": "error"}).encode(), json_values)),
    retry_after=st.one_of(st.none(), st.text(max_size=12), st.sampled_from(RETRY_AFTERS)).filter(finite),
)  # fmt: skip
def test_error_bodies_always_map_to_an_upstream_error(
    protocol: str, status: int, body: bytes, retry_after: str | None
) -> None:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    err = get_adapter(protocol).map_error(status, body, headers, target(protocol))
    assert isinstance(err, UpstreamError)
    assert err.code and err.status in (400, 401, 403, 404, 413, 429, 500, 502, 503, 504)


SSE_PIECES = [b"data: x", b"event: e", b"id: 1", b": c", b"\r", b"\n", b"\r\n", b"data:", b"\xc3", b"\xa9"]


@FUZZ
@given(
    data=st.binary(max_size=600) | st.lists(st.sampled_from(SSE_PIECES), max_size=40).map(b"".join),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)  # fmt: skip
def test_sse_decoder_is_split_invariant_and_bounded(data: bytes, cuts: list[int]) -> None:
    def decode(chunks: list[bytes]) -> list[SSEEvent]:
        decoder = SSEDecoder(max_line=64)
        out: list[SSEEvent] = []
        for chunk in chunks:
            out += decoder.decode(chunk)
        return out + decoder.flush()

    try:
        whole = decode([data])
    except ValueError as exc:
        assert "maximum length" in str(exc)  # an over-long line: transport turns it into upstream_error
        return
    try:
        assert decode(splits(data, cuts)) == whole
    except ValueError as exc:
        assert "maximum length" in str(exc)  # a split can only reveal a long line earlier, never hide one


BIG_DELAY = json.dumps(
    {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "9" * 400 + "s"}]}}
).encode()  # fmt: skip

INFINITE_DELAYS = [
    pytest.param(p, {"retry-after": v}, b"{}", id=f"{p}-{v}") for p in PROTOCOLS for v in ("inf", "-Infinity", "1e999")
] + [pytest.param("gemini", {}, BIG_DELAY, id="gemini-RetryInfo")]


@pytest.mark.parametrize(("protocol", "headers", "body"), INFINITE_DELAYS)
def test_infinite_retry_delays_map_to_an_upstream_error(protocol: str, headers: dict[str, str], body: bytes) -> None:
    err = get_adapter(protocol).map_error(429, body, headers, target(protocol))
    assert isinstance(err, UpstreamError) and err.status == 429
    assert err.retry_after is None or 0 <= err.retry_after <= MAX_RETRY_AFTER_S


@pytest.fixture(scope="module", autouse=True)
def report_loose_exceptions() -> Iterator[None]:
    yield
    if LOOSE:
        print("\nparser exceptions mapped by the transport, not by the adapter:", dict(sorted(LOOSE.items())))
