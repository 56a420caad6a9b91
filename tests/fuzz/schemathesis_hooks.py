"""Schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.fuzz.schemathesis_hooks``): the check the gateway is held to.

``documented_errors``: an error answer is always the documented envelope, and a 5xx only ever carries one of
the documented server-side codes (a crash is 500 ``internal_error`` and fails). On /v1/messages, whose
Anthropic envelope has no code, a 5xx must be one of Anthropic's server-side error types.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

SERVER_CODES = frozenset({"no_provider_available", "upstream_error", "upstream_timeout", "model_unavailable",
                          "service_unavailable"})  # fmt: skip
ANTHROPIC_SERVER_TYPES = frozenset({"api_error", "overloaded_error", "timeout_error"})


@schemathesis.check
def documented_errors(ctx: Any, response: Any, case: Any) -> None:
    status = response.status_code
    if status < 400 or case.operation.path in ("/metrics",):
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{status} without a JSON error body") from None
    if case.operation.path.startswith("/v1/messages"):
        assert body.get("type") == "error", body
        kind = body["error"]["type"]
        assert status < 500 or (status != 500 and kind in ANTHROPIC_SERVER_TYPES), body
        return
    code = body["error"]["code"]
    assert isinstance(code, str) and code, body
    assert status < 500 or code in SERVER_CODES, body
