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
from bench.lanes._common import Lane, bar_plot, fmt_num, fmt_ratio, load_row, md_table, ratio

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
    headers = ["Interlock variant", "mode", "clients", "rps", "p50 ms", "p99 ms", "errors", "vs everything on"]
    body = [
        [
            r["label"],
            r["mode"],
            str(r["conns"]),
            fmt_num(r["rps"]),
            fmt_num(r["p50_ms"], 2),
            fmt_num(r["p99_ms"], 2),
            str(r["errors"] + r["status_errors"]),
            fmt_ratio(r.get("rps_vs_all_on")),
        ]
        for r in sorted(result["rows"], key=lambda r: r["mode"])
    ]
    return md_table(headers, body)


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    rows = result["rows"]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    if not labels:
        return []
    series = {
        mode: [next((r["rps"] for r in rows if r["label"] == lab and r["mode"] == mode), None) for lab in labels]
        for mode in ("json", "sse")
    }
    return [
        bar_plot(out / "switches.png", f"Subsystems on/off, {result['conns']} clients", labels, series, "requests/s")
    ]


LANE = Lane("switches", "Hot-path cost of accounting and telemetry (on vs off, one run)", run, markdown, plot)
