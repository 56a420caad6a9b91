"""Reading an upstream's retry hint (``retry-after-ms``, ``retry-after`` seconds or HTTP date), for every adapter.

Values are rounded up to whole seconds and capped: a hostile or broken upstream (``inf``, ``1e308``, a date in
year 9999) must not turn into an overflow or a client told to wait for ever.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping

MAX_RETRY_AFTER_S = 3600


def clamp_seconds(value: float) -> int | None:
    """Whole seconds in ``[0, MAX_RETRY_AFTER_S]``; ``None`` for NaN or negative values."""
    if math.isnan(value) or value < 0:
        return None
    return min(MAX_RETRY_AFTER_S, math.ceil(min(value, MAX_RETRY_AFTER_S)))


def retry_after(headers: Mapping[str, str]) -> int | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            seconds = clamp_seconds(float(ms) / 1000)
        except ValueError:
            seconds = None
        if seconds is not None:
            return seconds
    raw = lower.get("retry-after")
    if raw is None:
        return None
    try:
        return clamp_seconds(float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return clamp_seconds(max(0.0, when.timestamp() - time.time()))


__all__ = ["MAX_RETRY_AFTER_S", "clamp_seconds", "retry_after"]
