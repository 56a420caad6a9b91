"""Metrics: one finished request moves exactly the expected series; the functions for other packages; scrape."""

from __future__ import annotations

import os

import pytest
from prometheus_client import REGISTRY

from interlock.telemetry import metrics as m


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_observe_request_moves_each_series_once() -> None:
    labels = {"ingress": "chat", "model": "unit-m", "provider": "unit-p", "status": "200", "error_code": "none"}
    offering = {"model": "unit-m", "provider": "unit-p", "offering": "unit-p/x@standard"}
    before = {
        "requests": sample("interlock_requests_total", **labels),
        "duration": sample("interlock_request_duration_seconds_count", ingress="chat", stream="false"),
        "overhead": sample("interlock_gateway_overhead_seconds_sum", ingress="chat", stream="false"),
        "ttft": sample("interlock_ttft_seconds_count", **offering),
        "tps": sample("interlock_output_tokens_per_second_count", **offering),
        "out": sample("interlock_tokens_total", model="unit-m", provider="unit-p", kind="output"),
        "cost": sample("interlock_cost_usd_total", model="unit-m", provider="unit-p"),
        "fallback": sample("interlock_fallbacks_total", model="unit-m", provider="unit-bad", reason="upstream_error"),
    }
    m.observe_request(
        m.RequestSample(
            ingress="chat",
            model="unit-m",
            provider="unit-p",
            status=200,
            error_code="none",
            stream=False,
            duration_s=0.5,
            upstream_s=0.4,
            offering="unit-p/x@standard",
            ttft_s=0.1,
            tps=50.0,
            input_tokens=10,
            output_tokens=20,
            cost_usd=0.25,
            attempts=(
                m.AttemptSample("unit-m", "unit-bad", "error", "upstream_error"),
                m.AttemptSample("unit-m", "unit-p", "ok", "none"),
            ),
        )
    )
    assert sample("interlock_requests_total", **labels) == before["requests"] + 1
    assert sample("interlock_request_duration_seconds_count", ingress="chat", stream="false") == before["duration"] + 1
    assert sample("interlock_gateway_overhead_seconds_sum", ingress="chat", stream="false") == pytest.approx(
        before["overhead"] + 0.1
    )
    assert sample("interlock_ttft_seconds_count", **offering) == before["ttft"] + 1
    assert sample("interlock_output_tokens_per_second_count", **offering) == before["tps"] + 1
    assert sample("interlock_tokens_total", model="unit-m", provider="unit-p", kind="output") == before["out"] + 20
    assert sample("interlock_cost_usd_total", model="unit-m", provider="unit-p") == pytest.approx(before["cost"] + 0.25)
    fallback = sample("interlock_fallbacks_total", model="unit-m", provider="unit-bad", reason="upstream_error")
    assert fallback == before["fallback"] + 1


def test_a_request_no_provider_served_moves_no_provider_series() -> None:
    labels = {"ingress": "unit", "model": "none", "provider": "none", "status": "404", "error_code": "model_not_found"}
    before = sample("interlock_requests_total", **labels)
    m.observe_request(
        m.RequestSample(
            ingress="unit",
            model="none",
            provider="none",
            status=404,
            error_code="model_not_found",
            stream=False,
            duration_s=0.001,
        )
    )
    assert sample("interlock_requests_total", **labels) == before + 1
    assert sample("interlock_gateway_overhead_seconds_count", ingress="unit", stream="false") == 0
    assert sample("interlock_tokens_total", model="none", provider="none", kind="input") == 0


def test_functions_for_other_packages() -> None:
    m.set_circuit_breaker_state("unit/x@standard", "open")
    assert sample("interlock_circuit_breaker_state", offering="unit/x@standard") == 2
    m.set_circuit_breaker_state("unit/x@standard", "half_open")
    assert sample("interlock_circuit_breaker_state", offering="unit/x@standard") == 1
    before = sample("interlock_rate_limit_rejections_total", scope="api_key")
    m.count_rate_limit_rejection()
    assert sample("interlock_rate_limit_rejections_total", scope="api_key") == before + 1
    before = sample("interlock_budget_rejections_total", scope="workspace", period="daily")
    m.count_budget_rejection("workspace", "daily")
    assert sample("interlock_budget_rejections_total", scope="workspace", period="daily") == before + 1
    m.set_ledger_queue_depth(7)
    assert sample("interlock_ledger_queue_depth") == 7
    m.set_ledger_queue_depth(0)
    before = sample("interlock_ledger_dropped_total", reason="queue_full")
    m.count_ledger_drops(3)
    m.count_ledger_drops(0)
    assert sample("interlock_ledger_dropped_total", reason="queue_full") == before + 3


def test_render_is_prometheus_text() -> None:
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    assert b"# TYPE interlock_requests_total counter" in body
    assert b"# TYPE interlock_in_flight_requests gauge" in body


def test_multiprocess_dir_for_workers_is_set_then_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(m.MULTIPROC_ENV, raising=False)
    with m.multiprocess_dir_for_workers() as path:
        assert path is not None and os.path.isdir(path)
        assert os.environ[m.MULTIPROC_ENV] == path
    assert m.MULTIPROC_ENV not in os.environ
    assert not os.path.exists(path)


def test_an_operator_chosen_multiprocess_dir_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv(m.MULTIPROC_ENV, str(tmp_path))
    with m.multiprocess_dir_for_workers() as path:
        assert path == str(tmp_path)
    assert os.environ[m.MULTIPROC_ENV] == str(tmp_path)
    assert os.path.isdir(str(tmp_path))
