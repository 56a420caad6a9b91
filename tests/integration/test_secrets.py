"""Secrets: provider keys and ak_ keys never reach responses, errors, logs or traces; keys are compared by hash;
the admin API does not exist without an admin key.

The run provokes the worst case: every upstream answers 401, the simulator plainly and an "echo" upstream
that repeats the key it was sent in its error message (as real providers do, partly masked or not), for all
four protocols, streaming and not, with and without ``x-interlock-explain`` (which reports every attempt's
error), and with a valid and an invalid ak_ key. Logs are captured at DEBUG through the handler chain
``interlock serve`` installs (``setup_logging``), traces through a loopback OTLP collector.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from interlock.api.server import setup_logging
from interlock.sim.config import SimConfig, SimProvider
from tests.support.servers import GatewayServer, LoopThread, SimHandle

PROBE = "PROBE123"  # every provider key contains it; no response, log line or span may
BAD_AK = "ak_live_BADPROBE456" + "x" * 24
PROTOCOLS = {"oai": "openai-responses", "chat": "openai-chat", "anthropic": "anthropic", "gemini": "gemini"}
SIM_401 = {"error_rate": 1.0, "error_status": 401}


def provider_key(name: str) -> str:
    return f"sk-secret-{PROBE}-{name}-0123456789abcdef"


class EchoUpstream:
    """Answers 401 in each protocol's envelope, quoting the credential it received (a careless provider)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    @staticmethod
    def _credential(request: web.Request) -> str:
        auth = request.headers.get("authorization", "")
        return (
            auth.removeprefix("Bearer ").strip()
            or request.headers.get("x-api-key", "")
            or request.headers.get("x-goog-api-key", "")
            or request.query.get("key", "")
        )

    async def _openai(self, request: web.Request) -> web.Response:
        key = self._credential(request)
        self.seen.append(key)
        body = {"error": {"message": f"Incorrect API key provided: {key}.", "type": "invalid_request_error",
                          "param": None, "code": "invalid_api_key"}}  # fmt: skip
        return web.json_response(body, status=401, headers={"x-echo-key": key})

    async def _anthropic(self, request: web.Request) -> web.Response:
        key = self._credential(request)
        self.seen.append(key)
        body = {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key {key}"}}
        return web.json_response(body, status=401)

    async def _gemini(self, request: web.Request) -> web.Response:
        key = self._credential(request)
        self.seen.append(key)
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "metadata": {"key": key}}
        body = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": f"API key not valid: {key}",
                          "details": [info]}}  # fmt: skip
        return web.json_response(body, status=401)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/oai/v1/responses", self._openai)
        app.router.add_post("/chat/v1/chat/completions", self._openai)
        app.router.add_post("/anthropic/v1/messages", self._anthropic)
        app.router.add_post("/gemini/v1beta/models/{target}", self._gemini)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def base_url(self, name: str) -> str:
        return f"{self.url}/{name}/" + ("v1beta" if name == "gemini" else "v1")


class Collector:
    """A loopback OTLP/HTTP endpoint keeping every export it receives (protobuf bytes)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _traces(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"


@dataclass
class Capture:
    """Everything that left the gateway during the run, as text or bytes."""

    responses: list[str] = field(default_factory=list)
    logs: io.StringIO = field(default_factory=io.StringIO)
    upstream_saw: list[str] = field(default_factory=list)  # credentials the echo upstream received


def offering(provider: str) -> dict[str, Any]:
    return {"provider": provider, "provider_model_id": f"{provider}-m", "input_price": 1, "output_price": 1,
            "capabilities": ["streaming", "tools"]}  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Capture, Collector, GatewayServer, str]]:
    tmp: Path = tmp_path_factory.mktemp("secrets")
    loop = LoopThread()
    sim = SimHandle(
        loop,
        SimConfig(providers={f"sim-{n}": SimProvider(protocol=p, behaviour=SIM_401) for n, p in PROTOCOLS.items()}),  # type: ignore[arg-type]
    )
    echo, collector = EchoUpstream(), Collector()
    loop.run(echo.start())
    loop.run(collector.start())
    providers = [
        {"id": f"sim-{n}", "protocol": p, "base_url": sim.base_url(f"sim-{n}", p), "api_key": provider_key(f"sim-{n}")}
        for n, p in PROTOCOLS.items()
    ] + [
        {"id": f"echo-{n}", "protocol": p, "base_url": echo.base_url(n), "api_key": provider_key(f"echo-{n}")}
        for n, p in PROTOCOLS.items()
    ]
    config = {
        "database_url": f"sqlite:///{tmp / 'secrets.db'}",
        "catalog": "none",
        "providers": providers,
        "models": [
            {"id": "via-sim", "offerings": [offering(f"sim-{n}") for n in PROTOCOLS]},
            {"id": "via-echo", "offerings": [offering(f"echo-{n}") for n in PROTOCOLS]},
        ]
        + [{"id": f"echo-{n}-only", "offerings": [offering(f"echo-{n}")]} for n in PROTOCOLS],
        "log_level": "debug",
        "telemetry": {"otlp_endpoint": collector.url, "trace_sample_ratio": 1.0},
    }
    capture = Capture(upstream_saw=echo.seen)
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    gateway = GatewayServer(loop, config, tmp)
    setup_logging(gateway.settings)  # what `interlock serve` installs: formatter + redaction on every root handler
    for handler in root.handlers:
        if handler.get_name() == "interlock" and isinstance(handler, logging.StreamHandler):
            handler.setStream(capture.logs)
    gateway.start()
    key = gateway.create_key(name="secrets")
    try:
        yield capture, collector, gateway, key
    finally:
        if gateway.server.started:
            gateway.stop()
        for handler in list(root.handlers):
            if handler not in saved[1]:
                root.removeHandler(handler)
        root.setLevel(saved[0])
        loop.run(echo.runner.cleanup())  # type: ignore[union-attr]
        loop.run(collector.runner.cleanup())  # type: ignore[union-attr]
        sim.stop()
        loop.stop()


def requests_to_send(key: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    auth = {"authorization": f"Bearer {key}"}
    out: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    models = ["via-sim", "via-echo", *[f"echo-{n}-only" for n in PROTOCOLS]]
    for model in models:
        for stream in (False, True):
            for explain in ({}, {"x-interlock-explain": "true"}):
                headers = {**auth, **explain}
                out.append(("/v1/responses", {"model": model, "input": "hi", "stream": stream}, headers))
                messages = [{"role": "user", "content": "hi"}]
                out.append(("/v1/chat/completions", {"model": model, "stream": stream, "messages": messages}, headers))
                out.append(
                    ("/v1/messages", {"model": model, "max_tokens": 8, "stream": stream, "messages": messages}, headers)
                )
    bad = {"authorization": f"Bearer {BAD_AK}"}
    out.append(("/v1/responses", {"model": "via-echo", "input": "hi"}, bad))
    out.append(("/v1/messages", {"model": "via-echo", "max_tokens": 8, "messages": []}, {"x-api-key": BAD_AK}))
    out.append(("/v1/chat/completions", {"model": "via-echo", "messages": []}, {"authorization": "Basic " + BAD_AK}))
    return out


def test_no_secret_leaves_the_gateway(run: tuple[Capture, Collector, GatewayServer, str]) -> None:
    capture, collector, gateway, key = run
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        for path, body, headers in requests_to_send(key):
            r = client.post(path, json=body, headers=headers)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            capture.responses.append(f"{r.status_code} {dict(r.headers)} {r.text}")
    gateway.stop()  # flushes the trace exporter and the logs
    secrets = [PROBE, key.removeprefix("ak_live_"), BAD_AK.removeprefix("ak_live_")]
    assert len(capture.responses) > 60 and statuses.get(200, 0) == 0, statuses  # every answer is an error
    assert any("401" in text or "upstream" in text for text in capture.responses)
    logs = capture.logs.getvalue()
    assert logs, "no log output was captured"
    # The secrets really were in play: the upstream got them and quoted them back; what left was scrubbed.
    assert capture.upstream_saw and all(PROBE in k for k in capture.upstream_saw)
    assert any("[REDACTED]" in t for t in capture.responses) or "[REDACTED]" in logs
    traces = b"".join(collector.bodies)
    assert collector.bodies, "no trace was exported"
    for secret in secrets:
        leaked = [t[:300] for t in capture.responses if secret in t]
        assert not leaked, f"{secret!r} in responses: {leaked[:3]}"
        assert secret not in logs, f"{secret!r} in logs: {logs[max(0, logs.find(secret) - 300) :][:600]}"
        assert secret.encode() not in traces, f"{secret!r} in an exported span"


def test_keys_are_looked_up_by_their_sha256(run: tuple[Capture, Collector, GatewayServer, str], tmp_path: Path) -> None:
    """No timed test: the stored and compared value is the SHA-256 of the key, never the key."""
    import sqlite3

    from interlock.store import keys as keystore

    _, _, gateway, key = run
    assert keystore.hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    db = gateway.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        dump = "\n".join(str(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    assert hashlib.sha256(key.encode()).hexdigest() in dump
    assert key not in dump and key.removeprefix("ak_live_") not in dump

    # The lookup path hashes first and compares digests (constant time), for the store and for its cache.
    import inspect

    from interlock.store import keycache

    store_src = inspect.getsource(keystore.KeyStore.authenticate) + inspect.getsource(
        keystore.KeyStore.authenticate_hash
    )
    assert "hash_key(raw_key)" in store_src and "hmac.compare_digest" in store_src
    assert "hash_key(raw_key)" in inspect.getsource(keycache.CachedKeyAuthenticator.authenticate)


def test_admin_api_is_absent_without_an_admin_key(
    run: tuple[Capture, Collector, GatewayServer, str], tmp_path: Path
) -> None:
    _, _, gateway, _ = run
    assert gateway.settings.admin_key is None
    loop = LoopThread()
    server = GatewayServer(loop, {"database_url": f"sqlite:///{tmp_path / 'a.db'}", "catalog": "sim"}, tmp_path)
    server.start()
    try:
        for path in ("/admin/v1/keys", "/admin/v1/usage", "/admin/v1/budgets", "/admin/v1/workspaces"):
            for auth in ({}, {"authorization": "Bearer anything"}):
                r = httpx.get(server.base_url + path, headers=auth)
                assert r.status_code == 404, (path, r.status_code, r.text)
                assert r.json()["error"]["code"] == "resource_not_found"
        r = httpx.post(server.base_url + "/admin/v1/keys", json={"name": "x"})
        assert r.status_code == 404
    finally:
        server.stop()
        loop.stop()
