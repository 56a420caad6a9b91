"""Lane 1, added latency: one client, back to back, p50/p99 per target next to the direct upstream.

For SSE the latency is the whole stream (16 tokens, unpaced). "Added" is the target's percentile minus the
direct upstream's for the same client format and mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._context import Ctx
from bench.lanes._common import PEERS, Lane, bar_plot, diff, fmt_num, fmt_ratio, md_table, ratio, reference, sweep

__all__ = ["LANE"]

TARGETS = ("direct", "bare", "interlock", "litellm", "portkey")


def run(ctx: Ctx) -> dict[str, Any]:
    p = ctx.profile
    rows = sweep(ctx, TARGETS, (1,), duration=p.latency_measure, warmup=min(p.warmup, 1.0))
    for row in rows:
        direct, _ = reference(rows, row, "direct")
        bare, _ = reference(rows, row, "bare")
        for pct in ("p50", "p99"):
            value = row[f"{pct}_ms"]
            row[f"added_{pct}_ms"] = diff(value, direct[f"{pct}_ms"] if direct else None)
            row[f"added_{pct}_ms_vs_bare"] = diff(value, bare[f"{pct}_ms"] if bare else None)
            row[f"{pct}_vs_direct"] = ratio(value, direct[f"{pct}_ms"] if direct else None)
    return {"rows": rows}


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    body = []
    for r in rows:
        peers = []
        for peer in PEERS:
            other, dagger = reference(rows, r, peer)
            peers.append(fmt_ratio(ratio(r["p50_ms"], other["p50_ms"] if other else None), dagger))
        body.append(
            [
                r["label"],
                r["mode"],
                fmt_num(r["p50_ms"], 2),
                fmt_num(r["p99_ms"], 2),
                fmt_num(r.get("added_p50_ms"), 2),
                fmt_num(r.get("added_p99_ms"), 2),
                fmt_ratio(r.get("p50_vs_direct")),
                fmt_num(r.get("added_p50_ms_vs_bare"), 2),
                *peers,
            ]
        )
    headers = [
        "target",
        "mode",
        "p50 ms",
        "p99 ms",
        "added p50 ms",
        "added p99 ms",
        "p50 vs direct",
        "added p50 ms vs bare",
        *(f"p50 vs {peer}" for peer in PEERS),
    ]
    return md_table(headers, body)


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    rows = result["rows"]
    paths = []
    for mode in ("json", "sse"):
        sel = [r for r in rows if r["mode"] == mode]
        if sel:
            paths.append(
                bar_plot(
                    out / f"latency-{mode}.png",
                    f"Latency at 1 client ({mode.upper()})",
                    [r["label"] for r in sel],
                    {"p50": [r["p50_ms"] for r in sel], "p99": [r["p99_ms"] for r in sel]},
                    "ms",
                    log=True,
                )
            )
    return paths


LANE = Lane("latency", "Added latency at 1 client", run, markdown, plot)
