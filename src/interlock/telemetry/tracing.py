"""OpenTelemetry traces: one span per request, a child for routing and one per upstream attempt.

Off unless ``telemetry.otlp_endpoint`` is set; then :class:`Tracing` imports the SDK (only then, so a gateway
without tracing never loads it), builds its *own* ``TracerProvider`` (not the global one, so several apps can
live in one process, as in tests) and exports over OTLP/HTTP from a background thread (``BatchSpanProcessor``).

Context travels explicitly: the request span is started from the W3C ``traceparent``/``tracestate`` the client
sent (sampling follows the parent's flag), children are started from their parent span, and each attempt's
context is injected into the headers of its upstream call. Attribute names follow the GenAI semantic
conventions (``gen_ai.*``) and the HTTP ones (``http.*``, ``url.*``, ``server.*``); Interlock's own facts live
under ``interlock.*``; the client's ``gateway.metadata.trace_id`` is recorded as ``gateway.metadata.trace_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

AttributeValue = str | bool | int | float
Attributes = Mapping[str, AttributeValue]


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for ``endpoint``: a bare ``scheme://host:port`` gets ``/v1/traces``."""
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


class Tracing:
    """A tracer provider of our own, its exporter, and the W3C trace-context propagator."""

    def __init__(
        self,
        *,
        service_name: str = "interlock",
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        sample_ratio: float = 1.0,
        exporter: SpanExporter | None = None,
    ) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        processor: SpanProcessor
        if exporter is not None:  # tests: an in-memory exporter, spans visible as soon as they end
            processor = SimpleSpanProcessor(exporter)
        else:
            if not endpoint:
                raise ValueError("tracing needs an OTLP endpoint or an exporter")
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            otlp = OTLPSpanExporter(endpoint=traces_url(endpoint), headers=dict(headers or {}), timeout=5)
            processor = BatchSpanProcessor(otlp, schedule_delay_millis=1000)
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        )
        self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("interlock")
        self._propagator = TraceContextTextMapPropagator()

    def start_request(self, name: str, headers: Mapping[str, str], attributes: Attributes) -> Span:
        """The server span of one request, continuing the client's trace when it sent ``traceparent``."""
        from opentelemetry.trace import SpanKind

        parent = self._propagator.extract(headers) if "traceparent" in headers else None
        return self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)

    def start_child(
        self,
        parent: Span,
        name: str,
        attributes: Attributes,
        *,
        client: bool = False,
        start_time: int | None = None,
    ) -> Span:
        """A child of ``parent`` (``client``: an outgoing call); ``start_time`` in ns since the epoch."""
        from opentelemetry.trace import SpanKind, set_span_in_context

        kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
        return self._tracer.start_span(
            name, context=set_span_in_context(parent), kind=kind, attributes=attributes, start_time=start_time
        )

    def headers_for(self, span: Span) -> dict[str, str]:
        """W3C ``traceparent`` (and ``tracestate``) naming ``span`` as the parent of the callee's work."""
        from opentelemetry.trace import set_span_in_context

        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=set_span_in_context(span))
        return carrier

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporter (blocking: run it in a thread from async code)."""
        self._provider.shutdown()


def end_span(span: Span, attributes: Mapping[str, Any], *, error: str | None = None, server: bool = False) -> None:
    """Set the non-None ``attributes``, mark the status, and end ``span``.

    ``error`` is the documented error code, recorded as ``error.type``; a server span is marked failed only for
    5xx-class errors (HTTP semantic conventions), a client span for any error.
    """
    from opentelemetry.trace import Status, StatusCode

    span.set_attributes({k: v for k, v in attributes.items() if v is not None})
    if error is not None:
        span.set_attribute("error.type", error)
        status = attributes.get("http.response.status_code")
        if not server or not isinstance(status, int) or status >= 500:
            span.set_status(Status(StatusCode.ERROR, error))
    span.end()


def trace_id_of(span: Span) -> str | None:
    """The span's trace id as 32 hex digits, or None for an invalid context."""
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.trace_id else None


__all__ = ["Attributes", "Tracing", "end_span", "trace_id_of", "traces_url"]
