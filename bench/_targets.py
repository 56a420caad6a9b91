"""The targets under test, how to start each one, and the routes (client format + path + model) it serves.

A *server* is one process to start (direct upstream, bare proxy, Interlock, LiteLLM, Portkey); a *route* is one
way to call it, e.g. Interlock's Responses -> Anthropic. Every target points at the same upstream. `running()`
starts a server pinned to the target core, waits until it answers, probes each route once (JSON and SSE) and
yields only the routes that work; a target or route that cannot start or fails its probe is recorded as skipped
with the reason, and the lanes go on without it.

Route keys: `direct/responses`, `direct/chat`, `bare/...`, `interlock/responses`, `interlock/chat`,
`interlock/anthropic`, `interlock/gemini`, `litellm/chat`, `litellm/responses`, `portkey/chat`,
`portkey/responses`, and on the simulator `sim-direct/responses`, `sim-interlock/responses`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from bench import _peers
from bench._context import Ctx, repo_root
from bench._procs import Proc, free_port, wait_http
from bench.aioload import TOKEN_PATTERNS, LoadSpec

__all__ = ["Fmt", "Route", "Server", "retrying", "running", "start_interlock"]

Fmt = Literal["responses", "chat"]
PROMPT = "Say hello to the benchmark."
_API_KEY = "sk-bench-upstream"
LITELLM_MASTER_KEY = "sk-bench-litellm-master"


@dataclass(frozen=True)
class Route:
    """One way to call a target: client format, path, model and headers, plus the paced-stream variant."""

    key: str
    target: str
    label: str
    fmt: Fmt
    upstream: str
    path: str
    model: str
    headers: Mapping[str, str] = field(default_factory=dict)
    paced_path: str = ""
    paced_model: str = ""
    paced_headers: Mapping[str, str] | None = None

    def body(self, stream: bool, *, paced: bool = False, extra: Mapping[str, Any] | None = None) -> str:
        model = self.paced_model or self.model if paced else self.model
        payload: dict[str, Any]
        if self.fmt == "responses":
            payload = {"model": model, "input": PROMPT, "stream": stream}
        else:
            payload = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
        if extra:
            payload.update(extra)
        return json.dumps(payload, separators=(",", ":"))

    def spec(self, port: int, *, stream: bool, paced: bool = False, **options: Any) -> LoadSpec:
        """A load spec for this route on `port`; `options` are further `LoadSpec` fields."""
        path = self.paced_path or self.path if paced else self.path
        headers = self.paced_headers if paced and self.paced_headers is not None else self.headers
        return LoadSpec(
            host="127.0.0.1",
            port=port,
            path=path,
            body=self.body(stream, paced=paced),
            headers={"Content-Type": "application/json", **headers},
            **options,
        )


@dataclass
class Server:
    """A started target: its process (None for the shared upstreams), port and working routes."""

    name: str
    port: int
    proc: Proc | None
    routes: dict[str, Route]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


# -- route tables --------------------------------------------------------------------------------------------


def _direct_routes(target: str, label: str, provider: str) -> list[Route]:
    return [
        Route(
            f"{target}/responses",
            target,
            f"{label} (Responses)",
            "responses",
            "responses",
            f"/p/{provider}/v1/responses",
            "bench-model",
            {"Authorization": f"Bearer {_API_KEY}"},
            paced_path=f"/p/paced-{provider}/v1/responses",
        ),
        Route(
            f"{target}/chat",
            target,
            f"{label} (Chat)",
            "chat",
            "chat",
            f"/p/{provider}/v1/chat/completions",
            "bench-model",
            {"Authorization": f"Bearer {_API_KEY}"},
            paced_path=f"/p/paced-{provider}/v1/chat/completions",
        ),
    ]


def _interlock_routes(key: str, target: str = "interlock") -> list[Route]:
    auth = {"Authorization": f"Bearer {key}"}
    return [
        Route(
            f"{target}/responses",
            target,
            "Interlock Responses -> Responses",
            "responses",
            "responses",
            "/v1/responses",
            "bench-resp",
            auth,
            paced_model="bench-resp-paced",
        ),
        Route(
            f"{target}/chat",
            target,
            "Interlock Chat -> Chat",
            "chat",
            "chat",
            "/v1/chat/completions",
            "bench-chat",
            auth,
            paced_model="bench-chat-paced",
        ),
        Route(
            f"{target}/anthropic",
            target,
            "Interlock Responses -> Anthropic",
            "responses",
            "anthropic",
            "/v1/responses",
            "bench-anth",
            auth,
        ),
        Route(
            f"{target}/gemini",
            target,
            "Interlock Responses -> Gemini",
            "responses",
            "gemini",
            "/v1/responses",
            "bench-gem",
            auth,
        ),
    ]


def _litellm_routes() -> list[Route]:
    auth = {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}
    return [
        Route(
            "litellm/chat",
            "litellm",
            "LiteLLM Chat -> Chat",
            "chat",
            "chat",
            "/v1/chat/completions",
            "bench-chat",
            auth,
            paced_model="bench-chat-paced",
        ),
        Route(
            "litellm/responses",
            "litellm",
            "LiteLLM Responses -> Responses",
            "responses",
            "responses",
            "/v1/responses",
            "bench-resp",
            auth,
            paced_model="bench-resp-paced",
        ),
    ]


def _portkey_routes(upstream: str) -> list[Route]:
    def headers(provider: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {_API_KEY}",
            "x-portkey-provider": "openai",
            "x-portkey-custom-host": f"{upstream}/p/{provider}/v1",
        }

    return [
        Route(
            "portkey/chat",
            "portkey",
            "Portkey Chat -> Chat",
            "chat",
            "chat",
            "/v1/chat/completions",
            "bench-model",
            headers("portkey"),
            paced_headers=headers("paced-portkey"),
        ),
        Route(
            "portkey/responses",
            "portkey",
            "Portkey Responses -> Responses",
            "responses",
            "responses",
            "/v1/responses",
            "bench-model",
            headers("portkey"),
            paced_headers=headers("paced-portkey"),
        ),
    ]


# -- probing -------------------------------------------------------------------------------------------------


def _post(url: str, body: str, headers: Mapping[str, str], timeout: float) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


def probe(port: int, route: Route, *, paced: bool = False, timeout: float = 30.0) -> str | None:
    """None when `route` answers a JSON and an SSE request correctly, else why not."""
    spec_json = route.spec(port, stream=False, paced=paced)
    spec_sse = route.spec(port, stream=True, paced=paced)
    base = f"http://127.0.0.1:{port}"
    try:
        status, _, data = _post(base + spec_json.path, spec_json.body, spec_json.headers, timeout)
        if status != 200:
            return f"JSON request answered HTTP {status}: {data[:200]!r}"
        json.loads(data)
        status, ctype, data = _post(base + spec_sse.path, spec_sse.body, spec_sse.headers, timeout)
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if status != 200:
        return f"SSE request answered HTTP {status}: {data[:200]!r}"
    if "text/event-stream" not in ctype:
        return f"SSE request answered content-type {ctype!r}"
    tokens = len(TOKEN_PATTERNS[route.fmt].findall(data.replace(b"\r\n", b"\n")))
    if tokens == 0:
        return f"SSE stream carried no text tokens: {data[:200]!r}"
    return None


def _probe_all(ctx: Ctx, server: Server, routes: list[Route], wanted: set[str] | None, retry_s: float) -> None:
    for route in routes:
        if wanted is not None and route.key not in wanted:
            continue
        deadline = time.monotonic() + retry_s
        while True:
            reason = probe(server.port, route)
            if reason is None or time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        if reason is None:
            server.routes[route.key] = route
        else:
            ctx.skip(route.key, reason)


# -- starters ------------------------------------------------------------------------------------------------


# Config overrides for `interlock:<variant>` targets (the switches lane: hot-path cost of each subsystem).
_TELEMETRY_ON = {"metrics": True, "request_logs": True}
_TELEMETRY_OFF = {"metrics": False, "request_logs": False}
INTERLOCK_VARIANTS: dict[str, dict[str, Any]] = {
    "all-on": {"log_level": "info", "telemetry": _TELEMETRY_ON},
    "accounting-off": {"log_level": "info", "telemetry": _TELEMETRY_ON, "accounting": {"enabled": False}},
    "telemetry-off": {"telemetry": _TELEMETRY_OFF},
    "both-off": {"telemetry": _TELEMETRY_OFF, "accounting": {"enabled": False}},
}


def _interlock_config(ctx: Ctx, upstream: str, tag: str) -> dict[str, Any]:
    providers = []
    models = []
    specs = [
        ("resp", "openai-responses", "v1"),
        ("chat", "openai-chat", "v1"),
        ("anth", "anthropic", "v1"),
        ("gem", "gemini", "v1beta"),
    ]
    caps = ["streaming", "tools", "json_object", "json_schema"]
    for short, protocol, version in specs:
        for paced in (False, True):
            provider = f"{'paced-' if paced else ''}il-{short}"
            providers.append(
                {
                    "id": provider,
                    "protocol": protocol,
                    "base_url": f"{upstream}/p/{provider}/{version}",
                    "api_key": _API_KEY,
                    "data_policy": "zdr",
                }
            )
            model = f"bench-{short}{'-paced' if paced else ''}"
            models.append(
                {
                    "id": model,
                    "offerings": [
                        {
                            "provider": provider,
                            "provider_model_id": "bench-model",
                            "input_price": 1.0,
                            "output_price": 2.0,
                            "capabilities": caps,
                        }
                    ],
                }
            )
    return {
        "catalog": "none",
        "database_url": f"sqlite:///{ctx.work / f'{tag}.db'}",
        "log_level": "warning",
        "providers": providers,
        "models": models,
    }


def create_key(ctx: Ctx, config_path: str) -> str:
    """An Interlock API key from `interlock keys create` (the key is the last stdout line)."""
    result = subprocess.run(
        [sys.executable, "-m", "interlock", "keys", "create", "--name", "bench", "--config", config_path],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=repo_root(),
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"interlock keys create failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    return lines[-1].strip()


def start_interlock(ctx: Ctx, tag: str, config: dict[str, Any]) -> tuple[Proc, str]:
    """Write `config`, create a key and start `interlock serve` on the target core; returns (proc, key)."""
    path = ctx.work / f"{tag}.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    key = create_key(ctx, str(path))
    port = free_port()
    argv = [sys.executable, "-m", "interlock", "serve", "--config", str(path), "--port", str(port), "--workers", "1"]
    proc = ctx.procs.start(tag, argv, core=ctx.cpu.target, cwd=repo_root(), port=port)
    _await_ready(ctx, proc, "/healthz", ctx.profile.startup_timeout)
    return proc, key


def _await_ready(ctx: Ctx, proc: Proc, path: str, timeout: float) -> None:
    """Wait until `proc` answers `path`; stop it (and re-raise) when it does not."""
    try:
        wait_http(proc, path, timeout)
    except RuntimeError:
        ctx.procs.stop(proc)
        raise


_QUIET_UVICORN = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"level": "WARNING"},
        "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}


def _start_litellm(ctx: Ctx, upstream: str) -> Proc:
    exe = _peers.ensure_litellm(ctx)
    entries = []
    for name, provider in (
        ("bench-chat", "litellm"),
        ("bench-chat-paced", "paced-litellm"),
        ("bench-resp", "litellm"),
        ("bench-resp-paced", "paced-litellm"),
    ):
        entries.append(
            {
                "model_name": name,
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": f"{upstream}/p/{provider}/v1",
                    "api_key": _API_KEY,
                },
            }
        )
    config = {
        "model_list": entries,
        "general_settings": {"master_key": LITELLM_MASTER_KEY, "disable_spend_logs": True},
        "litellm_settings": {"telemetry": False, "drop_params": True, "set_verbose": False, "request_timeout": 600},
    }
    path = ctx.work / "litellm.yaml"
    path.write_text(json.dumps(config, indent=1))
    port = free_port()
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DISABLE_ADMIN_UI": "True",
        "NO_DOCS": "True",
    }
    # Like Interlock (access_log off), LiteLLM gets no per-request access log line: uvicorn.access at WARNING.
    log_config = ctx.work / "litellm-logging.json"
    log_config.write_text(json.dumps(_QUIET_UVICORN))
    argv = [
        str(exe),
        "--config",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
        "--log_config",
        str(log_config),
    ]
    proc = ctx.procs.start("litellm", argv, core=ctx.cpu.target, env=env, port=port)
    _await_ready(ctx, proc, "/health/liveliness", max(ctx.profile.startup_timeout, 180))
    return proc


def _start_portkey(ctx: Ctx) -> Proc:
    entry = _peers.ensure_portkey(ctx)
    port = free_port()
    argv = ["node", str(entry), f"--port={port}", "--headless"]
    env = {"NODE_ENV": "production"}
    proc = ctx.procs.start("portkey", argv, core=ctx.cpu.target, env=env, cwd=entry.parent, port=port)
    _await_ready(ctx, proc, "/", ctx.profile.startup_timeout)
    return proc


@contextlib.contextmanager
def running(ctx: Ctx, target: str, wanted: set[str] | None = None) -> Iterator[Server | None]:
    """Start `target` (fresh process), probe its routes, yield it (None if it could not start), then stop it.

    Targets: direct, bare, interlock, litellm, portkey (mock upstream); sim-direct, sim-interlock (simulator).
    `wanted` limits the routes probed (keys); None probes all.
    """
    proc: Proc | None = None
    try:
        try:
            server = _start_retrying(ctx, target)
            proc = server.proc
        except (RuntimeError, OSError, subprocess.SubprocessError, _peers.PeerUnavailable) as exc:
            ctx.skip(target, str(exc))
            yield None
            return
        pending = [r for r in _routes_of(ctx, target, server) if wanted is None or r.key in wanted]
        retry = ctx.profile.startup_timeout if target.endswith("interlock") else 5.0
        _probe_all(ctx, server, pending[:1], wanted, retry)
        _probe_all(ctx, server, pending[1:], wanted, 3.0)
        yield server
    finally:
        if proc is not None:
            ctx.procs.stop(proc)


_KEYS: dict[str, str] = {}


_T = TypeVar("_T")


def retrying(ctx: Ctx, what: str, start: Callable[[], _T], patience: float) -> _T:
    """`start()`, retried every 5 s for up to `patience` seconds (Interlock's code may be mid-edit while we run)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            if time.monotonic() >= deadline:
                raise
            ctx.log(f"{what} did not start ({str(exc).splitlines()[0][:120]}); retrying")
            time.sleep(5.0)


def _start_retrying(ctx: Ctx, target: str) -> Server:
    patience = ctx.profile.startup_timeout if target.endswith("interlock") else 0.0
    return retrying(ctx, target, lambda: _start(ctx, target), patience)


def _start(ctx: Ctx, target: str) -> Server:
    if target == "direct":
        return Server(target, int(ctx.mock_url().rsplit(":", 1)[1]), None, {})
    if target == "sim-direct":
        return Server(target, int(ctx.sim_url().rsplit(":", 1)[1]), None, {})
    if target == "bare":
        port = free_port()
        argv = [sys.executable, "-m", "bench.bare_proxy", "--upstream", ctx.mock_url(), "--port", str(port)]
        proc = ctx.procs.start("bare-proxy", argv, core=ctx.cpu.target, cwd=repo_root(), port=port)
        _await_ready(ctx, proc, "/healthz", 30)
        return Server(target, port, proc, {})
    if target in ("interlock", "sim-interlock") or target.startswith("interlock:"):
        upstream = ctx.mock_url() if target != "sim-interlock" else ctx.sim_url()
        tag = target.replace(":", "-")
        config = {**_interlock_config(ctx, upstream, tag), **INTERLOCK_VARIANTS.get(target.partition(":")[2], {})}
        proc, key = start_interlock(ctx, tag, config)
        _KEYS[target] = key
        return Server(target, proc.port or 0, proc, {})
    if target == "litellm":
        ctx.peer_info["litellm"] = {"package": _peers.LITELLM_SPEC}
        proc = _start_litellm(ctx, ctx.mock_url())
        return Server(target, proc.port or 0, proc, {})
    if target == "portkey":
        ctx.peer_info["portkey"] = {
            "package": f"@portkey-ai/gateway@{_peers.PORTKEY_VERSION}",
            "@hono/node-server": _peers.HONO_NODE_SERVER_VERSION,
        }
        proc = _start_portkey(ctx)
        return Server(target, proc.port or 0, proc, {})
    raise ValueError(f"unknown target {target!r}")


def _routes_of(ctx: Ctx, target: str, server: Server) -> list[Route]:
    fmts = set(ctx.profile.fmts)
    routes: list[Route]
    if target == "direct":
        routes = _direct_routes("direct", "Direct upstream", "direct")
    elif target == "bare":
        routes = _direct_routes("bare", "Bare proxy", "bare")
    elif target == "sim-direct":
        routes = [replace(r, label="Direct simulator") for r in _direct_routes("sim-direct", "Simulator", "sim-direct")]
    elif target in ("interlock", "sim-interlock") or target.startswith("interlock:"):
        routes = _interlock_routes(_KEYS[target], target)
        if target == "sim-interlock":
            routes = [replace(r, label=r.label.replace("Interlock", "Interlock on simulator")) for r in routes]
    elif target == "litellm":
        routes = _litellm_routes()
    else:
        routes = _portkey_routes(ctx.mock_url())
    # Client formats outside the profile (smoke: Responses only) are not probed; translation routes always are.
    return [r for r in routes if r.fmt in fmts or r.upstream in ("anthropic", "gemini")]
