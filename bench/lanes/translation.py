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
from bench.lanes._common import Lane, bar_plot, fmt_num, fmt_ratio, load_row, md_table, ratio

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
    headers = ["route", "mode", "clients", "rps", "p50 ms", "p99 ms", "errors", "vs Responses -> Responses"]
    body = [
        [
            r["label"],
            r["mode"],
            str(r["conns"]),
            fmt_num(r["rps"]),
            fmt_num(r["p50_ms"], 2),
            fmt_num(r["p99_ms"], 2),
            str(r["errors"] + r["status_errors"]),
            fmt_ratio(r.get("rps_vs_responses")),
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
        bar_plot(
            out / "translation.png", f"Translation, {result['conns']} clients, requests/s", labels, series, "requests/s"
        )
    ]


LANE = Lane("translation", "Translation lane (Responses in, other protocols upstream)", run, markdown, plot)
