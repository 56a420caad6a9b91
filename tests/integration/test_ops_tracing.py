"""Traces: a request exports one server span with a routing child and one client child per upstream attempt.

The gateway exports over real OTLP/HTTP to a receiver in this process. The client sends a W3C ``traceparent``:
the server span must continue that trace, and each upstream call must carry a ``traceparent`` naming its own
attempt span, which the simulator's request log (``GET /_sim/requests``) shows. The cheaper offering fails, so
the trip falls back and the trace has two attempts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.integration.conftest import offering
from tests.support.servers import GatewayServer, LoopThread, SimHandle

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP trace receiver on loopback; keeps every exported span with its resource attributes."""

    def __init__(self, loop: LoopThread) -> None:
        self.loop = loop
        self.spans: list[tuple[dict[str, Any], Span]] = []
        app = web.Application()
        app.router.add_post("/v1/traces", self._export)
        self.runner = web.AppRunner(app)
        loop.run(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        loop.run(site.start())
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _export(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in message.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                self.spans.extend((resource, span) for span in scope.spans)
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    def trace(self, trace_id: str, count: int, timeout: float = 15.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [s for _, s in self.spans if s.trace_id.hex() == trace_id]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"expected {count} spans of trace {trace_id}, got {self.spans}")

    def stop(self) -> None:
        self.loop.run(self.runner.cleanup())


def _value(v: Any) -> Any:
    return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None


def attrs(span: Span) -> dict[str, Any]:
    return {a.key: _value(a.value) for a in span.attributes}


@pytest.fixture(scope="module")
def receiver(loop_thread: LoopThread) -> Iterator[Receiver]:
    r = Receiver(loop_thread)
    yield r
    r.stop()


@pytest.fixture(scope="module")
def traced_gateway(
    loop_thread: LoopThread, sim: SimHandle, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    tmp: Path = tmp_path_factory.mktemp("traced")
    sim_url = sim.server.url
    httpx.put(f"{sim_url}/_sim/providers/trace-bad", json={"protocol": "openai-chat", "error_rate": 1.0})
    httpx.put(f"{sim_url}/_sim/providers/trace-good", json={"protocol": "openai-chat"})
    config = {
        "database_url": f"sqlite:///{tmp / 'gw.db'}",
        "catalog": "none",
        "telemetry": {"otlp_endpoint": receiver.url, "service_name": "interlock-test"},
        "providers": [
            {"id": p, "protocol": "openai-chat", "base_url": sim.base_url(p, "openai-chat"), "api_key": "sk-trace"}
            for p in ("trace-bad", "trace-good")
        ],
        "models": [
            {
                "id": "trace-model",
                "offerings": [offering("trace-bad", "bad-1", 0.1, 0.1), offering("trace-good", "good-1", 1.0, 1.0)],
            }
        ],
    }
    server = GatewayServer(loop_thread, config, tmp).start()
    yield server
    server.stop()


def test_request_trace_has_routing_and_attempt_spans(
    traced_gateway: GatewayServer, sim: SimHandle, receiver: Receiver
) -> None:
    key = traced_gateway.create_key(name="tracing")
    body = {
        "model": "trace-model",
        "messages": [{"role": "user", "content": "hello"}],
        "gateway": {"metadata": {"trace_id": "client-trace-42"}},
    }
    headers = {"authorization": f"Bearer {key}", "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    r = httpx.post(traced_gateway.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]

    spans = receiver.trace(TRACE_ID, 4)
    assert len(spans) == 4
    by_name = {s.name: s for s in spans}
    root = by_name["POST /v1/chat/completions"]
    assert root.kind == Span.SPAN_KIND_SERVER
    assert root.parent_span_id.hex() == PARENT_ID  # continues the client's trace
    root_attrs = attrs(root)
    assert root_attrs["http.request.method"] == "POST"
    assert root_attrs["http.route"] == "/v1/chat/completions"
    assert root_attrs["http.response.status_code"] == 200
    assert root_attrs["gen_ai.operation.name"] == "chat"
    assert root_attrs["gen_ai.request.model"] == "trace-model"
    assert root_attrs["gen_ai.response.model"] == "good-1"
    assert root_attrs["gen_ai.system"] == root_attrs["gen_ai.provider.name"] == "trace-good"
    assert root_attrs["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert root_attrs["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert root_attrs["gateway.metadata.trace_id"] == "client-trace-42"
    assert root_attrs["interlock.request_id"] == r.headers["x-request-id"]
    assert root_attrs["interlock.key_id"].startswith("key_")
    assert root_attrs["interlock.attempts"] == 2

    children = [s for s in spans if s.parent_span_id == root.span_id]
    assert sorted(s.name for s in children) == ["chat bad-1", "chat good-1", "interlock.route"]
    route = by_name["interlock.route"]
    assert route.kind == Span.SPAN_KIND_INTERNAL
    assert attrs(route)["interlock.routing.candidates"] == 2
    assert route.start_time_unix_nano >= root.start_time_unix_nano
    assert route.end_time_unix_nano <= by_name["chat bad-1"].start_time_unix_nano

    bad, good = by_name["chat bad-1"], by_name["chat good-1"]
    assert bad.kind == good.kind == Span.SPAN_KIND_CLIENT
    assert bad.end_time_unix_nano <= good.start_time_unix_nano
    assert bad.status.code == Status.STATUS_CODE_ERROR
    assert attrs(bad)["error.type"] == "upstream_error"
    assert attrs(bad)["gen_ai.request.model"] == "bad-1"
    assert attrs(bad)["gen_ai.provider.name"] == "trace-bad"
    assert attrs(bad)["interlock.attempt"] == 1
    good_attrs = attrs(good)
    assert good.status.code != Status.STATUS_CODE_ERROR
    assert good_attrs["gen_ai.request.model"] == good_attrs["gen_ai.response.model"] == "good-1"
    assert good_attrs["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert good_attrs["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert good_attrs["interlock.attempt"] == 2
    assert good_attrs["server.address"] == "127.0.0.1"

    resources = [res for res, s in receiver.spans if s.trace_id.hex() == TRACE_ID]
    assert all(res["service.name"] == "interlock-test" for res in resources)

    # Each upstream call carried the trace context naming its own attempt span.
    for provider, span in (("trace-bad", bad), ("trace-good", good)):
        seen = httpx.get(f"{sim.server.url}/_sim/requests", params={"provider": provider}).json()["requests"]
        assert seen[-1]["headers"]["traceparent"] == f"00-{TRACE_ID}-{span.span_id.hex()}-01"


def test_streamed_request_trace_and_unsampled_parent(traced_gateway: GatewayServer, receiver: Receiver) -> None:
    key = traced_gateway.create_key(name="tracing-stream")
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    headers = {"authorization": f"Bearer {key}", "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
    body = {
        "model": "trace-model",
        "input": "hello",
        "stream": True,
        "gateway": {"routing": {"providers": ["trace-good"]}},
    }
    with httpx.stream("POST", traced_gateway.base_url + "/v1/responses", json=body, headers=headers) as s:
        lines = list(s.iter_lines())
    assert any("response.completed" in line for line in lines)
    spans = receiver.trace(trace_id, 3)
    root = next(s for s in spans if s.kind == Span.SPAN_KIND_SERVER)
    assert attrs(root)["interlock.stream"] is True
    assert attrs(root)["gen_ai.usage.output_tokens"] > 0
    assert attrs(root)["interlock.ttft_ms"] > 0

    # A parent that was not sampled: the gateway records nothing for that trace (ParentBased sampling).
    unsampled = "11111111111111111111111111111111"
    headers["traceparent"] = f"00-{unsampled}-2222222222222222-00"
    chat = {"model": "trace-model", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(traced_gateway.base_url + "/v1/chat/completions", json=chat, headers=headers).status_code == 200
    receiver.trace(trace_id, 3)  # give the exporter a moment; nothing of the unsampled trace may arrive
    time.sleep(1.5)
    assert not [s for _, s in receiver.spans if s.trace_id.hex() == unsampled]
