"""Lane 3, streams: N concurrent SSE streams paced at 20 ms per token (the simulator's `tps: 50`), N up to 512.

Each of N clients opens 50-token streams back to back for the lane's window, using the asyncio generator (it
time-stamps every token frame). Per target and N: frames lost (fewer than 50 arrived, failed streams
included), frames late (arrived more than one 20 ms slot after `first + i * 20 ms`), inter-token latency
(mean, p99) and its increase over the direct upstream at the same N, and time to first token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._context import Ctx
from bench._targets import running
from bench.lanes._common import Lane, diff, fmt_num, load_row, md_table, reference, targets

__all__ = ["LANE"]

TARGETS = ("direct", "bare", "interlock", "litellm", "portkey")
PACED_TOKENS = 50  # bench.mock_upstream's --paced-tokens default
INTERVAL_MS = 20.0


def run(ctx: Ctx) -> dict[str, Any]:
    p = ctx.profile
    rows: list[dict[str, Any]] = []
    for name in targets(ctx, TARGETS):
        wanted = {f"{name}/{fmt}" for fmt in p.fmts}
        with running(ctx, name, wanted) as server:
            if server is None:
                continue
            for route in server.routes.values():
                for n in p.stream_ns:
                    spec = route.spec(
                        server.port,
                        stream=True,
                        paced=True,
                        connections=n,
                        duration=p.stream_measure,
                        stream_kind=route.fmt,
                        interval_ms=INTERVAL_MS,
                        expected_tokens=PACED_TOKENS,
                        timeout=60.0,
                    )
                    result = ctx.loader.run(spec)
                    row = load_row(route, "sse-paced", n, result)
                    s = row["stream"]
                    ctx.log(
                        f"{route.key} streams N={n}: {s['streams']} streams ({s['failed_streams']} failed), "
                        f"lost {s['lost_frames']}, late {s['late_frames']}, ITL p99 {fmt_num(s['itl_ms']['p99'])} ms"
                    )
                    rows.append(row)
    for row in rows:
        s = row["stream"]
        tokens = s["tokens"] + s["lost_frames"]
        row["late_pct"] = round(100 * s["late_frames"] / tokens, 3) if tokens else None
        row["lost_pct"] = round(100 * s["lost_frames"] / tokens, 3) if tokens else None
        direct, _ = reference(rows, row, "direct")
        for stat in ("mean", "p99"):
            base = direct["stream"]["itl_ms"][stat] if direct else None
            row[f"added_itl_{stat}_ms"] = diff(s["itl_ms"][stat], base)
        base_ttft = direct["stream"]["ttft_ms"]["p50"] if direct else None
        row["added_ttft_p50_ms"] = diff(s["ttft_ms"]["p50"], base_ttft)
    return {"rows": rows, "tokens_per_stream": PACED_TOKENS, "interval_ms": INTERVAL_MS}


def markdown(result: dict[str, Any]) -> str:
    headers = [
        "target",
        "streams N",
        "streams done",
        "failed",
        "lost frames",
        "late frames",
        "late %",
        "ITL mean ms",
        "ITL p99 ms",
        "added ITL mean ms",
        "added ITL p99 ms",
        "TTFT p50 ms",
        "added TTFT p50 ms",
    ]
    body = []
    for r in sorted(result["rows"], key=lambda r: (r["conns"], r["fmt"])):
        s = r["stream"]
        body.append(
            [
                r["label"],
                str(r["conns"]),
                fmt_num(s["streams"]),
                fmt_num(s.get("failed_streams")),
                fmt_num(s["lost_frames"]),
                fmt_num(s["late_frames"]),
                fmt_num(r.get("late_pct"), 2),
                fmt_num(s["itl_ms"]["mean"], 2),
                fmt_num(s["itl_ms"]["p99"], 2),
                fmt_num(r.get("added_itl_mean_ms"), 2),
                fmt_num(r.get("added_itl_p99_ms"), 2),
                fmt_num(s["ttft_ms"]["p50"], 2),
                fmt_num(r.get("added_ttft_p50_ms"), 2),
            ]
        )
    return md_table(headers, body)


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    if not labels:
        return []
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label in labels:
        sel = sorted((r for r in rows if r["label"] == label), key=lambda r: r["conns"])
        ns = [r["conns"] for r in sel]
        left.plot(ns, [r["stream"]["itl_ms"]["p99"] or float("nan") for r in sel], marker="o", label=label)
        right.plot(ns, [r.get("late_pct") or 0 for r in sel], marker="o", label=label)
    left.set_title("Inter-token latency p99 (ms), 20 ms pacing")
    right.set_title("Late frames (% of frames)")
    for ax in (left, right):
        ax.set_xlabel("concurrent streams")
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    left.legend(fontsize=7)
    fig.tight_layout()
    path = out / "streams.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


LANE = Lane("streams", "Paced streams (20 ms per token)", run, markdown, plot)
