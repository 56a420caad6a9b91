"""SSEDecoder: line endings, chunking anywhere (bytes and UTF-8 sequences), comments, multi-line data, flush."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.providers.base import SSEEvent
from interlock.providers.sse import SSEDecoder


def decode_all(chunks: list[bytes], max_line: int | None = None) -> list[SSEEvent]:
    decoder = SSEDecoder() if max_line is None else SSEDecoder(max_line=max_line)
    out: list[SSEEvent] = []
    for chunk in chunks:
        out.extend(decoder.decode(chunk))
    out.extend(decoder.flush())
    return out


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


STREAM = (
    b": a comment first\n"
    b"event: response.created\n"
    b'data: {"type":"response.created"}\n'
    b"\n"
    b"id: 7\n"
    b"data: line one\n"
    b"data: line two \xe2\x80\x94 caf\xc3\xa9 \xf0\x9f\x98\x80\n"
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
EXPECTED = [
    SSEEvent(data='{"type":"response.created"}', event="response.created"),
    SSEEvent(data="line one\nline two \u2014 caf\u00e9 \U0001f600", id="7"),
    SSEEvent(data="[DONE]", id="7"),  # the last event id persists (W3C)
]


def test_whole_stream() -> None:
    assert decode_all([STREAM]) == EXPECTED


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"], ids=["crlf", "cr", "lf"])
def test_line_endings(newline: bytes) -> None:
    data = STREAM.replace(b"\n", newline)
    assert decode_all([data]) == EXPECTED
    assert decode_all(bytewise(data)) == EXPECTED


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode_all([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_one_byte_at_a_time_splits_utf8_sequences() -> None:
    assert decode_all(bytewise(STREAM)) == EXPECTED


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    chunks = [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]
    assert decode_all(chunks) == [SSEEvent(data="a\nb")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    data = b":keep-alive\n\nretry: 3000\nfoo: bar\ndata: x\n\n: trailing\n\n"
    assert decode_all([data]) == [SSEEvent(data="x")]


def test_field_value_spacing() -> None:
    # One leading space is stripped, the rest kept; a line without a colon is a field with an empty value.
    data = b"data:no-space\ndata:  two-spaces\ndata\n\n"
    assert decode_all([data]) == [SSEEvent(data="no-space\n two-spaces\n")]


def test_blank_lines_alone_dispatch_nothing() -> None:
    assert decode_all([b"\n\n\r\n\r\n"]) == []


def test_flush_emits_an_event_missing_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.decode(b"event: done\ndata: last") == []
    assert decoder.flush() == [SSEEvent(data="last", event="done")]
    assert decoder.flush() == []


def test_flush_with_a_dangling_line_end() -> None:
    assert decode_all([b"data: last\n"]) == [SSEEvent(data="last")]
    assert decode_all([b"data: last\r"]) == [SSEEvent(data="last")]


def test_flush_replaces_a_truncated_utf8_sequence() -> None:
    assert decode_all([b"data: caf\xc3"]) == [SSEEvent(data="caf\ufffd")]


def test_max_line_bounds_the_buffer() -> None:
    decoder = SSEDecoder(max_line=16)
    assert decoder.decode(b"data: 0123456789") == []  # 16 characters: still allowed
    with pytest.raises(ValueError, match="maximum length"):
        decoder.decode(b"x")


def test_max_line_counts_only_the_unfinished_line() -> None:
    lines = b"".join(b"data: 0123456789\n" for _ in range(10)) + b"\n"
    events = decode_all([lines], max_line=16)
    assert events == [SSEEvent(data="\n".join(["0123456789"] * 10))]


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    texts = st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=12)
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        for value in draw(st.lists(texts, min_size=1, max_size=3)):
            lines.append(f"data: {value}")
        if draw(st.booleans()):
            lines.append(f"event: {draw(texts)}")
        if draw(st.booleans()):
            lines.append(f": {draw(texts)}")
        lines.append("")
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = (newline.join(lines) + newline).encode()
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    return data, cuts


@settings(max_examples=200, deadline=None)
@given(streams())
def test_random_chunkings_give_the_same_events(case: tuple[bytes, list[int]]) -> None:
    data, cuts = case
    bounds = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert decode_all(chunks) == decode_all([data])
