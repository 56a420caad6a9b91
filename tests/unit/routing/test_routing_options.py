"""The 20 fields of ``gateway.routing`` decode with the SDK's validation rules (auriko-api.md 2.2)."""

from __future__ import annotations

from typing import Any

import pytest
from auriko.route_types import RoutingOptions as SdkRoutingOptions

from interlock.ir.errors import GatewayError
from interlock.ir.parse import parse_response_request
from interlock.ir.request import RoutingOptions

VALID: dict[str, Any] = {
    "optimize": "tps-focus",
    "weights": {"cost": 1, "ttft": 0.5, "throughput": 0},
    "max_cost_per_1m": 2.5,
    "max_ttft_ms": 800,
    "min_throughput_tps": 20.5,
    "ttft_percentile": "p95",
    "throughput_percentile": "p50",
    "providers": ["openai"],
    "exclude_providers": ["together"],
    "prefer": "openai",
    "mode": "fallback",
    "allow_fallbacks": True,
    "max_fallback_attempts": 19,
    "timeout_ms": 1000,
    "deadline_ms": 1000,
    "data_policy": "zdr",
    "only_byok": False,
    "only_platform": True,
    "require_parameters": True,
    "tier": "priority",
}

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"optimize": "fastest"}, "optimize"),
    ({"weights": {"speed": 1}}, "weights"),
    ({"weights": {"cost": -1}}, "weights"),
    ({"weights": {"cost": 0, "ttft": 0}}, "weights"),
    ({"max_cost_per_1m": 0}, "max_cost_per_1m"),
    ({"max_ttft_ms": 0}, "max_ttft_ms"),
    ({"max_ttft_ms": 1.5}, "max_ttft_ms"),
    ({"min_throughput_tps": -1}, "min_throughput_tps"),
    ({"ttft_percentile": "p99"}, "ttft_percentile"),
    ({"throughput_percentile": "p90"}, "throughput_percentile"),
    ({"providers": "openai"}, "providers"),
    ({"exclude_providers": [1]}, "exclude_providers"),
    ({"mode": "race"}, "mode"),
    ({"allow_fallbacks": "yes"}, "allow_fallbacks"),
    ({"max_fallback_attempts": 0}, "max_fallback_attempts"),
    ({"max_fallback_attempts": 20}, "max_fallback_attempts"),
    ({"timeout_ms": 0}, "timeout_ms"),
    ({"timeout_ms": 100, "deadline_ms": 50}, "deadline_ms"),
    ({"data_policy": "strict"}, "data_policy"),
    ({"only_byok": True, "only_platform": True}, "only_byok"),
    ({"require_parameters": 1}, "require_parameters"),
    ({"tier": 3}, "tier"),
]


def parse(routing: dict[str, Any]) -> RoutingOptions:
    req, _ = parse_response_request({"model": "m", "input": "x", "gateway": {"routing": routing}})
    assert req.gateway is not None and req.gateway.routing is not None
    return req.gateway.routing


def test_all_twenty_fields_are_accepted() -> None:
    assert set(VALID) == set(RoutingOptions.__struct_fields__) == set(SdkRoutingOptions.model_fields)
    assert len(VALID) == 20
    routing = parse(VALID)
    assert routing.weights == {"cost": 1.0, "ttft": 0.5, "throughput": 0.0}
    assert routing.max_fallback_attempts == 19 and routing.tier == "priority"
    SdkRoutingOptions(**VALID)  # the SDK agrees the same values are valid


@pytest.mark.parametrize(("routing", "field"), INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(INVALID)])
def test_invalid_values_are_400_with_the_field_as_param(routing: dict[str, Any], field: str) -> None:
    with pytest.raises(GatewayError) as info:
        parse(routing)
    assert info.value.code == "invalid_parameter_value"
    assert info.value.param is not None and info.value.param.startswith(f"gateway.routing.{field}")


def test_unknown_routing_field_is_rejected() -> None:
    with pytest.raises(GatewayError) as info:
        parse({"optimise": "cost"})
    assert info.value.status == 400
