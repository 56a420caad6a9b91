"""The overhead lane (issue 2's closing note): the gateway against the real simulator vs the simulator alone.

Requests/s and p50/p99 at 1 and 64 clients, JSON and SSE, through Interlock (Responses -> Responses, the
simulator as its upstream) next to the same requests sent straight to the simulator, in the same run. The
simulator runs with zero delay and request recording off, on the load core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._context import Ctx
from bench._targets import running
from bench.lanes._common import Lane, bar_plot, diff, fmt_num, fmt_ratio, load_row, md_table, ratio

__all__ = ["LANE"]


def run(ctx: Ctx) -> dict[str, Any]:
    p = ctx.profile
    rows: list[dict[str, Any]] = []
    for name in ("sim-direct", "sim-interlock"):
        key = f"{name}/responses"
        with running(ctx, name, {key}) as server:
            if server is None or key not in server.routes:
                continue
            route = server.routes[key]
            for n in p.overhead_conns:
                for mode in p.modes:
                    spec = route.spec(
                        server.port, stream=mode == "sse", connections=n, duration=p.measure, warmup=p.warmup
                    )
                    row = load_row(route, mode, n, ctx.loader.run(spec))
                    ctx.log(f"overhead {key} {mode} c={n}: {row['rps']:.0f} rps, p50 {fmt_num(row['p50_ms'], 2)} ms")
                    rows.append(row)
    for row in rows:
        base = next(
            (
                r
                for r in rows
                if r["target"] == "sim-direct" and r["mode"] == row["mode"] and r["conns"] == row["conns"]
            ),
            None,
        )
        row["rps_vs_sim"] = ratio(row["rps"], base["rps"] if base else None)
        for pct in ("p50", "p99"):
            row[f"added_{pct}_ms"] = diff(row[f"{pct}_ms"], base[f"{pct}_ms"] if base else None)
    return {"rows": rows}


def markdown(result: dict[str, Any]) -> str:
    headers = [
        "target",
        "mode",
        "clients",
        "rps",
        "p50 ms",
        "p99 ms",
        "added p50 ms",
        "added p99 ms",
        "rps vs simulator",
        "errors",
    ]
    body = [
        [
            r["label"],
            r["mode"],
            str(r["conns"]),
            fmt_num(r["rps"]),
            fmt_num(r["p50_ms"], 2),
            fmt_num(r["p99_ms"], 2),
            fmt_num(r.get("added_p50_ms"), 2),
            fmt_num(r.get("added_p99_ms"), 2),
            fmt_ratio(r.get("rps_vs_sim")),
            str(r["errors"] + r["status_errors"]),
        ]
        for r in sorted(result["rows"], key=lambda r: (r["mode"], r["conns"], r["target"]))
    ]
    return md_table(headers, body)


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    rows = result["rows"]
    groups = [f"{mode} c={n}" for mode in ("json", "sse") for n in sorted({r["conns"] for r in rows})]
    if not rows:
        return []

    def pick(target: str) -> list[float | None]:
        out_values: list[float | None] = []
        for group in groups:
            mode, conns = group.split(" c=")
            out_values.append(
                next(
                    (
                        r["rps"]
                        for r in rows
                        if r["target"] == target and r["mode"] == mode and r["conns"] == int(conns)
                    ),
                    None,
                )
            )
        return out_values

    series = {"simulator direct": pick("sim-direct"), "Interlock -> simulator": pick("sim-interlock")}
    return [
        bar_plot(
            out / "overhead.png",
            "Gateway overhead against the simulator, requests/s",
            groups,
            series,
            "requests/s",
            log=True,
        )
    ]


LANE = Lane("overhead", "Overhead: gateway vs simulator", run, markdown, plot)
