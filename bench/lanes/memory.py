"""Lane 5, memory: resident set size of each target idle and after 100k requests (fresh process per target).

RSS is read from /proc for the target's whole process tree (workers and helpers included). "Idle" is taken
after the start-up probe (one JSON and one SSE request, so lazy imports are done) and a 1 s pause; then 100k
JSON requests at 64 clients (asyncio generator, request budget; a time cap bounds the slow peers and the
row then says how many requests were sent), sampling RSS every 0.5 s for the peak, then a 2 s pause.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from bench._context import Ctx
from bench._procs import rss_bytes
from bench._targets import running
from bench.lanes._common import Lane, bar_plot, fmt_num, fmt_ratio, md_table, ratio, targets

__all__ = ["LANE"]

TARGETS = ("bare", "interlock", "litellm", "portkey")
MB = 1024 * 1024


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self.halt.wait(0.5)


def run(ctx: Ctx) -> dict[str, Any]:
    p = ctx.profile
    rows: list[dict[str, Any]] = []
    for name in targets(ctx, TARGETS):
        fmt = "responses" if name in ("bare", "interlock") else "chat"
        key = f"{name}/{fmt}"
        with running(ctx, name, {key}) as server:
            if server is None or key not in server.routes or server.pid is None:
                continue
            route = server.routes[key]
            time.sleep(1.0)
            idle = rss_bytes(server.pid)
            sampler = _Sampler(server.pid)
            sampler.start()
            spec = route.spec(
                server.port, stream=False, connections=64, duration=p.memory_cap_s, max_requests=p.memory_requests
            )
            started = time.monotonic()
            result = ctx.loader.run(spec)
            elapsed = time.monotonic() - started
            sampler.halt.set()
            sampler.join()
            time.sleep(2.0)
            after = rss_bytes(server.pid)
            done = result["requests"] + result["status_errors"]
            row = {
                "target": name,
                "route": key,
                "label": route.label,
                "idle_mb": round(idle / MB, 1),
                "after_mb": round(after / MB, 1),
                "peak_mb": round(max(sampler.peak, after) / MB, 1),
                "growth_mb": round((after - idle) / MB, 1),
                "requests": done,
                "requested": p.memory_requests,
                "capped": done < p.memory_requests,
                "seconds": round(elapsed, 1),
                "errors": result["errors"] + result["status_errors"],
            }
            ctx.log(f"memory {name}: idle {row['idle_mb']} MB, after {done} requests {row['after_mb']} MB")
            rows.append(row)
    bare = next((r for r in rows if r["target"] == "bare"), None)
    for row in rows:
        row["after_vs_bare"] = ratio(row["after_mb"], bare["after_mb"] if bare else None)
    return {"rows": rows, "requests": p.memory_requests}


def markdown(result: dict[str, Any]) -> str:
    headers = [
        "target",
        "idle MB",
        "after MB",
        "peak MB",
        "growth MB",
        "requests sent",
        "seconds",
        "errors",
        "after vs bare",
        "after vs litellm",
        "after vs portkey",
    ]
    rows = result["rows"]
    after = {r["target"]: r["after_mb"] for r in rows}
    body = []
    for r in rows:
        sent = fmt_num(r["requests"]) + (" (time cap)" if r["capped"] else "")
        body.append(
            [
                r["label"],
                fmt_num(r["idle_mb"]),
                fmt_num(r["after_mb"]),
                fmt_num(r["peak_mb"]),
                fmt_num(r["growth_mb"]),
                sent,
                fmt_num(r["seconds"]),
                str(r["errors"]),
                *(fmt_ratio(ratio(r["after_mb"], after.get(ref))) for ref in ("bare", "litellm", "portkey")),
            ]
        )
    return md_table(headers, body)


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    rows = result["rows"]
    if not rows:
        return []
    labels = [r["label"] for r in rows]
    series = {
        "idle": [r["idle_mb"] for r in rows],
        "after": [r["after_mb"] for r in rows],
        "peak": [r["peak_mb"] for r in rows],
    }
    return [
        bar_plot(out / "memory.png", f"RSS idle and after {result['requests']:,} requests (MB)", labels, series, "MB")
    ]


LANE = Lane("memory", "Memory (RSS)", run, markdown, plot)
