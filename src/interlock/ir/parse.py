"""Decode and validate a Response API request body into the IR, mapping every failure to a documented error.

One msgspec pass does type, enum and range checks; the few rules msgspec cannot express (model XOR
gateway.models, routing cross-field rules, tool_choice objects) follow. Error ``param`` values use the
dotted/indexed path of the offending field (``input[2].content``, ``gateway.routing.weights``).
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from interlock.ir.errors import GatewayError
from interlock.ir.request import REQUEST_FIELDS, Gateway, ResponseRequest, RoutingOptions

_ITEM_TYPES = frozenset({"message", "function_call", "function_call_output", "reasoning"})
_PART_TYPES = frozenset({"input_text", "input_image", "input_file", "output_text", "refusal", "reasoning_text"})
_WEIGHT_KEYS = frozenset({"cost", "ttft", "throughput"})
_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING_RE = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_JSON_DECODER = msgspec.json.Decoder()


def decode_json(body: bytes) -> Any:
    """Parse a JSON body; malformed JSON, invalid UTF-8 or absurd nesting is 400 ``invalid_request``."""
    try:
        return _JSON_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise GatewayError("invalid_request", f"The request body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise GatewayError("invalid_request", "The request body is not valid UTF-8.") from None
    except RecursionError:  # hostile nesting; ``api.limits`` refuses it earlier at the configured depth
        raise GatewayError("invalid_request", "The request body is nested too deeply.") from None


def _param_of(exc: msgspec.ValidationError, prefix: str = "") -> tuple[str, str | None, str]:
    """(code, param, message) for a msgspec validation error."""
    text = str(exc)
    match = _PATH_RE.search(text)
    path = match.group("path") if match else ""
    msg = text[: match.start()] if match else text
    path = path.lstrip(".")
    missing = _MISSING_RE.match(msg)
    if missing:
        field = missing.group("field")
        param = f"{path}.{field}" if path else field
        code = "missing_required_parameter"
    else:
        param = path or None
        code = "invalid_parameter_value"
    if prefix and param is not None:
        param = prefix + ("" if param.startswith("[") else ".") + param
    elif prefix:
        param = prefix
    return code, param, msg


def _normalise_items(items: list[Any]) -> list[Any]:
    """Fill the implicit ``type`` of easy messages and wrap item types we do not model as ``native``."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            kind = item.get("type")
            if kind is None and "role" in item:
                item = {**item, "type": "message"}
                kind = "message"
            if kind == "message" and isinstance(item.get("content"), list):
                item = {**item, "content": [_normalise_part(p) for p in item["content"]]}
            elif isinstance(kind, str) and kind not in _ITEM_TYPES:  # (a non-string type is left to msgspec)
                item = {"type": "native", "raw": item}
        out.append(item)
    return out


def _normalise_part(part: Any) -> Any:
    # A bare ``{"text": ...}`` part is common in hand-written requests; treat it as input_text.
    if isinstance(part, dict) and "type" not in part and "text" in part:
        return {**part, "type": "input_text"}
    return part


def _normalise_tools(tools: list[Any]) -> list[Any]:
    out: list[Any] = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") != "function" and isinstance(tool.get("type"), str):
            out.append({"type": "native", "raw": tool})
        else:
            out.append(tool)
    return out


def parse_response_request(body: Any) -> tuple[ResponseRequest, list[str]]:
    """Validate a decoded Responses body; returns the IR and the names of unknown top-level fields."""
    if not isinstance(body, dict):
        raise GatewayError("invalid_request", "The request body must be a JSON object.")
    data = dict(body)
    unknown = [k for k in data if k not in REQUEST_FIELDS]
    for key in unknown:
        del data[key]
    if isinstance(data.get("input"), list):
        data["input"] = _normalise_items(data["input"])
    if isinstance(data.get("tools"), list):
        data["tools"] = _normalise_tools(data["tools"])
    # Legacy top-level routing namespaces (auriko-api.md 2, [OLD]) are folded into ``gateway``.
    try:
        req = msgspec.convert(data, ResponseRequest, strict=True)
    except msgspec.ValidationError as exc:
        code, param, msg = _param_of(exc)
        raise GatewayError(code, f"Invalid value for '{param}': {msg}" if param else msg, param=param) from None
    if "input" not in data:
        raise GatewayError("missing_required_parameter", "Missing required parameter: 'input'.", param="input")
    validate_model_selection(req.model, req.gateway)
    if req.gateway is not None and req.gateway.routing is not None:
        validate_routing(req.gateway.routing)
    _validate_tool_choice(req)
    return req, unknown


def validate_model_selection(model: str | None, gateway: Gateway | None) -> None:
    """``model`` XOR ``gateway.models`` with the SDK's codes and params (auriko-api.md 1.1)."""
    models = gateway.models if gateway is not None else None
    if model is not None and models is not None:
        raise GatewayError(
            "invalid_parameter_value",
            "Cannot specify both 'model' and 'gateway.models'.",
            param="gateway.models",
        )
    if model is None and not models:
        raise GatewayError(
            "missing_required_parameter", "Must specify either 'model' or 'gateway.models'.", param="model"
        )


def validate_routing(routing: RoutingOptions) -> None:
    """Cross-field rules of the SDK's RoutingOptions validator."""
    prefix = "gateway.routing."
    if routing.only_byok and routing.only_platform:
        raise GatewayError(
            "invalid_parameter_value",
            "only_byok and only_platform are mutually exclusive.",
            param=prefix + "only_byok",
        )
    if routing.weights is not None:
        for key, value in routing.weights.items():
            if key not in _WEIGHT_KEYS:
                raise GatewayError(
                    "invalid_parameter_value",
                    f"Unknown weight key '{key}'. Valid: cost, throughput, ttft.",
                    param=prefix + "weights",
                )
            if not math.isfinite(value) or value < 0:
                raise GatewayError(
                    "invalid_parameter_value",
                    f"Weight '{key}' must be a non-negative finite number.",
                    param=prefix + "weights",
                )
        if not any(v > 0 for v in routing.weights.values()):
            raise GatewayError("invalid_parameter_value", "At least one weight must be > 0.", param=prefix + "weights")
    if routing.timeout_ms is not None and routing.deadline_ms is not None and routing.deadline_ms < routing.timeout_ms:
        raise GatewayError(
            "invalid_parameter_value", "deadline_ms must be >= timeout_ms.", param=prefix + "deadline_ms"
        )


def _validate_tool_choice(req: ResponseRequest) -> None:
    choice = req.tool_choice
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "function":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise GatewayError(
                "invalid_parameter_value", "tool_choice of type 'function' needs a name.", param="tool_choice"
            )
        names = {t.name for t in req.tools or [] if hasattr(t, "name")}
        if name not in names:
            raise GatewayError(
                "invalid_parameter_value",
                f"tool_choice names '{name}', which is not among the tools.",
                param="tool_choice",
            )
    elif not isinstance(kind, str):
        raise GatewayError("invalid_parameter_value", "tool_choice object needs a 'type'.", param="tool_choice")


__all__ = [
    "decode_json",
    "parse_response_request",
    "validate_model_selection",
    "validate_routing",
]
