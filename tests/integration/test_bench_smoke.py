"""The benchmark harness's smoke mode runs end to end and writes sane results (nothing here is timed).

`python -m bench run --smoke` starts the mock upstream, the bare proxy, the simulator and the real gateway on
loopback, runs the throughput and overhead lanes for about a second per point, stops everything and writes
results.json and results.md. Without wrk on the machine the harness falls back to its asyncio generator, so
CI needs no extra install. Speed itself is judged in bench/ as ratios, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 240  # the smoke run takes well under a minute on an idle 2-core machine


def _rows(lane: dict[str, Any], route: str) -> list[dict[str, Any]]:
    return [row for row in lane["rows"] if row["route"] == route]


def _check_row(row: dict[str, Any]) -> None:
    where = f"{row['route']} {row['mode']} c={row['conns']}"
    assert row["requests"] > 0, where
    assert row["rps"] > 0, where
    assert 0 < row["p50_ms"] <= row["p99_ms"], where
    assert row["status_errors"] == 0, where


def test_bench_smoke_writes_sane_results(tmp_path: Path) -> None:
    out = tmp_path / "bench-smoke"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads((out / "results.json").read_text())
    markdown = (out / "results.md").read_text()

    assert data["meta"]["profile"] == "smoke"
    assert data["lane_errors"] == {}
    lanes = data["lanes"]
    assert set(lanes) == {"throughput", "overhead"}

    throughput = lanes["throughput"]
    for route in ("direct/responses", "bare/responses", "interlock/responses"):
        rows = _rows(throughput, route)
        assert {row["mode"] for row in rows} == {"json", "sse"}, (route, data["skipped"])
        for row in rows:
            _check_row(row)
    for row in _rows(throughput, "interlock/responses"):
        # Ratios to rows of the same run: through the gateway is slower than the upstream alone.
        assert 0 < row["rps_vs_direct"] < 1
        assert row["rps_vs_bare"] > 0

    overhead = lanes["overhead"]
    for route in ("sim-direct/responses", "sim-interlock/responses"):
        rows = _rows(overhead, route)
        assert {(row["mode"], row["conns"]) for row in rows} == {("json", 1), ("sse", 1), ("json", 64), ("sse", 64)}
        for row in rows:
            _check_row(row)
            assert row["rps_vs_sim"] > 0

    assert "## Throughput" in markdown
    assert "| Interlock Responses -> Responses |" in markdown
    assert "## Overhead" in markdown
    assert not [p for p in (out / "logs").glob("lane-*.txt")]
