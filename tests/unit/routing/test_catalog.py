"""Tests for interlock.routing.catalog: the typed entries, the Catalog index, and the shipped catalog data."""

from __future__ import annotations

import re
from typing import Literal

import msgspec
import pytest

from interlock.config import Settings, load_catalog, load_settings
from interlock.routing.catalog import (
    CAPABILITIES,
    PROTOCOL_PARAMS,
    PROTOCOLS,
    Catalog,
    CatalogError,
    Effort,
    ModelEntry,
    Offering,
    ProviderConfig,
    ReasoningProfile,
)

ALL_KEYS = {
    var: "test-key"
    for var in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "DEEPSEEK_API_KEY",
        "TOGETHER_API_KEY",
        "FIREWORKS_API_KEY",
        "GROQ_API_KEY",
        "DEEPINFRA_API_KEY",
        "XAI_API_KEY",
        "MISTRAL_API_KEY",
    )
}


def prov(pid: str, *, enabled: bool = True, **kw: object) -> ProviderConfig:
    fields: dict[str, object] = {"protocol": "openai-chat", "base_url": f"http://{pid}/v1", **kw}
    return msgspec.convert({"id": pid, "enabled": enabled, **fields}, ProviderConfig)


def off(provider: str, pmid: str = "m", input_price: float | None = 1.0, **kw: object) -> Offering:
    return msgspec.convert(
        {"provider": provider, "provider_model_id": pmid, "input_price": input_price, "output_price": 3.0, **kw},
        Offering,
    )


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(
        [prov("a", data_policy="zdr"), prov("b", accepted_params=["seed"]), prov("off", enabled=False)],
        [
            ModelEntry(id="m1", aliases=("m-one", "M1-alias"), offerings=(off("a"), off("b"), off("off"))),
            ModelEntry(id="m2", offerings=(off("off"),)),
        ],
        clock=lambda: 100.0,
    )


# ---------------------------------------------------------------------------------------------- Catalog


def test_resolve_canonical_and_alias(catalog: Catalog) -> None:
    entry = catalog.resolve("m1")
    assert entry is not None
    assert catalog.resolve("m-one") is entry
    assert catalog.resolve("M1-alias") is entry
    assert catalog.resolve("M1") is None  # case-sensitive
    assert catalog.resolve("nope") is None


def test_offerings_only_for_enabled_providers(catalog: Catalog) -> None:
    assert [o.provider for o in catalog.offerings_for("m1")] == ["a", "b"]
    assert [o.provider for o in catalog.offerings_for("m-one")] == ["a", "b"]
    assert catalog.offerings_for("m2") == []
    assert catalog.offerings_for("unknown") == []
    # Callers get a copy: mutating it does not change the catalog.
    catalog.offerings_for("m1").clear()
    assert len(catalog.offerings_for("m1")) == 2


def test_available_models_and_enabled_providers(catalog: Catalog) -> None:
    assert [m.id for m in catalog.models] == ["m1", "m2"]
    assert [m.id for m in catalog.available_models] == ["m1"]
    assert [p.id for p in catalog.enabled_providers] == ["a", "b"]
    assert catalog.providers["a"].display_name == "a"


def test_offerings_resolved_from_provider_and_protocol(catalog: Catalog) -> None:
    a, b = catalog.offerings_for("m1")
    assert a.model == b.model == "m1"
    assert a.data_policy == "zdr"
    assert b.data_policy == "none"
    assert a.accepted_params == PROTOCOL_PARAMS["openai-chat"]
    assert b.accepted_params == frozenset({"seed"})
    assert a.accepts("temperature") and not b.accepts("temperature")


def test_offering_overrides_win() -> None:
    cat = Catalog(
        [prov("a", data_policy="none", accepted_params=["seed"])],
        [ModelEntry(id="m", offerings=(off("a", data_policy="zdr", accepted_params=["top_k"]),))],
    )
    (o,) = cat.offerings_for("m")
    assert o.data_policy == "zdr"
    assert o.accepted_params == frozenset({"top_k"})


def test_blended_price_and_key() -> None:
    assert off("a", input_price=1.0).blended_price == 2.0
    assert off("a", input_price=None).blended_price is None
    assert off("a", pmid="x/y").key == "a/x/y@standard"


def test_version_is_stable_and_tracks_content() -> None:
    def build(price: float, key: str = "k1") -> Catalog:
        return Catalog([prov("a", api_key=key)], [ModelEntry(id="m", offerings=(off("a", input_price=price),))])

    assert build(1.0).version == build(1.0).version
    assert re.fullmatch(r"[0-9a-f]{16}", build(1.0).version)
    assert build(1.0).version != build(2.0).version
    assert build(1.0, "k1").version == build(1.0, "k2").version  # rotating a key keeps the version


def test_age(catalog: Catalog) -> None:
    now = [1000.0]
    cat = Catalog([], [], clock=lambda: now[0])
    now[0] += 12.5
    assert cat.loaded_at == 1000.0
    assert cat.age_seconds() == 12.5


def test_unknown_provider_rejected() -> None:
    with pytest.raises(CatalogError, match="unknown provider 'x'"):
        Catalog([prov("a")], [ModelEntry(id="m", offerings=(off("x"),))])


def test_alias_collision_rejected() -> None:
    with pytest.raises(CatalogError, match="'m1' is used by both 'm1' and 'm2'"):
        Catalog([], [ModelEntry(id="m1"), ModelEntry(id="m2", aliases=("m1",))])


def test_duplicate_offering_rejected() -> None:
    with pytest.raises(CatalogError, match="listed twice"):
        Catalog([prov("a")], [ModelEntry(id="m", offerings=(off("a"), off("a")))])


def test_same_model_id_two_tiers_allowed() -> None:
    cat = Catalog([prov("a")], [ModelEntry(id="m", offerings=(off("a"), off("a", tier="priority")))])
    assert [o.tier for o in cat.offerings_for("m")] == ["standard", "priority"]


def test_duplicate_provider_rejected() -> None:
    with pytest.raises(CatalogError, match="duplicate provider id 'a'"):
        Catalog([prov("a"), prov("a")], [])


def test_api_key_not_in_repr() -> None:
    assert "s3cret" not in repr(prov("a", api_key="s3cret"))


def test_model_entry_helpers() -> None:
    entry = ModelEntry(
        id="m",
        released="2024-08-06",
        endpoints=("responses",),
        offerings=(off("a", context_window=1000), off("b", context_window=5000), off("c")),
    )
    assert entry.responses_only
    assert entry.context_window == 5000
    assert entry.created == 1722902400
    assert entry.name == "m"
    assert not ModelEntry(id="x").responses_only
    assert ModelEntry(id="x").created == 0


def test_bad_release_date() -> None:
    with pytest.raises(msgspec.ValidationError, match="ISO date"):
        msgspec.convert({"id": "m", "released": "Aug 2024"}, ModelEntry)


# ---------------------------------------------------------------------------------------------- reasoning


def profile(**kw: object) -> ReasoningProfile:
    return msgspec.convert(kw, ReasoningProfile)


CLAUDE_46 = profile(style="adaptive", efforts=["low", "medium", "high", "max"], can_disable=True)
OPUS_45 = profile(
    style="budget", efforts=["low", "medium", "high"], can_disable=True, budgets={"low": 1, "medium": 2, "high": 3}
)
GPT_5 = profile(style="effort", efforts=["minimal", "low", "medium", "high"])
GPT_51 = profile(style="effort", efforts=["none", "low", "medium", "high"], can_disable=True)
GEMINI_3 = profile(style="level", efforts=["low", "high"])
FIXED = profile(style="fixed")


@pytest.mark.parametrize(
    ("reasoning", "requested", "expected"),
    [
        (CLAUDE_46, "xhigh", "max"),  # auriko-api.md 10.1: "mapped to max on other Claude models"
        (CLAUDE_46, "minimal", "low"),
        (CLAUDE_46, "medium", "medium"),
        (CLAUDE_46, "off", "off"),
        (OPUS_45, "xhigh", "high"),  # "clamped to high on Opus 4.5"
        (OPUS_45, "max", "high"),
        (GPT_5, "max", "high"),  # "OpenAI max -> the model's ceiling"
        (GPT_5, "xhigh", "high"),
        (GPT_5, "minimal", "minimal"),
        (GPT_5, "off", None),  # cannot disable: thinking_disable_not_supported
        (GPT_5, "none", None),
        (GPT_51, "off", "none"),
        (GPT_51, "minimal", "low"),
        (GEMINI_3, "medium", "high"),
        (GEMINI_3, "max", "high"),  # "Gemini 3.x xhigh/max -> high"
        (FIXED, "high", "high"),  # fixed: passed back; the caller drops it with a warning
        (FIXED, "off", None),
    ],
)
def test_clamp(reasoning: ReasoningProfile, requested: Effort | Literal["off"], expected: str | None) -> None:
    assert reasoning.clamp(requested) == expected


def test_ceiling() -> None:
    assert CLAUDE_46.ceiling == "max"
    assert GPT_5.ceiling == "high"
    assert FIXED.ceiling is None
    capped = profile(style="effort", efforts=["low", "medium", "high", "xhigh"], max_effort="high")
    assert capped.clamp("max") == "high"
    assert capped.clamp("xhigh") == "high"
    assert capped.clamp("medium") == "medium"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"style": "effort", "efforts": ["high", "low"]}, "in the order"),
        ({"style": "effort", "efforts": []}, "at least one effort"),
        ({"style": "effort", "efforts": ["low"], "max_effort": "high"}, "not one of the efforts"),
        ({"style": "budget", "efforts": ["low", "high"], "budgets": {"low": 5}}, "one entry per effort"),
        ({"style": "effort", "efforts": ["low"], "budgets": {"low": 5}}, "only applies"),
        ({"style": "magic"}, "Invalid enum value"),
    ],
)
def test_reasoning_profile_validation(fields: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(fields, ReasoningProfile)


# ---------------------------------------------------------------------------------------------- bundled data


@pytest.fixture(scope="module")
def bundled() -> Settings:
    return load_settings(env=ALL_KEYS)


@pytest.fixture(scope="module")
def bundled_catalog(bundled: Settings) -> Catalog:
    return load_catalog(bundled)


AURIKO_PROVIDERS = {
    "openai": "openai-responses",
    "anthropic": "anthropic",
    "google_ai_studio": "gemini",
    "deepseek": "openai-chat",
    "together_ai": "openai-chat",
    "fireworks_ai": "openai-chat",
    "groq": "openai-chat",
    "deepinfra": "openai-chat",
    "xai": "openai-chat",
    "mistral": "openai-chat",
}

REQUIRED_MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "o4-mini",
    "o3-pro",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
    "claude-opus-4-5",
    "claude-opus-4-6",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "deepseek-chat",
    "deepseek-reasoner",
    "llama-3.3-70b",
    "deepseek-v3",
    "qwen3-235b-a22b",
    "qwen3-32b",
]

MULTI_HOST = {
    "llama-3.3-70b": {"together_ai", "fireworks_ai", "groq", "deepinfra"},
    "deepseek-v3": {"together_ai", "fireworks_ai", "deepinfra"},
    "qwen3-235b-a22b": {"together_ai", "fireworks_ai", "deepinfra"},
    "qwen3-32b": {"groq"},
}


def test_bundled_providers(bundled: Settings) -> None:
    assert not bundled.simulated
    by_id = {p.id: p for p in bundled.providers}
    assert {pid: by_id[pid].protocol for pid in AURIKO_PROVIDERS} == AURIKO_PROVIDERS
    for p in bundled.providers:
        assert p.enabled and p.api_key == "test-key", p.id
        assert p.base_url.startswith("https://"), p.id
        assert p.display_name, p.id


def test_bundled_prices_as_of(bundled: Settings) -> None:
    assert bundled.prices_as_of is not None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", bundled.prices_as_of)


@pytest.mark.parametrize("model_id", REQUIRED_MODELS)
def test_required_model_exists(bundled_catalog: Catalog, model_id: str) -> None:
    assert bundled_catalog.resolve(model_id) is not None
    assert bundled_catalog.offerings_for(model_id)


@pytest.mark.parametrize(("model_id", "hosts"), MULTI_HOST.items())
def test_open_models_on_several_hosts(bundled_catalog: Catalog, model_id: str, hosts: set[str]) -> None:
    assert hosts <= {o.provider for o in bundled_catalog.offerings_for(model_id)}


def test_real_provider_model_ids(bundled_catalog: Catalog) -> None:
    ids = {(o.provider, o.provider_model_id) for o in bundled_catalog.offerings_for("llama-3.3-70b")}
    assert ("together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo") in ids
    assert ("fireworks_ai", "accounts/fireworks/models/llama-v3p3-70b-instruct") in ids
    assert ("groq", "llama-3.3-70b-versatile") in ids
    assert ("deepinfra", "meta-llama/Llama-3.3-70B-Instruct") in ids


def test_every_offering_is_priced_or_explicitly_unpriced(bundled: Settings) -> None:
    for m in bundled.models:
        for o in m.offerings:
            for name in ("input_price", "output_price"):
                price = getattr(o, name)
                assert price is None or price > 0, (m.id, o.provider, name)
            for name in ("cache_read_price", "cache_write_price"):
                price = getattr(o, name)
                assert price is None or price > 0, (m.id, o.provider, name)
            if o.cache_read_price is not None and o.input_price is not None:
                assert o.cache_read_price < o.input_price, (m.id, o.provider)


def test_cache_write_price_only_on_anthropic(bundled: Settings) -> None:
    for m in bundled.models:
        for o in m.offerings:
            if o.cache_write_price is not None:
                assert o.provider == "anthropic", (m.id, o.provider)
            elif o.provider == "anthropic":
                pytest.fail(f"{m.id}: anthropic offering without cache_write_price")


def test_offerings_reference_known_providers_and_are_sane(bundled: Settings) -> None:
    known = {p.id for p in bundled.providers}
    for m in bundled.models:
        assert m.offerings, m.id
        assert m.display_name and m.author and m.family, m.id
        for o in m.offerings:
            assert o.provider in known, (m.id, o.provider)
            assert o.context_window, (m.id, o.provider)
            assert set(o.capabilities) <= set(CAPABILITIES)
            assert o.priors is not None and o.priors.ttft_ms and o.priors.tps, (m.id, o.provider)
            if o.max_output_tokens is not None:
                assert o.max_output_tokens <= o.context_window, (m.id, o.provider)


def test_reasoning_profile_matches_capability(bundled: Settings) -> None:
    for m in bundled.models:
        reasons = {"reasoning" in o.capabilities for o in m.offerings}
        assert reasons == {m.reasoning is not None}, m.id


def test_response_api_only_models(bundled_catalog: Catalog) -> None:
    only = {m.id for m in bundled_catalog.models if m.responses_only}
    assert {"o3-pro", "gpt-5-pro"} <= only
    assert all(m.endpoints == ("responses",) for m in bundled_catalog.models if m.id in only)
    gpt4o = bundled_catalog.resolve("gpt-4o")
    assert gpt4o is not None and set(gpt4o.endpoints) == {"chat_completions", "responses"}


def test_priority_tier(bundled_catalog: Catalog) -> None:
    tiers = {o.tier: o for o in bundled_catalog.offerings_for("claude-opus-4-6")}
    assert set(tiers) == {"standard", "priority"}
    standard, priority = tiers["standard"], tiers["priority"]
    assert standard.input_price is not None and priority.input_price is not None
    assert priority.input_price == pytest.approx(6 * standard.input_price)


def test_documented_examples(bundled_catalog: Catalog) -> None:
    (gpt4o,) = bundled_catalog.offerings_for("gpt-4o")
    assert (gpt4o.provider_model_id, gpt4o.input_price, gpt4o.output_price) == ("gpt-4o-2024-08-06", 2.5, 10.0)
    assert gpt4o.context_window == 128000
    assert gpt4o.data_policy == "no_training"
    (sonnet,) = bundled_catalog.offerings_for("claude-sonnet-4-6")
    assert (sonnet.input_price, sonnet.output_price, sonnet.context_window) == (3.0, 15.0, 1_000_000)
    mini = bundled_catalog.resolve("gpt-4o-mini-2024-07-18")
    assert mini is not None and mini.id == "gpt-4o-mini"


def test_reasoning_clamps_from_data(bundled_catalog: Catalog) -> None:
    def clamp(model_id: str, effort: Effort | Literal["off"]) -> str | None:
        entry = bundled_catalog.resolve(model_id)
        assert entry is not None and entry.reasoning is not None
        return entry.reasoning.clamp(effort)

    assert clamp("claude-opus-4-5", "xhigh") == "high"
    assert clamp("claude-sonnet-4-6", "xhigh") == "max"
    assert clamp("gpt-5", "max") == "high"
    assert clamp("o4-mini", "max") == "high"
    assert clamp("gemini-3-pro-preview", "max") == "high"
    assert clamp("gemini-2.5-pro", "off") is None
    assert clamp("gemini-2.5-flash", "off") == "off"


def test_reasoning_models_do_not_accept_sampling_params(bundled_catalog: Catalog) -> None:
    # GPT-5 and o-series reject sampling parameters: they must not claim to accept them.
    for model_id in ("gpt-5", "gpt-5-mini", "o4-mini", "o3-pro"):
        for o in bundled_catalog.offerings_for(model_id):
            assert not o.accepts("temperature"), model_id
    (gpt4o,) = bundled_catalog.offerings_for("gpt-4o")
    assert gpt4o.accepts("temperature")


# ---------------------------------------------------------------------------------------------- simulated data


@pytest.fixture(scope="module")
def sim_catalog() -> Catalog:
    settings = load_settings(env={})
    assert settings.simulated
    return load_catalog(settings)


def test_sim_providers(sim_catalog: Catalog) -> None:
    protocols = {p.protocol for p in sim_catalog.providers.values()}
    assert protocols == set(PROTOCOLS)
    chat_hosts = [p for p in sim_catalog.providers.values() if p.protocol == "openai-chat"]
    assert len(chat_hosts) >= 3
    for p in sim_catalog.providers.values():
        assert p.base_url == "sim://"
        assert p.sim is not None and {"ttft_ms", "tps", "error_rate"} <= set(p.sim)
    assert len({p.sim["tps"] for p in chat_hosts if p.sim}) == len(chat_hosts)  # distinct speeds


def test_sim_models_give_routing_choices(sim_catalog: Catalog) -> None:
    mini = sim_catalog.offerings_for("gpt-4o-mini")
    assert {"sim-openai", "sim-fast", "sim-cheap", "sim-steady"} <= {o.provider for o in mini}
    assert len({o.blended_price for o in mini if o.provider != "sim-openai"}) == 3
    assert len(sim_catalog.offerings_for("llama-3.3-70b")) >= 3
    assert [o.provider for o in sim_catalog.offerings_for("claude-haiku-4-5")] == ["sim-anthropic"]
    assert [o.provider for o in sim_catalog.offerings_for("gemini-2.5-flash")] == ["sim-gemini"]
    assert any(m.reasoning is not None for m in sim_catalog.available_models)
    assert any(m.responses_only for m in sim_catalog.available_models)
    assert {o.data_policy for o in mini} == {"none", "no_training", "zdr"}
