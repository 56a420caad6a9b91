"""api.limits: every input cap answers its documented code and param, in the endpoint's envelope, before any
upstream call; the byte-level depth measure agrees with a reference walk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock.api.limits import check_body, check_headers, json_depth_exceeds
from interlock.config import LimitsSettings, ServerSettings
from interlock.ir.errors import GatewayError
from interlock.sim.config import SimConfig, SimProvider
from tests.support.servers import GatewayServer, LoopThread, SimHandle

LIMITS = LimitsSettings(
    max_input_items=5,
    max_tools=3,
    max_tool_schema_bytes=200,
    max_metadata_pairs=4,
    max_metadata_key_chars=8,
    max_metadata_value_chars=16,
    max_json_depth=12,
)

# --- depth on bytes ------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:\n\u00e9\U0001f600', max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(json_values, st.integers(min_value=0, max_value=8), st.booleans())
def test_depth_on_bytes_matches_a_walk(value: Any, limit: int, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_depth_exceeds(body, limit) == (depth(value) > limit)


def test_depth_of_hostile_nesting() -> None:
    assert json_depth_exceeds(b"[" * 100_000 + b"]" * 100_000, 64)
    assert json_depth_exceeds(b'{"a":' * 65 + b"1" + b"}" * 65, 64)
    assert not json_depth_exceeds(b'{"a":' * 64 + b"1" + b"}" * 64, 64)
    assert not json_depth_exceeds(json.dumps({"s": "[" * 1000}).encode(), 64)


# --- check_body ----------------------------------------------------------------------------------------------


def refusal(body: Any, shape: Any) -> tuple[str, str | None]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(GatewayError) as info:
        check_body(raw, shape, LIMITS)
    return info.value.code, info.value.param


def schema(size: int) -> dict[str, Any]:
    return {"type": "object", "description": "x" * size}


BODY_CASES: list[tuple[str, Any, Any, str, str | None]] = [
    (
        "responses items",
        "responses",
        {"input": [{"role": "user", "content": "x"}] * 6},
        "invalid_parameter_value",
        "input",
    ),
    ("chat items", "chat", {"messages": [{"role": "user", "content": "x"}] * 6}, "invalid_parameter_value", "messages"),
    (
        "messages items",
        "messages",
        {"messages": [{"role": "user", "content": "x"}] * 6},
        "invalid_parameter_value",
        "messages",
    ),
    (
        "tools count",
        "responses",
        {"tools": [{"type": "function", "name": "f"}] * 4},
        "invalid_parameter_value",
        "tools",
    ),
    (
        "responses schema",
        "responses",
        {"tools": [{"type": "function", "name": "f", "parameters": schema(300)}]},
        "invalid_parameter_value",
        "tools[0].parameters",
    ),
    (
        "chat schema",
        "chat",
        {
            "tools": [
                {"type": "function", "function": {"name": "f"}},
                {"type": "function", "function": {"name": "g", "parameters": schema(300)}},
            ]
        },
        "invalid_parameter_value",
        "tools[1].function.parameters",
    ),
    (
        "chat legacy functions",
        "chat",
        {"functions": [{"name": "g", "parameters": schema(300)}]},
        "invalid_parameter_value",
        "functions[0].parameters",
    ),
    (
        "messages schema",
        "messages",
        {"tools": [{"name": "f", "input_schema": schema(300)}]},
        "invalid_parameter_value",
        "tools[0].input_schema",
    ),
    (
        "metadata pairs",
        "responses",
        {"metadata": {str(i): "v" for i in range(5)}},
        "invalid_parameter_value",
        "metadata",
    ),
    ("metadata key", "chat", {"metadata": {"k" * 9: "v"}}, "invalid_parameter_value", "metadata"),
    ("metadata value", "messages", {"metadata": {"user_id": "v" * 17}}, "invalid_parameter_value", "metadata"),
    (
        "custom fields",
        "responses",
        {"gateway": {"metadata": {"custom_fields": {str(i): "v" for i in range(5)}}}},
        "invalid_parameter_value",
        "gateway.metadata.custom_fields",
    ),
    ("depth", "responses", {"extensions": {"x": [[[[[[[[[[[[[1]]]]]]]]]]]]]}}, "invalid_request", None),
    ("depth past msgspec", "chat", b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_request", None),
    ("depth, any route", None, {"a": [[[[[[[[[[[[[1]]]]]]]]]]]]]}, "invalid_request", None),
]


@pytest.mark.parametrize(("name", "shape", "body", "code", "param"), BODY_CASES, ids=[c[0] for c in BODY_CASES])
def test_caps(name: str, shape: Any, body: Any, code: str, param: str | None) -> None:
    assert refusal(body, shape) == (code, param)


@pytest.mark.parametrize(
    "body",
    [
        {"input": [{"role": "user", "content": "x"}] * 5, "tools": [{"type": "function", "name": "f"}] * 3},
        {"metadata": {"k" * 8: "\\" * 16}},  # escapes count as one character each
        {"input": "a string input is one item", "metadata": None, "tools": "not a list: the parser reports it"},
        b"{not json",
        b"[1, 2]",
        {"messages": [{"role": "user", "content": "x"}] * 50},  # not the Responses items list
    ],
)
def test_within_caps_or_left_to_the_parser(body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    check_body(raw, "responses", LIMITS)


def test_duplicate_keys_are_judged_by_the_last_value_like_the_parser() -> None:
    tools = json.dumps([{"type": "function", "name": "f"}] * 4)
    check_body(f'{{"tools": {tools}, "tools": []}}'.encode(), "responses", LIMITS)
    with pytest.raises(GatewayError):
        check_body(f'{{"tools": [], "tools": {tools}}}'.encode(), "responses", LIMITS)


def test_headers() -> None:
    server = ServerSettings(max_headers=3, max_header_bytes=100)
    check_headers([(b"a", b"b")] * 3, 20, server)
    with pytest.raises(GatewayError) as info:
        check_headers([(b"a", b"b")] * 4, 20, server)
    assert (info.value.status, info.value.code, info.value.param) == (413, "payload_too_large", None)
    with pytest.raises(GatewayError):
        check_headers([(b"cookie", b"x" * 80)], 20, server)


# --- through the gateway -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayServer, SimHandle, str]]:
    tmp: Path = tmp_path_factory.mktemp("limits")
    loop = LoopThread()
    sim = SimHandle(loop, SimConfig(providers={"sim-chat": SimProvider(protocol="openai-chat")}))
    config = {
        "database_url": f"sqlite:///{tmp / 'gw.db'}",
        "catalog": "none",
        "providers": [
            {
                "id": "sim-chat",
                "protocol": "openai-chat",
                "base_url": sim.base_url("sim-chat", "openai-chat"),
                "api_key": "sk-test",
            }
        ],
        "models": [
            {
                "id": "m",
                "offerings": [
                    {
                        "provider": "sim-chat",
                        "provider_model_id": "m",
                        "input_price": 1,
                        "output_price": 1,
                        "capabilities": ["tools", "streaming"],
                    }
                ],
            }
        ],
        "server": {"max_headers": 40, "max_header_bytes": 4096},
        "limits": {k: getattr(LIMITS, k) for k in LIMITS.__struct_fields__ if k.startswith("max_")},
    }
    server = GatewayServer(loop, config, tmp).start()
    key = server.create_key(name="limits")
    yield server, sim, key
    server.stop()
    sim.stop()
    loop.stop()


ENDPOINT_CASES: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("/v1/responses", "input", {"model": "m", "input": [{"role": "user", "content": "x"}] * 6}, "input"),
    ("/v1/responses", "tools", {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}] * 4}, "tools"),
    ("/v1/responses", "metadata", {"model": "m", "input": "x", "metadata": {"k" * 9: "v"}}, "metadata"),
    (
        "/v1/chat/completions",
        "messages",
        {"model": "m", "messages": [{"role": "user", "content": "x"}] * 6},
        "messages",
    ),
    (
        "/v1/chat/completions",
        "schema",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": schema(300)}}],
        },
        "tools[0].function.parameters",
    ),
    (
        "/v1/messages",
        "messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}] * 6},
        None,
    ),
    (
        "/v1/messages",
        "depth",
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
            "metadata": {"user_id": [[[[[[[[[[[[["x"]]]]]]]]]]]]]},
        },
        None,
    ),
]


@pytest.mark.parametrize(
    ("path", "name", "body", "param"), ENDPOINT_CASES, ids=[f"{c[0]}-{c[1]}" for c in ENDPOINT_CASES]
)
def test_caps_through_the_gateway(
    gateway: tuple[GatewayServer, SimHandle, str], path: str, name: str, body: dict[str, Any], param: str | None
) -> None:
    server, sim, key = gateway
    before = len(sim.server.requests())
    r = httpx.post(server.base_url + path, json=body, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 400, r.text
    assert r.headers["x-request-id"].startswith("req_")
    if path == "/v1/messages":
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    else:
        err = r.json()["error"]
        assert err["param"] == param
        assert err["code"] == ("invalid_request" if name == "depth" else "invalid_parameter_value")
    assert len(sim.server.requests()) == before


def test_header_caps_through_the_gateway(gateway: tuple[GatewayServer, SimHandle, str]) -> None:
    server, _, key = gateway
    many = {f"x-h{i}": "v" for i in range(41)}
    r = httpx.get(server.base_url + "/v1/models", headers={"authorization": f"Bearer {key}", **many})
    assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["param"]) == (413, "payload_too_large", None)
    r = httpx.post(server.base_url + "/v1/messages", headers={"x-api-key": key, "x-big": "v" * 5000}, json={})
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"


def test_within_caps_the_request_is_served(gateway: tuple[GatewayServer, SimHandle, str]) -> None:
    server, _, key = gateway
    r = httpx.post(
        server.base_url + "/v1/responses",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "m", "input": [{"role": "user", "content": "x"}] * 5, "metadata": {"k" * 8: "v"}},
    )
    assert r.status_code == 200, r.text
