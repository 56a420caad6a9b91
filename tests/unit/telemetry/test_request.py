"""The per-request probe: in-flight bookkeeping, the facts it derives from a trip, logs, spans, observer hooks.

Trips here are plain namespaces with the attributes the probe reads, so no engine or HTTP is involved.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace as NS
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from interlock.ir.errors import UpstreamError
from interlock.ir.events import Usage
from interlock.telemetry.logs import REQUEST_LOGGER, make_handler
from interlock.telemetry.request import NULL_PROBE, KeyTap, LiveProbe, Telemetry, current_probe
from interlock.telemetry.tracing import Tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def candidate(provider: str, model_id: str) -> Any:
    offering = NS(
        provider=provider,
        provider_model_id=model_id,
        tier="standard",
        input_price=1.0,
        output_price=2.0,
        cache_read_price=None,
        cache_write_price=None,
    )
    return NS(
        model=NS(id="unit-model"),
        provider=NS(id=provider, protocol="openai-chat", base_url="http://127.0.0.1:9/v1"),
        offering=offering,
    )


def make_trip(*, fallback: bool = False, stream: bool = False, error: Any = None) -> Any:
    now = time.monotonic()
    bad, good = candidate("unit-bad", "bad-1"), candidate("unit-good", "good-1")
    attempts = [
        NS(candidate=good, started=now - 0.2, outcome="ok" if error is None else "error", error=error, latency_ms=200.0)
    ]
    if fallback:
        failed = UpstreamError("upstream_error", "boom", provider="unit-bad", retryable=True)
        attempts.insert(0, NS(candidate=bad, started=now - 0.3, outcome="error", error=failed, latency_ms=100.0))
    return NS(
        req=NS(model="unit-model", stream=stream, gateway=NS(models=None, metadata=NS(trace_id="client-7"))),
        plan=NS(candidates=[bad, good] if fallback else [good], strategy="cost", excluded=[]),
        attempts=attempts,
        chosen=good,
        usage=Usage(input_tokens=1000, output_tokens=500),
        error=error,
        finished_at=now,
        ttft_ms=12.0,
        throughput_tps=80.0,
    )


@pytest.fixture
def request_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(REQUEST_LOGGER)
    handler = make_handler("json", stream)
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old)


def last_line(stream: io.StringIO) -> dict[str, Any]:
    return dict(json.loads(stream.getvalue().splitlines()[-1]))


def test_unobserved_routes_get_the_null_probe() -> None:
    tel = Telemetry()
    assert tel.begin("req_1", "GET", "/metrics", {}, observed=False) is NULL_PROBE
    assert tel.in_flight == 0


def test_in_flight_and_the_current_probe() -> None:
    tel = Telemetry(metrics=False, request_logs=False)
    probe = tel.begin("req_1", "POST", "/v1/responses", {})
    assert tel.in_flight == 1 and current_probe() is probe and not tel.idle.is_set()
    probe.respond(200)
    probe.finish()
    assert tel.in_flight == 0 and current_probe() is None and tel.idle.is_set()


def test_wait_idle_is_bounded() -> None:
    async def scenario() -> tuple[bool, bool]:
        tel = Telemetry(metrics=False, request_logs=False)
        probe = tel.begin("req_1", "POST", "/v1/responses", {})
        busy = await tel.wait_idle(0.05)
        asyncio.get_running_loop().call_later(0.05, probe.finish)
        idle = await tel.wait_idle(5)
        return busy, idle

    assert asyncio.run(scenario()) == (False, True)


def test_log_line_of_a_fallback_request(request_log: io.StringIO) -> None:
    tel = Telemetry(metrics=True, request_logs=True)
    probe = tel.begin("req_fb", "POST", "/v1/chat/completions", {})
    assert isinstance(probe, LiveProbe)
    probe.trip = make_trip(fallback=True)
    probe.key_id = "key_unit"
    probe.respond(200)
    probe.finish()
    line = last_line(request_log)
    assert line["request_id"] == "req_fb" and line["status"] == 200 and "error_code" not in line
    assert line["model"] == "unit-model" and line["provider"] == "unit-good"
    assert line["provider_model_id"] == "good-1" and line["key_id"] == "key_unit"
    assert line["input_tokens"] == 1000 and line["output_tokens"] == 500
    assert line["cost_usd"] == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)
    assert line["attempts"] == 2 and line["fallbacks"] == 1
    assert line["upstream_ms"] == pytest.approx(300.0)
    assert line["client_trace_id"] == "client-7"
    assert "ttft_ms" not in line  # not a stream
    for forbidden in ("input", "messages", "output", "prompt", "authorization"):
        assert forbidden not in line


def test_a_stream_that_failed_midway_reports_the_trip_error(request_log: io.StringIO) -> None:
    tel = Telemetry(metrics=True, request_logs=True)
    probe = tel.begin("req_s", "POST", "/v1/responses", {})
    assert isinstance(probe, LiveProbe)
    failure = UpstreamError("upstream_error", "cut off", provider="unit-good")
    probe.trip = make_trip(stream=True, error=failure)
    probe.respond(200)
    probe.streaming(None)
    assert tel.open_streams == 1
    probe.finish()
    assert tel.open_streams == 0
    line = last_line(request_log)
    assert line["status"] == 200 and line["error_code"] == "upstream_error"
    assert "error" not in line  # upstream free text stays out of the INFO line
    assert line["stream"] is True and "ttft_ms" not in line


def test_disconnect_is_seen_through_the_wrapped_on_close(request_log: io.StringIO) -> None:
    tel = Telemetry(metrics=False, request_logs=True)
    probe = tel.begin("req_d", "POST", "/v1/responses", {})
    called: list[bool] = []

    async def on_close(disconnected: bool) -> None:
        called.append(disconnected)

    probe.respond(200)
    wrapped = probe.streaming(on_close)
    assert wrapped is not None
    asyncio.run(wrapped(True))
    probe.finish()
    assert called == [True]
    assert last_line(request_log)["error_code"] == "client_disconnected"


def test_metrics_of_a_request() -> None:
    labels = {"ingress": "chat", "model": "unit-model", "provider": "unit-good", "status": "429"}
    before = REGISTRY.get_sample_value("interlock_requests_total", {**labels, "error_code": "rate_limit_exceeded"})
    tel = Telemetry(metrics=True, request_logs=False)
    probe = tel.begin("req_m", "POST", "/v1/chat/completions", {})
    assert isinstance(probe, LiveProbe)
    probe.trip = make_trip(error=UpstreamError("rate_limit_exceeded", "slow down"))
    probe.trip.chosen = None
    probe.respond(429, "rate_limit_exceeded", "slow down")
    probe.finish()
    after = REGISTRY.get_sample_value("interlock_requests_total", {**labels, "error_code": "rate_limit_exceeded"})
    assert (after or 0) == (before or 0) + 1


def test_spans_through_the_observer(request_log: io.StringIO) -> None:
    exporter = InMemorySpanExporter()
    tel = Telemetry(metrics=False, request_logs=True, tracing=Tracing(exporter=exporter))
    probe = tel.begin("req_t", "POST", "/v1/chat/completions", {"traceparent": TRACEPARENT})
    trip = make_trip(fallback=True)
    obs = tel.observer
    obs.trip_planned(trip, 0.5)
    bad, good = trip.plan.candidates
    headers = obs.attempt_started(bad)
    assert headers is not None and headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    obs.attempt_failed(bad, trip.attempts[0].error, 100.0)
    obs.attempt_started(good)
    obs.attempt_succeeded(good, None, None, 200.0)
    probe.respond(200)
    probe.finish()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"POST /v1/chat/completions", "interlock.route", "chat bad-1", "chat good-1"}
    root = spans["POST /v1/chat/completions"]
    for name in ("interlock.route", "chat bad-1", "chat good-1"):
        assert spans[name].parent is not None and spans[name].parent.span_id == root.context.span_id
    assert root.attributes is not None
    assert root.attributes["gen_ai.usage.output_tokens"] == 500
    assert root.attributes["gateway.metadata.trace_id"] == "client-7"
    assert spans["chat bad-1"].attributes is not None
    assert spans["chat bad-1"].attributes["error.type"] == "upstream_error"
    assert last_line(request_log)["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_incoming_trace_headers_pass_through_when_tracing_is_off() -> None:
    tel = Telemetry(metrics=False, request_logs=False)
    probe = tel.begin("req_p", "POST", "/v1/responses", {"traceparent": TRACEPARENT, "tracestate": "a=b"})
    assert tel.observer.attempt_started(candidate("p", "m")) == {"traceparent": TRACEPARENT, "tracestate": "a=b"}
    probe.finish()
    assert tel.observer.attempt_started(candidate("p", "m")) is None  # outside a request


def test_key_tap_records_the_key_id() -> None:
    record = NS(id="key_abc")

    class Inner:
        def __init__(self) -> None:
            self.extra = "kept"

        async def authenticate(self, raw_key: str) -> Any:
            return record if raw_key == "ak_live_good" else None

    tap = KeyTap(Inner())
    tel = Telemetry(metrics=False, request_logs=False)
    probe = tel.begin("req_k", "GET", "/v1/me", {})
    assert isinstance(probe, LiveProbe)
    assert asyncio.run(tap.authenticate("ak_live_bad")) is None
    assert probe.key_id is None
    assert asyncio.run(tap.authenticate("ak_live_good")) is record
    assert probe.key_id == "key_abc"
    assert tap.extra == "kept"
    probe.finish()


def test_a_telemetry_failure_never_fails_the_request(caplog: pytest.LogCaptureFixture) -> None:
    tel = Telemetry(metrics=True, request_logs=True)
    probe = tel.begin("req_x", "POST", "/v1/responses", {})
    assert isinstance(probe, LiveProbe)
    probe.trip = NS()  # not a trip at all
    probe.respond(200)
    with caplog.at_level(logging.ERROR, logger="interlock.telemetry"):
        probe.finish()
        assert tel.observer.attempt_started(NS()) is None  # outside a request: nothing to do
    assert tel.in_flight == 0
    assert "recording request req_x failed" in caplog.text
