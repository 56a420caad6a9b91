"""Conversions every non-OpenAI adapter needs: data URLs to (media type, payload), tool arguments to objects."""

from __future__ import annotations

import json
from typing import Any

from interlock.ir.errors import GatewayError
from interlock.ir.warnings import RoutingWarning


def data_url(url: str, param: str) -> tuple[str, str]:
    """(media type, base64 payload) of a ``data:`` URL; 400 with ``param`` when it is not one."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or ";base64" not in head:
        raise GatewayError(
            "invalid_parameter_value", "Expected a base64 data URL (data:<type>;base64,<data>).", param=param
        )
    return head[5:].split(";", 1)[0].lower(), payload


def arguments_object(arguments: str, param: str, warnings: list[RoutingWarning]) -> dict[str, Any]:
    """A function call's JSON arguments as the object Anthropic and Gemini want (protocols.md 5.5).

    Empty arguments are ``{}``; anything that is not a JSON object becomes ``{}`` with a warning.
    """
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        reason = "is not valid JSON"
    else:
        if isinstance(value, dict):
            return value
        reason = "is not a JSON object"
    warnings.append(
        RoutingWarning(
            type="unsupported_feature",
            code="invalid_tool_arguments",
            message=f"{param}.arguments {reason}; sent as an empty object.",
        )
    )
    return {}


__all__ = ["arguments_object", "data_url"]
