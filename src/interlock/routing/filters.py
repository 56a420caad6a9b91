"""Needs and filters: what a request needs from an offering, and the table of filters that enforce it.

Theory of operation
-------------------
``FILTERS`` is a registered table of pure functions, applied in the documented order (auriko-api.md 2.4 and
Appendix B): capability (endpoint, tools, tool_choice required, modalities, JSON modes, reasoning, streaming)
-> policy (data policy, BYOK / platform keys, provider allowlist and denylist, tier opt-in) -> performance
(max_cost_per_1m on the blended price, max_ttft_ms and min_throughput_tps at the chosen percentile) ->
require_parameters. Each filter runs over the survivors of the previous ones, so every excluded offering is
recorded once, with the first filter that removed it. When a filter leaves nothing, the request fails with
*that* filter's documented code, its ``param`` and a ``suggestion``: the most specific explanation of why nothing
can serve it. A filter that is not active for a request (no tools asked for, no ceiling set) costs one check.

Performance ceilings only judge what is known: an offering with neither live samples nor a catalog prior passes
them (unknown is not "too slow") and is scored on the default prior instead. The cost ceiling excludes unpriced
offerings, whose price cannot be shown to be under it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from interlock.ir.errors import GatewayError
from interlock.ir.request import RoutingOptions
from interlock.routing.catalog import Capability, Endpoint, ModelEntry, Offering, ProviderConfig
from interlock.routing.plan import Exclusion
from interlock.routing.stats import Performance

__all__ = ["FILTERS", "Filter", "FilterContext", "Item", "Needs", "Stage", "apply_filters"]

Stage = Literal["capability", "policy", "performance", "parameters"]

_POLICY_RANK: Final = {"none": 0, "no_training": 1, "zdr": 2}


@dataclass(frozen=True, slots=True)
class Needs:
    """What a request needs from an offering, derived once per request by the engine."""

    capabilities: frozenset[str] = frozenset()
    endpoint: Endpoint | None = None  # the client-facing endpoint; None = not checked
    params: frozenset[str] = frozenset()  # optional parameters the request sets (for require_parameters)
    input_tokens: int = 0  # estimated (characters / 4)
    output_tokens: int = 512  # max_output_tokens or a default
    cache_share: float = 0.0  # expected share of input read from a prompt cache


@dataclass(frozen=True, slots=True)
class Item:
    """One enumerated offering with what filters and scoring need to know about it."""

    model: ModelEntry
    offering: Offering
    provider: ProviderConfig
    perf: Performance


@dataclass(frozen=True, slots=True)
class FilterContext:
    """The request-wide inputs of the filters."""

    needs: Needs
    routing: RoutingOptions
    allow: frozenset[str] | None = None
    block: frozenset[str] = frozenset()
    priority: bool = False  # use priority-tier offerings (tier: priority and some are available)
    models: str = ""  # the requested models, for messages

    @classmethod
    def build(cls, needs: Needs, routing: RoutingOptions, models: Sequence[ModelEntry]) -> FilterContext:
        allow = frozenset(p.casefold() for p in routing.providers) if routing.providers is not None else None
        block = frozenset(p.casefold() for p in routing.exclude_providers or ())
        names = ", ".join(f"'{m.id}'" for m in models)
        return cls(needs=needs, routing=routing, allow=allow, block=block, models=names)


Check = Callable[[Item, FilterContext], "str | None"]


@dataclass(frozen=True, slots=True)
class Filter:
    """One row of the filter table: when it applies, the check (None = passes, else why not) and its error."""

    name: str
    stage: Stage
    code: str
    param: str | None
    message: str  # "{models}" is replaced with the requested model ids
    suggestion: str
    active: Callable[[FilterContext], bool]
    check: Check
    prepare: Callable[[Sequence[Item], FilterContext], FilterContext] | None = field(default=None)


def _capability(cap: Capability) -> tuple[Callable[[FilterContext], bool], Check]:
    def active(ctx: FilterContext) -> bool:
        return cap in ctx.needs.capabilities

    def check(item: Item, ctx: FilterContext) -> str | None:
        if item.offering.supports(cap) or (cap == "reasoning" and item.model.reasoning is not None):
            return None
        return f"offering lacks capability '{cap}'"

    return active, check


def _endpoint(endpoint: Endpoint) -> tuple[Callable[[FilterContext], bool], Check]:
    def active(ctx: FilterContext) -> bool:
        return ctx.needs.endpoint == endpoint

    def check(item: Item, ctx: FilterContext) -> str | None:
        return None if endpoint in item.model.endpoints else f"model is not served on the {endpoint} endpoint"

    return active, check


def _capability_filter(name: str, cap: Capability, code: str, what: str, suggestion: str) -> Filter:
    # param stays null: the request is well formed, the requested model just cannot do it.
    active, check = _capability(cap)
    return Filter(name, "capability", code, None, f"No offering of {{models}} {what}.", suggestion, active, check)


def _data_policy(item: Item, ctx: FilterContext) -> str | None:
    wanted = ctx.routing.data_policy or "none"
    have = item.offering.data_policy or "none"
    return None if _POLICY_RANK[have] >= _POLICY_RANK[wanted] else f"data policy '{have}' is weaker than '{wanted}'"


def _only_byok(item: Item, ctx: FilterContext) -> str | None:
    return f"no customer (BYOK) key is configured for provider '{item.provider.id}'"


def _only_platform(item: Item, ctx: FilterContext) -> str | None:
    # Every key this gateway holds is its own (platform) key, so an enabled provider always qualifies.
    return None if item.provider.enabled else f"provider '{item.provider.id}' has no platform key"


def _allowlist(item: Item, ctx: FilterContext) -> str | None:
    assert ctx.allow is not None
    return None if item.provider.id.casefold() in ctx.allow else f"provider '{item.provider.id}' is not in providers"


def _denylist(item: Item, ctx: FilterContext) -> str | None:
    return (
        f"provider '{item.provider.id}' is in exclude_providers" if item.provider.id.casefold() in ctx.block else None
    )


def _tier_prepare(items: Sequence[Item], ctx: FilterContext) -> FilterContext:
    wanted = (ctx.routing.tier or "").casefold() == "priority"
    return replace(ctx, priority=wanted and any(i.offering.tier == "priority" for i in items))


def _tier(item: Item, ctx: FilterContext) -> str | None:
    if item.offering.tier == "priority" and not ctx.priority:
        return "priority tier needs gateway.routing.tier 'priority'"
    if item.offering.tier != "priority" and ctx.priority:
        return "a priority-tier offering is available and tier 'priority' was asked for"
    return None


def _max_cost(item: Item, ctx: FilterContext) -> str | None:
    limit = ctx.routing.max_cost_per_1m
    assert limit is not None
    price = item.offering.blended_price
    if price is None:
        return "unpriced offering: its cost cannot be checked against max_cost_per_1m"
    return None if price <= limit else f"blended price ${price:g}/1M exceeds ${limit:g}/1M"


def _max_ttft(item: Item, ctx: FilterContext) -> str | None:
    limit = ctx.routing.max_ttft_ms
    assert limit is not None
    perf = item.perf
    if perf.ttft_source == "default" or perf.ttft_ms <= limit:
        return None
    return f"TTFT {ctx.routing.ttft_percentile or 'p50'} {perf.ttft_ms:.0f} ms exceeds {limit} ms"


def _min_tps(item: Item, ctx: FilterContext) -> str | None:
    floor = ctx.routing.min_throughput_tps
    assert floor is not None
    perf = item.perf
    if perf.tps_source == "default" or perf.tps >= floor:
        return None
    return f"throughput {ctx.routing.throughput_percentile or 'p50'} {perf.tps:.1f} tok/s is below {floor:g}"


def _required_params(item: Item, ctx: FilterContext) -> str | None:
    accepted = item.offering.accepted_params or frozenset()
    missing = sorted(ctx.needs.params - accepted)
    return f"does not accept: {', '.join(missing)}" if missing else None


_R = "gateway.routing."
_CAPS_HINT = "GET /v1/models lists each model's capabilities."

FILTERS: Final[tuple[Filter, ...]] = (
    # -- capability ------------------------------------------------------------------------------------
    Filter(
        "chat_endpoint",
        "capability",
        "response_api_only",
        "model",
        "{models} is only available on the Responses API.",
        "Send this request to POST /v1/responses instead.",
        *_endpoint("chat_completions"),
    ),
    Filter(
        "responses_endpoint",
        "capability",
        "no_responses_endpoint",
        "model",
        "{models} is not served on the Responses API.",
        "Use POST /v1/chat/completions for this model.",
        *_endpoint("responses"),
    ),
    _capability_filter(
        "tools",
        "tools",
        "tools_not_supported",
        "supports tools",
        f"Remove `tools` or pick another model. {_CAPS_HINT}",
    ),
    _capability_filter(
        "tool_choice_required",
        "tool_choice_required",
        "tool_choice_required_not_supported",
        "can guarantee a tool call",
        "Use tool_choice 'auto', or drop provider constraints that rule out capable offerings.",
    ),
    _capability_filter(
        "vision",
        "vision",
        "vision_not_supported",
        "accepts images",
        f"Remove the images or pick a vision model. {_CAPS_HINT}",
    ),
    _capability_filter(
        "pdf",
        "pdf",
        "unsupported_modalities",
        "accepts files",
        f"Remove the files or pick another model. {_CAPS_HINT}",
    ),
    _capability_filter(
        "json_object",
        "json_object",
        "json_mode_not_supported",
        "supports JSON mode",
        "Use a json_schema format, or ask for JSON in the prompt and parse the text.",
    ),
    _capability_filter(
        "json_schema",
        "json_schema",
        "structured_output_not_supported",
        "supports structured output (json_schema)",
        "Use JSON mode (json_object) with the schema in the prompt, or pick another model.",
    ),
    _capability_filter(
        "reasoning",
        "reasoning",
        "reasoning_not_supported",
        "supports reasoning",
        "Remove reasoning.effort (reasoning_effort) or pick a reasoning model.",
    ),
    _capability_filter(
        "streaming",
        "streaming",
        "streaming_not_supported",
        "supports streaming",
        "Send the request with stream: false, or list 'streaming' in the offering's capabilities.",
    ),
    # -- policy ----------------------------------------------------------------------------------------
    Filter(
        "data_policy",
        "policy",
        "no_provider_available",
        _R + "data_policy",
        "No offering of {models} meets the requested data_policy.",
        "Relax gateway.routing.data_policy or pick a model served by a provider with that policy.",
        lambda ctx: (ctx.routing.data_policy or "none") != "none",
        _data_policy,
    ),
    Filter(
        "only_byok",
        "policy",
        "byok_keys_required",
        _R + "only_byok",
        "No offering of {models} can be served with your own provider keys.",
        "This gateway holds no customer (BYOK) keys; remove only_byok.",
        lambda ctx: bool(ctx.routing.only_byok),
        _only_byok,
    ),
    Filter(
        "only_platform",
        "policy",
        "platform_keys_unavailable",
        _R + "only_platform",
        "No offering of {models} can be served with platform keys.",
        "Remove only_platform or configure a key for one of the model's providers.",
        lambda ctx: bool(ctx.routing.only_platform),
        _only_platform,
    ),
    Filter(
        "providers",
        "policy",
        "provider_not_in_allowlist",
        _R + "providers",
        "No offering of {models} is served by a provider in gateway.routing.providers.",
        "Add one of the model's providers to gateway.routing.providers (GET /v1/models/{id} lists them).",
        lambda ctx: ctx.allow is not None,
        _allowlist,
    ),
    Filter(
        "exclude_providers",
        "policy",
        "provider_blocked",
        _R + "exclude_providers",
        "Every provider of {models} is in gateway.routing.exclude_providers.",
        "Remove a provider from gateway.routing.exclude_providers.",
        lambda ctx: bool(ctx.block),
        _denylist,
    ),
    Filter(
        "tier",
        "policy",
        "tier_opt_in_required",
        _R + "tier",
        "{models} is only offered under a premium tier.",
        "Set gateway.routing.tier to 'priority' to opt in to the premium tier.",
        lambda ctx: True,
        _tier,
        prepare=_tier_prepare,
    ),
    # -- performance -----------------------------------------------------------------------------------
    Filter(
        "max_cost_per_1m",
        "performance",
        "cost_constraint_exceeded",
        _R + "max_cost_per_1m",
        "Every offering of {models} costs more than max_cost_per_1m (average of input and output price).",
        "Raise gateway.routing.max_cost_per_1m or pick a cheaper model.",
        lambda ctx: ctx.routing.max_cost_per_1m is not None,
        _max_cost,
    ),
    Filter(
        "max_ttft_ms",
        "performance",
        "latency_constraint_exceeded",
        _R + "max_ttft_ms",
        "Every offering of {models} has a time to first token above max_ttft_ms.",
        "Raise gateway.routing.max_ttft_ms, use ttft_percentile 'p50', or pick a faster model.",
        lambda ctx: ctx.routing.max_ttft_ms is not None,
        _max_ttft,
    ),
    Filter(
        "min_throughput_tps",
        "performance",
        "throughput_constraint_not_met",
        _R + "min_throughput_tps",
        "No offering of {models} reaches min_throughput_tps.",
        "Lower gateway.routing.min_throughput_tps, use throughput_percentile 'p50', or pick a faster model.",
        lambda ctx: ctx.routing.min_throughput_tps is not None,
        _min_tps,
    ),
    # -- require_parameters ----------------------------------------------------------------------------
    Filter(
        "require_parameters",
        "parameters",
        "required_params_not_supported",
        _R + "require_parameters",
        "No offering of {models} accepts every optional parameter sent.",
        "Remove the unsupported parameters or require_parameters (they are then dropped with a warning).",
        lambda ctx: bool(ctx.routing.require_parameters) and bool(ctx.needs.params),
        _required_params,
    ),
)


def _exclusion(item: Item, f: Filter, detail: str) -> Exclusion:
    return Exclusion(
        provider=item.provider.id,
        model=item.model.id,
        provider_model_id=item.offering.provider_model_id,
        reason=f.name,
        code=f.code,
        detail=detail,
        ttft_ms=item.perf.ttft_ms,
        tps=item.perf.tps,
        blended_price=item.offering.blended_price,
    )


def _error(f: Filter, ctx: FilterContext, removed: list[Exclusion]) -> GatewayError:
    message = f.message.format(models=ctx.models)
    if removed and removed[0].detail:
        message += f" ({removed[0].provider}: {removed[0].detail})"
    param = f.param
    if f.name == "require_parameters" and removed:
        # Name the first parameter that stopped the offerings, as the normaliser would.
        param = removed[0].detail.removeprefix("does not accept: ").split(", ")[0]
    return GatewayError(f.code, message, param=param, suggestion=f.suggestion)


def apply_filters(
    items: Sequence[Item], ctx: FilterContext, filters: Sequence[Filter] = FILTERS
) -> tuple[list[Item], list[Exclusion]]:
    """Run ``filters`` in order over ``items``; raise the emptying filter's documented error."""
    survivors = list(items)
    excluded: list[Exclusion] = []
    for f in filters:
        if f.prepare is not None:
            ctx = f.prepare(survivors, ctx)
        if not f.active(ctx):
            continue
        kept: list[Item] = []
        removed: list[Exclusion] = []
        for item in survivors:
            detail = f.check(item, ctx)
            if detail is None:
                kept.append(item)
            else:
                removed.append(_exclusion(item, f, detail))
        excluded.extend(removed)
        if not kept:
            raise _error(f, ctx, removed)
        survivors = kept
    return survivors, excluded
