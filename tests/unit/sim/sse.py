"""Reading rendered frames back, as a client would."""

from __future__ import annotations

import json
from typing import Any

from interlock.sim._wire import Frame


def sse_events(frames: list[Frame]) -> list[tuple[str | None, Any]]:
    """(event name or None, decoded data) for each SSE frame; `[DONE]` is returned as the string."""
    events: list[tuple[str | None, Any]] = []
    for raw in b"".join(frame for frame, _ in frames).decode().replace("\r\n", "\n").split("\n\n"):
        if not raw:
            continue
        name = None
        data = ""
        for line in raw.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        events.append((name, data if data == "[DONE]" else json.loads(data)))
    return events
