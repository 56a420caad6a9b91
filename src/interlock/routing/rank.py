"""Ranking: needs + routing options + strategy + a stats snapshot -> an ordered attempt plan with reasons.

Theory of operation
-------------------
:func:`rank` is a pure function (design.md 1: "routing is data plus a pure function"). Everything that varies,
the live stats, the breakers and the randomness of exploration, comes in as arguments, so the same inputs give
the same plan, tests need no HTTP, and decisions can be replayed offline. Steps:

1. *Enumerate* every offering of every requested model on an enabled provider (aliases were resolved to
   canonical models by :func:`resolve_models`; a model listed twice counts once). None at all: 503
   ``no_provider_available``.
2. *Estimate* each offering's TTFT and TPS at the requested percentiles (``routing.stats.estimate``: live
   samples blended with catalog priors) and its failure rate.
3. *Filter* with the table in ``routing.filters`` (capability -> policy -> performance -> require_parameters);
   every exclusion is recorded with its reason and an empty set raises that filter's documented error.
4. *Breakers*: offerings whose circuit is open are excluded (reason ``circuit_open``). If that would leave
   nothing, all of them stay, ordered by least recent failure: the request still gets a chance, and the
   oldest failure is the likeliest to have recovered (``Plan.all_circuits_open``).
5. *Score* the rest (``routing.scoring``: expected cost, TTFT, TPS normalised across candidates, strategy
   weights, reliability penalty, ``prefer`` bonus) and *order*: ``pool`` sorts all candidates together;
   ``fallback`` keeps the order of ``gateway.models`` and sorts within each model. Ties go to the cheaper
   expected cost, then catalog order.
6. *Explore*: with probability ``policy.explore_rate`` (5%), one candidate whose stats are thin (fewer than
   ``explore_min_samples`` effective samples) or stale (newest sample older than ``explore_stale_s``) moves to
   the front, flagged ``explore``, so a provider that got faster, or was never measured, is noticed. The
   rest of the plan stays as ranked, so a failed exploration still falls back. Exploration never runs when
   the caller pinned providers (``providers`` allowlist) or its ``prefer`` provider is available, when the
   strategy puts less than
   ``explore_min_performance`` (20%) of its weight on speed (``cost-focus``: a faster provider would not change
   the choice, and the detour costs the caller money), or when fewer than two candidates are left. In
   ``fallback`` mode it only considers offerings of the first model. The random draw is taken from the ``rng``
   argument (seeded in tests), once per request where exploration may run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from interlock.ir.errors import GatewayError
from interlock.ir.request import RoutingOptions
from interlock.routing.breaker import BreakerView
from interlock.routing.catalog import Catalog, ModelEntry
from interlock.routing.filters import FilterContext, Item, Needs, apply_filters
from interlock.routing.plan import Candidate, Exclusion, Plan
from interlock.routing.scoring import DEFAULT_STRATEGY, Dimensions, Weights, expected_cost, score, weights_for
from interlock.routing.stats import LiveStats, estimate

__all__ = ["DEFAULT_POLICY", "DEFAULT_STRATEGY", "RankPolicy", "Rng", "rank", "resolve_models"]

_NO_ROUTING: Final = RoutingOptions()


class Rng(Protocol):
    """What exploration needs from a random source (``random.Random`` fits)."""

    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RankPolicy:
    """Gateway-wide ranking knobs (not request options)."""

    explore_rate: float = 0.05
    explore_min_samples: float = 4.0
    explore_stale_s: float = 120.0
    explore_min_performance: float = 0.2
    default_fallbacks: int = 2  # fallback attempts after the first when max_fallback_attempts is not set
    default_timeout_ms: int = 300_000
    reasoning_timeout_ms: int = 600_000


DEFAULT_POLICY: Final = RankPolicy()


def resolve_models(catalog: Catalog, names: Sequence[str]) -> list[ModelEntry]:
    """Canonical models for the requested names (aliases resolved, duplicates dropped); 404 for an unknown one."""
    models: list[ModelEntry] = []
    for i, name in enumerate(names):
        entry = catalog.resolve(name)
        if entry is None:
            raise GatewayError(
                "model_not_found",
                f"The model '{name}' does not exist.",
                param="model" if len(names) == 1 else f"gateway.models[{i}]",
                suggestion="GET /v1/models lists the models this gateway serves.",
            )
        if all(m.id != entry.id for m in models):
            models.append(entry)
    return models


def _enumerate(
    catalog: Catalog, models: Sequence[ModelEntry], stats: Mapping[str, LiveStats], routing: RoutingOptions
) -> list[Item]:
    items: list[Item] = []
    ttft_p = routing.ttft_percentile or "p50"
    tps_p = routing.throughput_percentile or "p50"
    for model in models:
        for offering in catalog.offerings_for(model.id):
            provider = catalog.providers[offering.provider]
            perf = estimate(offering, stats.get(offering.key), ttft_p, tps_p)
            items.append(Item(model, offering, provider, perf))
    return items


def _candidates(
    items: Sequence[Item], needs: Needs, views: Mapping[str, BreakerView], prefer: str, weights: Weights
) -> list[Candidate]:
    costs = [expected_cost(i.offering, needs.input_tokens, needs.output_tokens, needs.cache_share) for i in items]
    dims = [
        Dimensions(
            cost=cost,
            ttft_ms=i.perf.ttft_ms,
            tps=i.perf.tps,
            failure_rate=i.perf.failure_rate,
            preferred=bool(prefer) and i.provider.id.casefold() == prefer,
        )
        for i, cost in zip(items, costs, strict=True)
    ]
    out = []
    for item, d, (value, normalised) in zip(items, dims, score(dims, weights), strict=True):
        perf = item.perf
        view = views.get(item.offering.key)
        out.append(
            Candidate(
                model=item.model,
                offering=item.offering,
                provider=item.provider,
                score=value,
                expected_cost_usd=d.cost,
                ttft_ms=perf.ttft_ms,
                tps=perf.tps,
                ttft_source=perf.ttft_source,
                tps_source=perf.tps_source,
                samples=perf.samples,
                failure_rate=perf.failure_rate,
                in_flight=perf.in_flight,
                age_s=perf.age_s,
                normalised=normalised,
                preferred=d.preferred,
                breaker=view.state if view is not None else "closed",
            )
        )
    return out


def _apply_breakers(items: list[Item], breakers: Mapping[str, BreakerView]) -> tuple[list[Item], list[Exclusion], bool]:
    if not breakers:
        return items, [], False
    closed = [i for i in items if breakers.get(i.offering.key, _CLOSED).state != "open"]
    if closed:
        opened = [i for i in items if breakers.get(i.offering.key, _CLOSED).state == "open"]
        excluded = [_open_exclusion(i, breakers[i.offering.key]) for i in opened]
        return closed, excluded, False

    # Every circuit is open: try them anyway, least recently failed first.
    def last_failure(item: Item) -> float:
        return breakers[item.offering.key].last_failure_at or float("-inf")

    return sorted(items, key=last_failure), [], True


_CLOSED: Final = BreakerView("closed")


def _open_exclusion(item: Item, view: BreakerView) -> Exclusion:
    retry = f"; probe in {view.retry_in_s:.1f} s" if view.retry_in_s is not None else ""
    return Exclusion(
        provider=item.provider.id,
        model=item.model.id,
        provider_model_id=item.offering.provider_model_id,
        reason="circuit_open",
        code="no_provider_available",
        detail=f"circuit open after {view.failures} consecutive failures{retry}",
        ttft_ms=item.perf.ttft_ms,
        tps=item.perf.tps,
        blended_price=item.offering.blended_price,
    )


def _is_thin_or_stale(c: Candidate, policy: RankPolicy) -> bool:
    return c.samples < policy.explore_min_samples or c.ttft_source != "live" or _age(c) > policy.explore_stale_s


def _age(c: Candidate) -> float:
    return float("inf") if c.age_s is None else c.age_s


def _explore(
    ordered: list[Candidate], models: Sequence[ModelEntry], routing: RoutingOptions, policy: RankPolicy, rng: Rng
) -> tuple[list[Candidate], bool]:
    if rng.random() >= policy.explore_rate:
        return ordered, False
    pool = ordered[1:]
    if (routing.mode or "pool") == "fallback":
        first = ordered[0].model.id
        pool = [c for c in pool if c.model.id == first]
    eligible = [c for c in pool if _is_thin_or_stale(c, policy)]
    if not eligible:
        return ordered, False
    # The least known first: fewest samples, then the stalest, then the better score.
    pick = min(eligible, key=lambda c: (c.samples, -_age(c), -c.score))
    rest = [c for c in ordered if c is not pick]
    return [replace(pick, explore=True), *rest], True


def rank(
    catalog: Catalog,
    models: Sequence[ModelEntry],
    needs: Needs,
    routing: RoutingOptions | None,
    strategy: str,
    stats: Mapping[str, LiveStats],
    *,
    breakers: Mapping[str, BreakerView] | None = None,
    rng: Rng | None = None,
    policy: RankPolicy = DEFAULT_POLICY,
) -> Plan:
    """The ordered attempt plan for one request (see the module docstring); raises the documented error."""
    r = routing or _NO_ROUTING
    weights = weights_for(strategy, r.weights)
    items = _enumerate(catalog, models, stats, r)
    if not items:
        names = ", ".join(f"'{m.id}'" for m in models)
        raise GatewayError(
            "no_provider_available",
            f"No enabled provider serves {names}.",
            suggestion="Configure a key for one of the model's providers, or pick another model.",
        )
    ctx = FilterContext.build(needs, r, models)
    survivors, excluded = apply_filters(items, ctx)
    views = breakers or {}
    survivors, open_excluded, all_open = _apply_breakers(survivors, views)
    excluded.extend(open_excluded)

    scored = _candidates(survivors, needs, views, (r.prefer or "").casefold(), weights)

    mode = r.mode or "pool"
    if all_open:
        ordered = scored  # already least-recently-failed first
    else:
        model_rank = {m.id: i for i, m in enumerate(models)} if mode == "fallback" else {}
        position = {id(c): i for i, c in enumerate(scored)}

        def order(c: Candidate) -> tuple[int, float, float, int]:
            cost = c.expected_cost_usd if c.expected_cost_usd is not None else float("inf")
            return (model_rank.get(c.model.id, 0), -c.score, cost, position[id(c)])

        ordered = sorted(scored, key=order)

    explored = False
    if (
        rng is not None
        and not all_open
        and r.providers is None
        and len(ordered) > 1
        and not ordered[0].preferred
        and weights.performance >= policy.explore_min_performance
    ):
        ordered, explored = _explore(ordered, models, r, policy, rng)

    fallbacks = r.max_fallback_attempts if r.max_fallback_attempts is not None else policy.default_fallbacks
    return Plan(
        strategy=strategy,
        candidates=ordered,
        excluded=excluded,
        allow_fallbacks=r.allow_fallbacks is not False,
        max_attempts=1 + fallbacks,
        timeout_ms=r.timeout_ms,
        deadline_ms=r.deadline_ms,
        default_timeout_ms=policy.default_timeout_ms,
        reasoning_timeout_ms=policy.reasoning_timeout_ms,
        mode=mode,
        weights=weights.to_dict(),
        explored=explored,
        all_circuits_open=all_open,
        estimate={
            "input_tokens": needs.input_tokens,
            "output_tokens": needs.output_tokens,
            "cache_share": needs.cache_share,
        },
    )
