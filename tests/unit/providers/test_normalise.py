"""normalise: every request in the table gets exactly the warnings (or the error) it must, and nothing else changes."""

from __future__ import annotations

from typing import Any, get_args

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock.ir.errors import GatewayError
from interlock.ir.parse import parse_response_request
from interlock.ir.request import ResponseRequest
from interlock.providers import normalise as nm
from interlock.providers.base import Target
from interlock.routing import catalog

# Reasoning profiles as the catalog hands them over (``msgspec.to_builtins(ReasoningProfile)``).
CLAUDE_46 = {"style": "adaptive", "efforts": ["low", "medium", "high", "max"], "can_disable": True}
OPUS_47 = {"style": "adaptive", "efforts": ["low", "medium", "high", "xhigh", "max"], "can_disable": True}
OPUS_45 = {"style": "effort", "efforts": ["low", "medium", "high"], "can_disable": True}
SONNET_45 = {
    "style": "budget",
    "efforts": ["low", "medium", "high", "max"],
    "can_disable": True,
    "budgets": {"low": 2048, "medium": 8192, "high": 16384, "max": 32000},
}
GEMINI_3 = {"style": "level", "efforts": ["low", "high"], "can_disable": False}
GEMINI_25_PRO = {
    "style": "budget",
    "efforts": ["low", "medium", "high"],
    "can_disable": False,
    "budgets": {"low": 1024, "medium": 8192, "high": 32768},
}
O3 = {"style": "effort", "efforts": ["low", "medium", "high"], "can_disable": False}
GPT_51 = {"style": "effort", "efforts": ["none", "low", "medium", "high"], "can_disable": True}
MINIMAX = {"style": "fixed"}

REASONING = frozenset({"tools", "reasoning"})


def target(
    protocol: str = "anthropic",
    *,
    caps: frozenset[str] = REASONING,
    accepted: frozenset[str] | None = None,
    reasoning: dict[str, Any] | None = None,
    max_out: int | None = None,
    model: str = "model-x",
) -> Target:
    return Target(
        provider="prov",
        protocol=protocol,  # type: ignore[arg-type]
        base_url="http://upstream",
        api_key="k",
        provider_model_id=model,
        model_canonical=model,
        max_output_tokens=max_out,
        capabilities=caps,
        accepted_params=accepted,
        reasoning=reasoning,
    )


def req(**body: Any) -> ResponseRequest:
    parsed, unknown = parse_response_request({"model": "m", "input": "hi", **body})
    assert not unknown
    return parsed


TOOLS = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]

# (id, request body, target, expected warning codes, expected request changes)
CASES: list[tuple[str, dict[str, Any], Target, list[str], dict[str, Any]]] = [
    ("nothing to do", {"temperature": 0.3}, target(), [], {}),
    ("unaccepted param dropped", {"seed": 7}, target(), ["seed_dropped"], {"seed": None}),
    (
        "catalog list wins over protocol defaults",
        {"temperature": 0.2},
        target(accepted=frozenset()),
        ["temperature_dropped"],
        {"temperature": None},
    ),
    ("n=1 is the default", {"n": 1}, target(), [], {}),
    ("n>1 dropped", {"n": 2}, target(), ["n_dropped"], {"n": None}),
    ("parallel true is the default", {"parallel_tool_calls": True}, target("gemini"), [], {}),
    (
        "parallel false has no gemini slot",
        {"parallel_tool_calls": False},
        target("gemini"),
        ["parallel_tool_calls_dropped"],
        {"parallel_tool_calls": None},
    ),
    ("verbosity dropped", {"text": {"verbosity": "low"}}, target(), ["verbosity_dropped"], {}),
    (
        "extra params dropped one by one",
        {"extra_params": {"min_p": 0.1, "custom": 1}},
        target(),
        ["min_p_dropped"],
        {"extra_params": {"custom": 1}},
    ),
    (
        "safety identifier not on gemini",
        {"safety_identifier": "u"},
        target("gemini"),
        ["safety_identifier_dropped"],
        {"safety_identifier": None},
    ),
    (
        "max output clamped",
        {"max_output_tokens": 100_000},
        target(max_out=64_000),
        ["max_output_tokens_clamped"],
        {"max_output_tokens": 64_000},
    ),
    ("max output within range", {"max_output_tokens": 1000}, target(max_out=64_000), [], {}),
    (
        "minimal on a non-reasoning model dropped",
        {"reasoning": {"effort": "minimal"}},
        target(caps=frozenset({"tools"})),
        ["reasoning_effort_dropped"],
        {"reasoning": None},
    ),
    (
        "off on a non-reasoning model dropped",
        {"reasoning": {"effort": "off"}},
        target(caps=frozenset()),
        ["reasoning_effort_dropped"],
        {"reasoning": None},
    ),
    (
        "summary on a non-reasoning model dropped",
        {"reasoning": {"summary": "auto"}},
        target(caps=frozenset()),
        ["reasoning_summary_dropped"],
        {"reasoning": None},
    ),
    ("xhigh kept on Opus 4.7", {"reasoning": {"effort": "xhigh"}}, target(reasoning=OPUS_47), [], {}),
    (
        "xhigh clamped to high on Opus 4.5",
        {"reasoning": {"effort": "xhigh"}},
        target(reasoning=OPUS_45),
        ["reasoning_effort_clamped"],
        {"reasoning": {"effort": "high"}},
    ),
    (
        "xhigh mapped to max on other Claude",
        {"reasoning": {"effort": "xhigh"}},
        target(reasoning=CLAUDE_46),
        ["reasoning_effort_clamped"],
        {"reasoning": {"effort": "max"}},
    ),
    (
        "minimal rounds up to low on Claude",
        {"reasoning": {"effort": "minimal"}},
        target(reasoning=SONNET_45),
        ["reasoning_effort_clamped"],
        {"reasoning": {"effort": "low"}},
    ),
    (
        "max to high on Gemini 3",
        {"reasoning": {"effort": "max"}},
        target("gemini", reasoning=GEMINI_3),
        ["reasoning_effort_clamped"],
        {"reasoning": {"effort": "high"}},
    ),
    (
        "medium rounds up on Gemini 3 Pro",
        {"reasoning": {"effort": "medium"}},
        target("gemini", reasoning=GEMINI_3),
        ["reasoning_effort_clamped"],
        {"reasoning": {"effort": "high"}},
    ),
    (
        "max to the ceiling on OpenAI",
        {"reasoning": {"effort": "max"}},
        target("openai-responses", reasoning=O3),
        ["reasoning_effort_clamped"],
        {"reasoning": {"effort": "high"}},
    ),
    (
        "off where reasoning cannot stop",
        {"reasoning": {"effort": "off"}},
        target("gemini", reasoning=GEMINI_25_PRO),
        ["reasoning_effort_clamped"],
        {"reasoning": {"effort": "low"}},
    ),
    ("off honoured silently", {"reasoning": {"effort": "off"}}, target(reasoning=CLAUDE_46), [], {}),
    (
        "off spelled none where native",
        {"reasoning": {"effort": "off"}},
        target("openai-chat", reasoning=GPT_51),
        [],
        {"reasoning": {"effort": "none"}},
    ),
    (
        "fixed reasoning drops the effort",
        {"reasoning": {"effort": "high", "summary": "auto"}},
        target("openai-chat", reasoning=MINIMAX),
        ["reasoning_effort_dropped"],
        {"reasoning": {"summary": "auto"}},
    ),
    ("no profile keeps the effort", {"reasoning": {"effort": "high"}}, target(), [], {}),
    (
        "thinking strips temperature",
        {"reasoning": {"effort": "high"}, "temperature": 0.5},
        target(reasoning=SONNET_45),
        ["temperature_incompatible_with_reasoning"],
        {"temperature": None},
    ),
    (
        "thinking keeps temperature 1",
        {"reasoning": {"effort": "high"}, "temperature": 1},
        target(reasoning=SONNET_45),
        [],
        {},
    ),
    (
        "thinking strips low top_p and any top_k",
        {"reasoning": {"effort": "low"}, "top_p": 0.5, "top_k": 5},
        target(reasoning=SONNET_45),
        ["top_p_incompatible_with_reasoning", "top_k_incompatible_with_reasoning"],
        {"top_p": None, "top_k": None},
    ),
    ("thinking keeps top_p 0.95", {"reasoning": {"effort": "low"}, "top_p": 0.95}, target(reasoning=SONNET_45), [], {}),
    (
        "no thinking, sampling kept",
        {"reasoning": {"effort": "off"}, "temperature": 0.2},
        target(reasoning=SONNET_45),
        [],
        {},
    ),
    (
        "forced tool turns Claude thinking off",
        {"reasoning": {"effort": "high"}, "tools": TOOLS, "tool_choice": "required"},
        target(reasoning=SONNET_45),
        ["reasoning_effort_dropped"],
        {"reasoning": None},
    ),
    (
        "named tool turns Claude thinking off",
        {"reasoning": {"effort": "high"}, "tools": TOOLS, "tool_choice": {"type": "function", "name": "f"}},
        target(reasoning=SONNET_45),
        ["reasoning_effort_dropped"],
        {"reasoning": None},
    ),
    (
        "auto tool choice keeps thinking",
        {"reasoning": {"effort": "high"}, "tools": TOOLS, "tool_choice": "auto"},
        target(reasoning=SONNET_45),
        [],
        {},
    ),
    (
        "OpenAI reasoning strips sampling",
        {"reasoning": {"effort": "high"}, "temperature": 0.7, "top_p": 0.9},
        target("openai-responses", reasoning=O3),
        ["temperature_incompatible_with_reasoning", "top_p_incompatible_with_reasoning"],
        {"temperature": None, "top_p": None},
    ),
    (
        "Gemini thinking keeps sampling",
        {"reasoning": {"effort": "high"}, "temperature": 0.7},
        target("gemini", reasoning=GEMINI_3),
        [],
        {},
    ),
    (
        "GPT-5.4 chat with tools drops the effort",
        {"reasoning": {"effort": "high"}, "tools": TOOLS},
        target("openai-chat", model="gpt-5.4-2026-03-05", reasoning=GPT_51),
        ["reasoning_effort_dropped"],
        {"reasoning": None},
    ),
    (
        "GPT-5.1 chat with tools keeps it",
        {"reasoning": {"effort": "high"}, "tools": TOOLS},
        target("openai-chat", model="gpt-5.1", reasoning=GPT_51),
        [],
        {},
    ),
    (
        "malformed profile tolerated",
        {"reasoning": {"effort": "high"}},
        target(reasoning={"style": 3, "efforts": "high", "budgets": [1]}),
        [],
        {},
    ),
]


@pytest.mark.parametrize(("body", "tgt", "codes", "changes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_normalise_table(body: dict[str, Any], tgt: Target, codes: list[str], changes: dict[str, Any]) -> None:
    original = req(**body)
    out, warnings = nm.normalise(original, tgt)
    assert [w.code for w in warnings] == codes
    assert all(w.type == "unsupported_parameter" and w.message for w in warnings)
    expected = msgspec.to_builtins(original)
    for key, value in changes.items():
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = value
    if "verbosity" in body.get("text", {}):
        expected.pop("text")
    assert msgspec.to_builtins(out) == expected


ERRORS: list[tuple[str, dict[str, Any], Target, str, str]] = [
    (
        "effort on a non-reasoning model",
        {"reasoning": {"effort": "high"}},
        target(caps=frozenset({"tools"})),
        "reasoning_not_supported",
        "reasoning.effort",
    ),
    (
        "low effort too",
        {"reasoning": {"effort": "low"}},
        target(caps=frozenset()),
        "reasoning_not_supported",
        "reasoning.effort",
    ),
    (
        "require_parameters refuses a drop",
        {"seed": 1, "gateway": {"routing": {"require_parameters": True}}},
        target(),
        "required_params_not_supported",
        "seed",
    ),
]


@pytest.mark.parametrize(("body", "tgt", "code", "param"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_normalise_errors(body: dict[str, Any], tgt: Target, code: str, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        nm.normalise(req(**body), tgt)
    assert (info.value.code, info.value.param, info.value.status) == (code, param, 400)


def test_require_parameters_passes_when_everything_is_accepted() -> None:
    out, warnings = nm.normalise(req(temperature=0.5, gateway={"routing": {"require_parameters": True}}), target())
    assert warnings == [] and out.temperature == 0.5


def test_reasoning_profile_accepts_a_catalog_struct() -> None:
    profile = catalog.ReasoningProfile(style="adaptive", efforts=("low", "high"), can_disable=True)
    tgt = target(reasoning=profile)  # type: ignore[arg-type]
    out, warnings = nm.normalise(req(reasoning={"effort": "medium"}), tgt)
    assert out.reasoning is not None and out.reasoning.effort == "high"
    assert [w.code for w in warnings] == ["reasoning_effort_clamped"]


def test_unsupported_params_lists_what_require_parameters_would_refuse() -> None:
    request = req(temperature=0.1, seed=3, stop=["x"], logprobs=True, text={"verbosity": "high"})
    assert nm.unsupported_params(request, target("anthropic")) == ["seed", "logprobs", "verbosity"]
    assert nm.unsupported_params(request, target("openai-chat")) == ["verbosity"]
    assert nm.unsupported_params(req(logprobs=False, n=1, parallel_tool_calls=True), target("gemini")) == []


def test_tables_match_the_catalog() -> None:
    assert set(nm.OPTIONAL_PARAMS) == set(get_args(catalog.OptionalParam))
    assert nm.EFFORT_ORDER == catalog.EFFORT_ORDER


graded = st.lists(st.sampled_from(catalog.EFFORT_ORDER), unique=True, min_size=1).map(
    lambda es: tuple(sorted(es, key=catalog.EFFORT_ORDER.index))
)


@given(graded, st.booleans(), st.sampled_from([*catalog.EFFORT_ORDER, "off"]), st.data())
def test_clamp_agrees_with_the_catalog(efforts: tuple[Any, ...], can_disable: bool, effort: str, data: Any) -> None:
    listed = [e for e in efforts if e != "none"]
    max_effort = data.draw(st.sampled_from([None, *listed])) if listed else None
    ours = nm.Profile(style="effort", efforts=efforts, can_disable=can_disable, max_effort=max_effort, budgets={})
    theirs = catalog.ReasoningProfile(style="effort", efforts=efforts, can_disable=can_disable, max_effort=max_effort)
    assert ours.clamp(effort) == theirs.clamp(effort)  # type: ignore[arg-type]


# --- the PARAMS interpreter ---------------------------------------------------------------------------------


def test_apply_params_copies_clamps_and_refuses() -> None:
    table = {
        "temperature": nm.maps_to("sampling.temperature", clamp=(0, 1)),
        "seed": nm.UNSUPPORTED,
        "metadata": nm.GATEWAY,
        "input": nm.CODE,
        "n": nm.UNSUPPORTED,
    }
    body: dict[str, Any] = {"sampling": {"top_k": 3}}
    warnings = nm.apply_params(req(temperature=1.5, seed=4, metadata={"a": "b"}, n=1), table, body, target())
    assert body == {"sampling": {"top_k": 3, "temperature": 1}}
    assert [w.code for w in warnings] == ["temperature_clamped", "seed_dropped"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("n", 1, False),
        ("n", 3, True),
        ("logprobs", False, False),
        ("logprobs", True, True),
        ("parallel_tool_calls", True, False),
        ("parallel_tool_calls", False, True),
        ("stop", [], False),
        ("temperature", 0.0, True),
        ("truncation", "disabled", False),
        ("truncation", "auto", True),
        ("extra_params", {}, False),
    ],
)
def test_is_set(name: str, value: Any, expected: bool) -> None:
    assert nm.is_set(name, value) is expected


def test_thinking_enabled() -> None:
    assert nm.thinking_enabled(req(reasoning={"effort": "low"}), target(reasoning=SONNET_45))
    assert not nm.thinking_enabled(req(reasoning={"effort": "none"}), target(reasoning=SONNET_45))
    assert not nm.thinking_enabled(req(reasoning={"effort": "high"}), target(reasoning=MINIMAX))
    assert not nm.thinking_enabled(req(), target())
