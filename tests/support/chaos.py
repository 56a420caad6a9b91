"""Chaos soak driver: a faulty upstream world, a fault schedule, a mixed client load, and what it all left behind.

Reusable by the CI test (``tests/integration/test_chaos.py``) and by a bench lane. Everything speaks HTTP, so
the driver works the same against an in-process gateway and against ``interlock serve`` processes:

- :func:`chaos_sim_config` is the simulator (``interlock sim --config`` accepts it as YAML): cheap providers
  with always-on faults (30% 5xx, 10% held requests that only the gateway's timeout ends, low-rate mid-stream
  drops, mid-stream error events and malformed frames) and one healthy provider per protocol.
- :class:`WrongTypeUpstream` is an OpenAI-compatible upstream that answers 200 with the wrong content type
  (HTML to a stream request, plain text to a JSON one).
- :func:`chaos_gateway_config` is the gateway config: every model has faulty offerings first (cheapest) and a
  healthy one last (dearest), so traffic meets the faults and fallbacks have somewhere to go.
- :func:`default_schedule` adds timed faults through the simulator's control API: a TTFT spike longer than the
  request timeout, one provider down for a window (``outages``), and a malformed-JSON burst.
- :func:`run_soak` sends the load and returns a :class:`SoakReport`.

Classification. A request *succeeds* when it gets 200 and a complete answer (a stream ends with its success
terminal event). A *failure before the first byte* (an HTTP error status) is one the gateway should have masked
by falling back: these count against the success rate. A *mid-stream failure* (200, then the stream ends with
the protocol's error event) comes from a fault after content reached the client, which no gateway can mask
without duplicating output; it must still be documented and terminated, and is reported separately
(``maskable_success_rate`` leaves it out). Anything undocumented, a stream without its terminal event, or a
client-side transport error is a *violation*.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

Endpoint = Literal["responses", "chat", "messages"]
PATHS: dict[Endpoint, str] = {
    "responses": "/v1/responses",
    "chat": "/v1/chat/completions",
    "messages": "/v1/messages",
}

# Faulty providers (id -> protocol, behaviour) and the healthy ones.
FAULTY: dict[str, tuple[str, dict[str, Any]]] = {
    "chaos-oai": ("openai-responses", {"error_rate": 0.3, "error_status": 500, "timeout_rate": 0.1,
                                       "midstream_drop_rate": 0.003}),
    "chaos-chat": ("openai-chat", {"error_rate": 0.3, "error_status": 503, "retry_after_s": 1, "timeout_rate": 0.1,
                                   "malformed_rate": 0.003}),
    "chaos-anthropic": ("anthropic", {"error_rate": 0.3, "error_status": 529, "timeout_rate": 0.1,
                                      "midstream_error_rate": 0.003}),
    "chaos-gemini": ("gemini", {"error_rate": 0.3, "error_status": 502, "timeout_rate": 0.1}),
}  # fmt: skip
HEALTHY: dict[str, str] = {"healthy-chat": "openai-chat", "healthy-anthropic": "anthropic"}
WRONG_TYPE = "chaos-wrongtype"
MODELS = ("chaos-a", "chaos-b")


def chaos_sim_config(seed: int = 11) -> dict[str, Any]:
    """The simulator config (a mapping; ``SimConfig`` or YAML). Request recording is off: the soak is long."""
    providers: dict[str, Any] = {pid: {"protocol": proto, "behaviour": dict(b)} for pid, (proto, b) in FAULTY.items()}
    providers.update({pid: {"protocol": proto} for pid, proto in HEALTHY.items()})
    return {"seed": seed, "record_requests": False, "providers": providers}


def _offering(provider: str, price: float) -> dict[str, Any]:
    return {
        "provider": provider,
        "provider_model_id": f"{provider}-model",
        "input_price": price,
        "output_price": price,
        "context_window": 128000,
        "max_output_tokens": 4096,
        "capabilities": ["tools", "streaming", "json_object"],
    }


def chaos_gateway_config(
    sim_base_urls: dict[str, str], wrong_type_url: str, database_url: str, *, timeout_ms: int = 300
) -> dict[str, Any]:
    """The gateway config. ``sim_base_urls`` maps every simulated provider id to its base URL."""
    protocols = {pid: proto for pid, (proto, _) in FAULTY.items()} | HEALTHY
    providers = [
        {"id": pid, "protocol": protocols[pid], "base_url": url, "api_key": f"sk-chaos-{pid}"}
        for pid, url in sim_base_urls.items()
    ]
    providers.append({"id": WRONG_TYPE, "protocol": "openai-chat", "base_url": wrong_type_url, "api_key": "sk-x"})
    faulty = [*FAULTY, WRONG_TYPE]
    models = [
        {
            "id": model,
            "offerings": [_offering(pid, 0.1 + 0.01 * ((i + m) % len(faulty))) for i, pid in enumerate(faulty)]
            + [_offering(pid, 5.0 + i) for i, pid in enumerate(HEALTHY)],
        }
        for m, model in enumerate(MODELS)
    ]
    return {
        "database_url": database_url,
        "catalog": "none",
        "providers": providers,
        "models": models,
        "default_timeout_ms": timeout_ms,
    }


class WrongTypeUpstream:
    """An OpenAI-compatible upstream answering 200 with the wrong content type; start/stop on a running loop."""

    def __init__(self) -> None:
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.json()
        if body.get("stream"):
            return web.Response(text="<html><body>Maintenance</body></html>", content_type="text/html")
        return web.Response(text="upstream says hi", content_type="text/plain")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return f"http://127.0.0.1:{self.port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


# --- the fault schedule -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaultStep:
    """At ``at`` (fraction of the requests sent), PUT ``patch`` on simulated ``provider`` (control API)."""

    at: float
    provider: str
    patch: dict[str, Any]
    label: str = ""


def default_schedule(timeout_ms: int, sim_elapsed: Callable[[], float], soak_seconds: float) -> list[FaultStep]:
    """TTFT spike, one provider down for a window, a malformed-JSON burst; all reverted before the end.

    ``sim_elapsed`` gives seconds since the simulator started (its ``outages`` are relative to that);
    ``soak_seconds`` is a rough expected duration, to size the outage window.
    """
    spike = {"ttft_ms": timeout_ms * 2}
    start = sim_elapsed()
    window = [[start + 0.2 * soak_seconds, start + 0.45 * soak_seconds]]
    return [
        FaultStep(0.10, "chaos-oai", spike, "ttft spike on chaos-oai"),
        FaultStep(0.30, "chaos-oai", {"ttft_ms": None}, "ttft back to normal"),
        FaultStep(0.05, "chaos-gemini", {"outages": window}, "chaos-gemini down for a window"),
        FaultStep(0.50, "chaos-chat", {"malformed_rate": 0.5}, "malformed-JSON burst on chaos-chat"),
        FaultStep(0.60, "chaos-chat", {"malformed_rate": FAULTY["chaos-chat"][1]["malformed_rate"]}, "burst over"),
    ]


# --- the load --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    endpoint: Endpoint
    stream: bool
    kind: Literal["ok", "failed", "midstream", "violation"]
    detail: str = ""


@dataclass
class SoakReport:
    """What a soak did and found. ``failures`` counts by ``<stage>:<code>``; violations list what broke a rule."""

    sent: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    midstream: int = 0
    violations: list[str] = field(default_factory=list)
    by_endpoint: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    steps: list[str] = field(default_factory=list)

    @property
    def failed_before_first_byte(self) -> int:
        return sum(n for key, n in self.failures.items() if key.startswith("http"))

    @property
    def success_rate(self) -> float:
        return self.ok / self.sent if self.sent else 0.0

    @property
    def maskable_success_rate(self) -> float:
        """Successes among requests not hit by an unmaskable mid-stream fault."""
        base = self.sent - self.midstream
        return self.ok / base if base else 0.0

    def summary(self) -> str:
        return (
            f"sent={self.sent} ok={self.ok} success={self.success_rate:.4%} "
            f"maskable_success={self.maskable_success_rate:.4%} midstream={self.midstream} "
            f"failures={dict(sorted(self.failures.items()))} violations={len(self.violations)} "
            f"seconds={self.seconds:.1f} rps={self.sent / self.seconds if self.seconds else 0:.0f} "
            f"mix={dict(sorted(self.by_endpoint.items()))}"
        )


OPENAI_TYPES = frozenset(
    {"invalid_request_error", "authentication_error", "permission_error", "not_found_error", "rate_limit_error",
     "api_error"}
)  # fmt: skip
TERMINAL_OK = {"responses": ("response.completed", "response.incomplete"), "messages": ("message_stop",)}


def _body(endpoint: Endpoint, model: str, stream: bool, rng: random.Random, timeout_ms: int) -> dict[str, Any]:
    gateway = {"routing": {"timeout_ms": timeout_ms, "max_fallback_attempts": 8}}
    prompt = f"chaos {rng.randrange(10**6)}"
    if endpoint == "responses":
        return {"model": model, "input": prompt, "stream": stream, "max_output_tokens": 32, "gateway": gateway}
    if endpoint == "chat":
        return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream,
                "max_tokens": 32, "gateway": gateway}  # fmt: skip
    return {"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": prompt}], "stream": stream,
            "gateway": gateway}  # fmt: skip


def _error_of(endpoint: Endpoint, payload: Any) -> str | None:
    """The documented error code (or Anthropic type) in ``payload``, or None if it is not a documented error."""
    if not isinstance(payload, dict):
        return None
    if endpoint == "messages":
        err = payload.get("error")
        ok = payload.get("type") == "error" and isinstance(err, dict) and isinstance(err.get("message"), str)
        return str(err["type"]) if ok and isinstance(err, dict) else None
    if endpoint == "responses" and payload.get("type") == "error":  # the flat in-stream error event
        return str(payload["code"]) if isinstance(payload.get("code"), str) and payload.get("message") else None
    err = payload.get("error")
    if not isinstance(err, dict) or err.get("type") not in OPENAI_TYPES or not isinstance(err.get("message"), str):
        return None
    return str(err.get("code"))


def _classify_stream(endpoint: Endpoint, text: str) -> Outcome:
    data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    if not data:
        return Outcome(endpoint, True, "violation", "stream with no events")
    last = data[-1]
    if endpoint == "chat":
        errors = [d for d in data if d.startswith('{"error"')]
        if last != "[DONE]":
            return Outcome(endpoint, True, "violation", f"chat stream ended without [DONE]: {last[:120]}")
        if errors:
            code = _error_of("chat", json.loads(errors[-1]))
            return Outcome(endpoint, True, "midstream" if code else "violation", f"stream:{code or errors[-1][:120]}")
        return Outcome(endpoint, True, "ok")
    event = json.loads(last)
    if event.get("type") in TERMINAL_OK[endpoint]:
        return Outcome(endpoint, True, "ok")
    if endpoint == "responses" and event.get("type") == "response.failed":
        error = next((json.loads(d) for d in reversed(data) if '"type":"error"' in d), None)
        code = _error_of("responses", error)
        return Outcome(endpoint, True, "midstream" if code else "violation", f"stream:{code or 'no error event'}")
    if endpoint == "messages" and event.get("type") == "error":
        code = _error_of("messages", event)
        return Outcome(endpoint, True, "midstream" if code else "violation", f"stream:{code or last[:120]}")
    return Outcome(endpoint, True, "violation", f"stream ended without a terminal event: {last[:120]}")


async def _one(
    client: aiohttp.ClientSession, base_url: str, key: str, endpoint: Endpoint, model: str, stream: bool,
    rng: random.Random, timeout_ms: int,
) -> Outcome:  # fmt: skip
    headers = {"authorization": f"Bearer {key}"}
    body = _body(endpoint, model, stream, rng, timeout_ms)
    started = time.monotonic()
    try:
        async with client.post(base_url + PATHS[endpoint], json=body, headers=headers) as r:
            status, ctype, raw = r.status, r.headers.get("content-type", ""), await r.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        elapsed = time.monotonic() - started
        return Outcome(endpoint, stream, "violation", f"client {type(exc).__name__} after {elapsed:.2f} s: {exc!r}")
    text = raw.decode("utf-8", "replace")
    if status != 200:
        try:
            code = _error_of(endpoint, json.loads(raw))
        except ValueError:
            code = None
        if code is None or not ctype.startswith("application/json"):
            return Outcome(endpoint, stream, "violation", f"undocumented {status}: {text[:200]}")
        return Outcome(endpoint, stream, "failed", f"http{status}:{code}")
    if stream:
        if not ctype.startswith("text/event-stream"):
            return Outcome(endpoint, stream, "violation", f"stream answered as {ctype}")
        return _classify_stream(endpoint, text)
    try:
        payload = json.loads(raw)
    except ValueError:
        return Outcome(endpoint, stream, "violation", f"200 with a non-JSON body: {text[:200]}")
    complete = {
        "responses": payload.get("status") in ("completed", "incomplete"),
        "chat": bool(payload.get("choices")),
        "messages": payload.get("type") == "message",
    }[endpoint]
    return Outcome(endpoint, stream, "ok" if complete else "violation", "" if complete else text[:200])


async def run_soak(
    base_url: str,
    key: str,
    *,
    requests: int,
    concurrency: int = 32,
    sim_control_url: str | None = None,
    schedule: Sequence[FaultStep] = (),
    mix: Sequence[tuple[Endpoint, bool]] = (
        ("responses", False), ("responses", True), ("chat", False), ("chat", True), ("messages", False),
        ("messages", True),
    ),
    models: Sequence[str] = MODELS,
    timeout_ms: int = 300,
    seed: int = 1,
    request_timeout_s: float = 60.0,
) -> SoakReport:  # fmt: skip
    """Send ``requests`` requests (a round-robin ``mix`` of endpoint x streaming) with ``concurrency`` workers,
    applying ``schedule`` steps to the simulator as the count passes each step's fraction."""
    report = SoakReport()
    rng = random.Random(seed)
    pending = sorted(schedule, key=lambda s: s.at)
    lock = asyncio.Lock()
    counter = 0
    started = time.monotonic()
    # aiohttp rather than httpx: the load generator should cost the machine as little as possible.
    connector = aiohttp.TCPConnector(limit=concurrency + 1)
    timeout = aiohttp.ClientTimeout(total=request_timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def apply_due(sent: int) -> None:
            while pending and pending[0].at * requests <= sent:
                step = pending.pop(0)
                url = f"{sim_control_url}/_sim/providers/{step.provider}"
                async with client.put(url, json=step.patch) as r:
                    r.raise_for_status()
                report.steps.append(f"{sent}: {step.label or step.patch}")

        async def worker() -> None:
            nonlocal counter
            while True:
                async with lock:
                    if counter >= requests:
                        return
                    index = counter
                    counter += 1
                    if sim_control_url is not None:
                        await apply_due(index)
                endpoint, stream = mix[index % len(mix)]
                model = models[(index // len(mix)) % len(models)]
                outcome = await _one(client, base_url, key, endpoint, model, stream, rng, timeout_ms)
                report.sent += 1
                report.by_endpoint[f"{endpoint}{'-stream' if stream else ''}"] += 1
                if outcome.kind == "ok":
                    report.ok += 1
                elif outcome.kind == "failed":
                    report.failures[outcome.detail] += 1
                elif outcome.kind == "midstream":
                    report.midstream += 1
                    report.failures[outcome.detail] += 1
                else:
                    report.violations.append(f"{endpoint} stream={stream}: {outcome.detail}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if sim_control_url is not None:
            await apply_due(requests)
    report.seconds = time.monotonic() - started
    return report


# --- what the run leaves behind ---------------------------------------------------------------------------------


def open_fds() -> int:
    """Open file descriptors of this process (Linux ``/proc``; -1 elsewhere)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``; -1 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return -1


def connector_counts(session: Any) -> dict[str, int]:
    """An aiohttp session's connections: in use (``acquired``) and idle in the pool (``idle``)."""
    connector = session.connector
    idle = sum(len(conns) for conns in getattr(connector, "_conns", {}).values())
    return {"acquired": len(getattr(connector, "_acquired", ())), "idle": idle}


async def settle(probe: Callable[[], Awaitable[bool]], timeout_s: float = 10.0, every_s: float = 0.05) -> bool:
    """Poll ``probe`` until it is true or ``timeout_s`` passes (bounded waiting, no fixed sleeps)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await probe():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every_s)


__all__ = [
    "FAULTY",
    "HEALTHY",
    "MODELS",
    "WRONG_TYPE",
    "FaultStep",
    "SoakReport",
    "WrongTypeUpstream",
    "chaos_gateway_config",
    "chaos_sim_config",
    "connector_counts",
    "default_schedule",
    "open_fds",
    "rss_bytes",
    "run_soak",
    "settle",
]
