"""Lane 2, throughput: requests per second at 16, 64 and 256 clients, JSON and SSE, per target and format.

Also measured here, at 64 clients: the *ceilings* that justify the setup. The direct mock with the asyncio
generator (is the generator a bottleneck?) and the real simulator sent straight to (is the simulator fast enough
to be the upstream? it is not: see README), both next to the direct mock with the main generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._context import Ctx
from bench._load import Generator
from bench._targets import running
from bench.lanes._common import (
    REFERENCES,
    Lane,
    add_ratios,
    bar_plot,
    fmt_num,
    fmt_ratio,
    load_row,
    md_table,
    ratio,
    ratio_cells,
    sweep,
)

__all__ = ["LANE"]

TARGETS = ("direct", "bare", "interlock", "litellm", "portkey")


def _ceilings(ctx: Ctx) -> list[dict[str, Any]]:
    p = ctx.profile
    rows: list[dict[str, Any]] = []
    n = 64
    plan: list[tuple[str, Generator | None]] = [("direct", "asyncio"), ("sim-direct", None)]
    for name, generator in plan:
        if name == "direct" and ctx.generator == "asyncio":
            continue  # the main generator already is the asyncio one
        with running(ctx, name, {f"{name}/responses"}) as server:
            if server is None:
                continue
            for route in server.routes.values():
                for mode in p.modes:
                    spec = route.spec(
                        server.port, stream=mode == "sse", connections=n, duration=p.measure, warmup=p.warmup
                    )
                    result = ctx.loader.run(spec, generator=generator)
                    kind = "generator ceiling (asyncio)" if generator else "simulator ceiling"
                    rows.append(load_row(route, mode, n, result, ceiling=kind))
    return rows


def run(ctx: Ctx) -> dict[str, Any]:
    p = ctx.profile
    rows = sweep(
        ctx,
        TARGETS,
        p.conns,
        duration=p.measure,
        warmup=p.warmup,
        route_filter=lambda r: r.upstream in ("responses", "chat"),
    )
    add_ratios(rows, "rps")
    ceilings = _ceilings(ctx)
    for row in ceilings:
        direct = next(
            (
                r
                for r in rows
                if r["route"] == "direct/responses" and r["mode"] == row["mode"] and r["conns"] == row["conns"]
            ),
            None,
        )
        row["rps_vs_direct_main_generator"] = ratio(row["rps"], direct["rps"] if direct else None)
    return {"rows": rows, "ceilings": ceilings}


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    headers = ["target", "mode", "clients", "rps", "p50 ms", "p99 ms", "errors", *(f"vs {r}" for r in REFERENCES)]
    body = [
        [
            r["label"],
            r["mode"],
            str(r["conns"]),
            fmt_num(r["rps"]),
            fmt_num(r["p50_ms"], 2),
            fmt_num(r["p99_ms"], 2),
            str(r["errors"] + r["status_errors"]),
            *ratio_cells(r),
        ]
        for r in sorted(rows, key=lambda r: (r["mode"], r["conns"]))
    ]
    text = md_table(headers, body)
    ceilings = result.get("ceilings") or []
    if ceilings:
        text += "\n\nCeilings at 64 clients (same run):\n\n" + md_table(
            ["what", "mode", "rps", "p50 ms", "vs direct mock with main generator"],
            [
                [
                    c["ceiling"],
                    c["mode"],
                    fmt_num(c["rps"]),
                    fmt_num(c["p50_ms"], 2),
                    fmt_ratio(c.get("rps_vs_direct_main_generator")),
                ]
                for c in ceilings
            ],
        )
    return text


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    rows = [r for r in result["rows"] if r["target"] != "direct"]
    paths = []
    for mode in ("json", "sse"):
        sel = [r for r in rows if r["mode"] == mode]
        labels = sorted({r["label"] for r in sel}, key=lambda x: [r["label"] for r in sel].index(x))
        conns = sorted({r["conns"] for r in sel})
        if not sel:
            continue
        series = {
            f"{n} clients": [
                next((r["rps"] for r in sel if r["label"] == lab and r["conns"] == n), None) for lab in labels
            ]
            for n in conns
        }
        paths.append(
            bar_plot(
                out / f"throughput-{mode}.png",
                f"Throughput ({mode.upper()}), requests/s",
                labels,
                series,
                "requests/s",
                log=True,
            )
        )
    return paths


LANE = Lane("throughput", "Throughput at 16, 64 and 256 clients", run, markdown, plot)
