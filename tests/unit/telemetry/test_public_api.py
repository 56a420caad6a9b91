"""The package exports exactly its public names, sorted (style.md, "Small public names")."""

from __future__ import annotations

import interlock.telemetry


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in vars(interlock.telemetry) if not name.startswith("_")}
    modules = {"logs", "metrics", "redaction", "request", "tracing", "annotations"}
    assert interlock.telemetry.__all__ == sorted(interlock.telemetry.__all__)
    assert set(interlock.telemetry.__all__) == public - modules
