"""Per-request telemetry: the probe the api layer opens for each request, and the engine observer feeding it.

Theory of operation
-------------------
The app calls :meth:`Telemetry.begin` when a request arrives. The returned :class:`Probe` counts the request in
flight, starts its server span (when tracing is on) and becomes the *current probe* in a context variable. The
engine never sees the probe: it reports to its ``Observer``, and :class:`TelemetryObserver` (installed on the
Gateway) looks up the current probe. Context variables are copied into tasks when they are created, so the
streaming pump task that relays a trip's events still finds the probe of its request. Through the observer the
probe learns the request's ``Trip`` (routing done), opens and closes a span per upstream attempt, and hands the
engine the W3C trace headers for each upstream call. :class:`KeyTap` wraps the key authenticator to learn the
key id the same way.

When the response is sent (streams: when the last byte is out or the client left) the app calls
:meth:`Probe.finish`. It derives everything from the trip in one place (model, provider, attempts and
fallbacks, time waiting on upstreams, usage, cost, TTFT, TPS), then moves the metrics, writes the request log
line and ends the span, each only when switched on. Nothing here reads prompts or outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urlsplit

from interlock.telemetry import metrics as m
from interlock.telemetry.logs import log_request
from interlock.telemetry.tracing import Tracing, end_span, trace_id_of

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from interlock.engine.trip import Trip
    from interlock.ir.errors import GatewayError
    from interlock.routing.plan import Candidate
    from interlock.store.keys import KeyRecord

INGRESS: Final[dict[str, str]] = {
    "/v1/responses": "responses",
    "/v1/chat/completions": "chat",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens",
}
NONE: Final = "none"
MAX_MESSAGE: Final = 500
_TRACE_HEADERS: Final = ("traceparent", "tracestate")
log = logging.getLogger("interlock.telemetry")
_current: ContextVar[Probe | None] = ContextVar("interlock_probe", default=None)

OnClose = Callable[[bool], Awaitable[None]]


def current_probe() -> Probe | None:
    """The probe of the request being handled in this task, if any."""
    return _current.get()


class Probe:
    """One request as telemetry sees it. This base class records nothing (routes that are not observed)."""

    __slots__ = ()

    def respond(self, status: int, error_code: str | None = None, message: str | None = None) -> None:
        """The status about to be sent (and, for an error, its documented code and message)."""

    def streaming(self, on_close: OnClose | None) -> OnClose | None:
        """A streaming response starts; returns the ``on_close`` hook to install instead of ``on_close``."""
        return on_close

    def finish(self) -> None:
        """The response is complete (or abandoned): record the request."""


NULL_PROBE: Final = Probe()


class LiveProbe(Probe):
    """The probe of an observed request (see the module docstring)."""

    __slots__ = (
        "_token",
        "attempt_index",
        "attempt_span",
        "disconnected",
        "error_code",
        "error_message",
        "headers",
        "ingress",
        "key_id",
        "method",
        "request_id",
        "route",
        "span",
        "started",
        "status",
        "stream",
        "tel",
        "trip",
    )

    def __init__(
        self, tel: Telemetry, request_id: str, method: str, route: str | None, headers: Mapping[str, str]
    ) -> None:
        self.tel = tel
        self.request_id = request_id
        self.method = method
        self.route = route
        self.ingress = INGRESS.get(route, route) if route is not None else "unmatched"
        self.headers = headers
        self.started = time.monotonic()
        self.status = 499  # replaced by respond(); a request abandoned before that counts as a disconnect
        self.error_code: str | None = "client_disconnected"
        self.error_message: str | None = None
        self.stream = False
        self.disconnected = False
        self.key_id: str | None = None
        self.trip: Trip | None = None
        self.span: Span | None = None
        self.attempt_span: Span | None = None
        self.attempt_index = 0
        tel.in_flight += 1
        tel.idle.clear()
        if tel.metrics:
            m.IN_FLIGHT.inc()
        if tel.tracing is not None:
            name = f"{method} {route}" if route is not None else method
            attrs = {"http.request.method": method, "http.route": route or "", "interlock.request_id": request_id}
            self.span = tel.tracing.start_request(name, headers, attrs)
        self._token: Token[Probe | None] = _current.set(self)

    def respond(self, status: int, error_code: str | None = None, message: str | None = None) -> None:
        self.status = status
        self.error_code = error_code
        self.error_message = message

    def streaming(self, on_close: OnClose | None) -> OnClose | None:
        self.stream = True
        self.tel.open_streams += 1
        if self.tel.metrics:
            m.OPEN_STREAMS.inc()

        async def close(disconnected: bool) -> None:
            self.disconnected = disconnected
            if on_close is not None:
                await on_close(disconnected)

        return close

    # -- engine hooks (through TelemetryObserver) ------------------------------------------------------------

    def planned(self, trip: Trip, routing_ms: float) -> None:
        self.trip = trip
        tracing, span = self.tel.tracing, self.span
        if tracing is None or span is None:
            return
        plan = trip.plan
        end = time.time_ns()
        child = tracing.start_child(
            span,
            "interlock.route",
            {
                "interlock.routing.strategy": plan.strategy,
                "interlock.routing.candidates": len(plan.candidates),
                "interlock.routing.excluded": len(plan.excluded),
                "interlock.routing.first": _offering_key(plan.candidates[0]) if plan.candidates else "",
            },
            start_time=end - int(routing_ms * 1_000_000),
        )
        child.end(end_time=end)

    def attempt_started(self, candidate: Candidate) -> dict[str, str] | None:
        self.attempt_index += 1
        tracing, span = self.tel.tracing, self.span
        if tracing is None or span is None:
            passed = {h: self.headers[h] for h in _TRACE_HEADERS if h in self.headers}
            return passed or None
        offering, provider = candidate.offering, candidate.provider
        url = urlsplit(provider.base_url)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": provider.id,
            "gen_ai.provider.name": provider.id,
            "gen_ai.request.model": offering.provider_model_id,
            "interlock.model.canonical": candidate.model.id,
            "interlock.offering": _offering_key(candidate),
            "interlock.protocol": provider.protocol,
            "interlock.attempt": self.attempt_index,
            "server.address": url.hostname or "",
        }
        if url.port is not None:
            attrs["server.port"] = url.port
        self.attempt_span = tracing.start_child(span, f"chat {offering.provider_model_id}", attrs, client=True)
        return tracing.headers_for(self.attempt_span)

    def attempt_ended(self, candidate: Candidate, error: GatewayError | None, *, cancelled: bool = False) -> None:
        span, self.attempt_span = self.attempt_span, None
        if span is None:
            return
        attrs: dict[str, Any] = {"interlock.outcome": "cancelled" if cancelled else "ok" if error is None else "error"}
        trip = self.trip
        if error is not None:
            attrs["interlock.outcome"] = "timeout" if error.code == "upstream_timeout" else "error"
            attrs["http.response.status_code"] = getattr(error, "upstream_status", None) or None
        elif not cancelled and trip is not None:
            attrs["gen_ai.response.model"] = candidate.offering.provider_model_id
            if trip.usage is not None:
                attrs["gen_ai.usage.input_tokens"] = trip.usage.input_tokens
                attrs["gen_ai.usage.output_tokens"] = trip.usage.output_tokens
            attrs["interlock.ttft_ms"] = _round(trip.ttft_ms, 1) if trip.req.stream else None
        end_span(span, attrs, error=error.code if error is not None else None)

    # -- the end -----------------------------------------------------------------------------------------

    def finish(self) -> None:
        tel = self.tel
        with contextlib.suppress(ValueError):  # finish() from another context than begin(): nothing to reset
            _current.reset(self._token)
        tel.in_flight -= 1
        if tel.in_flight == 0:
            tel.idle.set()
        if self.stream:
            tel.open_streams -= 1
        if tel.metrics:
            m.IN_FLIGHT.dec()
            if self.stream:
                m.OPEN_STREAMS.dec()
        if not (tel.metrics or tel.request_logs or self.span is not None):
            return
        try:
            self._record()
        except Exception:  # telemetry never fails a request; say so once per failure
            log.exception("telemetry: recording request %s failed", self.request_id)

    def _record(self) -> None:
        tel = self.tel
        now = time.monotonic()
        facts = _Facts(self.trip, now)
        code = self.error_code
        if self.stream and code is None:
            # The trip knows how the stream ended; ``disconnected`` alone is not reliable (the server reports a
            # disconnect as soon as the response is complete, which can win the race with the end of the pump).
            trip = self.trip
            if trip is not None and trip.error is not None:
                code = trip.error.code
                self.error_message = trip.error.message
            elif _abandoned(trip) if trip is not None else self.disconnected:
                code = "client_disconnected"
        duration = now - self.started
        if tel.metrics:
            m.observe_request(
                m.RequestSample(
                    ingress=self.ingress,
                    model=facts.model,
                    provider=facts.provider,
                    status=self.status,
                    error_code=code or NONE,
                    stream=self.stream,
                    duration_s=duration,
                    upstream_s=facts.upstream_s,
                    offering=facts.offering,
                    ttft_s=facts.ttft_ms / 1000 if facts.ttft_ms is not None else None,
                    tps=facts.tps,
                    input_tokens=facts.usage.input_tokens if facts.usage else None,
                    output_tokens=facts.usage.output_tokens if facts.usage else None,
                    cached_tokens=facts.usage.cached_tokens if facts.usage else None,
                    reasoning_tokens=facts.usage.reasoning_tokens if facts.usage else None,
                    cost_usd=facts.cost_usd,
                    attempts=facts.attempts,
                )
            )
        trace_id = trace_id_of(self.span) if self.span is not None else None
        if code is not None and self.error_message and log.isEnabledFor(logging.DEBUG):
            # Free text from upstreams may quote the request, so it stays out of the INFO line (redacted anyway).
            log.debug("request %s failed: %s: %s", self.request_id, code, self.error_message[:MAX_MESSAGE])
        if tel.request_logs:
            log_request(self._log_fields(facts, code, duration, trace_id))
        if self.span is not None:
            self._end_span(facts, code)
            self.span = None

    def _log_fields(self, f: _Facts, code: str | None, duration: float, trace_id: str | None) -> dict[str, Any]:
        usage = f.usage
        upstream = f.upstream_s
        fields: dict[str, Any] = {
            "request_id": self.request_id,
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "error_code": code,
            "upstream_status": f.upstream_status,
            "key_id": self.key_id,
            "model": f.model if f.model != NONE else None,
            "provider": f.provider if f.provider != NONE else None,
            "provider_model_id": f.provider_model_id,
            "stream": self.stream,
            "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": usage.output_tokens if usage else None,
            "cached_tokens": usage.cached_tokens if usage else None,
            "reasoning_tokens": usage.reasoning_tokens if usage else None,
            "cost_usd": _round(f.cost_usd, 10),
            "duration_ms": round(duration * 1000, 2),
            "upstream_ms": _round(upstream * 1000 if upstream is not None else None, 2),
            "overhead_ms": _round((duration - upstream) * 1000 if upstream is not None else None, 2),
            "ttft_ms": _round(f.ttft_ms, 1),
            "tps": _round(f.tps, 2),
            "attempts": len(f.attempts) or None,
            "fallbacks": f.fallbacks or None,
            "trace_id": trace_id,
            "client_trace_id": f.client_trace_id,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def _end_span(self, f: _Facts, code: str | None) -> None:
        assert self.span is not None
        trip = self.trip
        usage = f.usage
        attrs: dict[str, Any] = {
            "http.response.status_code": self.status,
            "interlock.key_id": self.key_id,
            "interlock.stream": self.stream,
            "interlock.model.canonical": f.model if f.model != NONE else None,
            "interlock.attempts": len(f.attempts),
            "interlock.cost_usd": f.cost_usd,
            "interlock.ttft_ms": _round(f.ttft_ms, 1),
            "gateway.metadata.trace_id": f.client_trace_id,
        }
        if trip is not None:
            requested = trip.req.model or ",".join(_gateway_models(trip))
            attrs["gen_ai.operation.name"] = "chat"
            attrs["gen_ai.request.model"] = requested or None
            if f.provider != NONE and trip.chosen is not None:
                attrs["gen_ai.system"] = f.provider
                attrs["gen_ai.provider.name"] = f.provider
                attrs["gen_ai.response.model"] = f.provider_model_id
            if usage is not None:
                attrs["gen_ai.usage.input_tokens"] = usage.input_tokens
                attrs["gen_ai.usage.output_tokens"] = usage.output_tokens
        if self.attempt_span is not None:  # an attempt that never reported back (the client left)
            end_span(self.attempt_span, {"interlock.outcome": "cancelled"})
            self.attempt_span = None
        end_span(self.span, attrs, error=code, server=True)


class _Facts:
    """What a finished trip tells telemetry (``model``/``provider``/``offering`` are ``"none"`` when unknown)."""

    __slots__ = (
        "attempts",
        "client_trace_id",
        "cost_usd",
        "fallbacks",
        "model",
        "offering",
        "provider",
        "provider_model_id",
        "tps",
        "ttft_ms",
        "upstream_s",
        "upstream_status",
        "usage",
    )

    def __init__(self, trip: Trip | None, now: float) -> None:
        self.model = self.provider = self.offering = NONE
        self.provider_model_id: str | None = None
        self.upstream_s: float | None = None
        self.upstream_status: int | None = None  # what the last failed attempt's upstream answered
        self.ttft_ms: float | None = None
        self.tps: float | None = None
        self.usage: Any = None
        self.cost_usd: float | None = None
        self.attempts: tuple[m.AttemptSample, ...] = ()
        self.fallbacks = 0
        self.client_trace_id: str | None = None
        if trip is None:
            return
        gateway = trip.req.gateway
        metadata = gateway.metadata if gateway is not None else None
        self.client_trace_id = metadata.trace_id if metadata is not None else None
        if trip.plan.candidates:
            self.model = trip.plan.candidates[0].model.id
        samples: list[m.AttemptSample] = []
        upstream = 0.0
        for attempt in trip.attempts:
            c = attempt.candidate
            outcome = attempt.outcome if attempt.outcome != "pending" else "cancelled"
            code = attempt.error.code if attempt.error is not None else NONE
            samples.append(m.AttemptSample(c.model.id, c.provider.id, outcome, code))
            if attempt.latency_ms is not None:
                upstream += attempt.latency_ms / 1000
            else:
                upstream += (trip.finished_at or now) - attempt.started
        self.attempts = tuple(samples)
        last_error = trip.attempts[-1].error if trip.attempts else None
        self.upstream_status = getattr(last_error, "upstream_status", None) or None
        self.fallbacks = sum(1 for a in samples[:-1] if a.outcome in ("error", "timeout"))
        if samples:
            self.upstream_s = upstream
            self.provider = samples[-1].provider
            self.model = samples[-1].model
        chosen = trip.chosen
        if chosen is None:
            return
        self.model = chosen.model.id
        self.provider = chosen.provider.id
        self.offering = _offering_key(chosen)
        self.provider_model_id = chosen.offering.provider_model_id
        self.usage = trip.usage
        if trip.error is None and trip.attempts and trip.attempts[-1].outcome == "ok":
            self.ttft_ms = trip.ttft_ms if trip.req.stream else None
            self.tps = trip.throughput_tps
        self.cost_usd = _cost(trip.usage, chosen)


def _abandoned(trip: Trip) -> bool:
    return bool(trip.attempts) and trip.attempts[-1].outcome == "cancelled"


def _cost(usage: Any, chosen: Candidate) -> float | None:
    if usage is None:
        return None
    from interlock.accounting.cost import Prices, compute_cost

    o = chosen.offering
    cost = compute_cost(usage, Prices(o.input_price, o.output_price, o.cache_read_price, o.cache_write_price))
    return cost.usd if cost is not None else None


def _offering_key(candidate: Candidate) -> str:
    o = candidate.offering
    return f"{o.provider}/{o.provider_model_id}@{getattr(o, 'tier', 'standard')}"


def _gateway_models(trip: Trip) -> list[str]:
    gateway = trip.req.gateway
    return [m for m in (gateway.models or []) if m] if gateway is not None else []


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class Telemetry:
    """One app's telemetry: the switches, the tracer, and the in-flight bookkeeping used to drain at shutdown."""

    def __init__(self, *, metrics: bool = True, request_logs: bool = True, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.request_logs = request_logs
        self.tracing = tracing
        self.in_flight = 0
        self.open_streams = 0
        self.idle = asyncio.Event()  # set while nothing is in flight
        self.idle.set()
        self.observer = TelemetryObserver()

    def begin(
        self, request_id: str, method: str, route: str | None, headers: Mapping[str, str], *, observed: bool = True
    ) -> Probe:
        """A probe for a new request on ``route`` (the matched route template, None when nothing matched)."""
        if not observed:
            return NULL_PROBE
        return LiveProbe(self, request_id, method, route, headers)

    async def wait_idle(self, grace_s: float) -> bool:
        """Wait until no observed request is in flight, at most ``grace_s`` seconds; True when idle."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await self.idle.wait()
        return self.in_flight == 0

    async def shutdown(self) -> None:
        """Flush and stop the span exporter; drop this worker's live gauges."""
        tracing, self.tracing = self.tracing, None
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)
        m.mark_process_dead()


class TelemetryObserver:
    """The engine ``Observer`` that forwards to the current request's probe (no-ops outside a request)."""

    # Each hook runs inside the engine: a telemetry failure is logged and must never fail the trip.

    def trip_planned(self, trip: Trip, routing_ms: float) -> None:
        probe = _current.get()
        if isinstance(probe, LiveProbe):
            try:
                probe.planned(trip, routing_ms)
            except Exception:
                log.exception("telemetry: trip_planned failed")

    def attempt_started(self, candidate: Candidate) -> dict[str, str] | None:
        probe = _current.get()
        if not isinstance(probe, LiveProbe):
            return None
        try:
            return probe.attempt_started(candidate)
        except Exception:
            log.exception("telemetry: attempt_started failed")
            return None

    def attempt_succeeded(
        self, candidate: Candidate, ttft_ms: float | None, tps: float | None, latency_ms: float
    ) -> None:
        self._ended(candidate, None)

    def attempt_failed(self, candidate: Candidate, error: GatewayError, latency_ms: float) -> None:
        log.debug(
            "attempt failed: offering=%s code=%s latency_ms=%.1f: %s",
            _offering_key(candidate),
            error.code,
            latency_ms,
            error.message,
        )
        self._ended(candidate, error)

    def attempt_cancelled(self, candidate: Candidate, latency_ms: float) -> None:
        self._ended(candidate, None, cancelled=True)

    @staticmethod
    def _ended(candidate: Candidate, error: GatewayError | None, *, cancelled: bool = False) -> None:
        probe = _current.get()
        if isinstance(probe, LiveProbe):
            try:
                probe.attempt_ended(candidate, error, cancelled=cancelled)
            except Exception:
                log.exception("telemetry: attempt report failed")


class _Authenticator(Protocol):
    async def authenticate(self, raw_key: str) -> KeyRecord | None: ...


class KeyTap:
    """Wraps a key authenticator so the current request's probe learns the key id (for logs and spans)."""

    def __init__(self, inner: _Authenticator) -> None:
        self._inner = inner

    async def authenticate(self, raw_key: str) -> KeyRecord | None:
        record = await self._inner.authenticate(raw_key)
        if record is not None:
            probe = _current.get()
            if isinstance(probe, LiveProbe):
                probe.key_id = record.id
        return record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


__all__ = [
    "INGRESS",
    "NULL_PROBE",
    "KeyTap",
    "LiveProbe",
    "Probe",
    "Telemetry",
    "TelemetryObserver",
    "current_probe",
]
