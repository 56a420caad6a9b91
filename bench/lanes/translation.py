"""Lane 4, translation: Interlock's requests/s for Responses -> Anthropic and Responses -> Gemini next to
Responses -> Responses, JSON and SSE, at the same concurrency and upstream in one run.

The ratio to Responses -> Responses is the cost of translating the request and of parsing a foreign stream
into the internal events (the client side is the same Response builder in all three).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._context import Ctx
from bench._targets import running
from bench.lanes._common import Lane, load_row, ratio, rps_bar_plot, rps_table

__all__ = ["LANE"]

ROUTES = ("interlock/responses", "interlock/anthropic", "interlock/gemini")


def run(ctx: Ctx) -> dict[str, Any]:
    p = ctx.profile
    n = p.translation_conns
    rows: list[dict[str, Any]] = []
    with running(ctx, "interlock", set(ROUTES)) as server:
        if server is not None:
            for key in ROUTES:
                route = server.routes.get(key)
                if route is None:
                    continue
                for mode in p.modes:
                    spec = route.spec(
                        server.port, stream=mode == "sse", connections=n, duration=p.measure, warmup=p.warmup
                    )
                    row = load_row(route, mode, n, ctx.loader.run(spec))
                    ctx.log(f"{key} {mode} c={n}: {row['rps']:.0f} rps")
                    rows.append(row)
    for row in rows:
        base = next((r for r in rows if r["route"] == "interlock/responses" and r["mode"] == row["mode"]), None)
        row["rps_vs_responses"] = ratio(row["rps"], base["rps"] if base else None)
    return {"rows": rows, "conns": n}


def markdown(result: dict[str, Any]) -> str:
    return rps_table(result["rows"], "route", "rps_vs_responses", "vs Responses -> Responses")


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    return rps_bar_plot(result["rows"], out / "translation.png", f"Translation, {result['conns']} clients, requests/s")


LANE = Lane("translation", "Translation lane (Responses in, other protocols upstream)", run, markdown, plot)
