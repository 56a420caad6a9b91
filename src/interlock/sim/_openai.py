"""Pieces both OpenAI protocols share: the error envelope and reading text out of message content."""

from __future__ import annotations

from typing import Any

from ._errors import SimError
from ._wire import ENCODER

__all__ = ["OPENAI_ERRORS", "content_text", "render_openai_error"]

# status -> (error.type, error.code), as the OpenAI API sends them (protocols.md 2.4).
OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", None),
    408: ("timeout", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
    504: ("timeout", None),
    529: ("server_error", "overloaded"),
}


def render_openai_error(error: SimError) -> bytes:
    """`{"error": {message, type, param, code}}` for `error`."""
    default = ("invalid_request_error", None) if error.status < 500 else ("server_error", None)
    kind, code = OPENAI_ERRORS.get(error.status, default)
    return ENCODER.encode(
        {
            "error": {
                "message": error.message,
                "type": error.native_type or kind,
                "param": error.param,
                "code": error.code or code,
            }
        }
    )


def content_text(content: Any) -> str:
    """The text of a message's `content`: a string, or the `text`/`refusal` of each part joined by newlines."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts: list[str] = []
    for part in content:
        if isinstance(part, dict):
            text = part.get("text", part.get("refusal"))
            if isinstance(text, str):
                texts.append(text)
        elif isinstance(part, str):
            texts.append(part)
    return "\n".join(texts)
