"""``GET /openapi.json``: an OpenAPI 3.1 document for the whole HTTP API (public).

Request body schemas are generated from the msgspec wire structs the handlers decode with (``ChatRequest``,
``MessagesRequest``, ``ResponseRequest``), so they cannot drift from the validation; :func:`_patch` then fixes
the few places where the struct is not the wire shape (native items and tools, the message ``type`` a
Responses client may omit, the placeholder for unmodelled Anthropic blocks) and adds the cross-field rules
JSON Schema can express (``model`` xor ``gateway.models``, weight keys, only_byok xor only_platform). Response
schemas are written out in ``api._openapi_schemas`` and follow what the handlers return. The document is built
once per catalog, with the live model ids as ``examples`` of ``model``.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import msgspec

from interlock.api._openapi_schemas import REF, RESPONSE_SCHEMAS, STR, Schema, nullable, obj, ref
from interlock.api.context import AppContext
from interlock.api.http import Request, Response
from interlock.ir.chat_in import ChatRequest
from interlock.ir.messages_in import CustomTool, MessagesRequest
from interlock.ir.request import ResponseRequest

VERSION = "1.0.0"


# --- request schemas ----------------------------------------------------------------------------------------

_WITH_MODELS: Schema = {
    "required": ["gateway"],
    "properties": {"gateway": {"type": "object", "required": ["models"], "properties": {"models": {"type": "array"}}}},
}
_MODEL_XOR_MODELS: Schema = {
    "anyOf": [{"required": ["model"]}, _WITH_MODELS],
    "not": {**_WITH_MODELS, "required": ["model", "gateway"]},
}


def _strip_discriminators(node: Any) -> None:
    """Remove ``discriminator`` hints: a Responses message may omit its ``type`` and native items are open."""
    if isinstance(node, dict):
        node.pop("discriminator", None)
        for value in node.values():
            _strip_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _strip_discriminators(value)


def _patch(comps: dict[str, Schema]) -> dict[str, Schema]:
    comps = copy.deepcopy(comps)
    _strip_discriminators(comps)
    item_types = ["message", "function_call", "function_call_output", "reasoning"]
    comps["NativeItem"] = {
        "title": "NativeItem",
        "description": "An input item type the gateway does not model (hosted-tool replays...), passed through.",
        "type": "object",
        "properties": {"type": {"type": "string", "not": {"enum": item_types}}},
        "required": ["type"],
    }
    comps["NativeTool"] = {
        "title": "NativeTool",
        "description": "A hosted or vendor tool (web_search, file_search...), passed through where native.",
        "type": "object",
        "properties": {"type": {"type": "string", "not": {"enum": ["function"]}}},
        "required": ["type"],
    }
    message = comps["Message"]
    message["required"] = [r for r in message.get("required", []) if r != "type"]
    comps["UnsupportedBlock"] = {
        "title": "UnsupportedBlock",
        "description": "A content block type the gateway does not model; dropped with an unsupported_field warning.",
        "type": "object",
        "properties": {
            "type": {
                "type": "string",
                "not": {
                    "enum": [
                        "text",
                        "image",
                        "document",
                        "tool_use",
                        "tool_result",
                        "thinking",
                        "redacted_thinking",
                        "__unsupported__",
                    ]
                },
            }
        },
        "required": ["type"],
    }
    routing = comps["RoutingOptions"]
    weight: Schema = {"type": "number", "minimum": 0}
    routing["properties"]["weights"] = nullable(
        {
            "type": "object",
            "properties": {"cost": weight, "ttft": weight, "throughput": weight},
            "additionalProperties": False,
            "anyOf": [
                {"required": [k], "properties": {k: {"exclusiveMinimum": 0}}} for k in ("cost", "ttft", "throughput")
            ],
        }
    )
    routing["not"] = {
        "required": ["only_byok", "only_platform"],
        "properties": {"only_byok": {"const": True}, "only_platform": {"const": True}},
    }
    for name in ("ChatRequest", "MessagesRequest", "ResponseRequest"):
        body = comps[name]
        body["properties"]["model"] = {"type": "string", "minLength": 1, "maxLength": 256}
        body.update(copy.deepcopy(_MODEL_XOR_MODELS))
    comps["ResponseRequest"]["required"] = ["input"]
    chat = comps["ChatRequest"]["properties"]
    name_only: Schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1}},
        "required": ["name"],
    }
    chat["tool_choice"] = nullable(
        {
            "anyOf": [
                {"enum": ["auto", "none", "required"]},
                obj({"type": {"const": "function"}, "function": name_only}, ["type", "function"]),
                obj(
                    {
                        "type": {"const": "allowed_tools"},
                        "allowed_tools": obj(
                            {
                                "mode": {"enum": ["auto", "required"]},
                                "tools": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": obj({"type": {"const": "function"}, "function": name_only}, ["function"]),
                                },
                            },
                            ["mode", "tools"],
                        ),
                    },
                    ["type", "allowed_tools"],
                ),
            ]
        }
    )
    # tool_choice "required" needs a tool to call.
    comps["ChatRequest"]["if"] = {"required": ["tool_choice"], "properties": {"tool_choice": {"const": "required"}}}
    comps["ChatRequest"]["then"] = {
        "anyOf": [
            {"required": ["tools"], "properties": {"tools": {"type": "array", "minItems": 1}}},
            {"required": ["functions"], "properties": {"functions": {"type": "array"}}},
        ]
    }
    server_tool: Schema = {
        "type": "object",
        "description": "A server tool (web_search_20250305...), passed through to native targets only.",
        "properties": {"type": {"type": "string", "not": {"const": "custom"}}},
        "required": ["type"],
    }
    messages = comps["MessagesRequest"]
    messages["properties"]["tools"] = nullable({"type": "array", "items": {"anyOf": [ref("CustomTool"), server_tool]}})
    messages["properties"]["max_tokens"] = {"type": "integer", "minimum": 1}
    count = copy.deepcopy(messages)
    count["title"] = "CountTokensRequest"
    count["description"] = "The body of POST /v1/messages/count_tokens: a Messages request without max_tokens."
    for key in ("max_tokens", "stream"):
        count["properties"].pop(key, None)
    comps["CountTokensRequest"] = count
    messages["required"] = sorted({*messages.get("required", []), "max_tokens"})
    return comps


# --- paths --------------------------------------------------------------------------------------------------


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _errors(statuses: tuple[int, ...], anthropic: bool = False) -> dict[str, Schema]:
    envelope = ref("AnthropicErrorEnvelope" if anthropic else "ErrorEnvelope")
    return {str(s): {"description": _STATUS_TEXT[s], "content": _json(envelope)} for s in statuses}


_STATUS_TEXT = {
    400: "Invalid request (bad field, unsupported capability, ...).",
    401: "Missing, invalid or expired API key.",
    404: "Unknown model or route.",
    405: "Method not allowed.",
    413: "Request body too large.",
    429: "Rate limit or budget exhausted.",
    500: "Internal error.",
    502: "The upstream provider failed.",
    503: "No provider available.",
    504: "The upstream provider timed out.",
}
_INFERENCE_ERRORS = (400, 401, 404, 413, 429, 500, 502, 503, 504)
_SSE: Schema = {"text/event-stream": {"schema": {"type": "string"}}}
_HEADERS: Schema = {"X-Request-ID": {"description": "Unique id of this request.", "schema": STR}}


def _post(op_id: str, summary: str, body: str, ok: str, *, anthropic: bool = False) -> Schema:
    security: list[Schema] = [{"bearerAuth": []}, {"apiKeyHeader": []}] if anthropic else [{"bearerAuth": []}]
    content = {**_json(ref(ok)), **_SSE}
    return {
        "post": {
            "operationId": op_id,
            "summary": summary,
            "security": security,
            "requestBody": {"required": True, "content": _json(ref(body))},
            "responses": {
                "200": {
                    "description": "The answer (JSON, or SSE when `stream` is true).",
                    "content": content,
                    "headers": _HEADERS,
                },
                **_errors(_INFERENCE_ERRORS, anthropic),
            },
        }
    }


def _get(
    op_id: str,
    summary: str,
    ok: str,
    *,
    public: bool,
    errors: tuple[int, ...] = (),
    parameters: list[Schema] | None = None,
) -> Schema:
    op: Schema = {
        "operationId": op_id,
        "summary": summary,
        "security": [] if public else [{"bearerAuth": []}],
        "responses": {
            "200": {"description": "OK", "content": _json(ref(ok)), "headers": _HEADERS},
            **_errors(errors if public else (401, *errors)),
        },
    }
    if parameters:
        op["parameters"] = parameters
    return {"get": op}


def build_openapi(model_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAPI 3.1 document as builtins; ``model_ids`` (the live catalog's) become examples."""
    _, comps = msgspec.json.schema_components(
        [ChatRequest, MessagesRequest, ResponseRequest, CustomTool], ref_template=REF
    )
    schemas = _patch(comps)
    if model_ids:
        # Live ids as examples, so a fuzzer reaches the core logic instead of model_not_found.
        for name in ("ChatRequest", "MessagesRequest", "CountTokensRequest", "ResponseRequest"):
            schemas[name]["properties"]["model"]["examples"] = list(model_ids)
    schemas.update(copy.deepcopy(RESPONSE_SCHEMAS))
    count = _post(
        "countTokens",
        "Estimate the input tokens of an Anthropic Messages request (local estimate, no upstream call)",
        "CountTokensRequest",
        "CountTokensResponse",
        anthropic=True,
    )
    count["post"]["responses"]["200"]["content"] = _json(ref("CountTokensResponse"))
    paths: dict[str, Any] = {
        "/v1/chat/completions": _post(
            "createChatCompletion",
            "Create a chat completion (OpenAI Chat Completions format)",
            "ChatRequest",
            "ChatCompletion",
        ),
        "/v1/responses": _post(
            "createResponse", "Create a response (OpenAI Response API format)", "ResponseRequest", "ResponseObject"
        ),
        "/v1/responses/{response_id}": _get(
            "retrieveResponse",
            "Retrieve a stored response (same workspace only)",
            "ResponseObject",
            public=False,
            errors=(404,),
            parameters=[{"name": "response_id", "in": "path", "required": True, "schema": STR}],
        ),
        "/v1/messages": _post(
            "createMessage",
            "Create a message (Anthropic Messages format)",
            "MessagesRequest",
            "AnthropicMessageResponse",
            anthropic=True,
        ),
        "/v1/messages/count_tokens": count,
        "/v1/models": _get(
            "listModels",
            "List callable models",
            "ModelList",
            public=False,
            errors=(400,),
            parameters=[
                {
                    "name": "endpoint",
                    "in": "query",
                    "required": False,
                    "description": "`responses` also lists Response-API-only models.",
                    "schema": {"enum": ["chat_completions", "responses"]},
                }
            ],
        ),
        "/v1/models/{model_id}": _get(
            "retrieveModel",
            "Retrieve a model by canonical id or alias",
            "Model",
            public=False,
            errors=(404,),
            parameters=[
                {
                    "name": "model_id",
                    "in": "path",
                    "required": True,
                    "schema": {**STR, "examples": list(model_ids)} if model_ids else STR,
                }
            ],
        ),
        "/v1/me": _get("getMe", "The identity of the calling API key", "ApiKeyIdentity", public=False),
        "/v1/registry/providers": _get("listProviders", "Providers (public)", "ProviderList", public=True),
        "/v1/registry/models": _get("listRegistryModels", "Canonical models (public)", "RegistryModels", public=True),
        "/v1/directory/models": _get("listDirectory", "Model directory with prices (public)", "Directory", public=True),
        "/healthz": _get("health", "Liveness", "Health", public=True),
        "/readyz": {
            "get": {
                "operationId": "ready",
                "summary": "Readiness: 200 when every check passes, 503 otherwise",
                "security": [],
                "responses": {
                    "200": {"description": "Ready", "content": _json(ref("Readiness"))},
                    "503": {"description": "Not ready or draining", "content": _json(ref("Readiness"))},
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": STR}}},
                    **_errors((404,)),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OK", "content": _json({"type": "object"})}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Interlock",
            "version": VERSION,
            "description": "Self-hosted LLM routing gateway speaking the Auriko API: OpenAI Chat Completions and "
            "Response API, Anthropic Messages, and model discovery.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An `ak_live_` API key."},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }


@functools.lru_cache(maxsize=4)
def openapi_bytes(model_ids: tuple[str, ...] = ()) -> bytes:
    """The encoded document (built once per catalog)."""
    return msgspec.json.encode(build_openapi(model_ids))


async def get_openapi(ctx: AppContext, request: Request) -> Response:
    ids = tuple(m.id for m in ctx.gateway.catalog.available_models)
    return Response(200, openapi_bytes(ids))


__all__ = ["build_openapi", "get_openapi", "openapi_bytes"]
