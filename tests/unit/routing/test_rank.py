"""Pure tests of ``routing.rank``: strategies, weights, constraints, pool vs fallback, prefer, breakers, exploration,
and every documented empty-set error code. No HTTP, no clock: stats and breakers are passed in as snapshots."""

from __future__ import annotations

import random
from typing import Any

import pytest

from interlock.ir.errors import GatewayError
from interlock.ir.request import RoutingOptions
from interlock.routing import (
    FILTERS,
    BreakerView,
    LiveStats,
    Needs,
    Plan,
    RankPolicy,
    rank,
    resolve_models,
)
from interlock.routing.catalog import Catalog, ModelEntry, Offering, Priors, ProviderConfig
from interlock.routing.filters import FilterContext, Item, apply_filters
from interlock.routing.stats import estimate

ALL_CAPS = frozenset(
    {"tools", "tool_choice_required", "vision", "pdf", "json_object", "json_schema", "reasoning", "streaming"}
)


def provider(pid: str, policy: str = "none", **kw: Any) -> ProviderConfig:
    return ProviderConfig(id=pid, protocol="openai-chat", base_url=f"http://{pid}.test/v1", data_policy=policy, **kw)  # type: ignore[arg-type]


def off(pid: str, pmid: str, inp: float | None, out: float | None, ttft: float, tps: float, **kw: Any) -> Offering:
    kw.setdefault("capabilities", ALL_CAPS)
    return Offering(
        provider=pid,
        provider_model_id=pmid,
        input_price=inp,
        output_price=out,
        priors=Priors(ttft_ms=ttft, tps=tps),
        **kw,
    )


def build_catalog() -> Catalog:
    providers = [
        provider("cheap"),
        provider("fast", "no_training"),
        provider("steady", "zdr"),
        provider("off", enabled=False),
        provider("free"),
    ]
    models = [
        # Same model on three hosts: cheap and slow, fast and dear, in between.
        ModelEntry(
            id="m",
            aliases=("m-alias",),
            offerings=(
                off("cheap", "m-cheap", 0.1, 0.3, ttft=900, tps=30),
                off("fast", "m-fast", 0.5, 1.5, ttft=100, tps=300, cache_read_price=0.05),
                off("steady", "m-steady", 0.3, 0.9, ttft=400, tps=100),
            ),
        ),
        ModelEntry(id="m2", offerings=(off("steady", "m2-steady", 1.0, 2.0, ttft=300, tps=120),)),
        ModelEntry(
            id="plain", offerings=(off("cheap", "plain-1", 0.1, 0.1, 500, 50, capabilities=frozenset({"streaming"})),)
        ),
        ModelEntry(
            id="tools-only",
            offerings=(off("cheap", "t-1", 0.1, 0.1, 500, 50, capabilities=frozenset({"tools", "streaming"})),),
        ),
        ModelEntry(
            id="nostream",
            offerings=(off("steady", "ns-1", 1, 1, 100, 100, capabilities=frozenset({"tools"}), streams=False),),
        ),
        ModelEntry(id="resp-only", endpoints=("responses",), offerings=(off("cheap", "r-1", 1, 1, 500, 50),)),
        ModelEntry(id="chat-only", endpoints=("chat_completions",), offerings=(off("cheap", "c-1", 1, 1, 500, 50),)),
        ModelEntry(id="prio-only", offerings=(off("fast", "p-1", 6, 30, 50, 500, tier="priority"),)),
        ModelEntry(
            id="tiers",
            offerings=(off("fast", "t-std", 1, 5, 200, 100), off("fast", "t-prio", 6, 30, 50, 500, tier="priority")),
        ),
        ModelEntry(id="dark", offerings=(off("off", "d-1", 1, 1, 500, 50),)),
        ModelEntry(
            id="params",
            offerings=(
                off("cheap", "p-cheap", 0.1, 0.1, 500, 50, accepted_params=frozenset({"temperature"})),
                off("steady", "p-steady", 0.2, 0.2, 500, 50, accepted_params=frozenset({"temperature", "seed"})),
            ),
        ),
        ModelEntry(
            id="unpriced",
            offerings=(off("free", "u-1", None, None, 300, 100), off("cheap", "u-2", 1.0, 1.0, 300, 100)),
        ),
    ]
    return Catalog(providers, models)


CATALOG = build_catalog()
NEEDS = Needs(input_tokens=1000, output_tokens=500)


def plan_for(
    models: list[str] | str = "m",
    needs: Needs = NEEDS,
    strategy: str = "cost-focus",
    stats: dict[str, LiveStats] | None = None,
    breakers: dict[str, BreakerView] | None = None,
    rng: Any = None,
    policy: RankPolicy | None = None,
    **routing: Any,
) -> Plan:
    names = [models] if isinstance(models, str) else models
    entries = resolve_models(CATALOG, names)
    opts = RoutingOptions(**routing) if routing else None
    kwargs: dict[str, Any] = {"breakers": breakers, "rng": rng}
    if policy is not None:
        kwargs["policy"] = policy
    return rank(CATALOG, entries, needs, opts, strategy, stats or {}, **kwargs)


def providers_of(plan: Plan) -> list[str]:
    return [c.provider.id for c in plan.candidates]


def live(
    ttft: float,
    tps: float,
    n: float = 50,
    *,
    ttft95: float | None = None,
    tps95: float | None = None,
    errors: float = 0.0,
    age: float = 1.0,
) -> LiveStats:
    return LiveStats(
        ttft_p50=ttft,
        ttft_p95=ttft95 if ttft95 is not None else ttft * 1.2,
        tps_p50=tps,
        tps_p95=tps95 if tps95 is not None else tps * 0.8,
        ttft_samples=n,
        tps_samples=n,
        outcomes=n,
        error_rate=errors,
        age_s=age,
    )


class Always:
    """A random source that always draws ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return self.value


# -- strategies and weights ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "first"),
    [
        ("cost", "cheap"),
        ("cost-focus", "cheap"),
        ("ttft", "fast"),
        ("ttft-focus", "fast"),
        ("tps", "fast"),
        ("tps-focus", "fast"),
        ("balanced", "fast"),
    ],
)
def test_every_strategy_orders_the_candidates(strategy: str, first: str) -> None:
    plan = plan_for(strategy=strategy)
    assert plan.strategy == strategy
    assert providers_of(plan)[0] == first
    assert sorted(providers_of(plan)) == ["cheap", "fast", "steady"]
    scores = [c.score for c in plan.candidates]
    assert scores == sorted(scores, reverse=True)


def test_default_cost_focus_is_strictly_by_expected_cost_when_speeds_are_close() -> None:
    assert providers_of(plan_for()) == ["cheap", "steady", "fast"]


def test_focus_presets_lean_harder_than_base_presets() -> None:
    # steady is the all-rounder: the base presets weigh it above a one-dimension extreme more than focus does.
    base = {c.provider.id: c.score for c in plan_for(strategy="ttft").candidates}
    focus = {c.provider.id: c.score for c in plan_for(strategy="ttft-focus").candidates}
    assert focus["fast"] - focus["cheap"] > base["fast"] - base["cheap"]
    assert plan_for(strategy="ttft").weights == {"cost": 0.2, "ttft": 0.6, "throughput": 0.2}
    assert plan_for(strategy="ttft-focus").weights == {"cost": 0.05, "ttft": 0.9, "throughput": 0.05}
    assert plan_for(strategy="balanced").weights == {"cost": 0.3333, "ttft": 0.3333, "throughput": 0.3333}


@pytest.mark.parametrize(
    ("weights", "first"),
    [({"ttft": 1.0}, "fast"), ({"cost": 1.0, "throughput": 0.0}, "cheap"), ({"throughput": 2.0, "cost": 0.1}, "fast")],
)
def test_custom_weights(weights: dict[str, float], first: str) -> None:
    plan = plan_for(strategy="custom", weights=weights)
    assert plan.strategy == "custom"
    assert providers_of(plan)[0] == first
    assert abs(sum(plan.weights.values()) - 1) < 1e-3


def test_live_stats_override_priors() -> None:
    # cheap's prior says slow, but fifty fresh samples say it is now the quickest.
    stats = {"cheap/m-cheap@standard": live(40, 400)}
    plan = plan_for(strategy="ttft-focus", stats=stats)
    assert providers_of(plan)[0] == "cheap"
    top = plan.candidates[0]
    assert top.ttft_source == "live" and top.ttft_ms is not None and top.ttft_ms < 100


def test_percentile_choice_uses_the_tail() -> None:
    # fast has the best median but a terrible tail; at p95 steady wins.
    stats = {
        "fast/m-fast@standard": live(80, 300, ttft95=5000, tps95=20),
        "steady/m-steady@standard": live(300, 100, ttft95=400, tps95=90),
        "cheap/m-cheap@standard": live(900, 30, ttft95=1500, tps95=20),
    }
    assert providers_of(plan_for(strategy="ttft-focus", stats=stats))[0] == "fast"
    assert providers_of(plan_for(strategy="ttft-focus", stats=stats, ttft_percentile="p95"))[0] == "steady"
    assert providers_of(plan_for(strategy="tps-focus", stats=stats))[0] == "fast"
    assert providers_of(plan_for(strategy="tps-focus", stats=stats, throughput_percentile="p95"))[0] == "steady"


def test_unreliable_offering_is_demoted_before_its_breaker_opens() -> None:
    stats = {"cheap/m-cheap@standard": live(900, 30, n=20, errors=0.8)}
    plan = plan_for(strategy="cost", stats=stats)
    assert providers_of(plan)[0] == "steady"
    assert plan.candidates[-1].failure_rate > 0.5


def test_expected_cost_uses_cached_price_when_a_cache_is_likely() -> None:
    cold = {c.provider.id: c.expected_cost_usd for c in plan_for(needs=NEEDS).candidates}
    warm_needs = Needs(input_tokens=1000, output_tokens=500, cache_share=0.75)
    warm = {c.provider.id: c.expected_cost_usd for c in plan_for(needs=warm_needs).candidates}
    assert cold["fast"] == pytest.approx((1000 * 0.5 + 500 * 1.5) / 1e6)
    assert warm["fast"] == pytest.approx((250 * 0.5 + 750 * 0.05 + 500 * 1.5) / 1e6)
    assert warm["cheap"] == cold["cheap"]  # no cache price: no discount


def test_unpriced_offerings_rank_as_most_expensive_and_report_no_cost() -> None:
    plan = plan_for("unpriced")
    assert providers_of(plan) == ["cheap", "free"]
    assert plan.candidates[1].expected_cost_usd is None
    assert providers_of(plan_for("unpriced", strategy="custom", weights={"ttft": 1}))  # both still candidates


# -- pool vs fallback, prefer, aliases -----------------------------------------------------------------


def test_pool_scores_every_offering_of_every_model_together() -> None:
    plan = plan_for(["m2", "m"], mode="pool")
    assert plan.mode == "pool"
    assert providers_of(plan)[0] == "cheap"
    assert [c.model.id for c in plan.candidates][-1] == "m2"  # the dearest offering overall


def test_fallback_keeps_model_order_and_sorts_within_each_model() -> None:
    plan = plan_for(["m2", "m"], mode="fallback")
    assert [(c.model.id, c.provider.id) for c in plan.candidates] == [
        ("m2", "steady"),
        ("m", "cheap"),
        ("m", "steady"),
        ("m", "fast"),
    ]


def test_aliases_resolve_and_duplicates_collapse() -> None:
    models = resolve_models(CATALOG, ["m-alias", "m"])
    assert [m.id for m in models] == ["m"]
    with pytest.raises(GatewayError) as info:
        resolve_models(CATALOG, ["m", "nope"])
    assert (info.value.code, info.value.status, info.value.param) == ("model_not_found", 404, "gateway.models[1]")
    assert info.value.suggestion


def test_prefer_goes_first_when_available_and_never_excludes() -> None:
    plan = plan_for(prefer="fast")
    assert providers_of(plan) == ["fast", "cheap", "steady"]
    assert plan.candidates[0].preferred
    assert providers_of(plan_for(prefer="FAST"))[0] == "fast"  # provider ids match case-insensitively
    assert providers_of(plan_for(prefer="nobody")) == ["cheap", "steady", "fast"]
    # A preferred provider that a filter removed stays removed; the request still succeeds elsewhere.
    plan = plan_for(prefer="fast", exclude_providers=["fast"])
    assert providers_of(plan) == ["cheap", "steady"]


# -- constraints and policy filters --------------------------------------------------------------------


def test_max_cost_per_1m_uses_the_blended_price() -> None:
    plan = plan_for(max_cost_per_1m=0.6)  # cheap 0.2, steady 0.6, fast 1.0
    assert providers_of(plan) == ["cheap", "steady"]
    (gone,) = plan.excluded
    assert (gone.provider, gone.reason, gone.code) == ("fast", "max_cost_per_1m", "cost_constraint_exceeded")
    assert "exceeds" in gone.detail


def test_max_ttft_and_min_throughput_at_the_chosen_percentile() -> None:
    assert providers_of(plan_for(max_ttft_ms=500)) == ["steady", "fast"]
    # At p95 the priors are x1.5: steady 600 ms no longer fits under 500.
    assert providers_of(plan_for(max_ttft_ms=500, ttft_percentile="p95")) == ["fast"]
    assert providers_of(plan_for(min_throughput_tps=90)) == ["steady", "fast"]
    assert providers_of(plan_for(min_throughput_tps=90, throughput_percentile="p95")) == ["fast"]


def test_performance_filters_let_unknown_offerings_through() -> None:
    catalog = Catalog(
        [provider("x")],
        [
            ModelEntry(
                id="u",
                offerings=(
                    Offering(provider="x", provider_model_id="u", input_price=1, output_price=1, capabilities=ALL_CAPS),
                ),
            )
        ],
    )
    plan = rank(catalog, resolve_models(catalog, ["u"]), NEEDS, RoutingOptions(max_ttft_ms=1), "ttft", {})
    assert providers_of(plan) == ["x"] and plan.candidates[0].ttft_source == "default"


def test_data_policy_providers_and_exclusions() -> None:
    assert providers_of(plan_for(data_policy="no_training")) == ["steady", "fast"]
    assert providers_of(plan_for(data_policy="zdr")) == ["steady"]
    assert providers_of(plan_for(data_policy="none")) == ["cheap", "steady", "fast"]
    assert providers_of(plan_for(providers=["fast", "steady"])) == ["steady", "fast"]
    assert providers_of(plan_for(exclude_providers=["cheap"])) == ["steady", "fast"]
    assert providers_of(plan_for(only_platform=True)) == ["cheap", "steady", "fast"]


def test_tier_opt_in() -> None:
    plan = plan_for("tiers")
    assert [c.offering.provider_model_id for c in plan.candidates] == ["t-std"]
    assert [(x.provider_model_id, x.reason) for x in plan.excluded] == [("t-prio", "tier")]
    plan = plan_for("tiers", tier="priority")
    assert [c.offering.provider_model_id for c in plan.candidates] == ["t-prio"]
    # No priority offering among the survivors: tier "priority" falls back to the standard ones.
    assert [c.offering.provider_model_id for c in plan_for("m", tier="priority").candidates] != []


def test_require_parameters_keeps_offerings_that_accept_every_parameter() -> None:
    needs = Needs(params=frozenset({"seed", "temperature"}))
    assert providers_of(plan_for("params", needs=needs)) == ["cheap", "steady"]  # flag off: params get dropped later
    plan = plan_for("params", needs=needs, require_parameters=True)
    assert providers_of(plan) == ["steady"]
    assert plan.excluded[0].reason == "require_parameters" and "seed" in plan.excluded[0].detail


def test_exclusions_record_the_first_filter_that_removed_each_offering() -> None:
    plan = plan_for(data_policy="no_training", max_cost_per_1m=0.7)
    reasons = {x.provider: (x.reason, x.code) for x in plan.excluded}
    assert reasons == {
        "cheap": ("data_policy", "no_provider_available"),
        "fast": ("max_cost_per_1m", "cost_constraint_exceeded"),
    }
    assert providers_of(plan) == ["steady"]


def test_filter_table_runs_in_the_documented_stage_order() -> None:
    order = ["capability", "policy", "performance", "parameters"]
    stages = [order.index(f.stage) for f in FILTERS]
    assert stages == sorted(stages)
    assert len({f.name for f in FILTERS}) == len(FILTERS)


# -- the empty-set error codes -------------------------------------------------------------------------

CASES: list[tuple[str, str, dict[str, Any], Needs, int]] = [
    ("tools_not_supported", "plain", {}, Needs(capabilities=frozenset({"tools"})), 400),
    (
        "tool_choice_required_not_supported",
        "tools-only",
        {},
        Needs(capabilities=frozenset({"tools", "tool_choice_required"})),
        400,
    ),
    ("vision_not_supported", "plain", {}, Needs(capabilities=frozenset({"vision"})), 400),
    ("unsupported_modalities", "plain", {}, Needs(capabilities=frozenset({"pdf"})), 400),
    ("json_mode_not_supported", "plain", {}, Needs(capabilities=frozenset({"json_object"})), 400),
    ("structured_output_not_supported", "plain", {}, Needs(capabilities=frozenset({"json_schema"})), 400),
    ("reasoning_not_supported", "plain", {}, Needs(capabilities=frozenset({"reasoning"})), 400),
    ("streaming_not_supported", "nostream", {}, Needs(capabilities=frozenset({"tools", "streaming"})), 400),
    ("response_api_only", "resp-only", {}, Needs(endpoint="chat_completions"), 400),
    ("no_responses_endpoint", "chat-only", {}, Needs(endpoint="responses"), 400),
    ("cost_constraint_exceeded", "m", {"max_cost_per_1m": 0.01}, NEEDS, 400),
    ("latency_constraint_exceeded", "m", {"max_ttft_ms": 50}, NEEDS, 400),
    ("throughput_constraint_not_met", "m", {"min_throughput_tps": 10_000}, NEEDS, 400),
    ("provider_not_in_allowlist", "m", {"providers": ["elsewhere"]}, NEEDS, 400),
    ("provider_blocked", "m", {"exclude_providers": ["cheap", "fast", "steady"]}, NEEDS, 400),
    ("required_params_not_supported", "params", {"require_parameters": True}, Needs(params=frozenset({"top_k"})), 400),
    ("byok_keys_required", "m", {"only_byok": True}, NEEDS, 400),
    ("tier_opt_in_required", "prio-only", {}, NEEDS, 400),
    ("no_provider_available", "plain", {"data_policy": "zdr"}, NEEDS, 503),
    ("no_provider_available", "dark", {}, NEEDS, 503),
]


@pytest.mark.parametrize(("code", "model", "routing", "needs", "status"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_empty_set_raises_the_specific_code(
    code: str, model: str, routing: dict[str, Any], needs: Needs, status: int
) -> None:
    with pytest.raises(GatewayError) as info:
        plan_for(model, needs=needs, **routing)
    err = info.value
    assert (err.code, err.status) == (code, status)
    assert err.suggestion
    if code == "required_params_not_supported":
        assert err.param == "top_k"


def test_platform_keys_unavailable_filter() -> None:
    # Every enabled provider's key is a platform key, so only a provider without one fails the filter.
    model = CATALOG.resolve("m")
    assert model is not None
    item = Item(model, model.offerings[0], provider("nokey", enabled=False), estimate(model.offerings[0], None))
    ctx = FilterContext.build(NEEDS, RoutingOptions(only_platform=True), [model])
    with pytest.raises(GatewayError) as info:
        apply_filters([item], ctx)
    assert info.value.code == "platform_keys_unavailable" and info.value.param == "gateway.routing.only_platform"


def test_capability_error_names_the_first_missing_capability_in_order() -> None:
    with pytest.raises(GatewayError) as info:
        plan_for("plain", needs=Needs(capabilities=frozenset({"json_schema", "tools"})))
    assert info.value.code == "tools_not_supported"


# -- breakers ------------------------------------------------------------------------------------------


def test_open_breakers_are_excluded_with_reason_and_half_open_ones_probe() -> None:
    views = {
        "cheap/m-cheap@standard": BreakerView("open", 5, 10.0, 12.0),
        "steady/m-steady@standard": BreakerView("half_open", 5, 5.0, 0.0),
    }
    plan = plan_for(breakers=views)
    assert providers_of(plan) == ["steady", "fast"]
    assert plan.candidates[0].breaker == "half_open"
    (gone,) = plan.excluded
    assert (gone.provider, gone.reason) == ("cheap", "circuit_open")
    assert not plan.all_circuits_open


def test_when_every_breaker_is_open_the_least_recently_failed_goes_first() -> None:
    views = {
        "cheap/m-cheap@standard": BreakerView("open", 5, 30.0, 5.0),
        "fast/m-fast@standard": BreakerView("open", 9, 10.0, 5.0),
        "steady/m-steady@standard": BreakerView("open", 5, 20.0, 5.0),
    }
    plan = plan_for(breakers=views)
    assert plan.all_circuits_open
    assert providers_of(plan) == ["fast", "steady", "cheap"]
    assert plan.excluded == []


# -- exploration ---------------------------------------------------------------------------------------

WARM = {
    "cheap/m-cheap@standard": live(900, 30),
    "fast/m-fast@standard": live(100, 300),
    "steady/m-steady@standard": live(400, 100, n=1.0),  # thin: one sample
}


def test_exploration_moves_a_thin_candidate_to_the_front() -> None:
    plan = plan_for(strategy="ttft", stats=WARM, rng=Always(0.0))
    assert plan.explored
    assert providers_of(plan) == ["steady", "fast", "cheap"]
    assert [c.explore for c in plan.candidates] == [True, False, False]


def test_stale_stats_are_explored_too() -> None:
    stats = {**WARM, "steady/m-steady@standard": live(400, 100, n=30, age=600)}
    assert providers_of(plan_for(strategy="ttft", stats=stats, rng=Always(0.0)))[0] == "steady"


def test_exploration_is_bounded_by_its_rate() -> None:
    rng = random.Random(42)
    explored = sum(plan_for(strategy="ttft", stats=WARM, rng=rng).explored for _ in range(4000))
    assert 120 <= explored <= 290  # 5% of 4000 = 200
    assert not plan_for(strategy="ttft", stats=WARM, rng=Always(0.06)).explored


def test_no_exploration_when_pinned_or_cost_focused_or_nothing_is_thin() -> None:
    rng = Always(0.0)
    assert not plan_for(strategy="ttft", stats=WARM, rng=rng, providers=["cheap", "fast", "steady"]).explored
    assert not plan_for(strategy="cost-focus", stats=WARM, rng=rng).explored
    warm = {**WARM, "steady/m-steady@standard": live(400, 100)}
    assert not plan_for(strategy="ttft", stats=warm, rng=rng).explored
    assert not plan_for(strategy="ttft", stats=WARM, rng=None).explored
    assert not plan_for(strategy="ttft", stats=WARM, rng=rng, policy=RankPolicy(explore_rate=0.0)).explored


def test_fallback_mode_explores_only_the_first_model() -> None:
    stats = {**WARM, "steady/m2-steady@standard": live(300, 120, n=0.5)}
    plan = plan_for(["m", "m2"], strategy="ttft", mode="fallback", stats=stats, rng=Always(0.0))
    assert plan.candidates[0].model.id == "m" and plan.candidates[0].explore
    assert plan.candidates[-1].model.id == "m2"


def test_rank_is_pure() -> None:
    a = plan_for(strategy="balanced", stats=WARM, rng=random.Random(3))
    b = plan_for(strategy="balanced", stats=WARM, rng=random.Random(3))
    assert [c.describe() for c in a.candidates] == [c.describe() for c in b.candidates]
    assert a.describe() == b.describe()


# -- attempts ------------------------------------------------------------------------------------------


def test_attempt_limits_and_timeouts() -> None:
    plan = plan_for()
    assert (plan.allow_fallbacks, plan.max_attempts, plan.timeout_ms, plan.deadline_ms) == (True, 3, None, None)
    plan = plan_for(allow_fallbacks=False, max_fallback_attempts=5, timeout_ms=1000, deadline_ms=5000)
    assert (plan.allow_fallbacks, plan.max_attempts, plan.timeout_ms, plan.deadline_ms) == (False, 6, 1000, 5000)
    assert plan.attempt_timeout_ms(plan.candidates[0]) == 1000
    policy = RankPolicy(default_timeout_ms=100_000, reasoning_timeout_ms=400_000)
    plan = plan_for("plain", policy=policy)
    assert plan.attempt_timeout_ms(plan.candidates[0]) == 100_000
    plan = plan_for("m", policy=policy)  # offerings list the reasoning capability
    assert plan.attempt_timeout_ms(plan.candidates[0]) == 400_000


def test_plan_describes_every_candidate_and_exclusion() -> None:
    decision = plan_for(max_cost_per_1m=0.6, strategy="ttft").describe()
    assert decision["strategy"] == "ttft" and decision["mode"] == "pool"
    first = decision["candidates"][0]
    for key in ("provider", "input_price", "output_price", "expected_cost_usd", "ttft_ms", "tps", "score", "explore"):
        assert key in first
    assert decision["excluded"][0]["excluded"] == "max_cost_per_1m"
    assert decision["estimate"] == {"input_tokens": 1000, "output_tokens": 500, "cache_share": 0.0}


def test_no_exploration_past_an_available_preferred_provider() -> None:
    plan = plan_for(strategy="ttft", stats=WARM, rng=Always(0.0), prefer="fast")
    assert not plan.explored and providers_of(plan)[0] == "fast"
