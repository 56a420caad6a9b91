"""Scoring: presets, custom weights, token and cost estimates, normalisation, prefer and reliability terms."""

from __future__ import annotations

import pytest

from interlock.ir.parse import parse_response_request
from interlock.ir.request import ResponseRequest
from interlock.routing.catalog import Offering
from interlock.routing.scoring import (
    CACHE_SHARE_CONTINUED,
    CACHE_SHARE_KEYED,
    CACHE_SHARE_LONG,
    DEFAULT_OUTPUT_TOKENS,
    DEFAULT_REASONING_OUTPUT_TOKENS,
    IMAGE_TOKENS,
    PREFER_BONUS,
    PRESETS,
    Dimensions,
    Weights,
    cached_share,
    estimate_input_tokens,
    expected_cost,
    expected_output_tokens,
    score,
    weights_for,
)


def req(body: dict[str, object]) -> ResponseRequest:
    return parse_response_request({"model": "m", **body})[0]


def test_presets() -> None:
    assert set(PRESETS) == {"cost", "cost-focus", "ttft", "ttft-focus", "tps", "tps-focus", "balanced"}
    for name, w in PRESETS.items():
        assert w.cost + w.ttft + w.tps == pytest.approx(1)
        dim = name.split("-")[0]
        main = {"cost": w.cost, "ttft": w.ttft, "tps": w.tps}.get(dim)
        if name.endswith("-focus"):
            assert main == pytest.approx(0.9)
        elif name != "balanced":
            assert main == pytest.approx(0.6)
    assert PRESETS["balanced"] == Weights.of(1, 1, 1)


def test_custom_weights_are_normalised_and_unknown_strategy_falls_back() -> None:
    assert weights_for("custom", {"cost": 2, "throughput": 2}) == Weights(0.5, 0.0, 0.5)
    assert weights_for("nonsense") == PRESETS["cost-focus"]
    with pytest.raises(ValueError):
        Weights.of(0, 0, 0)


def test_input_tokens_are_characters_over_four() -> None:
    assert estimate_input_tokens(req({"input": "x" * 400})) == 100
    body = {
        "instructions": "y" * 40,
        "input": [
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "z" * 80}, {"type": "input_image", "image_url": "u"}],
            },
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}" * 10},
            {"type": "function_call_output", "call_id": "c", "output": "o" * 20},
        ],
    }
    assert estimate_input_tokens(req(body)) == (40 + 80 + 1 + 20 + 20) // 4 + IMAGE_TOKENS
    with_tools = req({"input": "hi", "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]})
    assert estimate_input_tokens(with_tools) > 10


def test_output_tokens_and_cache_share() -> None:
    assert expected_output_tokens(req({"input": "x", "max_output_tokens": 77}), False) == 77
    assert expected_output_tokens(req({"input": "x"}), False) == DEFAULT_OUTPUT_TOKENS
    assert expected_output_tokens(req({"input": "x"}), True) == DEFAULT_REASONING_OUTPUT_TOKENS
    assert cached_share(req({"input": "x", "prompt_cache_key": "k"}), 10) == CACHE_SHARE_KEYED
    assert cached_share(req({"input": "x", "previous_response_id": "resp_1"}), 10) == CACHE_SHARE_CONTINUED
    assert cached_share(req({"input": "x"}), 5000) == CACHE_SHARE_LONG
    assert cached_share(req({"input": "x"}), 10) == 0.0


def test_expected_cost() -> None:
    o = Offering(
        provider="p", provider_model_id="m", input_price=2, output_price=8, cache_read_price=0.5, max_output_tokens=100
    )
    assert expected_cost(o, 1000, 50, 0.0) == pytest.approx((2000 + 400) / 1e6)
    assert expected_cost(o, 1000, 500, 0.0) == pytest.approx((2000 + 800) / 1e6)  # capped at the offering's max
    assert expected_cost(o, 1000, 50, 0.5) == pytest.approx((1000 + 250 + 400) / 1e6)
    unpriced = Offering(provider="p", provider_model_id="m", input_price=None, output_price=1)
    assert expected_cost(unpriced, 1000, 50, 0.0) is None


def test_score_normalises_each_dimension_min_max() -> None:
    dims = [Dimensions(cost=1.0, ttft_ms=100, tps=50), Dimensions(cost=3.0, ttft_ms=300, tps=150)]
    (a, na), (b, nb) = score(dims, Weights.of(1, 0, 0))
    assert (na, nb) == ((0.0, 0.0, 1.0), (1.0, 1.0, 0.0))
    assert (a, b) == (1.0, 0.0)
    (a, _), (b, _) = score(dims, Weights.of(0, 0, 1))
    assert (a, b) == (0.0, 1.0)
    (a, _), (b, _) = score([Dimensions(1, 1, 1), Dimensions(1, 1, 1)], PRESETS["balanced"])
    assert a == b == 1.0


def test_unpriced_scores_as_the_most_expensive() -> None:
    (cheap, _), (dear, _), (unpriced, _) = score(
        [Dimensions(cost=1.0, ttft_ms=1, tps=1), Dimensions(cost=2.0, ttft_ms=1, tps=1), Dimensions(None, 1, 1)],
        PRESETS["cost-focus"],
    )
    assert cheap > dear > unpriced


def test_prefer_bonus_and_reliability_penalty() -> None:
    dims = [
        Dimensions(cost=1.0, ttft_ms=100, tps=100),
        Dimensions(cost=9.0, ttft_ms=900, tps=10, preferred=True),
        Dimensions(cost=1.0, ttft_ms=100, tps=100, failure_rate=0.5),
    ]
    (a, _), (b, _), (c, _) = score(dims, PRESETS["cost-focus"])
    assert b == pytest.approx(PREFER_BONUS)  # worst on everything, still first
    assert b > a > c
