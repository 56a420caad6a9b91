"""Server-Sent Events framing for client streams."""

from __future__ import annotations

from typing import Any

from interlock.api.http import encode_json


def frame(event: dict[str, Any]) -> bytes:
    """``event: <type>`` + ``data: <json>`` (Response API and Anthropic streams send both, identical)."""
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + encode_json(event) + b"\n\n"


def data_frame(payload: Any) -> bytes:
    """A ``data:``-only frame (Chat Completions chunks)."""
    return b"data: " + encode_json(payload) + b"\n\n"


DONE = b"data: [DONE]\n\n"

__all__ = ["DONE", "data_frame", "frame"]
