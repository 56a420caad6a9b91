"""Broken requests get the documented status, code and param; never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.servers import GatewayServer

CASES: list[tuple[str, Any, int, str, str | None]] = [
    ("bad json", b"{not json", 400, "invalid_request", None),
    ("not an object", b"[1,2]", 400, "invalid_request", None),
    ("missing model", {"input": "hi"}, 400, "missing_required_parameter", "model"),
    ("missing input", {"model": "test-gpt"}, 400, "missing_required_parameter", "input"),
    (
        "both model and models",
        {"model": "test-gpt", "input": "x", "gateway": {"models": ["test-chat"]}},
        400,
        "invalid_parameter_value",
        "gateway.models",
    ),
    (
        "too many models",
        {"input": "x", "gateway": {"models": ["test-gpt"] * 11}},
        400,
        "invalid_parameter_value",
        "gateway.models",
    ),
    (
        "temperature type",
        {"model": "test-gpt", "input": "x", "temperature": "hot"},
        400,
        "invalid_parameter_value",
        "temperature",
    ),
    (
        "temperature range",
        {"model": "test-gpt", "input": "x", "temperature": 3},
        400,
        "invalid_parameter_value",
        "temperature",
    ),
    ("top_p range", {"model": "test-gpt", "input": "x", "top_p": 1.5}, 400, "invalid_parameter_value", "top_p"),
    (
        "top_logprobs range",
        {"model": "test-gpt", "input": "x", "top_logprobs": 21},
        400,
        "invalid_parameter_value",
        "top_logprobs",
    ),
    (
        "max_output_tokens",
        {"model": "test-gpt", "input": "x", "max_output_tokens": 0},
        400,
        "invalid_parameter_value",
        "max_output_tokens",
    ),
    ("stream type", {"model": "test-gpt", "input": "x", "stream": "yes"}, 400, "invalid_parameter_value", "stream"),
    (
        "bad effort",
        {"model": "test-gpt", "input": "x", "reasoning": {"effort": "extreme"}},
        400,
        "invalid_parameter_value",
        "reasoning.effort",
    ),
    (
        "bad role",
        {"model": "test-gpt", "input": [{"role": "wizard", "content": "x"}]},
        400,
        "invalid_parameter_value",
        "input[0].role",
    ),
    (
        "missing call_id",
        {"model": "test-gpt", "input": [{"type": "function_call_output", "output": "x"}]},
        400,
        "missing_required_parameter",
        "input[0].call_id",
    ),
    ("unknown model", {"model": "no-such-model", "input": "x"}, 404, "model_not_found", "model"),
    (
        "bad optimize",
        {"model": "test-gpt", "input": "x", "gateway": {"routing": {"optimize": "fastest"}}},
        400,
        "invalid_parameter_value",
        "gateway.routing.optimize",
    ),
    (
        "weights key",
        {"model": "test-gpt", "input": "x", "gateway": {"routing": {"weights": {"speed": 1}}}},
        400,
        "invalid_parameter_value",
        "gateway.routing.weights",
    ),
    (
        "weights zero",
        {"model": "test-gpt", "input": "x", "gateway": {"routing": {"weights": {"cost": 0}}}},
        400,
        "invalid_parameter_value",
        "gateway.routing.weights",
    ),
    (
        "deadline < timeout",
        {"model": "test-gpt", "input": "x", "gateway": {"routing": {"timeout_ms": 100, "deadline_ms": 50}}},
        400,
        "invalid_parameter_value",
        "gateway.routing.deadline_ms",
    ),
    (
        "byok xor platform",
        {"model": "test-gpt", "input": "x", "gateway": {"routing": {"only_byok": True, "only_platform": True}}},
        400,
        "invalid_parameter_value",
        "gateway.routing.only_byok",
    ),
    (
        "fallback attempts",
        {"model": "test-gpt", "input": "x", "gateway": {"routing": {"max_fallback_attempts": 20}}},
        400,
        "invalid_parameter_value",
        "gateway.routing.max_fallback_attempts",
    ),
    (
        "metadata key",
        {"model": "test-gpt", "input": "x", "gateway": {"metadata": {"team": "x"}}},
        400,
        "invalid_parameter_value",
        "gateway.metadata",
    ),
    (
        "tool_choice unknown tool",
        {"model": "test-gpt", "input": "x", "tool_choice": {"type": "function", "name": "f"}},
        400,
        "invalid_parameter_value",
        "tool_choice",
    ),
    (
        "tools unsupported",
        {
            "model": "test-notools",
            "input": "x",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        },
        400,
        "tools_not_supported",
        None,
    ),
]


@pytest.mark.parametrize(("name", "body", "status", "code", "param"), CASES, ids=[c[0] for c in CASES])
def test_bad_request(
    gateway: GatewayServer, api_key: str, name: str, body: Any, status: int, code: str, param: str | None
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(
        gateway.base_url + "/v1/responses",
        content=content,
        headers={"authorization": f"Bearer {api_key}", "content-type": "application/json"},
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-request-id"].startswith("req_")
    err = r.json()["error"]
    assert err["code"] == code
    assert err["param"] == param
    assert err["type"] in ("invalid_request_error", "not_found_error")
    assert err["message"]
    assert err["doc_url"].endswith(code)


def test_missing_key(gateway: GatewayServer) -> None:
    r = httpx.post(gateway.base_url + "/v1/responses", json={"model": "test-gpt", "input": "x"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert r.json()["error"]["type"] == "authentication_error"


def test_revoked_and_expired_keys(gateway: GatewayServer) -> None:
    import datetime as dt

    expired = gateway.create_key(name="old", expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    r = httpx.post(
        gateway.base_url + "/v1/responses",
        json={"model": "test-gpt", "input": "x"},
        headers={"authorization": f"Bearer {expired}"},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "expired_api_key"


def test_huge_body_is_413(gateway: GatewayServer, api_key: str) -> None:
    limit = gateway.settings.server.max_body_bytes
    body = b'{"model":"test-gpt","input":"' + b"a" * (limit + 10) + b'"}'
    r = httpx.post(gateway.base_url + "/v1/responses", content=body, headers={"authorization": f"Bearer {api_key}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_unknown_route_and_wrong_method(gateway: GatewayServer) -> None:
    r = httpx.get(gateway.base_url + "/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "resource_not_found"
    r = httpx.get(gateway.base_url + "/v1/responses")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in r.headers["allow"]
