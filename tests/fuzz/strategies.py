"""Hypothesis strategies for request bodies: valid, nearly valid and hostile, for the three JSON endpoints.

Bodies are built as JSON trees and serialised by :func:`dump`, which can write what ``json.dumps`` will not:
duplicate keys (:class:`Obj` keeps pairs), bare ``NaN``/``Infinity``, numbers out of any float's range,
invalid UTF-8 and lone surrogates (:class:`Raw` is written verbatim). No generated string starts with
``http``, so no body ever names a URL the gateway could try to fetch: tests only talk to 127.0.0.1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

from tests.fuzz.conftest import MODELS

Endpoint = Literal["/v1/responses", "/v1/chat/completions", "/v1/messages"]
ENDPOINTS: tuple[Endpoint, ...] = ("/v1/responses", "/v1/chat/completions", "/v1/messages")


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: pairs in order, keys may repeat."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Raw:
    """Bytes written into the document as they are (hostile tokens)."""

    data: bytes


def dump(value: Any, ascii_only: bool = True) -> bytes:
    """Serialise a tree of JSON values, :class:`Obj` and :class:`Raw`."""
    if isinstance(value, Raw):
        return value.data
    if isinstance(value, Obj):
        inner = b",".join(dump(k, ascii_only) + b":" + dump(v, ascii_only) for k, v in value.pairs)
        return b"{" + inner + b"}"
    if isinstance(value, dict):
        return dump(Obj(tuple(value.items())), ascii_only)
    if isinstance(value, list):
        return b"[" + b",".join(dump(v, ascii_only) for v in value) + b"]"
    if isinstance(value, str) and not ascii_only:
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


# --- leaves ----------------------------------------------------------------------------------------------------

NASTY = [
    "\x00",
    "\u202e",  # right-to-left override
    "\ufeff",  # byte order mark
    "\uffff",
    "\U0010ffff",
    "\ud800",  # lone surrogate (valid as a JSON escape, not as UTF-8)
    "\udfff",
    "e\u0301\u0301\u0301",  # stacked combining marks
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # ZWJ sequence
    "\u0000\u0001\u001f",
    "\\",
    '"',
    "\r\n\r\ndata: [DONE]\n\n",  # SSE framing inside a string
    "{{}}[[]]",
    "ak_live_not_a_key",
]


def _no_url(s: str) -> bool:
    return not s.lstrip().lower().startswith("http")


texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NASTY),
    st.lists(st.sampled_from(NASTY), min_size=1, max_size=6).map("".join),
).filter(_no_url)
short_texts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
HOSTILE_TOKENS = [
    b"NaN",
    b"-NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-1e999",
    b"1" * 500,
    b"-0",
    b"0.0000000000000000000000000000000000000000000000001",
    b'"\xff\xfe"',  # invalid UTF-8 in a string
    b'"\xed\xa0\x80"',  # an encoded surrogate
    b'"\\ud800"',
    b'"\\u0000"',
    b"undefined",
    b"None",
    b"True",
    b"'single'",
    b"[1,]",
    b"{,}",
    b"/* comment */ 1",
]
hostile_tokens = st.sampled_from(HOSTILE_TOKENS).map(Raw)
json_leaves = st.none() | st.booleans() | numbers | texts
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(short_texts, children, max_size=4),
    max_leaves=12,
)

DATA_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)

# --- valid bodies ---------------------------------------------------------------------------------------------

models = st.sampled_from(sorted(MODELS))


def _optional(draw: st.DrawFn, body: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        body[key] = draw(strategy)


function_schema = st.fixed_dictionaries(
    {"type": st.just("object"), "properties": st.dictionaries(short_texts, st.just({"type": "string"}), max_size=3)}
)


@st.composite
def responses_bodies(draw: st.DrawFn) -> dict[str, Any]:
    part = st.one_of(
        st.builds(lambda t: {"type": "input_text", "text": t}, texts),
        st.just({"type": "input_image", "image_url": DATA_PNG}),
    )
    message = st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "system", "developer"]),
            "content": texts | st.lists(part, min_size=1, max_size=3),
        }
    )
    body: dict[str, Any] = {"model": draw(models), "input": draw(texts | st.lists(message, min_size=1, max_size=4))}
    _optional(draw, body, "instructions", texts)
    _optional(draw, body, "temperature", st.floats(min_value=0, max_value=2))
    _optional(draw, body, "top_p", st.floats(min_value=0, max_value=1))
    _optional(draw, body, "max_output_tokens", st.integers(min_value=1, max_value=64))
    _optional(draw, body, "stream", st.booleans())
    _optional(draw, body, "metadata", st.dictionaries(short_texts, short_texts, max_size=16))
    if draw(st.booleans()):
        body["tools"] = [{"type": "function", "name": draw(short_texts), "parameters": draw(function_schema)}]
        _optional(draw, body, "tool_choice", st.sampled_from(["auto", "none", "required"]))
    _optional(draw, body, "gateway", st.just({"routing": {"optimize": "cost", "timeout_ms": 5000}}))
    return body


@st.composite
def chat_bodies(draw: st.DrawFn) -> dict[str, Any]:
    part = st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, texts),
        st.just({"type": "image_url", "image_url": {"url": DATA_PNG}}),
    )
    user = st.fixed_dictionaries({"role": st.just("user"), "content": texts | st.lists(part, min_size=1, max_size=3)})
    other = st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "assistant"]), "content": texts})
    messages = [*draw(st.lists(other, max_size=2)), draw(user)]
    body: dict[str, Any] = {"model": draw(models), "messages": messages}
    _optional(draw, body, "temperature", st.floats(min_value=0, max_value=2))
    _optional(draw, body, "max_tokens", st.integers(min_value=1, max_value=64))
    _optional(draw, body, "max_completion_tokens", st.integers(min_value=1, max_value=64))
    _optional(draw, body, "stream", st.booleans())
    _optional(draw, body, "stop", st.lists(short_texts, max_size=4))
    _optional(draw, body, "seed", st.integers(min_value=0, max_value=2**31))
    _optional(draw, body, "user", short_texts)
    if draw(st.booleans()):
        fn = {"name": draw(short_texts), "parameters": draw(function_schema)}
        body["tools"] = [{"type": "function", "function": fn}]
        _optional(draw, body, "tool_choice", st.sampled_from(["auto", "none"]))
    _optional(draw, body, "response_format", st.sampled_from([{"type": "text"}, {"type": "json_object"}]))
    return body


@st.composite
def messages_bodies(draw: st.DrawFn) -> dict[str, Any]:
    block = st.builds(lambda t: {"type": "text", "text": t}, texts.filter(bool))
    content = texts.filter(bool) | st.lists(block, min_size=1, max_size=3)
    turns = draw(st.integers(min_value=0, max_value=2))
    messages = []
    for _ in range(turns):
        messages += [{"role": "user", "content": draw(content)}, {"role": "assistant", "content": draw(content)}]
    messages.append({"role": "user", "content": draw(content)})
    body: dict[str, Any] = {"model": draw(models), "max_tokens": draw(st.integers(min_value=1, max_value=64))}
    body["messages"] = messages
    _optional(draw, body, "system", texts)
    _optional(draw, body, "temperature", st.floats(min_value=0, max_value=1))
    _optional(draw, body, "stream", st.booleans())
    _optional(draw, body, "stop_sequences", st.lists(short_texts, max_size=3))
    _optional(draw, body, "metadata", st.fixed_dictionaries({"user_id": short_texts}))
    if draw(st.booleans()):
        body["tools"] = [{"name": draw(short_texts), "description": "d", "input_schema": draw(function_schema)}]
        _optional(draw, body, "tool_choice", st.just({"type": "auto"}))
    return body


VALID = {"/v1/responses": responses_bodies(), "/v1/chat/completions": chat_bodies(), "/v1/messages": messages_bodies()}
FIELDS: dict[Endpoint, list[str]] = {
    "/v1/responses": ["model", "input", "instructions", "tools", "tool_choice", "temperature", "top_p",
                      "max_output_tokens", "stream", "metadata", "text", "reasoning", "gateway", "extensions",
                      "include", "store", "truncation", "top_logprobs", "parallel_tool_calls"],
    "/v1/chat/completions": ["model", "messages", "tools", "tool_choice", "temperature", "max_tokens", "stream",
                             "stream_options", "response_format", "stop", "n", "logit_bias", "functions",
                             "function_call", "reasoning_effort", "gateway", "extensions", "metadata"],
    "/v1/messages": ["model", "messages", "max_tokens", "system", "tools", "tool_choice", "thinking", "stream",
                     "metadata", "stop_sequences", "temperature", "output_config", "gateway", "extensions"],
}  # fmt: skip

# --- mutations ------------------------------------------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a plain JSON tree (dict keys and list indices)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (_replace(v, rest, new) if k == head else v) for k, v in value.items()}
    return [(_replace(v, rest, new) if i == head else v) for i, v in enumerate(value)]


@st.composite
def nearly_valid(draw: st.DrawFn, endpoint: Endpoint) -> Any:
    """A valid body with one thing wrong: a field dropped, retyped, out of range, unknown or misspelt."""
    body = draw(VALID[endpoint])
    kind = draw(st.sampled_from(["drop", "retype_field", "retype_node", "tag", "range", "unknown", "enum"]))
    if kind == "drop":
        key = draw(st.sampled_from(sorted(body)))
        return {k: v for k, v in body.items() if k != key}
    if kind == "retype_field":
        body[draw(st.sampled_from(FIELDS[endpoint]))] = draw(json_values)
        return body
    if kind == "retype_node":
        path = draw(st.sampled_from(_paths(body)[1:]))
        return _replace(body, path, draw(json_values))
    if kind == "tag":  # the ``type``/``role`` tag of some object, present or not, set to anything at all
        objects = [p for p in _paths(body) if isinstance(_get(body, p), dict)]
        path = draw(st.sampled_from(objects))
        node = dict(_get(body, path))
        node[draw(st.sampled_from(["type", "role"]))] = draw(json_values | st.sampled_from(["native", "message"]))
        return _replace(body, path, node)
    if kind == "range":
        field = draw(st.sampled_from(["temperature", "top_p", "max_output_tokens", "max_tokens", "top_logprobs", "n"]))
        body[field] = draw(st.sampled_from([-1, 0, 3, 21, 129, 2**64, -(2**64), 1e308, -0.5]))
        return body
    if kind == "unknown":
        body[draw(short_texts)] = draw(json_values)
        return body
    field = draw(st.sampled_from(["model", "tool_choice", "reasoning_effort", "truncation", "stream"]))
    body[field] = draw(st.sampled_from(["", "bogus", "AUTO", "gpt-4o\u0000", "m-oai:nonsense", "m-oai:ttft"]))
    return body


def _deep(depth: int, leaf: Any, as_object: bool) -> Raw:
    """``depth`` levels of nesting around ``leaf``, written directly (no recursion at any depth)."""
    inner = dump(leaf)
    if as_object:
        return Raw(b'{"a":' * depth + inner + b"}" * depth)
    return Raw(b"[" * depth + inner + b"]" * depth)


@st.composite
def hostile(draw: st.DrawFn, endpoint: Endpoint) -> bytes:
    """Bodies meant to break things: huge strings, deep nesting, hostile tokens, duplicate keys, raw garbage."""
    kind = draw(
        st.sampled_from(["huge", "deep", "deep_body", "token", "duplicate", "unicode", "garbage", "wrapped", "tree"])
    )
    if kind == "garbage":
        return draw(
            st.one_of(
                st.binary(max_size=200),
                st.sampled_from([b"", b" ", b"null", b"[]", b"0", b'""', b"\xef\xbb\xbf{}", b"{}{}", b"{} trailing"]),
                st.sampled_from(HOSTILE_TOKENS),
            )
        )
    if kind == "tree":
        return dump(draw(json_values))
    body = draw(VALID[endpoint])
    paths = _paths(body)[1:]
    if kind == "huge":
        size = draw(st.sampled_from([10_000, 100_000, 1_000_000]))
        text = draw(st.sampled_from(["x", "\u00e9", "\U0001f600", "\\", '"', "\u202e"])) * size
        return dump(_replace(body, draw(st.sampled_from(paths)), text), ascii_only=draw(st.booleans()))
    if kind == "deep":
        depth = draw(st.sampled_from([40, 65, 200, 900, 1100, 5000]))
        nested = _deep(depth, draw(json_leaves), draw(st.booleans()))
        return dump(_replace(body, draw(st.sampled_from(paths)), nested))
    if kind == "deep_body":
        depth = draw(st.sampled_from([100, 2000, 50_000]))
        return b"[" * depth + b"]" * depth if draw(st.booleans()) else b'{"a":' * depth + b"1" + b"}" * depth
    if kind == "token":
        return dump(_replace(body, draw(st.sampled_from(paths)), draw(hostile_tokens)))
    if kind == "duplicate":
        key = draw(st.sampled_from(sorted(body)))
        extra = draw(json_values | hostile_tokens)
        pairs = list(body.items())
        at = draw(st.integers(min_value=0, max_value=len(pairs)))
        pairs.insert(at, (key, extra))
        return dump(Obj(tuple(pairs)))
    if kind == "unicode":
        nasty = draw(st.lists(st.sampled_from(NASTY), min_size=1, max_size=8).map("".join))
        return dump(_replace(body, draw(st.sampled_from(paths)), nasty), ascii_only=draw(st.booleans()))
    # wrapped: the valid body inside something else, or with a hostile key
    return dump(draw(st.sampled_from([[body], {"body": body}, {**body, "\ud800": 1}, {**body, "": None}])))


def bodies(endpoint: Endpoint) -> st.SearchStrategy[bytes]:
    """Valid, nearly valid and hostile bodies for ``endpoint``, as bytes."""
    return st.one_of(
        VALID[endpoint].map(dump),
        nearly_valid(endpoint).map(dump),
        hostile(endpoint),
    )


__all__ = ["ENDPOINTS", "Endpoint", "Obj", "Raw", "bodies", "dump", "hostile", "nearly_valid"]
