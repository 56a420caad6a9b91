"""The trip with a scripted upstream (the ``UpstreamCall`` seam): fallback, timeouts, deadline, streams, breakers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from interlock.engine import Gateway, Trip
from interlock.ir import events as ev
from interlock.ir.errors import GatewayError, UpstreamError
from interlock.ir.parse import parse_response_request
from interlock.providers.base import Adapter, NativeRequest, Target
from interlock.routing import Breakers, MemoryStats
from interlock.routing.catalog import Catalog, ModelEntry, Offering, Priors, ProviderConfig

Behaviour = Callable[[Target], AsyncIterator[ev.Event]]
CAPS = frozenset({"tools", "streaming", "json_object"})


def catalog() -> Catalog:
    providers = [ProviderConfig(id=p, protocol="openai-chat", base_url=f"http://{p}.test/v1") for p in ("a", "b", "c")]
    offerings = tuple(
        Offering(
            provider=p,
            provider_model_id=f"m-{p}",
            input_price=price,
            output_price=price,
            capabilities=CAPS,
            priors=Priors(ttft_ms=100, tps=100),
        )
        for p, price in (("a", 1.0), ("b", 2.0), ("c", 3.0))
    )
    return Catalog(providers, [ModelEntry(id="m", offerings=offerings)])


async def ok(target: Target, words: int = 3, delay: float = 0.0, gap: float = 0.0) -> AsyncIterator[ev.Event]:
    if delay:
        await asyncio.sleep(delay)
    yield ev.ResponseInfo(model=target.provider_model_id)
    for i in range(words):
        if gap and i:
            await asyncio.sleep(gap)
        yield ev.TextDelta(text=f"w{i} ")
    yield ev.Usage(input_tokens=10, output_tokens=words)
    yield ev.Finish(reason="stop")


async def fail(target: Target, status: int = 500, retryable: bool = True) -> AsyncIterator[ev.Event]:
    code = "upstream_error" if retryable else "context_length_exceeded"
    raise UpstreamError(code, f"{target.provider} {status}", provider=target.provider, upstream_status=status,
                        retryable=retryable)  # fmt: skip
    yield ev.Finish(reason="stop")  # pragma: no cover - makes this an async generator


async def hang(target: Target) -> AsyncIterator[ev.Event]:
    await asyncio.sleep(30)
    yield ev.Finish(reason="stop")  # pragma: no cover


async def break_midstream(target: Target) -> AsyncIterator[ev.Event]:
    yield ev.TextDelta(text="partial ")
    yield ev.TextDelta(text="answer ")
    yield ev.StreamError(error=UpstreamError("upstream_error", "cut", provider=target.provider, retryable=True))


class Script:
    """A fake ``transport.call``: each provider gets a behaviour; every call is recorded."""

    def __init__(self, **behaviours: Behaviour) -> None:
        self.behaviours = behaviours
        self.calls: list[tuple[str, float]] = []

    def __call__(
        self,
        session: Any,
        adapter: Adapter,
        native: NativeRequest,
        target: Target,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> AsyncIterator[ev.Event]:
        self.calls.append((target.provider, read_timeout))
        return self.behaviours.get(target.provider, ok)(target)

    @property
    def providers(self) -> list[str]:
        return [p for p, _ in self.calls]


def gateway(script: Script, **kw: Any) -> Gateway:
    return Gateway(catalog(), session=None, call=script, **kw)


def request(stream: bool = False, **routing: Any) -> Any:
    body: dict[str, Any] = {"model": "m", "input": "hello", "stream": stream}
    if routing:
        body["gateway"] = {"routing": routing}
    return parse_response_request(body)[0]


async def run(trip: Trip) -> list[ev.Event]:
    await trip.open()
    return [e async for e in trip.events()]


async def test_first_candidate_answers() -> None:
    script = Script()
    gw = gateway(script)
    trip = gw.prepare(request())
    events = await run(trip)
    assert script.providers == ["a"]
    assert any(isinstance(e, ev.Finish) for e in events)
    meta = gw.routing_metadata(trip, explain=True)
    assert (meta["provider"], meta["provider_model_id"], meta["model_canonical"]) == ("a", "m-a", "m")
    assert meta["routing_strategy"] == "cost-focus"
    assert meta["cost"]["usd"] == pytest.approx(13 / 1e6)
    assert "ttft_ms" not in meta  # non-streaming
    attempts = meta["decision"]["attempts"]
    assert [(a["provider"], a["outcome"], a["error_code"]) for a in attempts] == [("a", "ok", None)]
    assert [c["provider"] for c in meta["decision"]["candidates"]] == ["a", "b", "c"]


async def test_retryable_failures_fall_back_and_caller_errors_do_not() -> None:
    script = Script(a=fail, b=lambda t: fail(t, 429))
    gw = gateway(script)
    trip = gw.prepare(request())
    await run(trip)
    assert script.providers == ["a", "b", "c"]
    assert trip.chosen is not None and trip.chosen.provider.id == "c"
    assert [a.outcome for a in trip.attempts] == ["error", "error", "ok"]

    script = Script(a=lambda t: fail(t, 400, retryable=False))
    with pytest.raises(GatewayError) as info:
        await gateway(script).prepare(request()).open()
    assert info.value.code == "context_length_exceeded"
    assert script.providers == ["a"]


async def test_allow_fallbacks_and_max_attempts() -> None:
    script = Script(a=fail, b=fail, c=fail)
    with pytest.raises(GatewayError) as info:
        await gateway(script).prepare(request(allow_fallbacks=False)).open()
    assert script.providers == ["a"] and info.value.code == "upstream_error"

    script = Script(a=fail, b=fail, c=fail)
    with pytest.raises(GatewayError) as info:
        await gateway(script).prepare(request(max_fallback_attempts=1)).open()
    assert script.providers == ["a", "b"]
    assert info.value.status == 502


async def test_attempt_timeout_falls_back_with_a_provider_timeout_warning() -> None:
    script = Script(a=hang)
    gw = gateway(script)
    trip = gw.prepare(request(timeout_ms=50))
    started = time.monotonic()
    await run(trip)
    assert time.monotonic() - started < 2
    assert script.providers == ["a", "b"]
    assert [a.outcome for a in trip.attempts] == ["timeout", "ok"]
    meta = gw.routing_metadata(trip)
    assert meta["provider"] == "b"
    assert [w["type"] for w in meta["warnings"]] == ["provider_timeout"]
    assert gw.stats.snapshot(["a/m-a@standard"])["a/m-a@standard"].timeout_rate == 1.0


async def test_deadline_bounds_the_whole_trip_without_blaming_the_provider() -> None:
    script = Script(a=hang, b=hang, c=hang)
    gw = gateway(script)
    trip = gw.prepare(request(timeout_ms=80, deadline_ms=200))
    started = time.monotonic()
    with pytest.raises(GatewayError) as info:
        await trip.open()
    elapsed = time.monotonic() - started
    assert 0.15 < elapsed < 1.0
    assert info.value.code == "upstream_timeout" and info.value.status == 504
    # Two full attempts (80 ms each), then what is left of the deadline; the clipped one is not the provider's fault.
    assert script.providers == ["a", "b", "c"]
    assert script.calls[2][1] < 0.08
    assert gw.stats.snapshot(["c/m-c@standard"])["c/m-c@standard"].outcomes == 0


async def test_default_timeout_is_the_plans() -> None:
    script = Script()
    gw = gateway(script, default_timeout_ms=1234)
    await run(gw.prepare(request()))
    assert script.calls[0][1] == pytest.approx(1.234)


async def test_streams_fall_back_only_before_the_first_byte() -> None:
    script = Script(a=fail, b=break_midstream)
    gw = gateway(script)
    trip = gw.prepare(request(stream=True))
    events = await run(trip)
    assert script.providers == ["a", "b"]  # a failed before any byte; b broke after two deltas: no third call
    texts = [e.text for e in events if isinstance(e, ev.TextDelta)]
    assert texts == ["partial ", "answer "]
    assert isinstance(events[-1], ev.StreamError)
    assert [a.outcome for a in trip.attempts] == ["error", "error"]
    assert trip.error is not None and trip.error.code == "upstream_error"


async def test_stream_success_records_ttft_and_tps() -> None:
    script = Script(a=lambda t: ok(t, words=5, delay=0.02, gap=0.005))
    gw = gateway(script)
    trip = gw.prepare(request(stream=True))
    await run(trip)
    meta = gw.routing_metadata(trip)
    assert meta["ttft_ms"] >= 15 and meta["throughput_tps"] > 0
    view = gw.stats.snapshot(["a/m-a@standard"])["a/m-a@standard"]
    assert view.ttft_samples == pytest.approx(1, rel=1e-2) and view.ttft_p50 is not None and view.ttft_p50 >= 15
    assert view.in_flight == 0


async def test_non_streamed_success_counts_only_the_outcome() -> None:
    gw = gateway(Script())
    await run(gw.prepare(request()))
    view = gw.stats.snapshot(["a/m-a@standard"])["a/m-a@standard"]
    assert (view.outcomes, view.ttft_samples, view.in_flight) == (pytest.approx(1, rel=1e-2), 0, 0)


async def test_breaker_keeps_a_failing_provider_out_of_later_plans() -> None:
    clock = [0.0]
    breakers = Breakers(threshold=2, cooldown_s=10, clock=lambda: clock[0])
    script = Script(a=fail)
    gw = gateway(script, breakers=breakers, stats=MemoryStats(refresh_s=0))
    for _ in range(2):
        await run(gw.prepare(request()))
    assert script.providers == ["a", "b", "a", "b"]
    trip = gw.prepare(request())
    assert [x.reason for x in trip.plan.excluded] == ["circuit_open"]
    await run(trip)
    assert script.providers[-1] == "b" and script.providers.count("a") == 2
    # After the cooldown one probe goes to a; it has recovered, so the breaker closes.
    clock[0] = 11
    script.behaviours.pop("a")
    trip = gw.prepare(request())
    assert trip.plan.candidates[0].breaker == "half_open"
    await run(trip)
    assert script.providers[-1] == "a"
    assert breakers.view("a/m-a@standard").state == "closed"


async def test_every_breaker_open_still_tries_the_least_recently_failed() -> None:
    clock = [0.0]
    breakers = Breakers(threshold=1, cooldown_s=60, clock=lambda: clock[0])
    for key in ("b/m-b@standard", "a/m-a@standard", "c/m-c@standard"):
        clock[0] += 1
        breakers.on_failure(key)
    script = Script()
    gw = gateway(script, breakers=breakers)
    trip = gw.prepare(request())
    assert trip.plan.all_circuits_open
    await run(trip)
    assert script.providers == ["b"]
    assert breakers.view("b/m-b@standard").state == "closed"


async def test_cancelled_stream_releases_in_flight() -> None:
    gw = gateway(Script(a=lambda t: ok(t, words=50)))
    trip = gw.prepare(request(stream=True))
    await trip.open()
    assert gw.stats.snapshot(["a/m-a@standard"])["a/m-a@standard"].in_flight == 1
    events = trip.events()
    await events.__anext__()
    await trip.cancel()
    await events.aclose()
    assert trip.attempts[0].outcome == "cancelled"
    assert gw.stats.snapshot(["a/m-a@standard"])["a/m-a@standard"].in_flight == 0


async def test_routing_errors_surface_before_any_attempt() -> None:
    script = Script()
    with pytest.raises(GatewayError) as info:
        gateway(script).prepare(request(providers=["nobody"]))
    assert info.value.code == "provider_not_in_allowlist"
    assert script.calls == []
