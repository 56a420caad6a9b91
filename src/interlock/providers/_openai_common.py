"""What both OpenAI protocols share: request headers, tolerant JSON decoding, and error mapping.

Errors (protocols.md 2.4): an OpenAI error envelope ``{"error": {message, type, param, code}}`` maps to a
documented code through :data:`ERRORS` (by HTTP status) refined by :data:`ERROR_CODES` (by ``error.code`` /
``error.type``). Messages carry at most the upstream's own ``error.message`` (500 characters, the API key
scrubbed) and never the body; authentication failures get a fixed message because OpenAI echoes a masked key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from interlock.ir.errors import UpstreamError
from interlock.ir.warnings import RoutingWarning
from interlock.providers._retry import retry_after
from interlock.providers.base import Target

MAX_MESSAGE = 500
_DECODER = msgspec.json.Decoder()

# --- requests ------------------------------------------------------------------------------------------------


def unsupported(name: str, target: Target, why: str) -> RoutingWarning:
    """The ``unsupported_parameter`` warning for a value the adapter had to drop."""
    return RoutingWarning(
        type="unsupported_parameter",
        code=f"{name}_dropped",
        message=f"{name} is not supported by {target.provider}/{target.provider_model_id} ({why}); dropped.",
    )


def request_headers(target: Target, *, stream: bool) -> dict[str, str]:
    """JSON content type, bearer auth when the target has a key, and the provider's configured headers."""
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    if target.api_key is not None:
        headers["Authorization"] = f"Bearer {target.api_key}"
    headers.update(target.headers)
    return headers


def endpoint(target: Target, path: str) -> str:
    return f"{target.base_url.rstrip('/')}/{path}"


def is_openai(target: Target) -> bool:
    """Whether the upstream is OpenAI itself (which takes the newest parameter names and roles)."""
    return target.provider == "openai" or "//api.openai.com" in target.base_url


def decode_object(data: bytes | str, target: Target) -> dict[str, Any]:
    """A JSON object from the upstream; anything else is a retryable ``upstream_error``."""
    try:
        value = _DECODER.decode(data)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamError(
            "upstream_error",
            f"{target.provider} sent malformed JSON.",
            provider=target.provider,
            upstream_status=200,
            retryable=True,
        )
    return value


def as_int(value: Any) -> int | None:
    """An integer token count, or None when absent or not an integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


# --- errors --------------------------------------------------------------------------------------------------

# HTTP status -> (code, retryable). https://platform.openai.com/docs/guides/error-codes and protocols.md 2.4.
ERRORS: dict[int, tuple[str, bool]] = {
    400: ("invalid_request", False),
    401: ("upstream_error", False),  # the gateway's upstream key is wrong: not the client's fault (502)
    402: ("insufficient_quota", False),  # OpenRouter-style "payment required"
    403: ("upstream_error", False),
    404: ("upstream_error", True),  # model gone at this provider: another offering may serve it
    408: ("upstream_error", True),
    409: ("upstream_error", True),
    413: ("payload_too_large", False),
    422: ("invalid_request", False),
    429: ("rate_limit_exceeded", True),
    529: ("model_unavailable", True),  # overloaded
}

# error.code / error.type -> (code, retryable); wins over the status row. Also used for in-stream errors.
ERROR_CODES: dict[str, tuple[str, bool]] = {
    "insufficient_quota": ("insufficient_quota", False),
    "context_length_exceeded": ("context_length_exceeded", False),
    "rate_limit_exceeded": ("rate_limit_exceeded", True),
    "server_error": ("upstream_error", True),
    "overloaded": ("model_unavailable", True),
}

_AUTH_STATUSES = (401, 403)


def _status_row(status: int) -> tuple[str, bool]:
    row = ERRORS.get(status)
    if row is not None:
        return row
    return ("upstream_error", True) if status >= 500 else ("upstream_error", False)


def _clean(message: str, target: Target) -> str:
    if target.api_key:
        message = message.replace(target.api_key, "***")
    message = " ".join(message.split())
    return message[:MAX_MESSAGE]


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        value = _DECODER.decode(body)
    except msgspec.DecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    err = value.get("error")
    if isinstance(err, dict):
        return err
    if isinstance(err, str):  # some compatible servers: {"error": "text"}
        return {"message": err}
    if isinstance(value.get("message"), str):  # vLLM-style flat {"object": "error", "message", "type", "code"}
        return value
    return {}


def error_from_object(err: Mapping[str, Any], target: Target, *, status: int = 200) -> UpstreamError:
    """An ``UpstreamError`` for an OpenAI error object (HTTP error body or in-stream ``error``)."""
    native_code = err.get("code")
    native_type = err.get("type")
    raw = err.get("message")
    message = _clean(raw, target) if isinstance(raw, str) and raw else ""
    if isinstance(native_code, int) and not isinstance(native_code, bool) and status == 200:
        status = native_code  # vLLM puts the HTTP status in error.code
    row = None
    for key in (native_code, native_type):
        if isinstance(key, str) and key in ERROR_CODES:
            row = ERROR_CODES[key]
            break
    if row is None and "maximum context length" in message.lower():
        row = ERROR_CODES["context_length_exceeded"]
    if row is None:
        row = _status_row(status) if status != 200 else ("upstream_error", True)
    code_, retryable = row
    if status in _AUTH_STATUSES and code_ == "upstream_error":
        message = f"{target.provider} rejected the gateway's credentials (HTTP {status})."
    elif status != 200:
        message = f"{target.provider} returned HTTP {status}" + (f": {message}" if message else ".")
    else:
        message = f"{target.provider} failed mid-stream" + (f": {message}" if message else ".")
    return UpstreamError(code_, message, provider=target.provider, upstream_status=status, retryable=retryable)


def map_error(status: int, body: bytes, headers: Mapping[str, str], target: Target) -> UpstreamError:
    """Map an upstream HTTP error (status >= 400) to a documented code; see :data:`ERRORS`."""
    error = error_from_object(_error_object(body), target, status=status)
    if error.code in ("rate_limit_exceeded", "model_unavailable") or status == 429:
        error.retry_after = retry_after(headers)
    return error


__all__ = [
    "ERRORS",
    "ERROR_CODES",
    "MAX_MESSAGE",
    "as_int",
    "decode_object",
    "endpoint",
    "error_from_object",
    "is_openai",
    "map_error",
    "request_headers",
    "retry_after",
    "unsupported",
]
