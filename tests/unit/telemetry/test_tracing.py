"""Tracing: the request span continues the client's trace; children; W3C headers; status rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from interlock.telemetry.tracing import Tracing, end_span, trace_id_of, traces_url

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Iterator[Tracing]:
    t = Tracing(service_name="unit", exporter=exporter)
    yield t
    t.shutdown()


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://x.example/otlp/v1/traces", "https://x.example/otlp/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


def test_request_span_continues_the_client_trace(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    span = tracing.start_request("POST /v1/responses", {"traceparent": f"00-{TRACE}-{PARENT}-01"}, {"a": 1})
    assert trace_id_of(span) == TRACE
    child = tracing.start_child(span, "chat m", {"gen_ai.request.model": "m"}, client=True)
    headers = tracing.headers_for(child)
    assert headers["traceparent"] == f"00-{TRACE}-{child.get_span_context().span_id:016x}-01"
    end_span(child, {"gen_ai.usage.input_tokens": 3, "skipped": None})
    end_span(span, {"http.response.status_code": 200})
    finished = {s.name: s for s in exporter.get_finished_spans()}
    root, attempt = finished["POST /v1/responses"], finished["chat m"]
    assert root.kind == SpanKind.SERVER and attempt.kind == SpanKind.CLIENT
    assert root.parent is not None and format(root.parent.span_id, "016x") == PARENT
    assert attempt.parent is not None and attempt.parent.span_id == root.context.span_id
    assert attempt.attributes is not None and attempt.attributes["gen_ai.usage.input_tokens"] == 3
    assert "skipped" not in attempt.attributes
    assert root.resource.attributes["service.name"] == "unit"


def test_without_traceparent_a_new_trace_starts(tracing: Tracing) -> None:
    span = tracing.start_request("GET /v1/models", {}, {})
    assert trace_id_of(span) not in (None, TRACE)
    span.end()


def test_error_status_rules(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    client_error = tracing.start_request("a", {}, {})
    end_span(client_error, {"http.response.status_code": 404}, error="model_not_found", server=True)
    server_error = tracing.start_request("b", {}, {})
    end_span(server_error, {"http.response.status_code": 502}, error="upstream_error", server=True)
    attempt = tracing.start_child(server_error, "c", {}, client=True)
    end_span(attempt, {}, error="rate_limit_exceeded")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["a"].status.status_code == StatusCode.UNSET
    assert spans["a"].attributes is not None and spans["a"].attributes["error.type"] == "model_not_found"
    assert spans["b"].status.status_code == StatusCode.ERROR
    assert spans["c"].status.status_code == StatusCode.ERROR


def test_unsampled_parent_is_not_recorded(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    span = tracing.start_request("x", {"traceparent": f"00-{TRACE}-{PARENT}-00"}, {})
    child = tracing.start_child(span, "y", {}, client=True)
    assert tracing.headers_for(child)["traceparent"].endswith("-00")  # the decision travels on
    child.end()
    span.end()
    assert exporter.get_finished_spans() == ()


def test_an_endpoint_or_exporter_is_required() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        Tracing()
