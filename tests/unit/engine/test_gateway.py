"""Gateway.plan: suffixes, strategy resolution, needs of a request, stats and breakers fed into ranking."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.engine import Gateway, StatsObserver, needs_of, split_suffix
from interlock.ir.errors import GatewayError, UpstreamError
from interlock.ir.parse import parse_response_request
from interlock.ir.request import ResponseRequest
from interlock.routing import Breakers, MemoryStats
from interlock.routing.catalog import Catalog, ModelEntry, Offering, Priors, ProviderConfig
from interlock.routing.rank import RankPolicy

CAPS = frozenset({"tools", "tool_choice_required", "vision", "json_object", "json_schema", "streaming", "reasoning"})

# Ordering assertions must not depend on the 5% exploration draw.
NO_EXPLORATION = RankPolicy(explore_rate=0.0)


def catalog() -> Catalog:
    providers = [
        ProviderConfig(id=p, protocol="openai-chat", base_url=f"http://{p}.test/v1") for p in ("cheap", "fast")
    ]
    m = ModelEntry(
        id="m",
        aliases=("m-latest",),
        offerings=(
            Offering(provider="cheap", provider_model_id="m-c", input_price=0.1, output_price=0.2, capabilities=CAPS,
                     priors=Priors(ttft_ms=900, tps=30)),
            Offering(provider="fast", provider_model_id="m-f", input_price=1, output_price=2, capabilities=CAPS,
                     priors=Priors(ttft_ms=90, tps=300)),
        ),
    )  # fmt: skip
    return Catalog(providers, [m, ModelEntry(id="ft:m:org:x", offerings=m.offerings)])


def req(**body: Any) -> ResponseRequest:
    return parse_response_request({"input": "hi", **body})[0]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o:ttft", ("gpt-4o", "ttft")),
        ("gpt-4o:cost-focus", ("gpt-4o", "cost-focus")),
        ("gpt-4o:balanced", ("gpt-4o", "balanced")),
        ("gpt-4o:floor", ("gpt-4o", "cost-focus")),
        ("gpt-4o:nitro", ("gpt-4o", "tps")),
        ("gpt-4o:free", ("gpt-4o:free", None)),
        ("ft:gpt-4o:org:ttft", ("ft:gpt-4o:org:ttft", None)),
        ("gpt-4o", ("gpt-4o", None)),
    ],
)
def test_split_suffix(model: str, expected: tuple[str, str | None]) -> None:
    assert split_suffix(model) == expected


def test_strategy_comes_from_optimize_then_suffix_then_default_and_weights_make_it_custom() -> None:
    gw = Gateway(catalog(), session=None, policy=NO_EXPLORATION)
    assert gw.plan(req(model="m")).strategy == "cost-focus"
    assert gw.plan(req(model="m:ttft")).strategy == "ttft"
    assert gw.plan(req(model="m-latest:ttft")).candidates[0].provider.id == "fast"
    assert gw.plan(req(model="m:ttft", gateway={"routing": {"optimize": "cost"}})).strategy == "cost"
    assert gw.plan(req(gateway={"models": ["m:tps"], "routing": {"weights": {"cost": 1}}})).strategy == "custom"
    assert gw.plan(req(model="ft:m:org:x")).candidates[0].model.id == "ft:m:org:x"


def test_unknown_model_is_404() -> None:
    with pytest.raises(GatewayError) as info:
        Gateway(catalog(), session=None).plan(req(model="nope:ttft"))
    assert (info.value.code, info.value.param) == ("model_not_found", "model")


def test_needs_of_a_request() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    needs = needs_of(req(model="m", tools=[tool], tool_choice="required", stream=True))
    assert needs.capabilities == {"tools", "tool_choice_required", "streaming"}
    assert needs_of(req(model="m", tools=[tool], tool_choice="none")).capabilities == frozenset()
    image = {"role": "user", "content": [{"type": "input_image", "image_url": "data:x"}]}
    assert needs_of(req(model="m", input=[image])).capabilities == {"vision"}
    schema = {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}}
    assert needs_of(req(model="m", text=schema)).capabilities == {"json_schema"}
    assert needs_of(req(model="m", reasoning={"effort": "high"})).capabilities == {"reasoning"}
    assert needs_of(req(model="m", reasoning={"effort": "minimal"})).capabilities == frozenset()
    assert needs_of(req(model="m"), endpoint="chat_completions").endpoint == "chat_completions"


def test_needs_of_sizes_and_parameters() -> None:
    needs = needs_of(req(model="m", input="x" * 4000, max_output_tokens=64, prompt_cache_key="k"))
    assert (needs.input_tokens, needs.output_tokens, needs.cache_share) == (1000, 64, 0.75)
    assert needs_of(req(model="m", seed=1, temperature=0.5)).params == frozenset()  # only with require_parameters
    routing = {"routing": {"require_parameters": True}}
    assert needs_of(req(model="m", seed=1, temperature=0.5, gateway=routing)).params == {"seed", "temperature"}


def test_plan_reads_live_stats_and_breakers() -> None:
    stats = MemoryStats(refresh_s=0)
    breakers = Breakers(threshold=1)
    gw = Gateway(catalog(), session=None, stats=stats, breakers=breakers, policy=NO_EXPLORATION)
    for _ in range(30):
        stats.record("cheap/m-c@standard", "ok", ttft_ms=20, tps=900)
    assert gw.plan(req(model="m:ttft-focus")).candidates[0].provider.id == "cheap"
    breakers.on_failure("cheap/m-c@standard")
    plan = gw.plan(req(model="m"))
    assert [c.provider.id for c in plan.candidates] == ["fast"]
    assert plan.excluded[0].reason == "circuit_open"


def test_default_timeouts_follow_settings() -> None:
    gw = Gateway(catalog(), session=None, default_timeout_ms=200_000)
    assert (gw.policy.default_timeout_ms, gw.policy.reasoning_timeout_ms) == (200_000, 600_000)
    gw = Gateway(catalog(), session=None, default_timeout_ms=400_000)
    assert gw.policy.reasoning_timeout_ms == 800_000


def test_stats_observer_only_blames_the_provider_for_provider_failures() -> None:
    stats = MemoryStats(refresh_s=0)
    breakers = Breakers(threshold=1)
    observer = StatsObserver(stats, breakers)
    candidate = Gateway(catalog(), session=None).plan(req(model="m")).candidates[0]
    observer.attempt_started(candidate)
    observer.attempt_failed(candidate, GatewayError("context_length_exceeded"), 5.0)
    observer.attempt_started(candidate)
    observer.attempt_failed(candidate, UpstreamError("upstream_timeout", retryable=False), 5.0)
    assert breakers.view(candidate.key).state == "closed"
    assert stats.snapshot([candidate.key])[candidate.key].outcomes == 0
    observer.attempt_started(candidate)
    observer.attempt_failed(candidate, UpstreamError("upstream_error", upstream_status=503), 5.0)
    assert breakers.view(candidate.key).state == "open"
    view = stats.snapshot([candidate.key])[candidate.key]
    assert (view.error_rate, view.in_flight) == (1.0, 0)
