"""Fuzzing the three JSON endpoints over real HTTP: never a 5xx, always the documented envelope, never an upstream
call for a refused request, and every stream that starts ends with its terminal event."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings

from tests.fuzz.conftest import FuzzWorld
from tests.fuzz.strategies import ENDPOINTS, Endpoint, bodies, dump

OPENAI_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "rate_limit_error",
        "api_error",
    }
)
ANTHROPIC_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
        "timeout_error",
    }
)
EXAMPLES = 120  # per endpoint; each is one request to the gateway
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def check_envelope(endpoint: str, r: httpx.Response) -> dict[str, Any]:
    """The documented error body for ``endpoint``; returns it."""
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, dict), body
    if endpoint.startswith("/v1/messages"):
        assert body.get("type") == "error", body
        assert set(body) == {"type", "error"}, body
        err = body["error"]
        assert err["type"] in ANTHROPIC_TYPES, err
        assert isinstance(err["message"], str) and err["message"], err
        assert "code" not in err
        return body
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"message", "type", "code", "param"} <= set(err), err
    assert err["type"] in OPENAI_TYPES, err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["code"], str) and err["code"], err
    assert err["param"] is None or isinstance(err["param"], str), err
    assert err["doc_url"].endswith("/" + err["code"]), err
    return body


def sse_events(text: str) -> list[str]:
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]


def check_stream_end(endpoint: str, text: str) -> None:
    data = sse_events(text)
    assert data, "a stream with no events"
    if endpoint == "/v1/responses":
        assert json.loads(data[-1])["type"] in ("response.completed", "response.incomplete", "response.failed")
    elif endpoint == "/v1/chat/completions":
        assert data[-1] == "[DONE]", data[-3:]
    else:
        assert json.loads(data[-1])["type"] in ("message_stop", "error"), data[-1]


def send(world: FuzzWorld, endpoint: str, body: bytes) -> httpx.Response:
    """One request; asserts the contract and records the figures."""
    before = world.upstream_calls()
    headers = {"authorization": f"Bearer {world.key}", "content-type": "application/json"}
    r = world.client.post(endpoint, content=body, headers=headers)
    world.stats["examples"] += 1
    world.stats[f"status_{r.status_code}"] += 1
    if r.status_code >= 500:
        world.stats["5xx"] += 1
    assert r.status_code < 500, f"{r.status_code} for {body[:300]!r}: {r.text[:500]}"
    assert r.headers["x-request-id"].startswith("req_")
    if r.status_code >= 400:
        check_envelope(endpoint, r)
        after = world.upstream_calls()
        if after != before:
            # The gateway found the request valid and an upstream refused it: that verdict must come back as a
            # documented 4xx naming the provider (counted and reported; the gateway's own refusals never call out).
            err = r.json()["error"]
            assert r.status_code < 500 and err.get("provider" if "code" in err else "type"), r.text
            world.stats["upstream_rejected_4xx"] += 1
            world.samples.append(f"{endpoint} {body[:160]!r} -> {r.text[:160]}")
            return r
    else:
        assert r.status_code == 200, r.text[:300]
        if r.headers["content-type"].startswith("text/event-stream"):
            check_stream_end(endpoint, r.text)
        else:
            assert isinstance(r.json(), dict)
    return r


NESTED_70: Any = 1
for _ in range(70):
    NESTED_70 = [NESTED_70]


def _given_endpoint(endpoint: Endpoint) -> Any:
    @FUZZ
    @given(body=bodies(endpoint))
    @example(body=b"[" * 50_000 + b"]" * 50_000)
    @example(body=b'{"model": NaN, "input": Infinity}')
    @example(body=b'{"model": "m-oai", "model": {"x": 1}, "input": "hi", "input": 1e999}')
    @example(body=b'{"model": "m-oai", "input": "\xff\xfe", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}')
    @example(body=dump({"model": "m-oai", "input": "hi", "max_tokens": 5, "extensions": {"a": NESTED_70}}))
    def run(fuzz_world: FuzzWorld, body: bytes) -> None:
        send(fuzz_world, endpoint, body)

    return run


test_responses_bodies = _given_endpoint("/v1/responses")
test_chat_bodies = _given_endpoint("/v1/chat/completions")
test_messages_bodies = _given_endpoint("/v1/messages")


SMOKE: dict[Endpoint, dict[str, Any]] = {
    "/v1/responses": {"model": "m-oai", "input": "Say hi"},
    "/v1/chat/completions": {"model": "m-chat", "messages": [{"role": "user", "content": "Say hi"}]},
    "/v1/messages": {"model": "m-anthropic", "max_tokens": 16, "messages": [{"role": "user", "content": "Say hi"}]},
}


def test_every_endpoint_answers_valid_requests(fuzz_world: FuzzWorld) -> None:
    """The fuzzed endpoints are served (the fuzz above would also pass on an all-404 gateway)."""
    for endpoint in ENDPOINTS:
        for stream in (False, True):
            r = send(fuzz_world, endpoint, dump({**SMOKE[endpoint], "stream": stream}))
            assert r.status_code == 200, r.text
