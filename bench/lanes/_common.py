"""What the lanes share: the lane record, target selection, result rows, ratios and Markdown tables.

Ratios are always between rows measured in the same run with the same client format, mode and concurrency.
A row's references are the direct upstream, the bare proxy, LiteLLM and Portkey; when a peer did not serve the
row's client format its Chat row stands in and the ratio is marked with a dagger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._context import Ctx
from bench._targets import Route

__all__ = [
    "PEERS",
    "REFERENCES",
    "Lane",
    "diff",
    "fmt_num",
    "fmt_ratio",
    "load_row",
    "md_table",
    "reference",
    "rps_bar_plot",
    "rps_table",
    "targets",
]

PEERS = ("litellm", "portkey")
REFERENCES = ("direct", "bare", *PEERS)
Row = dict[str, Any]


@dataclass(frozen=True)
class Lane:
    """One lane: how to run it, render its Markdown section and draw its plot."""

    name: str
    title: str
    run: Callable[[Ctx], dict[str, Any]]
    markdown: Callable[[dict[str, Any]], str]
    plot: Callable[[dict[str, Any], Path], list[Path]] | None = None


def targets(ctx: Ctx, names: Iterable[str]) -> list[str]:
    """`names` without the peers this run does not include."""
    return [n for n in names if n not in PEERS or n in ctx.peers_wanted]


def load_row(route: Route, mode: str, conns: int, result: dict[str, Any], **extra: Any) -> Row:
    """A result row from one load run of `route`."""
    lat = result["latency_ms"]
    if not result["requests"]:  # nothing completed inside the window: no latency to report
        lat = {"p50": None, "p90": None, "p99": None}
    row: Row = {
        "route": route.key,
        "target": route.target,
        "label": route.label,
        "fmt": route.fmt,
        "upstream": route.upstream,
        "mode": mode,
        "conns": conns,
        "rps": round(result["rps"], 1),
        "p50_ms": None if lat["p50"] is None else round(lat["p50"], 3),
        "p90_ms": None if lat["p90"] is None else round(lat["p90"], 3),
        "p99_ms": None if lat["p99"] is None else round(lat["p99"], 3),
        "requests": result["requests"],
        "errors": result["errors"],
        "status_errors": result["status_errors"],
        "generator": result["generator"],
    }
    if "stream" in result:
        row["stream"] = result["stream"]
    row.update(extra)
    return row


def reference(rows: Sequence[Row], row: Row, target: str, **match: Any) -> tuple[Row | None, bool]:
    """The row of `target` comparable to `row` (same fmt, mode, conns and `match`); (row, used_chat_fallback)."""
    keys = {"mode": row.get("mode"), "conns": row.get("conns"), **match}

    def find(fmt: str) -> Row | None:
        for other in rows:
            if other["target"] == target and other["fmt"] == fmt and all(other.get(k) == v for k, v in keys.items()):
                return other
        return None

    same = find(row["fmt"])
    if same is not None or target not in PEERS:
        return same, False
    fallback = find("chat")
    return fallback, fallback is not None


def diff(value: float | None, base: float | None) -> float | None:
    """`value - base`, or None when either is missing."""
    if value is None or base is None:
        return None
    return round(value - base, 3)


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base == 0:
        return None
    return round(value / base, 3)


def fmt_num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ratio(value: float | None, dagger: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x" + ("†" if dagger else "")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def add_ratios(rows: list[Row], metric: str, *, name: str = "rps") -> None:
    """Store `<name>_vs_<ref>` = row[metric] / ref[metric] (and a dagger flag) on every row."""
    for row in rows:
        for ref in REFERENCES:
            other, dagger = reference(rows, row, ref)
            row[f"{name}_vs_{ref}"] = ratio(row.get(metric), other.get(metric) if other else None)
            if dagger:
                row[f"{name}_vs_{ref}_chat_fallback"] = True


def ratio_cells(row: Row, name: str = "rps") -> list[str]:
    return [
        fmt_ratio(row.get(f"{name}_vs_{ref}"), bool(row.get(f"{name}_vs_{ref}_chat_fallback"))) for ref in REFERENCES
    ]


def _short(value: float | None) -> str:
    if not value:
        return ""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def rps_table(rows: Sequence[Row], first_header: str, ratio_key: str, ratio_header: str) -> str:
    """One Markdown row per (label, mode): clients, rps, p50/p99, errors and one ratio column."""
    headers = [first_header, "mode", "clients", "rps", "p50 ms", "p99 ms", "errors", ratio_header]
    body = [
        [
            r["label"],
            r["mode"],
            str(r["conns"]),
            fmt_num(r["rps"]),
            fmt_num(r["p50_ms"], 2),
            fmt_num(r["p99_ms"], 2),
            str(r["errors"] + r["status_errors"]),
            fmt_ratio(r.get(ratio_key)),
        ]
        for r in sorted(rows, key=lambda r: r["mode"])
    ]
    return md_table(headers, body)


def rps_bar_plot(rows: Sequence[Row], path: Path, title: str) -> list[Path]:
    """Requests/s per label, JSON and SSE side by side (nothing when there are no rows)."""
    labels = list(dict.fromkeys(r["label"] for r in rows))
    if not labels:
        return []
    series = {
        mode: [next((r["rps"] for r in rows if r["label"] == lab and r["mode"] == mode), None) for lab in labels]
        for mode in ("json", "sse")
    }
    return [bar_plot(path, title, labels, series, "requests/s")]


def bar_plot(
    path: Path,
    title: str,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    ylabel: str,
    *,
    log: bool = False,
) -> Path:
    """A grouped bar chart (one group per x label, one bar per series) saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) + 2), 4.2))
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        xs = [g + i * width - 0.4 + width / 2 for g in range(len(groups))]
        bars = ax.bar(xs, [v or 0 for v in values], width, label=label)
        ax.bar_label(bars, labels=[_short(v) for v in values], fontsize=6, padding=1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
        positive = [v for values in series.values() for v in values if v]
        if positive:
            ax.set_ylim(bottom=min(positive) / 2)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sweep(
    ctx: Ctx,
    names: Iterable[str],
    conns: Sequence[int],
    *,
    duration: float,
    warmup: float,
    route_filter: Callable[[Route], bool] | None = None,
) -> list[Row]:
    """Load every working route of every target in `names` at each concurrency and mode; one row per run."""
    from bench._targets import running

    rows: list[Row] = []
    for name in targets(ctx, names):
        wanted = {f"{name}/{fmt}" for fmt in ctx.profile.fmts}
        with running(ctx, name, wanted) as server:
            if server is None:
                continue
            for route in server.routes.values():
                if route_filter is not None and not route_filter(route):
                    continue
                for n in conns:
                    for mode in ctx.profile.modes:
                        spec = route.spec(
                            server.port, stream=mode == "sse", connections=n, duration=duration, warmup=warmup
                        )
                        result = ctx.loader.run(spec)
                        row = load_row(route, mode, n, result)
                        ctx.log(
                            f"{route.key} {mode} c={n}: {row['rps']:.0f} rps, p50 {fmt_num(row['p50_ms'], 2)} ms, "
                            f"p99 {fmt_num(row['p99_ms'], 2)} ms, errors {row['errors'] + row['status_errors']}"
                        )
                        rows.append(row)
    return rows
