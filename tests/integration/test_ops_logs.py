"""Logs: one JSON line per finished request, and no secret in any line even when an upstream echoes one.

The gateway runs as ``interlock serve`` at ``log_level: debug`` (so every debug path logs too). Its providers
point at a loopback upstream that answers 401 and echoes the credentials it received in its error message, as
real providers do ("Incorrect API key provided: sk-..."). Each provider's key is recognisable: OpenAI-style,
Anthropic, Google, and one with no known shape (redacted because it is a configured key).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.support.processes import Proc, create_key, free_port, start_gateway, write_yaml
from tests.support.servers import LoopThread

# provider id -> (protocol, api key, the status the upstream answers with while echoing the key)
SECRETS = {
    "echo-openai": ("openai-chat", "sk-proj-SECRETopenai1234567890abcdef", 401),
    "echo-anthropic": ("anthropic", "sk-ant-api03-SECRETanthropic1234567890xyz", 401),
    "echo-gemini": ("gemini", "AIzaSyD-SECRETgoogle1234567890abcdefghij", 401),
    "echo-plain": ("openai-chat", "tgp_v1_SECRETplain0123456789abcdef", 401),
    # Not every provider keeps keys out of its other errors; these messages reach the gateway's error text.
    "echo-openai-400": ("openai-chat", "sk-proj-SECRETbadrequest1234567890ab", 400),
    "echo-anthropic-400": ("anthropic", "sk-ant-api03-SECRETbadrequest12345678", 400),
    "echo-gemini-400": ("gemini", "AIzaSyD-SECRETbadrequest1234567890abcde", 400),
    "echo-plain-500": ("openai-chat", "tgp_v1_SECRETservererror0123456789", 500),
}
BASE_PATHS = {"openai-chat": "v1", "anthropic": "v1", "gemini": "v1beta"}
CLIENT_KEY_GUESS = "ak_live_SECRETnotarealkey0123456789abcdefghij"


async def echo_key(request: web.Request) -> web.Response:
    """A provider that fails with the credentials it got repeated in its message, in its own envelope."""
    presented = (
        request.headers.get("x-api-key")
        or request.headers.get("x-goog-api-key")
        or request.headers.get("authorization", "")
    )
    key = presented.removeprefix("Bearer ")
    # The whole key, and the kind of partial echo providers print (which an exact-match scrub misses).
    message = f"Incorrect API key provided: {presented}. Key starts {key[:26]}****."
    status = SECRETS[request.match_info["provider"]][2]
    auth = status in (401, 403)
    if "/v1beta/" in request.path:
        gemini_status = "UNAUTHENTICATED" if auth else "INVALID_ARGUMENT" if status < 500 else "INTERNAL"
        body: dict[str, Any] = {"error": {"code": status, "message": message, "status": gemini_status}}
    elif request.path.endswith("/messages"):
        kind = "authentication_error" if auth else "invalid_request_error" if status < 500 else "api_error"
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
        if not auth:
            body["error"]["code"] = None
    return web.json_response(body, status=status)


@pytest.fixture(scope="module")
def echo_upstream() -> Iterator[str]:
    loop = LoopThread()
    app = web.Application()
    app.router.add_post("/p/{provider}/{tail:.*}", echo_key)
    runner = web.AppRunner(app)
    loop.run(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run(site.start())
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        loop.run(runner.cleanup())
        loop.stop()


def test_no_secret_reaches_the_logs(tmp_path: Path, echo_upstream: str) -> None:
    config = write_yaml(
        tmp_path / "gateway.yaml",
        {
            "database_url": f"sqlite:///{tmp_path / 'gw.db'}",
            "catalog": "none",
            "log_level": "debug",
            "log_format": "json",
            "providers": [
                {
                    "id": pid,
                    "protocol": protocol,
                    "base_url": f"{echo_upstream}/p/{pid}/{BASE_PATHS[protocol]}",
                    "api_key": secret,
                }
                for pid, (protocol, secret, _) in SECRETS.items()
            ],
            "models": [
                {
                    "id": f"m-{pid}",
                    "offerings": [{"provider": pid, "provider_model_id": "x-1", "input_price": 1, "output_price": 1}],
                }
                for pid in SECRETS
            ],
        },
    )
    key = create_key(config, tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway: Proc | None = None
    try:
        gateway = start_gateway(config, tmp_path, port)
        bodies = []
        for pid in SECRETS:
            body = {"model": f"m-{pid}", "messages": [{"role": "user", "content": "hello"}]}
            r = httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
            assert r.status_code >= 400
            bodies.append(r.text)
        # A wrong client key, in both places a client may send one.
        r = httpx.post(url + "/v1/messages", json={}, headers={"x-api-key": CLIENT_KEY_GUESS})
        assert r.status_code == 401
        r = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {CLIENT_KEY_GUESS}"})
        assert r.status_code == 401
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(30)
            gateway.kill()
    assert gateway is not None
    log = gateway.stderr()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "interlock.request"]
    assert len(requests) == len(SECRETS) + 2
    for line, (_, _, status) in zip(requests, SECRETS.values(), strict=False):
        assert line["status"] >= 400 and line["error_code"], line
        assert line["upstream_status"] == status
        assert line["key_id"].startswith("key_")
        assert line["attempts"] == 1
        assert "error" not in line  # upstream free text is logged at DEBUG only
    failures = [line["msg"] for line in lines if line["msg"].startswith(("request req_", "attempt failed"))]
    assert len(failures) >= 2 * len(SECRETS)
    # Some upstream messages carried the key through the adapters; the log filter caught them.
    assert any("[REDACTED]" in msg for msg in failures)
    everything = log + "".join(bodies)
    for _, secret, _ in SECRETS.values():
        assert secret not in everything
        assert secret[8:24] not in everything  # not even a recognisable part of it
    assert CLIENT_KEY_GUESS not in everything
    assert key not in everything
