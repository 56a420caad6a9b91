"""Interlock telemetry package."""
