"""HTML with escaping by default: ``Markup`` for trusted text, ``fmt`` and ``render`` escape everything else.

Model names, provider ids, key names and error messages are user data. Nothing reaches a page without passing
through :func:`escape`, unless it is :class:`Markup` built by this module from escaped parts. Templates are
``string.Template`` files under ``templates/`` (``$name`` placeholders), shipped as package data.
"""

from __future__ import annotations

import functools
import html
import importlib.resources
import math
import string
from collections.abc import Iterable
from typing import Final

__all__ = [
    "Markup",
    "concat",
    "escape",
    "fmt",
    "fmt_count",
    "fmt_ms",
    "fmt_percent",
    "fmt_price",
    "fmt_tps",
    "fmt_usd",
    "render",
]

DASH: Final = "\u2014"


class Markup(str):
    """A string that is already safe HTML (never construct one from user data directly)."""

    __slots__ = ()


def escape(value: object) -> Markup:
    """``value`` as HTML text: ``Markup`` is kept as it is, anything else is escaped (quotes too)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def fmt(template: str, *args: object, **kwargs: object) -> Markup:
    """``template.format(...)`` with every argument escaped; ``template`` itself must be a literal."""
    return Markup(template.format(*(escape(a) for a in args), **{k: escape(v) for k, v in kwargs.items()}))


def concat(parts: Iterable[object]) -> Markup:
    """The parts joined, each escaped unless it is ``Markup``."""
    return Markup("".join(escape(p) for p in parts))


@functools.cache
def _template(name: str) -> string.Template:
    text = importlib.resources.files("interlock.dashboard").joinpath("templates", name).read_text("utf-8")
    return string.Template(text)


def render(name: str, **values: object) -> Markup:
    """The template ``name`` with its ``$placeholders`` filled in, each value escaped unless it is ``Markup``."""
    return Markup(_template(name).substitute({k: escape(v) for k, v in values.items()}))


# -- numbers as the pages show them (the JSON API sends the same strings in ``display``) --------------------


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def fmt_ms(value: float | None) -> str:
    """``"123 ms"`` / ``"1.25 s"``; a dash when unknown."""
    if value is None or not _finite(value):
        return DASH
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms"


def fmt_tps(value: float | None, *, unit: bool = True) -> str:
    """Tokens per second, e.g. ``"95.2 tok/s"`` (``"95.2"`` without the unit)."""
    if value is None or not _finite(value):
        return DASH
    text = f"{value:.0f}" if value >= 100 else f"{value:.1f}"
    return f"{text} tok/s" if unit else text


def fmt_percent(value: float | None) -> str:
    """A rate in [0, 1] as a percentage."""
    if value is None or not _finite(value):
        return DASH
    pct = value * 100
    return "0 %" if pct == 0 else f"{pct:.1f} %" if pct >= 0.1 else "<0.1 %"


def fmt_usd(value: float | None) -> str:
    """Dollars with enough digits for sub-cent request costs."""
    if value is None or not _finite(value):
        return DASH
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if abs(value) >= 0.01:
        return f"${value:.4f}".rstrip("0").rstrip(".")
    if abs(value) < 1e-9:
        return "<$0.000000001"
    digits = 2 - math.floor(math.log10(abs(value)))  # three significant digits, never an exponent
    return f"${value:.{digits}f}".rstrip("0")


def fmt_price(value: float | None) -> str:
    """A price per 1M tokens."""
    if value is None or not _finite(value):
        return DASH
    return f"${value:.2f}" if value >= 0.1 else f"${value:.3g}"


def fmt_count(value: float | None) -> str:
    """An integer count with thousands separators; ``1.2M`` style beyond a million."""
    if value is None or not _finite(value):
        return DASH
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    return f"{round(value):,}"
