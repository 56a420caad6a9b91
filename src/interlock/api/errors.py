"""Rendering documented errors: the flat JSON envelope, the Anthropic envelope, and the headers that go with them.

This is the only place errors become bytes (style.md item 10).
"""

from __future__ import annotations

from interlock.api.http import Response, encode_json
from interlock.ir.errors import GatewayError

# Anthropic's error categories for our error types and statuses (protocols.md 3.6).
_ANTHROPIC_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_headers(err: GatewayError) -> dict[str, str]:
    headers = {
        "x-error-retryable": "true" if err.type in ("rate_limit_error", "api_error") and err.retryable else "false"
    }
    if err.provider:
        headers["x-error-provider"] = err.provider
    if err.status in (429, 503):
        headers["retry-after"] = str(max(1, err.retry_after or 1))
    return headers


def openai_error_response(err: GatewayError, headers: dict[str, str] | None = None) -> Response:
    """The flat envelope ``{"error": {message, type, code, param, doc_url, provider?, suggestion?}}``."""
    return Response(err.status, encode_json({"error": err.to_dict()}), {**error_headers(err), **(headers or {})})


def anthropic_error_type(err: GatewayError) -> str:
    return _ANTHROPIC_BY_STATUS.get(err.status, "api_error" if err.status >= 500 else "invalid_request_error")


def anthropic_error_body(err: GatewayError) -> dict[str, object]:
    inner: dict[str, object] = {"type": anthropic_error_type(err), "message": err.message}
    if err.suggestion:
        inner["suggestion"] = err.suggestion
    return {"type": "error", "error": inner}


def anthropic_error_response(err: GatewayError, headers: dict[str, str] | None = None) -> Response:
    """The Anthropic envelope ``{"type": "error", "error": {type, message}}`` (auriko-api.md 6.1)."""
    return Response(err.status, encode_json(anthropic_error_body(err)), {**error_headers(err), **(headers or {})})


__all__ = [
    "anthropic_error_body",
    "anthropic_error_response",
    "anthropic_error_type",
    "error_headers",
    "openai_error_response",
]
