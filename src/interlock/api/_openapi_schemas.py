"""The response schemas of the OpenAPI document (``api.openapi``), written out to match what the handlers return."""

from __future__ import annotations

from typing import Any

from interlock.ir.errors import ERRORS

REF = "#/components/schemas/{name}"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": REF.format(name=name)}


def obj(props: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    return {"type": "object", "properties": props, "required": required or [], **extra}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}

# --- response schemas ---------------------------------------------------------------------------------------

_ERROR_TYPES = sorted({spec.type for spec in ERRORS.values()})

WARNING: Schema = obj(
    {
        "type": {
            "enum": [
                "unsupported_parameter",
                "unsupported_feature",
                "unsupported_field",
                "ignored_extension",
                "unknown_provider",
                "blocked_field",
                "provider_timeout",
            ]
        },
        "code": STR,
        "message": STR,
    },
    ["type", "code", "message"],
)

ROUTING_METADATA: Schema = obj(
    {
        "provider": STR,
        "provider_model_id": STR,
        "model_canonical": STR,
        "routing_strategy": STR,
        "cost": obj(
            {
                "usd": NUM,
                "cache_savings_usd": NUM,
                "cache_savings_percent": {"type": "integer", "minimum": 0, "maximum": 100},
                "hosted_tool_usd": NUM,
            },
            ["usd"],
        ),
        "ttft_ms": NUM,
        "throughput_tps": NUM,
        "warnings": {"type": "array", "items": ref("RoutingWarning")},
        "decision": {"type": "object"},
    },
    description="How the gateway served the request (auriko-api.md section 4).",
)

ERROR_ENVELOPE: Schema = obj(
    {
        "error": obj(
            {
                "message": STR,
                "type": {"enum": _ERROR_TYPES},
                "code": nullable(STR),
                "param": nullable(STR),
                "doc_url": STR,
                "provider": nullable(STR),
                "suggestion": STR,
            },
            ["message", "type", "code", "param"],
        )
    },
    ["error"],
    description="The flat error envelope of the OpenAI-compatible endpoints (auriko-api.md 6.1).",
)

ANTHROPIC_ERROR: Schema = obj(
    {
        "type": {"const": "error"},
        "error": obj({"type": STR, "message": STR, "suggestion": STR}, ["type", "message"]),
    },
    ["type", "error"],
    description="The Anthropic error envelope of /v1/messages (protocols.md 3.6).",
)

CHAT_USAGE: Schema = obj(
    {
        "prompt_tokens": INT,
        "completion_tokens": INT,
        "total_tokens": INT,
        "prompt_tokens_details": obj({"cached_tokens": INT, "cache_write_tokens": INT}),
        "completion_tokens_details": obj({"reasoning_tokens": INT}),
    },
    ["prompt_tokens", "completion_tokens", "total_tokens"],
)

_TOOL_CALL: Schema = obj(
    {
        "id": STR,
        "type": {"const": "function"},
        "function": obj({"name": STR, "arguments": STR}, ["name", "arguments"]),
        "provider_signature": STR,
    },
    ["id", "type", "function"],
)

_REASONING_BLOCK: Schema = {
    "anyOf": [
        obj({"type": {"const": "thinking"}, "thinking": STR, "signature": STR}, ["type", "thinking", "signature"]),
        obj({"type": {"const": "redacted"}, "data": STR}, ["type", "data"]),
    ]
}

_FINISH: Schema = {"enum": ["stop", "length", "tool_calls", "content_filter", "function_call"]}

CHAT_COMPLETION: Schema = obj(
    {
        "id": STR,
        "object": {"const": "chat.completion"},
        "created": INT,
        "model": {"type": "string", "description": "The provider's model id that answered."},
        "choices": {
            "type": "array",
            "items": obj(
                {
                    "index": INT,
                    "message": obj(
                        {
                            "role": {"const": "assistant"},
                            "content": nullable(STR),
                            "refusal": nullable(STR),
                            "tool_calls": {"type": "array", "items": _TOOL_CALL},
                            "reasoning_content": STR,
                            "reasoning": {"type": "array", "items": _REASONING_BLOCK},
                            "annotations": {"type": "array", "items": {"type": "object"}},
                        },
                        ["role", "content"],
                    ),
                    "finish_reason": _FINISH,
                    "logprobs": {"type": "null"},
                    "native_finish_reason": STR,
                },
                ["index", "message", "finish_reason"],
            ),
        },
        "usage": ref("ChatUsage"),
        "routing_metadata": ref("RoutingMetadata"),
    },
    ["id", "object", "created", "model", "choices", "usage"],
)

CHAT_CHUNK: Schema = obj(
    {
        "id": STR,
        "object": {"const": "chat.completion.chunk"},
        "created": INT,
        "model": STR,
        "choices": {
            "type": "array",
            "items": obj(
                {
                    "index": INT,
                    "delta": obj(
                        {
                            "role": {"const": "assistant"},
                            "content": nullable(STR),
                            "refusal": STR,
                            "reasoning_content": STR,
                            "reasoning_signature": STR,
                            "reasoning_redacted_data": STR,
                            "tool_calls": {
                                "type": "array",
                                "items": obj(
                                    {
                                        "index": INT,
                                        "id": STR,
                                        "type": {"const": "function"},
                                        "function": obj({"name": STR, "arguments": STR}),
                                    },
                                    ["index"],
                                ),
                            },
                        }
                    ),
                    "finish_reason": nullable(_FINISH),
                    "native_finish_reason": STR,
                },
                ["index", "delta"],
            ),
        },
        "usage": ref("ChatUsage"),
        "routing_metadata": ref("RoutingMetadata"),
    },
    ["id", "object", "created", "model", "choices"],
    description="One `data:` payload of a streamed chat completion. The stream ends with `data: [DONE]`; a "
    'mid-stream failure is a payload `{"error": {...}}` (the ErrorEnvelope) instead of a chunk.',
)

RESPONSE_OBJECT: Schema = obj(
    {
        "id": STR,
        "object": {"const": "response"},
        "created_at": INT,
        "status": {"enum": ["completed", "failed", "incomplete", "in_progress"]},
        "model": STR,
        "output": {"type": "array", "items": obj({"type": STR}, ["type"])},
        "usage": nullable(
            obj(
                {
                    "input_tokens": INT,
                    "output_tokens": INT,
                    "total_tokens": INT,
                    "input_tokens_details": obj({"cached_tokens": INT, "cache_write_tokens": INT}),
                    "output_tokens_details": obj({"reasoning_tokens": INT}),
                },
                ["input_tokens", "output_tokens", "total_tokens"],
            )
        ),
        "error": nullable({"type": "object"}),
        "incomplete_details": nullable({"type": "object"}),
        "routing_metadata": ref("RoutingMetadata"),
    },
    ["id", "object", "created_at", "status", "model", "output"],
    description="A Response API response (protocols.md 1.4); streamed as Response API events.",
)

_ANTHROPIC_BLOCK: Schema = {
    "anyOf": [
        obj({"type": {"const": "text"}, "text": STR}, ["type", "text"]),
        obj({"type": {"const": "thinking"}, "thinking": STR, "signature": STR}, ["type", "thinking", "signature"]),
        obj({"type": {"const": "redacted_thinking"}, "data": STR}, ["type", "data"]),
        obj(
            {"type": {"const": "tool_use"}, "id": STR, "name": STR, "input": {"type": "object"}},
            ["type", "id", "name", "input"],
        ),
    ]
}

ANTHROPIC_MESSAGE: Schema = obj(
    {
        "id": STR,
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "model": STR,
        "content": {"type": "array", "items": _ANTHROPIC_BLOCK},
        "stop_reason": nullable(
            {"enum": ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]}
        ),
        "stop_sequence": nullable(STR),
        "usage": obj(
            {
                "input_tokens": INT,
                "output_tokens": INT,
                "cache_creation_input_tokens": INT,
                "cache_read_input_tokens": INT,
            },
            ["input_tokens", "output_tokens"],
        ),
        "routing_metadata": ref("RoutingMetadata"),
    },
    ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"],
    description="An Anthropic Message; streamed as Anthropic events with `event:` lines.",
)

MODEL: Schema = obj(
    {
        "id": STR,
        "object": {"const": "model"},
        "created": INT,
        "owned_by": STR,
        "context_window": nullable(INT),
        "supported_endpoints": {"type": "array", "items": {"enum": ["chat_completions", "responses"]}},
        "providers": {
            "type": "array",
            "items": obj(
                {"name": STR, "input_price": NUM, "output_price": NUM, "data_policy": nullable(STR)},
                ["name", "input_price", "output_price"],
            ),
        },
    },
    ["id", "object", "created", "owned_by"],
)

MODEL_LIST: Schema = obj(
    {
        "object": {"const": "list"},
        "data": {"type": "array", "items": ref("Model")},
        "catalog_version": STR,
        "catalog_age_seconds": NUM,
    },
    ["object", "data"],
)

API_KEY_IDENTITY: Schema = obj(
    {
        "credential_type": {"const": "api_key"},
        "status": STR,
        "profile": {"enum": ["inference", "management", "mixed"]},
        "key_id": STR,
        "key_prefix": STR,
        "key_name": STR,
        "workspace": obj({"id": STR, "name": STR}, ["id", "name"]),
        "scopes": {"type": "array", "items": STR},
        "rate_limits": obj(
            {"inference_rpm": INT, "management_reads_rpm": INT, "management_writes_rpm": INT},
            ["inference_rpm", "management_reads_rpm", "management_writes_rpm"],
        ),
        "expires_at": nullable(STR),
        "created_at": STR,
    },
    [
        "credential_type",
        "status",
        "profile",
        "key_id",
        "key_prefix",
        "key_name",
        "workspace",
        "scopes",
        "rate_limits",
        "expires_at",
        "created_at",
    ],
    description="The calling API key (auriko SDK 1.2.0 ApiKeyIdentity); rate limits of 0 mean none.",
)

_CAPS: Schema = {"type": "object", "additionalProperties": BOOL}
_STRS: Schema = {"type": "array", "items": STR}

PROVIDER_LIST: Schema = obj(
    {
        "providers": {
            "type": "array",
            "items": obj(
                {"id": STR, "display_name": STR, "description": STR, "icon": STR, "data_policy": STR},
                ["id", "display_name", "description", "icon", "data_policy"],
            ),
        },
        "count": INT,
    },
    ["providers", "count"],
)

REGISTRY_MODELS: Schema = obj(
    {
        "models": {
            "type": "array",
            "items": obj(
                {
                    "id": STR,
                    "family": STR,
                    "display_name": STR,
                    "capabilities": _CAPS,
                    "input_modalities": _STRS,
                    "output_modalities": _STRS,
                    "providers": _STRS,
                    "has_free_provider": BOOL,
                    "author": nullable(STR),
                },
                [
                    "id",
                    "family",
                    "display_name",
                    "capabilities",
                    "input_modalities",
                    "output_modalities",
                    "providers",
                    "has_free_provider",
                ],
            ),
        },
        "count": INT,
        "playground_defaults": _STRS,
    },
    ["models", "count"],
)

_TIER: Schema = obj(
    {
        "name": STR,
        "input_price": nullable(NUM),
        "output_price": nullable(NUM),
        "cache_read_price": nullable(NUM),
        "cache_write_price": nullable(NUM),
        "latency_hint": nullable(STR),
        "price_variants": {"type": "array", "items": {"type": "object"}},
    },
    ["name"],
)

DIRECTORY: Schema = obj(
    {
        "models": {
            "type": "object",
            "additionalProperties": obj(
                {
                    "family": STR,
                    "display_name": STR,
                    "providers": {
                        "type": "array",
                        "items": obj(
                            {
                                "provider": STR,
                                "provider_model_id": STR,
                                "context_window": nullable(INT),
                                "max_output_tokens": nullable(INT),
                                "capabilities": _CAPS,
                                "input_modalities": _STRS,
                                "output_modalities": _STRS,
                                "tools": _STRS,
                                "tiers": {"type": "array", "items": _TIER},
                                "data_policy": nullable(STR),
                                "accepted_params": _STRS,
                                "supported_parameters": _STRS,
                                "supported_endpoints": _STRS,
                            },
                            ["provider", "provider_model_id"],
                        ),
                    },
                    "author": nullable(STR),
                    "supported_parameters": _STRS,
                    "aliases": _STRS,
                },
                ["family", "display_name", "providers"],
            ),
        },
        "generated_at": STR,
    },
    ["models", "generated_at"],
)

RESPONSE_SCHEMAS: dict[str, Schema] = {
    "RoutingWarning": WARNING,
    "RoutingMetadata": ROUTING_METADATA,
    "ErrorEnvelope": ERROR_ENVELOPE,
    "AnthropicErrorEnvelope": ANTHROPIC_ERROR,
    "ChatUsage": CHAT_USAGE,
    "ChatCompletion": CHAT_COMPLETION,
    "ChatCompletionChunk": CHAT_CHUNK,
    "ResponseObject": RESPONSE_OBJECT,
    "AnthropicMessageResponse": ANTHROPIC_MESSAGE,
    "CountTokensResponse": obj({"input_tokens": {"type": "integer", "minimum": 1}}, ["input_tokens"]),
    "Model": MODEL,
    "ModelList": MODEL_LIST,
    "ApiKeyIdentity": API_KEY_IDENTITY,
    "ProviderList": PROVIDER_LIST,
    "RegistryModels": REGISTRY_MODELS,
    "Directory": DIRECTORY,
    "Health": obj({"status": {"const": "ok"}}, ["status"]),
    "Readiness": obj(
        {
            "status": {"enum": ["ready", "not_ready", "draining"]},
            "checks": {"type": "object", "additionalProperties": STR},
        },
        ["status", "checks"],
    ),
}


__all__ = ["BOOL", "INT", "NUM", "REF", "RESPONSE_SCHEMAS", "STR", "Schema", "nullable", "obj", "ref"]
