"""The simulator's HTTP server: provider routes for the four protocols, fault injection, and the control API.

Theory of operation: `POST /p/{provider}/...` picks the protocol from the path, the behaviour from the
provider (and model) and then runs one pipeline for every protocol: decode JSON, record the request, answer 503
inside an outage window, let the protocol module parse and validate (its 4xx come back in its own envelope),
draw the injected error and timeout, plan the reply, wait the TTFT, and write it, paced and with stream faults
drawn. Random draws come from one `random.Random` per provider, seeded from the config, in a fixed order, so
the same config and request sequence injects the same faults. With zero TTFT, zero TPS and no faults the hot
path does no sleeping and writes each body in one call.

Control API (loopback, no auth): `GET /_sim/health`; `GET /_sim/providers[/{id}]`; `PUT /_sim/providers/{id}`
with a behaviour patch (`null` clears a field back to the inherited value; optional `protocol` and `models`
keys); `DELETE /_sim/providers/{id}` restores the configured state; `GET|DELETE /_sim/requests[?provider=]`;
`GET|DELETE /_sim/stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from ._control import add_control_routes
from ._errors import SimError
from ._plan import SimRequest, plan_reply
from ._signing import Signer
from ._stream import StreamFaults, write_stream
from ._wire import Adapter, CallContext, new_id
from .anthropic import AnthropicAdapter
from .config import (
    SimBehaviour,
    SimConfig,
    SimProtocol,
    find_model_patch,
    load_sim_config,
    merge_behaviour,
    validate_sim_config,
)
from .gemini import GeminiAdapter
from .openai_chat import OpenAIChatAdapter
from .openai_responses import OpenAIResponsesAdapter

__all__ = ["ADAPTERS", "RecordedRequest", "SimServer", "serve_forever"]

ADAPTERS: dict[SimProtocol, Adapter] = {
    "openai-responses": OpenAIResponsesAdapter(),
    "openai-chat": OpenAIChatAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}
_BASE_PATHS: dict[SimProtocol, str] = {
    "openai-responses": "v1",
    "openai-chat": "v1",
    "anthropic": "v1",
    "gemini": "v1beta",
}
_RETRY_STATUSES = frozenset({429, 503, 529})
_GEMINI_ACTIONS = frozenset({"generateContent", "streamGenerateContent"})


class RecordedRequest(msgspec.Struct, kw_only=True):
    """One request a simulated provider received, as the control API reports it."""

    provider: str
    protocol: SimProtocol
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    model: str
    received_at: float


@dataclass(slots=True)
class _Provider:
    """Run-time state of one simulated provider: its patches, effective behaviours, draws and counters."""

    id: str
    protocol: SimProtocol | None
    patch: dict[str, Any]
    models: dict[str, dict[str, Any]]
    behaviour: SimBehaviour
    rng: random.Random
    stats: Counter[str] = field(default_factory=Counter)
    by_model: dict[str, SimBehaviour] = field(default_factory=dict)

    def behaviour_for(self, model: str) -> SimBehaviour:
        found = self.by_model.get(model)
        if found is None:
            patch = find_model_patch(self.models, model)
            found = merge_behaviour(self.behaviour, patch) if patch else self.behaviour
            self.by_model[model] = found
        return found


class SimServer:
    """A simulated set of LLM providers on a real loopback HTTP server.

    Use `await start()` (port 0 picks a free port and returns it) and `await stop()`, or `async with`.
    `base_url(provider_id)` is what a gateway configures as that provider's base URL.
    """

    def __init__(self, config: SimConfig | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config if config is not None else SimConfig()
        validate_sim_config(self._config)
        secret = self._config.secret.encode() if self._config.secret is not None else os.urandom(32)
        self._signer = Signer(secret)
        self._clock = clock
        self._started_at = clock()
        self._providers: dict[str, _Provider] = {}
        for provider_id, provider in self._config.providers.items():
            self._providers[provider_id] = self._new_provider(
                provider_id,
                provider.protocol,
                dict(provider.behaviour),
                {k: dict(v) for k, v in provider.models.items()},
            )
        self._recorded: deque[RecordedRequest] = deque(maxlen=self._config.max_recorded_requests)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._host = "127.0.0.1"
        self._port = 0

    @property
    def config(self) -> SimConfig:
        return self._config

    @property
    def port(self) -> int:
        """The bound port (0 before `start`)."""
        return self._port

    @property
    def url(self) -> str:
        """The server root, e.g. `http://127.0.0.1:PORT`."""
        return f"http://{self._host}:{self._port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind and start serving; return the bound port."""
        if self._runner is not None:
            raise RuntimeError("SimServer already started")
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self._build_app(), handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=2048)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        self._started_at = self._clock()
        return self._port

    async def stop(self) -> None:
        """Stop serving; requests held by a simulated timeout are released first."""
        self._stopping.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def base_url(self, provider_id: str, protocol: SimProtocol | None = None) -> str:
        """The base URL a gateway uses for `provider_id` (`.../p/{id}/v1`, or `/v1beta` for Gemini)."""
        if protocol is None:
            provider = self._providers.get(provider_id)
            if provider is None or provider.protocol is None:
                raise KeyError(f"provider {provider_id!r} has no configured protocol; pass one")
            protocol = provider.protocol
        return f"{self.url}/p/{provider_id}/{_BASE_PATHS[protocol]}"

    @property
    def provider_ids(self) -> list[str]:
        """Ids of the configured providers and of unknown ones that received requests."""
        return list(self._providers)

    def describe(self, provider_id: str) -> dict[str, Any]:
        """A provider's protocol, effective behaviour, patches and base URL, as the control API shows them."""
        provider = self._provider(provider_id)
        view: dict[str, Any] = {
            "id": provider_id,
            "protocol": provider.protocol,
            "behaviour": msgspec.structs.asdict(provider.behaviour),
            "patch": provider.patch,
            "models": provider.models,
        }
        if provider.protocol is not None:
            view["base_url"] = self.base_url(provider_id)
        return view

    def behaviour(self, provider_id: str, model: str | None = None) -> SimBehaviour:
        """The effective behaviour of a provider, or of one of its models."""
        provider = self._provider(provider_id)
        return provider.behaviour if model is None else provider.behaviour_for(model)

    def set_behaviour(
        self,
        provider_id: str,
        patch: Mapping[str, Any],
        *,
        model: str | None = None,
        protocol: SimProtocol | None = None,
    ) -> SimBehaviour:
        """Patch a provider's (or one model's) behaviour at run time and return the result.

        A None value clears that field back to the inherited one. An unknown provider id is created. Raises
        SimConfigError, changing nothing, when the patched behaviour would be invalid.
        """
        provider = self._providers.get(provider_id)
        if provider is None:
            provider = self._providers[provider_id] = self._new_provider(provider_id, protocol, {}, {})
        if model is None:
            updated = _apply_patch(provider.patch, patch)
            result = merge_behaviour(self._config.default, updated)
            for model_patch in provider.models.values():
                merge_behaviour(result, model_patch)
            provider.patch, provider.behaviour = updated, result
            if "seed" in patch:
                provider.rng = _provider_rng(self._config, provider_id, result)
        else:
            updated = _apply_patch(provider.models.get(model, {}), patch)
            result = merge_behaviour(provider.behaviour, updated)
            provider.models[model] = updated
        if protocol is not None:
            provider.protocol = protocol
        provider.by_model.clear()
        return result

    def reset_provider(self, provider_id: str) -> None:
        """Restore a provider to its configured state (forget an unconfigured one)."""
        configured = self._config.providers.get(provider_id)
        if configured is None:
            self._providers.pop(provider_id, None)
            return
        self._providers[provider_id] = self._new_provider(
            provider_id,
            configured.protocol,
            dict(configured.behaviour),
            {k: dict(v) for k, v in configured.models.items()},
        )

    def requests(self, provider: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, oldest first, optionally for one provider."""
        return [r for r in self._recorded if provider is None or r.provider == provider]

    def clear_requests(self, provider: str | None = None) -> int:
        """Forget recorded requests (of one provider, or all); return how many were dropped."""
        before = len(self._recorded)
        if provider is None:
            self._recorded.clear()
        else:
            kept = [r for r in self._recorded if r.provider != provider]
            self._recorded.clear()
            self._recorded.extend(kept)
        return before - len(self._recorded)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per provider: requests, ok, streams, rejected, errors, outages, timeouts and stream faults."""
        return {provider_id: dict(provider.stats) for provider_id, provider in self._providers.items()}

    def reset_stats(self) -> None:
        for provider in self._providers.values():
            provider.stats.clear()

    # -- internals -------------------------------------------------------------------------------------------

    def _new_provider(
        self,
        provider_id: str,
        protocol: SimProtocol | None,
        patch: dict[str, Any],
        models: dict[str, dict[str, Any]],
    ) -> _Provider:
        behaviour = merge_behaviour(self._config.default, patch)
        return _Provider(
            id=provider_id,
            protocol=protocol,
            patch=patch,
            models=models,
            behaviour=behaviour,
            rng=_provider_rng(self._config, provider_id, behaviour),
        )

    def _provider(self, provider_id: str) -> _Provider:
        provider = self._providers.get(provider_id)
        if provider is None:
            raise KeyError(f"unknown simulated provider {provider_id!r}")
        return provider

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        serve = self._serve
        app.router.add_post("/p/{provider}/v1/responses", lambda r: serve(r, "openai-responses"))
        app.router.add_post("/p/{provider}/v1/chat/completions", lambda r: serve(r, "openai-chat"))
        app.router.add_post("/p/{provider}/v1/messages", lambda r: serve(r, "anthropic"))
        app.router.add_post("/p/{provider}/v1beta/models/{target}", self._serve_gemini)
        add_control_routes(app, self)
        return app

    async def _serve_gemini(self, request: web.Request) -> web.StreamResponse:
        model, _, action = request.match_info["target"].rpartition(":")
        if action not in _GEMINI_ACTIONS:
            error = SimError(404, f"Method {action!r} is not supported by the simulator.")
            return _error_response(ADAPTERS["gemini"], error)
        return await self._serve(request, "gemini", path_model=model, stream=action == "streamGenerateContent")

    async def _serve(
        self, request: web.Request, protocol: SimProtocol, *, path_model: str = "", stream: bool = False
    ) -> web.StreamResponse:
        """The pipeline every protocol shares, up to the reply; errors answer in the protocol's envelope."""
        adapter = ADAPTERS[protocol]
        try:
            provider = self._resolve(request.match_info["provider"], protocol)
            provider.stats["requests"] += 1
            try:
                body = msgspec.json.decode(await request.read())
            except msgspec.DecodeError:
                body = None
            model = str(path_model or (body.get("model") if isinstance(body, dict) else None) or "")
            if self._config.record_requests:
                self._record(request, provider.id, protocol, body, model)
            behaviour = provider.behaviour_for(model)
            call = CallContext(
                headers=request.headers,
                query=request.query,
                behaviour=behaviour,
                signer=self._signer,
                created=int(time.time()),
                path_model=path_model,
                stream=stream,
            )
            sim_request = self._admit(provider, adapter, body, call)
        except SimError as error:
            return _error_response(adapter, error)
        rng = provider.rng
        if behaviour.timeout_rate and rng.random() < behaviour.timeout_rate:
            provider.stats["timeouts"] += 1
            await self._stopping.wait()
            return _error_response(adapter, SimError(503, "Simulator shutting down."))
        return await self._respond(request, provider, adapter, sim_request, call)

    def _resolve(self, provider_id: str, protocol: SimProtocol) -> _Provider:
        provider = self._providers.get(provider_id)
        if provider is None:
            if not self._config.allow_unknown_providers:
                raise SimError(404, f"Unknown simulated provider '{provider_id}'.")
            provider = self._providers[provider_id] = self._new_provider(provider_id, None, {}, {})
        if provider.protocol is not None and provider.protocol != protocol:
            raise SimError(404, f"Simulated provider '{provider_id}' speaks {provider.protocol}, not {protocol}.")
        return provider

    def _admit(self, provider: _Provider, adapter: Adapter, body: Any, call: CallContext) -> SimRequest:
        """Outage, validation and injected-error checks, in that order; raises SimError for each refusal."""
        stats, behaviour = provider.stats, call.behaviour
        if not isinstance(body, dict):
            stats["rejected"] += 1
            raise SimError(400, "We could not parse the JSON body of your request.")
        if behaviour.outages and self._in_outage(behaviour):
            stats["outages"] += 1
            raise SimError(503, retry_after_s=behaviour.retry_after_s)
        try:
            sim_request = adapter.parse(body, call)
        except SimError:
            stats["rejected"] += 1
            raise
        if behaviour.error_rate and provider.rng.random() < behaviour.error_rate:
            stats["errors"] += 1
            raise SimError(behaviour.error_status, retry_after_s=behaviour.retry_after_s)
        return sim_request

    async def _respond(
        self, request: web.Request, provider: _Provider, adapter: Adapter, sim_request: SimRequest, call: CallContext
    ) -> web.StreamResponse:
        """Plan the reply, wait the TTFT, and write it as JSON or as a paced stream with any drawn faults."""
        behaviour, stats = call.behaviour, provider.stats
        reply = plan_reply(sim_request, behaviour, self._config.seed)
        if behaviour.ttft_ms:
            await asyncio.sleep(behaviour.ttft_ms / 1000)
        headers = {"x-request-id": new_id("req_")}
        if sim_request.stream:
            rendered = adapter.render_stream(reply, sim_request, call)
            faults = self._draw_stream_faults(provider, behaviour, rendered.error_frames)
            response = web.StreamResponse(headers=headers)
            response.content_type = rendered.content_type
            if rendered.content_type == "text/event-stream":
                response.headers["cache-control"] = "no-cache"
            stats["streams"] += 1
            await write_stream(request, response, rendered.frames, tps=behaviour.tps, faults=faults)
            stats["ok" if faults is None else "faulted_streams"] += 1
            return response
        if behaviour.tps and reply.output_tokens > 1:
            await asyncio.sleep((reply.output_tokens - 1) / behaviour.tps)
        payload = adapter.render(reply, sim_request, call)
        if behaviour.malformed_rate and provider.rng.random() < behaviour.malformed_rate:
            stats["malformed"] += 1
            payload = payload[: len(payload) // 2]
        else:
            stats["ok"] += 1
        return web.Response(body=payload, content_type="application/json", headers=headers)

    def _draw_stream_faults(
        self, provider: _Provider, behaviour: SimBehaviour, error_frames: Callable[[int], bytes]
    ) -> StreamFaults | None:
        rng, stats = provider.rng, provider.stats
        drop = bool(behaviour.midstream_drop_rate) and rng.random() < behaviour.midstream_drop_rate
        midstream_error = bool(behaviour.midstream_error_rate) and rng.random() < behaviour.midstream_error_rate
        malformed = bool(behaviour.malformed_rate) and rng.random() < behaviour.malformed_rate
        if not (drop or midstream_error or malformed):
            return None
        stats["midstream_drops"] += int(drop)
        stats["midstream_errors"] += int(midstream_error and not drop)
        stats["malformed"] += int(malformed)
        return StreamFaults(
            drop=drop, malformed=malformed, error_frames=error_frames if midstream_error and not drop else None
        )

    def _in_outage(self, behaviour: SimBehaviour) -> bool:
        elapsed = self._clock() - self._started_at
        return any(start <= elapsed < end for start, end in behaviour.outages)

    def _record(self, request: web.Request, provider_id: str, protocol: SimProtocol, body: Any, model: str) -> None:
        self._recorded.append(
            RecordedRequest(
                provider=provider_id,
                protocol=protocol,
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
                model=model,
                received_at=time.time(),
            )
        )


def _apply_patch(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**base, **patch}
    return {key: value for key, value in merged.items() if value is not None}


def _provider_rng(config: SimConfig, provider_id: str, behaviour: SimBehaviour) -> random.Random:
    seed = behaviour.seed if behaviour.seed is not None else config.seed
    return random.Random(f"{seed}:{provider_id}")


def _error_response(adapter: Adapter, error: SimError) -> web.Response:
    headers = {"x-request-id": new_id("req_")}
    if error.retry_after_s is not None and error.status in _RETRY_STATUSES:
        headers["retry-after"] = f"{error.retry_after_s:g}"
    return web.Response(
        status=error.status, body=adapter.render_error(error), content_type="application/json", headers=headers
    )


def serve_forever(config_path: str | None, host: str = "127.0.0.1", port: int = 8090) -> None:
    """Run the simulator until SIGINT/SIGTERM (the `interlock sim` command); prints the provider base URLs."""
    config = load_sim_config(config_path)
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_run_until_signalled(config, host, port))


async def _run_until_signalled(config: SimConfig, host: str, port: int) -> None:
    server = SimServer(config)
    bound = await server.start(host, port)
    print(f"Interlock provider simulator listening on http://{host}:{bound}", flush=True)
    for provider_id, provider in config.providers.items():
        print(f"  {provider_id:<24} {provider.protocol:<17} {server.base_url(provider_id)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
