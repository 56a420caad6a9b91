"""The one exception the protocol modules raise to answer with an HTTP error in their own envelope."""

from __future__ import annotations

__all__ = ["DEFAULT_MESSAGES", "SimError"]

# Messages for injected faults, by status; protocols render them in their own error body.
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Invalid request.",
    401: "Invalid authentication.",
    403: "Permission denied.",
    404: "Not found.",
    408: "Request timed out.",
    429: "Rate limit exceeded (simulated).",
    500: "The server had an error while processing your request (simulated).",
    502: "Bad gateway (simulated).",
    503: "The service is temporarily unavailable (simulated outage).",
    504: "The upstream timed out (simulated).",
    529: "Overloaded",
}


class SimError(Exception):
    """An error answer: HTTP status, message, and optional OpenAI-style `param` and `code`.

    `native_type` overrides the protocol's type for the status (OpenAI `type`, Anthropic `error.type`,
    Gemini `status`) when one status covers several native errors. `retry_after_s` becomes a `retry-after`
    header on 429, 503 and 529 answers.
    """

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        param: str | None = None,
        code: str | None = None,
        native_type: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        self.message = message or DEFAULT_MESSAGES.get(status, "Error (simulated).")
        self.param = param
        self.code = code
        self.native_type = native_type
        super().__init__(f"{status}: {self.message}")
