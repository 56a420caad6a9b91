"""Telemetry: Prometheus metrics, OpenTelemetry traces (optional, imported lazily) and structured, redacted logs.

Other packages use the functions exported here; the metric objects, the tracer and the log handlers stay
inside. ``Telemetry`` is one app's switchboard (``telemetry:`` in the config: ``metrics``, ``request_logs``,
``otlp_endpoint``, ``service_name``); ``Probe`` is one request; ``TelemetryObserver`` is the engine seam.
"""

from __future__ import annotations

from interlock.telemetry.logs import configure_logging, log_request
from interlock.telemetry.metrics import (
    count_budget_rejection,
    count_ledger_drops,
    count_rate_limit_rejection,
    mark_process_dead,
    multiprocess_dir_for_workers,
    render,
    set_circuit_breaker_state,
    set_ledger_queue_depth,
)
from interlock.telemetry.redaction import add_secrets, redact
from interlock.telemetry.request import KeyTap, Probe, Telemetry, TelemetryObserver, current_probe
from interlock.telemetry.tracing import Tracing

__all__ = [
    "KeyTap",
    "Probe",
    "Telemetry",
    "TelemetryObserver",
    "Tracing",
    "add_secrets",
    "configure_logging",
    "count_budget_rejection",
    "count_ledger_drops",
    "count_rate_limit_rejection",
    "current_probe",
    "log_request",
    "mark_process_dead",
    "multiprocess_dir_for_workers",
    "redact",
    "render",
    "set_circuit_breaker_state",
    "set_ledger_queue_depth",
]
