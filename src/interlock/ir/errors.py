"""The one error registry: every documented error code with its HTTP status, type and retry policy.

Exception tree::

    GatewayError                 any documented error; carries code, message, param, provider, suggestion
     └── UpstreamError           an upstream call failed (status, retryable decided by the registry or
                                 overridden by the adapter that mapped it)
          └── AttemptsExhausted  every attempt of a request failed; holds the per-attempt errors

Only ``api/`` renders these (JSON envelope, Anthropic envelope, or an in-stream error event); every other
layer raises them. Codes and statuses follow auriko-api.md section 6.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
    "api_error",
]


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """Static facts about one error code."""

    status: int
    type: ErrorType
    retryable: bool
    message: str


def _spec(status: int, type_: ErrorType, message: str, retryable: bool = False) -> ErrorSpec:
    return ErrorSpec(status=status, type=type_, retryable=retryable, message=message)


_IR: ErrorType = "invalid_request_error"

ERRORS: dict[str, ErrorSpec] = {
    # auth and permission
    "invalid_api_key": _spec(401, "authentication_error", "Invalid API key."),
    "expired_api_key": _spec(401, "authentication_error", "This API key has expired."),
    "insufficient_permissions": _spec(403, "permission_error", "This key lacks the required permission."),
    "feature_disabled": _spec(403, "permission_error", "This feature is disabled on this gateway."),
    # request validation
    "invalid_request": _spec(400, _IR, "The request is malformed."),
    "missing_required_parameter": _spec(400, _IR, "A required parameter is missing."),
    "invalid_parameter_value": _spec(400, _IR, "A parameter has an invalid value."),
    "unknown_field": _spec(400, _IR, "The request contains an unknown field."),
    "context_length_exceeded": _spec(400, _IR, "The input exceeds the model's context window."),
    "content_filtered": _spec(400, _IR, "The request was blocked by a content filter."),
    "payload_too_large": _spec(413, _IR, "The request body is too large."),
    "method_not_allowed": _spec(405, _IR, "Method not allowed."),
    "idempotency_conflict": _spec(409, _IR, "Idempotency-Key reused with a different payload."),
    # capability and routing
    "tools_not_supported": _spec(400, _IR, "No offering of the requested model supports tools."),
    "json_mode_not_supported": _spec(400, _IR, "No offering of the requested model supports JSON mode."),
    "structured_output_not_supported": _spec(
        400, _IR, "No offering of the requested model supports structured output."
    ),
    "tools_with_structured_output_not_supported": _spec(
        400, _IR, "No offering supports tools together with structured output."
    ),
    "vision_not_supported": _spec(400, _IR, "No offering of the requested model accepts images."),
    "reasoning_not_supported": _spec(400, _IR, "The requested model does not support reasoning."),
    "thinking_disable_not_supported": _spec(400, _IR, "The requested model cannot disable thinking."),
    "streaming_not_supported": _spec(400, _IR, "No offering supports streaming for this request."),
    "non_streaming_not_supported": _spec(400, _IR, "No offering supports non-streaming for this request."),
    "tier_opt_in_required": _spec(400, _IR, "The model is only offered under a premium tier."),
    "tool_choice_required_not_supported": _spec(
        400, _IR, "No offering can guarantee a tool call (tool_choice 'required')."
    ),
    "cost_constraint_exceeded": _spec(400, _IR, "Every offering costs more than max_cost_per_1m."),
    "latency_constraint_exceeded": _spec(400, _IR, "Every offering's TTFT exceeds max_ttft_ms."),
    "throughput_constraint_not_met": _spec(400, _IR, "No offering meets min_throughput_tps."),
    "provider_not_in_allowlist": _spec(400, _IR, "No offering is served by an allowed provider."),
    "provider_blocked": _spec(400, _IR, "Every offering's provider is excluded."),
    "required_params_not_supported": _spec(400, _IR, "No offering accepts every parameter sent."),
    "byok_keys_required": _spec(400, _IR, "No offering can be served with your own provider keys."),
    "platform_keys_unavailable": _spec(400, _IR, "No offering can be served with platform keys."),
    "unsupported_modalities": _spec(400, _IR, "The requested modalities are not supported."),
    "no_compatible_endpoint": _spec(400, _IR, "No offering serves this endpoint."),
    "no_responses_endpoint": _spec(400, _IR, "No offering serves the Responses endpoint."),
    "input_requires_responses_endpoint": _spec(400, _IR, "This input needs the Responses endpoint."),
    "response_api_only": _spec(400, _IR, "This model is only available on the Responses API."),
    "hosted_tool_not_supported": _spec(400, _IR, "Hosted tools are not supported by this offering."),
    "no_tools_on_endpoint": _spec(400, _IR, "Tools are not supported on this endpoint."),
    # not found
    "model_not_found": _spec(404, "not_found_error", "The model does not exist."),
    "resource_not_found": _spec(404, "not_found_error", "Not found."),
    # quota
    "rate_limit_exceeded": _spec(429, "rate_limit_error", "Rate limit exceeded.", retryable=True),
    "budget_exhausted": _spec(429, "rate_limit_error", "Budget exhausted."),
    "insufficient_quota": _spec(429, "rate_limit_error", "Insufficient quota."),
    # server and upstream
    "no_provider_available": _spec(503, "api_error", "No provider is available.", retryable=True),
    "upstream_error": _spec(502, "api_error", "The upstream provider failed.", retryable=True),
    "upstream_timeout": _spec(504, "api_error", "The upstream provider timed out.", retryable=True),
    "model_unavailable": _spec(503, "api_error", "The model is temporarily unavailable.", retryable=True),
    "internal_error": _spec(500, "api_error", "Internal error."),
    "service_unavailable": _spec(503, "api_error", "Service unavailable.", retryable=True),
    "client_disconnected": _spec(499, "api_error", "The client disconnected."),
    "stream_duration_exceeded": _spec(504, "api_error", "The stream exceeded its allowed duration."),
}

DOC_URL_BASE = "https://docs.auriko.ai/errors/"


class GatewayError(Exception):
    """A documented error; ``code`` must be a key of :data:`ERRORS`."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        param: str | None = None,
        provider: str | None = None,
        suggestion: str | None = None,
        retry_after: int | None = None,
        status: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        spec = ERRORS.get(code)
        if spec is None:  # a programming error: keep the envelope valid anyway
            spec = ERRORS["internal_error"]
            code = "internal_error"
        self.code = code
        self.message = message or spec.message
        self.param = param
        self.provider = provider
        self.suggestion = suggestion
        self.retry_after = retry_after
        self.status = status if status is not None else spec.status
        self.type: ErrorType = spec.type
        self.retryable = spec.retryable if retryable is None else retryable
        super().__init__(self.message)

    @property
    def doc_url(self) -> str:
        return DOC_URL_BASE + self.code

    def to_dict(self) -> dict[str, object]:
        """The fields of the flat error object (auriko-api.md 6.1)."""
        out: dict[str, object] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "param": self.param,
            "doc_url": self.doc_url,
        }
        if self.provider is not None:
            out["provider"] = self.provider
        if self.suggestion is not None:
            out["suggestion"] = self.suggestion
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, param={self.param!r})"


class UpstreamError(GatewayError):
    """An upstream call failed; ``upstream_status`` is what the provider answered (0 = no answer)."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        provider: str | None = None,
        upstream_status: int = 0,
        retryable: bool | None = None,
        retry_after: int | None = None,
        param: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(
            code,
            message,
            provider=provider,
            retryable=retryable,
            retry_after=retry_after,
            param=param,
            status=status,
        )
        self.upstream_status = upstream_status


class AttemptsExhausted(GatewayError):
    """Every attempt failed; the status and code come from the last attempt's error."""

    def __init__(self, errors: list[GatewayError]) -> None:
        last = errors[-1]
        super().__init__(
            last.code,
            last.message,
            param=last.param,
            provider=last.provider,
            suggestion=last.suggestion,
            retry_after=last.retry_after,
            status=last.status,
            retryable=last.retryable,
        )
        self.errors = errors


def is_retryable_status(status: int) -> bool:
    """Upstream statuses worth another offering: timeouts, 429, 5xx and Anthropic's 529."""
    return status in (408, 409, 429) or status >= 500


__all__ = [
    "DOC_URL_BASE",
    "ERRORS",
    "AttemptsExhausted",
    "ErrorSpec",
    "ErrorType",
    "GatewayError",
    "UpstreamError",
    "is_retryable_status",
]
