"""extensions: what is merged into which native body, what is stripped, and the warning or error for each."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from interlock.ir.errors import GatewayError
from interlock.providers.base import Target
from interlock.providers.extensions import apply_extensions, validate_extensions

KNOWN = {"anthropic", "openai", "google_ai_studio", "together_ai", "my-claude", "my-gemini"}


def target(provider: str, protocol: str) -> Target:
    return Target(
        provider=provider,
        protocol=protocol,  # type: ignore[arg-type]
        base_url="http://upstream",
        api_key="k",
        provider_model_id="m",
        model_canonical="m",
    )


ANTHROPIC = target("my-claude", "anthropic")
GEMINI = target("my-gemini", "gemini")
TOGETHER = target("together_ai", "openai-chat")

BASE_BODY: dict[str, Any] = {"model": "m", "max_tokens": 100, "metadata": {"user_id": "u1"}}

# (id, extensions, target, expected body (None = unchanged), expected (type, code) warnings)
CASES: list[tuple[str, dict[str, Any], Target, dict[str, Any] | None, list[tuple[str, str]]]] = [
    ("empty", {}, ANTHROPIC, None, []),
    (
        "family block merged",
        {"anthropic": {"top_k": 5, "metadata": {"tag": "x"}}},
        ANTHROPIC,
        {**BASE_BODY, "top_k": 5, "metadata": {"user_id": "u1", "tag": "x"}},
        [],
    ),
    (
        "provider block wins over family block",
        {"anthropic": {"service_tier": "auto"}, "my-claude": {"service_tier": "standard_only"}},
        ANTHROPIC,
        {**BASE_BODY, "service_tier": "standard_only"},
        [],
    ),
    (
        "auth keys stripped at every depth",
        {"anthropic": {"api_key": "sk", "container": {"Authorization": "Bearer x", "id": "c1"}, "x-api-key": "k"}},
        ANTHROPIC,
        {**BASE_BODY, "container": {"id": "c1"}},
        [("blocked_field", "auth_field_stripped")] * 3,
    ),
    (
        "auth keys stripped inside lists",
        {"anthropic": {"mcp_servers": [{"url": "u", "token": "t"}]}},
        ANTHROPIC,
        {**BASE_BODY, "mcp_servers": [{"url": "u"}]},
        [("blocked_field", "auth_field_stripped")],
    ),
    (
        "core fields stripped at the top level only",
        {"anthropic": {"model": "other", "MAX_TOKENS": 1, "stream": True, "system": "s", "metadata": {"model": "ok"}}},
        ANTHROPIC,
        {**BASE_BODY, "metadata": {"user_id": "u1", "model": "ok"}},
        [("blocked_field", "core_field_stripped")] * 4,
    ),
    (
        "camelCase core fields are the same field",
        {"google": {"systemInstruction": {"parts": []}, "safety_settings": [{"category": "C", "threshold": "T"}]}},
        GEMINI,
        {**BASE_BODY, "safetySettings": [{"category": "C", "threshold": "T"}]},
        [("blocked_field", "core_field_stripped")],
    ),
    (
        "gemini keys camel-cased, schemas left alone",
        {
            "gemini": {
                "generation_config": {
                    "thinking_config": {"include_thoughts": True},
                    "response_schema": {"type": "object", "properties": {"snake_case_name": {"type": "string"}}},
                }
            }
        },
        GEMINI,
        {
            **BASE_BODY,
            "generationConfig": {
                "thinkingConfig": {"includeThoughts": True},
                "responseSchema": {"type": "object", "properties": {"snake_case_name": {"type": "string"}}},
            },
        },
        [],
    ),
    (
        "other known provider ignored",
        {"openai": {"logit_bias": {"1": 2}}, "google_ai_studio": {"x": 1}},
        ANTHROPIC,
        None,
        [("ignored_extension", "extension_ignored"), ("ignored_extension", "extension_ignored")],
    ),
    (
        "unknown provider",
        {"acme": {"x": 1}},
        ANTHROPIC,
        None,
        [("unknown_provider", "unknown_provider")],
    ),
    (
        "openai family alias reaches an openai-compatible host",
        {"openai": {"reasoning_format": "parsed"}, "together_ai": {"repetition_penalty": 1.1}},
        TOGETHER,
        {**BASE_BODY, "reasoning_format": "parsed", "repetition_penalty": 1.1},
        [],
    ),
]


@pytest.mark.parametrize(("ext", "tgt", "body", "warnings"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_apply_extensions(
    ext: dict[str, Any], tgt: Target, body: dict[str, Any] | None, warnings: list[tuple[str, str]]
) -> None:
    native = copy.deepcopy(BASE_BODY)
    got = apply_extensions(native, ext, tgt, KNOWN)
    assert [(w.type, w.code) for w in got] == warnings
    assert all(w.message for w in got)
    assert native == (body if body is not None else BASE_BODY)


def test_warning_messages_name_the_field_but_never_the_value() -> None:
    got = apply_extensions({}, {"anthropic": {"nested": {"password": "hunter2"}}}, ANTHROPIC, KNOWN)
    assert got[0].message.startswith("extensions.anthropic.nested.password")
    assert "hunter2" not in got[0].message


def test_none_extensions_are_a_no_op() -> None:
    body = {"a": 1}
    assert apply_extensions(body, None, ANTHROPIC, KNOWN) == [] and body == {"a": 1}


@pytest.mark.parametrize(
    ("ext", "param"),
    [
        ({"thinking": {"enabled": True, "budget_tokens": 8000}}, "extensions.thinking"),
        ({"anthropic": "not an object"}, "extensions.anthropic"),
        (["anthropic"], "extensions"),
    ],
)
def test_validate_extensions_refuses(ext: Any, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        validate_extensions(ext)
    assert (info.value.status, info.value.code, info.value.param) == (400, "invalid_parameter_value", param)
    if param == "extensions.thinking":
        assert "reasoning" in info.value.message


def test_validate_extensions_accepts_provider_blocks() -> None:
    validate_extensions(None)
    validate_extensions({"anthropic": {"thinking": {"type": "enabled"}}, "acme": {}})
