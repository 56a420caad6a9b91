"""Lane: the hot-path cost of accounting (ledger, limits, budgets) and of telemetry (metrics, request logs).

Interlock is started four times against the same mock upstream, in one run: everything on (request logs at
INFO, metrics, accounting), accounting off, telemetry off, and both off. Each variant takes the same
Responses -> Responses load (JSON and SSE at the throughput lane's middle concurrency); the "all on" variant is
measured first and again last so the drift of a shared machine shows in the table. Ratios are to the first
"all on" row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._context import Ctx
from bench._targets import running
from bench.lanes._common import Lane, load_row, ratio, rps_bar_plot, rps_table

__all__ = ["LANE"]

VARIANTS = ("all-on", "accounting-off", "telemetry-off", "both-off", "all-on")
LABELS = {
    "all-on": "everything on",
    "accounting-off": "accounting off",
    "telemetry-off": "metrics + request logs off",
    "both-off": "accounting + telemetry off",
}


def run(ctx: Ctx) -> dict[str, Any]:
    p = ctx.profile
    conns = p.translation_conns
    rows: list[dict[str, Any]] = []
    for i, variant in enumerate(VARIANTS):
        target = f"interlock:{variant}"
        with running(ctx, target, {f"{target}/responses"}) as server:
            if server is None:
                continue
            route = server.routes.get(f"{target}/responses")
            if route is None:
                continue
            for mode in p.modes:
                spec = route.spec(
                    server.port, stream=mode == "sse", connections=conns, duration=p.measure, warmup=p.warmup
                )
                row = load_row(route, mode, conns, ctx.loader.run(spec))
                row["variant"] = variant
                row["label"] = LABELS[variant] + (" (again, last)" if i == len(VARIANTS) - 1 else "")
                ctx.log(f"switches {variant} {mode} c={conns}: {row['rps']:.0f} rps")
                rows.append(row)
    for row in rows:
        base = next((r for r in rows if r["variant"] == "all-on" and r["mode"] == row["mode"]), None)
        row["rps_vs_all_on"] = ratio(row["rps"], base["rps"] if base else None)
    return {"rows": rows, "conns": conns}


def markdown(result: dict[str, Any]) -> str:
    return rps_table(result["rows"], "Interlock variant", "rps_vs_all_on", "vs everything on")


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    return rps_bar_plot(result["rows"], out / "switches.png", f"Subsystems on/off, {result['conns']} clients")


LANE = Lane("switches", "Hot-path cost of accounting and telemetry (on vs off, one run)", run, markdown, plot)
