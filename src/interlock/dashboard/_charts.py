"""Stacked bar charts as inline SVG, rendered on the server (no chart library, nothing fetched).

Colours are SVG presentation attributes rather than ``style``, so the pages keep a strict Content Security
Policy. Series labels (model names, key names) are user data and go through ``escape`` like everything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from interlock.dashboard._html import Markup, concat, escape, fmt

__all__ = ["PALETTE", "Series", "colour", "legend", "nice_ceiling", "stacked_bars"]

PALETTE: Final = (
    "#4f7cff",
    "#f29d38",
    "#2fb88a",
    "#e4586b",
    "#9b6bf2",
    "#36b3d1",
    "#c9b22c",
    "#8a94a6",
)


@dataclass(frozen=True, slots=True)
class Series:
    """One stacked layer: a label and one value per bucket."""

    label: str
    values: Sequence[float]
    colour: str = ""


def colour(index: int) -> str:
    """The palette's ``index``-th colour (wrapping around)."""
    return PALETTE[index % len(PALETTE)]


def _fill(series: Series, index: int) -> str:
    return series.colour or colour(index)


GRID_LINES: Final = 4


def nice_ceiling(value: float, steps: int = GRID_LINES) -> float:
    """An axis maximum at or above ``value`` whose ``steps`` equal parts are 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0 or not math.isfinite(value):
        return float(steps)
    raw = value / steps
    exponent = math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = factor * 10.0**exponent
        if step >= raw * (1 - 1e-9):
            return step * steps
    return float(10.0 ** (exponent + 1)) * steps


def stacked_bars(
    buckets: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    value_format: Callable[[float], str],
    width: int = 960,
    height: int = 240,
) -> Markup:
    """An SVG chart with one bar per bucket, the series stacked in order (first at the bottom)."""
    left, right, top, bottom = 72, 12, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(buckets))]
    peak = max(totals, default=0.0)
    parts: list[Markup] = [
        fmt(
            '<svg class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
            'xmlns="http://www.w3.org/2000/svg">',
            width,
            height,
            title,
        ),
        fmt("<title>{}</title>", title),
    ]
    top_value = nice_ceiling(peak)
    for i in range(GRID_LINES + 1):  # horizontal grid lines with their values
        value = top_value * i / GRID_LINES
        y = top + plot_h - plot_h * i / GRID_LINES
        parts.append(  # numbers only: nothing to escape
            Markup(
                f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#d8dde6" stroke-width="1"/>'
            )
        )
        parts.append(
            fmt(
                '<text class="axis" x="{}" y="{}" text-anchor="end" font-size="11" fill="#5b6577">{}</text>',
                left - 6,
                f"{y + 4:.1f}",
                value_format(value),
            )
        )
    if not buckets or peak <= 0:
        parts.append(
            fmt(
                '<text x="{}" y="{}" text-anchor="middle" font-size="14" fill="#5b6577">{}</text>',
                left + plot_w // 2,
                top + plot_h // 2,
                "No usage in this period yet",
            )
        )
    n = max(1, len(buckets))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.78)
    for b, bucket in enumerate(buckets):
        x = left + b * slot + (slot - bar_w) / 2
        base = float(top + plot_h)
        for s_index, s in enumerate(series):
            value = s.values[b]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            base -= h
            parts.append(
                fmt(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
                    f"{x:.2f}",
                    f"{base:.2f}",
                    f"{bar_w:.2f}",
                    f"{max(h, 0.5):.2f}",
                    _fill(s, s_index),
                    f"{s.label} \u00b7 {bucket}: {value_format(value)}",
                )
            )
    every = max(1, math.ceil(n / 8))  # at most about eight labels along the time axis
    for b, bucket in enumerate(buckets):
        last = b == n - 1 and (n - 1) % every >= every / 2  # the newest bucket, unless a label sits close by
        if b % every and not last:
            continue
        x = left + b * slot + slot / 2
        parts.append(
            fmt(
                '<text class="axis" x="{}" y="{}" text-anchor="middle" font-size="11" fill="#5b6577">{}</text>',
                f"{x:.1f}",
                height - 12,
                bucket,
            )
        )
    parts.append(
        Markup(
            f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
            'stroke="#8a94a6" stroke-width="1"/>'
        )
    )
    parts.append(Markup("</svg>"))
    return concat(parts)


def legend(series: Sequence[Series], totals: Sequence[str]) -> Markup:
    """The chart's legend: a swatch, the series label and its total."""
    items = [
        fmt(
            '<li><svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" rx="2" '
            'fill="{}"/></svg><span class="label">{}</span><span class="total">{}</span></li>',
            _fill(s, i),
            s.label,
            total,
        )
        for i, (s, total) in enumerate(zip(series, totals, strict=True))
    ]
    return fmt('<ul class="legend">{}</ul>', concat(items)) if items else escape("")
