"""Writing a run's results: `results.json`, `results.md` (headline ratios + one table per lane) and PNG plots.

Also checks the pinned bench-only requirements (`bench/requirements.txt`): plots need matplotlib; everything
else runs without it.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from bench._context import Ctx, repo_root
from bench.lanes import LANES
from bench.lanes._common import REFERENCES, fmt_num, fmt_ratio, md_table, ratio_cells

__all__ = ["build_document", "check_requirements", "collect_meta", "write_report"]


def check_requirements() -> list[str]:
    """Problems with the pins in bench/requirements.txt (missing or other version), empty when all match."""
    problems = []
    for line in (Path(__file__).parent / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if not match:
            continue
        name, pinned = match.groups()
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (want {pinned})")
            continue
        if found != pinned:
            problems.append(f"{name} {found} is installed, bench/requirements.txt pins {pinned}")
    return problems


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=repo_root(), timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect_meta(ctx: Ctx) -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "profile": ctx.profile.name,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "machine": {
            "cores": len(__import__("os").sched_getaffinity(0)),
            "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(),
        },
        "cpu_plan": ctx.cpu.describe(),
        "generator": ctx.generator,
        "upstream": "bench.mock_upstream (speed lanes); interlock sim, zero delay (overhead, routing)",
        "versions": {n: _version(n) for n in ("uvicorn", "uvloop", "httptools", "aiohttp", "msgspec", "interlock")},
        "peers": ctx.peer_info,
        "durations": {k: v for k, v in vars(ctx.profile).items() if k != "name"},
    }


def _headline(results: dict[str, Any]) -> str:
    """Interlock against every reference at the middle concurrency of the throughput lane, plus latency."""
    lines = []
    rows = (results.get("throughput") or {}).get("rows") or []
    conns = sorted({r["conns"] for r in rows})
    if conns:
        mid = 64 if 64 in conns else conns[len(conns) // 2]
        sel = [r for r in rows if r["target"] == "interlock" and r["conns"] == mid]
        if sel:
            body = [[r["label"], r["mode"], fmt_num(r["rps"]), *ratio_cells(r)] for r in sel]
            lines.append(f"Throughput at {mid} clients, requests/s and ratios (same run):\n")
            lines.append(md_table(["route", "mode", "rps", *(f"vs {ref}" for ref in REFERENCES)], body))
    lat = [r for r in (results.get("latency") or {}).get("rows") or [] if r["target"] == "interlock"]
    if lat:
        lines.append("\nAdded latency at 1 client (ms over the direct upstream; over the bare proxy):\n")
        lines.append(
            md_table(
                ["route", "mode", "p50 ms", "added p50", "added p99", "added p50 vs bare"],
                [
                    [
                        r["label"],
                        r["mode"],
                        fmt_num(r["p50_ms"], 2),
                        fmt_num(r.get("added_p50_ms"), 2),
                        fmt_num(r.get("added_p99_ms"), 2),
                        fmt_num(r.get("added_p50_ms_vs_bare"), 2),
                    ]
                    for r in lat
                ],
            )
        )
    over = [r for r in (results.get("overhead") or {}).get("rows") or [] if r["target"] == "sim-interlock"]
    if over:
        lines.append("\nGateway against the simulator (overhead lane):\n")
        lines.append(
            md_table(
                ["mode", "clients", "rps", "vs simulator", "added p50 ms", "added p99 ms"],
                [
                    [
                        r["mode"],
                        str(r["conns"]),
                        fmt_num(r["rps"]),
                        fmt_ratio(r.get("rps_vs_sim")),
                        fmt_num(r.get("added_p50_ms"), 2),
                        fmt_num(r.get("added_p99_ms"), 2),
                    ]
                    for r in over
                ],
            )
        )
    return "\n".join(lines)


def _plots(out: Path, results: dict[str, Any], skipped: list[dict[str, str]]) -> list[str]:
    if any("matplotlib" in problem for problem in check_requirements()):
        skipped.append(
            {"what": "plots", "reason": "matplotlib is not installed: pip install -r bench/requirements.txt"}
        )
        return []
    plots: list[str] = []
    for name, result in results.items():
        lane = LANES[name]
        if lane.plot is None:
            continue
        try:
            plots += [p.name for p in lane.plot(result, out)]
        except Exception as exc:
            skipped.append({"what": f"plot {name}", "reason": f"{type(exc).__name__}: {exc}"})
            (out / "logs").mkdir(exist_ok=True)
            (out / "logs" / f"plot-{name}.txt").write_text(traceback.format_exc())
    return plots


def build_document(ctx: Ctx, meta: dict[str, Any], results: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The content of results.json for a finished run."""
    return {
        "meta": meta,
        "skipped": list(ctx.skipped),
        "notes": list(ctx.notes),
        "lane_errors": errors,
        "requirements": check_requirements(),
        "plots": [],
        "lanes": results,
    }


def write_report(out: Path, document: dict[str, Any]) -> dict[str, Path]:
    """Draw the plots and write results.json and results.md into `out`; returns the paths written.

    Also used by `python -m bench report DIR` to re-render an earlier run from its results.json.
    """
    results: dict[str, Any] = document["lanes"]
    skipped: list[dict[str, str]] = [s for s in document["skipped"] if not s["what"].startswith("plot")]
    document["skipped"] = skipped
    document["plots"] = _plots(out, results, skipped)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(document, indent=1, default=str))

    meta = document["meta"]
    md = [f"# Interlock benchmark ({meta['profile']} run)", ""]
    md.append(
        f"Commit `{meta['git_commit']}`{' (dirty tree)' if meta['git_dirty'] else ''}, Python {meta['python']}, "
        f"{meta['machine']['cores']} cores, {meta['machine']['memory_gb']} GB. CPU: {meta['cpu_plan']}. "
        f"Load generator: {meta['generator']}. Upstream: {meta['upstream']}. "
        f"Wall time {meta.get('wall_s', 0):.0f} s. All ratios compare rows of this run only."
    )
    headline = _headline(results)
    if headline:
        md += ["", "## Headline", "", headline]
    for name, result in results.items():
        lane = LANES[name]
        md += ["", f"## {lane.title}", "", lane.markdown(result)]
    errors = document["lane_errors"]
    if errors:
        md += ["", "## Lane errors", ""] + [f"- {k}: {v}" for k, v in errors.items()]
    if skipped:
        md += ["", "## Skipped", ""] + [f"- {s['what']}: {s['reason']}" for s in skipped]
    if document["notes"]:
        md += ["", "## Notes", ""] + [f"- {n}" for n in document["notes"]]
    if document["plots"]:
        md += ["", "## Plots", ""] + [f"![{p}]({p})" for p in document["plots"]]
    md_path = out / "results.md"
    md_path.write_text("\n".join(md) + "\n")
    return {"json": json_path, "markdown": md_path}
