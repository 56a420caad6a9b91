"""anthropic: request translation, the recorded streams replayed through decoder, parser and builder, errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai._models import construct_type
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from interlock.ir import events as ev
from interlock.ir.builder import ResponseBuilder
from interlock.ir.errors import GatewayError, UpstreamError
from interlock.ir.parse import parse_response_request
from interlock.ir.request import REQUEST_FIELDS, FunctionCall, FunctionCallOutput, Message, Reasoning, ResponseRequest
from interlock.ir.response import make_response_shell
from interlock.providers import _signatures as sig
from interlock.providers import anthropic, gemini
from interlock.providers.base import SSEEvent, Target
from interlock.providers.normalise import normalise
from interlock.providers.sse import SSEDecoder
from tests.support.invariants import check_response_stream

FIXTURES = Path("/work/shared/fixtures/anthropic")
NAMES = sorted(p.name for p in FIXTURES.glob("*.chunks.txt"))

SONNET_45 = {
    "style": "budget",
    "efforts": ["low", "medium", "high", "max"],
    "can_disable": True,
    "budgets": {"low": 2048, "medium": 8192, "high": 16384, "max": 32000},
}
TARGET = Target(
    provider="anthropic",
    protocol="anthropic",
    base_url="https://api.anthropic.com/v1/",
    api_key="sk-ant-test",
    provider_model_id="claude-sonnet-4-5-20250929",
    model_canonical="claude-sonnet-4-5",
    capabilities=frozenset({"tools", "vision", "pdf", "reasoning", "json_schema"}),
    reasoning=SONNET_45,
)
PLAIN = Target(
    provider="anthropic",
    protocol="anthropic",
    base_url="https://api.anthropic.com/v1",
    api_key="sk-ant-test",
    provider_model_id="claude-3-5-haiku",
    model_canonical="claude-3-5-haiku",
    capabilities=frozenset({"tools"}),
)
PNG = "data:image/png;base64,iVBORw0KGgo="
PDF = "data:application/pdf;base64,JVBERi0xLjQ="


def ir(body: dict[str, Any]) -> ResponseRequest:
    req, unknown = parse_response_request({"model": "claude", **body})
    assert unknown == []
    return req


def build(body: dict[str, Any], target: Target = TARGET, stream: bool = False) -> tuple[dict[str, Any], list[str]]:
    native = anthropic.build_request(ir(body), target, stream=stream)
    msgspec.json.encode(native.body)  # JSON-ready
    return native.body, [w.code for w in native.warnings]


# --- build_request --------------------------------------------------------------------------------------------


def test_params_table_covers_every_request_field() -> None:
    assert set(anthropic.PARAMS) == REQUEST_FIELDS


def test_url_headers_and_max_tokens_default() -> None:
    native = anthropic.build_request(ir({"input": "hi"}), TARGET, stream=True)
    assert native.url == "https://api.anthropic.com/v1/messages"
    assert native.headers["x-api-key"] == "sk-ant-test"
    assert native.headers["anthropic-version"] == "2023-06-01"
    assert native.headers["content-type"] == "application/json"
    assert native.body == {
        "model": "claude-sonnet-4-5-20250929",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 4096,
        "stream": True,
    }
    capped = Target(**{**_fields(TARGET), "max_output_tokens": 64000})
    assert anthropic.build_request(ir({"input": "hi"}), capped, stream=False).body["max_tokens"] == 64000
    assert build({"input": "hi", "max_output_tokens": 77})[0]["max_tokens"] == 77


def _fields(target: Target) -> dict[str, Any]:
    return {name: getattr(target, name) for name in target.__slots__}


def test_system_developer_and_instructions_become_system_in_order() -> None:
    body, _ = build(
        {
            "instructions": "Be terse.",
            "input": [
                {"role": "developer", "content": "Use metric units."},
                {"role": "user", "content": "hi"},
                {"role": "system", "content": [{"type": "input_text", "text": "Late rule."}]},
            ],
        }
    )
    assert body["system"] == [
        {"type": "text", "text": "Be terse."},
        {"type": "text", "text": "Use metric units."},
        {"type": "text", "text": "Late rule."},
    ]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_consecutive_roles_merge_and_empty_messages_vanish() -> None:
    body, _ = build(
        {
            "input": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "input_text", "text": "b"}]},
                {"role": "assistant", "content": ""},
                {
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "c"}, {"type": "refusal", "refusal": "r"}],
                },
                {"role": "user", "content": "d"},
            ]
        }
    )
    assert [(m["role"], [b["text"] for b in m["content"]]) for m in body["messages"]] == [
        ("user", ["a", "b"]),
        ("assistant", ["c", "r"]),
        ("user", ["d"]),
    ]


def test_images_and_documents() -> None:
    body, _ = build(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_image", "image_url": PNG, "detail": "high"},
                        {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
                        {"type": "input_file", "file_data": PDF, "filename": "a.pdf"},
                        {"type": "input_file", "file_url": "https://example.com/b.pdf"},
                        {"type": "input_file", "file_data": "data:text/plain;base64,aGVsbG8="},
                    ],
                }
            ]
        }
    )
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
            "title": "a.pdf",
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/b.pdf"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "input_image", "file_id": "file_1"}, "input[0].content[0].file_id"),
        ({"type": "input_image", "image_url": "data:image/bmp;base64,Qk0="}, "input[0].content[0].image_url"),
        ({"type": "input_file", "file_data": "data:application/zip;base64,UEs="}, "input[0].content[0].file_data"),
        ({"type": "input_image", "image_url": "data:image/png,notbase64"}, "input[0].content[0].image_url"),
    ],
)
def test_untranslatable_media_is_a_400(part: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as info:
        build({"input": [{"role": "user", "content": [part]}]})
    assert (info.value.status, info.value.code, info.value.param) == (400, "invalid_parameter_value", param)


def test_tools_zero_parameters_and_strict() -> None:
    body, _ = build(
        {
            "input": "x",
            "tools": [
                {"type": "function", "name": "now", "description": "The time."},
                {"type": "function", "name": "get", "parameters": {"properties": {"q": {"type": "string"}}}},
                {"type": "function", "name": "s", "strict": True, "parameters": {"type": "object", "properties": {}}},
            ],
        }
    )
    assert body["tools"] == [
        {"name": "now", "input_schema": {"type": "object", "properties": {}}, "description": "The time."},
        {"name": "get", "input_schema": {"properties": {"q": {"type": "string"}}, "type": "object"}},
        {"name": "s", "input_schema": {"type": "object", "properties": {}}, "strict": True},
    ]
    assert "tool_choice" not in body
    assert (
        "strict"
        not in build({"input": "x", "tools": [{"type": "function", "name": "s", "strict": True}]}, PLAIN)[0]["tools"][0]
    )


TOOL = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}
TOOL_G = {"type": "function", "name": "g", "parameters": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(
    ("extra", "choice", "names"),
    [
        ({"tool_choice": "auto"}, None, ["f", "g"]),
        ({"tool_choice": "none"}, {"type": "none"}, ["f", "g"]),
        ({"tool_choice": "required"}, {"type": "any"}, ["f", "g"]),
        ({"tool_choice": {"type": "function", "name": "g"}}, {"type": "tool", "name": "g"}, ["f", "g"]),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}, ["f", "g"]),
        (
            {"parallel_tool_calls": False, "tool_choice": "required"},
            {"type": "any", "disable_parallel_tool_use": True},
            ["f", "g"],
        ),
        ({"parallel_tool_calls": False, "tool_choice": "none"}, {"type": "none"}, ["f", "g"]),
        (
            {
                "tool_choice": {
                    "type": "allowed_tools",
                    "mode": "required",
                    "tools": [{"type": "function", "name": "g"}],
                }
            },
            {"type": "any"},
            ["g"],
        ),
        (
            {"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]}},
            None,
            ["f"],
        ),
    ],
)
def test_tool_choice(extra: dict[str, Any], choice: dict[str, Any] | None, names: list[str]) -> None:
    body, _ = build({"input": "x", "tools": [TOOL, TOOL_G], **extra})
    assert body.get("tool_choice") == choice
    assert [t["name"] for t in body["tools"]] == names


def test_hosted_tools() -> None:
    body, _ = build(
        {
            "input": "x",
            "tools": [
                {"type": "web_search", "filters": {"allowed_domains": ["a.com"]}, "user_location": {"city": "Oslo"}},
                {"type": "code_execution_20250825", "name": "code_execution"},
            ],
            "tool_choice": {"type": "web_search"},
        }
    )
    assert body["tools"] == [
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "allowed_domains": ["a.com"],
            "user_location": {"type": "approximate", "city": "Oslo"},
        },
        {"type": "code_execution_20250825", "name": "code_execution"},
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "web_search"}
    with pytest.raises(GatewayError) as info:
        build({"input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["vs"]}]})
    assert (info.value.code, info.value.param) == ("hosted_tool_not_supported", "tools[0]")


def test_invalid_tool_name_is_a_400() -> None:
    with pytest.raises(GatewayError) as info:
        build({"input": "x", "tools": [{"type": "function", "name": "mcp.server.tool"}]})
    assert info.value.param == "tools[0].name"


def test_parallel_calls_and_results_first_in_the_next_user_turn() -> None:
    body, warnings = build(
        {
            "input": [
                {"role": "user", "content": "weather?"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {"type": "function_call", "call_id": "toolu_1", "name": "w", "arguments": '{"city":"Oslo"}'},
                {"type": "function_call", "call_id": "toolu_2", "name": "w", "arguments": ""},
                {"role": "user", "content": "also hurry"},
                {"type": "function_call_output", "call_id": "toolu_2", "output": "rain"},
                {
                    "type": "function_call_output",
                    "call_id": "toolu_1",
                    "output": [{"type": "input_text", "text": "sun"}, {"type": "input_image", "image_url": PNG}],
                },
            ]
        }
    )
    assert warnings == []
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_2", "name": "w", "input": {}},
        ],
    }
    user = body["messages"][2]["content"]
    assert [b["type"] for b in user] == ["tool_result", "tool_result", "text"]
    assert user[0] == {"type": "tool_result", "tool_use_id": "toolu_2", "content": "rain"}
    assert user[1]["content"][0] == {"type": "text", "text": "sun"} and user[1]["content"][1]["type"] == "image"


def test_orphans_get_placeholders_or_are_dropped() -> None:
    body, warnings = build(
        {
            "input": [
                {"role": "user", "content": "go"},
                {"type": "function_call", "call_id": "toolu_a", "name": "f", "arguments": "{}"},
                {"role": "user", "content": "next"},
                {"type": "function_call_output", "call_id": "toolu_zzz", "output": "lost"},
                {"type": "function_call", "call_id": "toolu_b", "name": "f", "arguments": "{not json"},
            ]
        }
    )
    assert warnings == [
        "invalid_tool_arguments",
        "orphan_tool_output_dropped",
        "missing_tool_output",
        "missing_tool_output",
    ]
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert body["messages"][2]["content"][0]["tool_use_id"] == "toolu_a"
    assert body["messages"][2]["content"][0]["is_error"] is True
    assert body["messages"][4]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_b",
            "content": "No result was provided for this tool call.",
            "is_error": True,
        }
    ]


def test_scalars_stop_user_and_dropped_fields() -> None:
    body, warnings = build(
        {
            "input": "x",
            "temperature": 1.4,
            "top_p": 0.9,
            "top_k": 40,
            "stop": ["END"],
            "safety_identifier": "s-1",
            "service_tier": "default",
            "max_tool_calls": 3,
            "metadata": {"k": "v"},
            "store": False,
            "text": {"verbosity": "low"},
        },
        PLAIN,
    )
    assert body["temperature"] == 1 and body["top_p"] == 0.9 and body["top_k"] == 40
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "s-1"}
    assert body["service_tier"] == "standard_only"
    assert "store" not in body and "max_tool_calls" not in body
    assert warnings == ["temperature_clamped", "max_tool_calls_dropped", "verbosity_dropped"]
    assert build({"input": "x", "user": "u", "safety_identifier": "s"}, PLAIN)[0]["metadata"] == {"user_id": "u"}
    assert build({"input": "x", "service_tier": "flex"}, PLAIN)[1] == ["service_tier_dropped"]


# --- reasoning ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "max_output", "thinking", "max_tokens", "warnings"),
    [
        ("low", None, {"type": "enabled", "budget_tokens": 2048}, 8192, []),
        ("high", None, {"type": "enabled", "budget_tokens": 16384}, 20480, []),
        ("high", 20000, {"type": "enabled", "budget_tokens": 16384}, 20000, []),
        ("high", 4000, {"type": "enabled", "budget_tokens": 2976}, 4000, ["reasoning_budget_clamped"]),
        ("low", 1500, {"type": "enabled", "budget_tokens": 1499}, 1500, ["reasoning_budget_clamped"]),
        ("low", 1000, None, 1000, ["thinking_disabled"]),
        ("off", None, None, 4096, []),
    ],
)
def test_thinking_budget(
    effort: str, max_output: int | None, thinking: dict[str, Any] | None, max_tokens: int, warnings: list[str]
) -> None:
    extra = {"max_output_tokens": max_output} if max_output else {}
    body, codes = build({"input": "x", "reasoning": {"effort": effort}, **extra})
    assert body.get("thinking") == thinking
    assert body["max_tokens"] == max_tokens
    assert codes == warnings


def test_adaptive_and_effort_styles() -> None:
    adaptive = Target(**{**_fields(TARGET), "reasoning": {"style": "adaptive", "efforts": ["low", "max"]}})
    body, _ = build({"input": "x", "reasoning": {"effort": "max"}}, adaptive)
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "max"}
    effort = Target(**{**_fields(TARGET), "reasoning": {"style": "effort", "efforts": ["low", "high"]}})
    body, _ = build({"input": "x", "reasoning": {"effort": "high"}}, effort)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert body["output_config"] == {"effort": "high"}


def test_thinking_strips_sampling_even_without_normalise() -> None:
    body, codes = build({"input": "x", "reasoning": {"effort": "low"}, "temperature": 0.2, "top_k": 3})
    assert "temperature" not in body and "top_k" not in body
    assert codes == ["temperature_incompatible_with_reasoning", "top_k_incompatible_with_reasoning"]


def thinking_stream(signature: str = "SIG-1") -> list[dict[str, Any]]:
    return [
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 10}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Need the "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "weather."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": signature}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "REDACTED"}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_9", "name": "w", "input": {}},
        },
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city":'}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 40}},
        {"type": "message_stop"},
    ]


def client_turn(payloads: list[dict[str, Any]], include: bool) -> list[dict[str, Any]]:
    """What a stateless client sends back: the previous output items, then its tool result."""
    final = check_response_stream(render(feed(payloads), include=include))
    return [*final["output"], {"type": "function_call_output", "call_id": "toolu_9", "output": "sunny"}]


def test_multi_turn_tool_loop_with_thinking_replays_the_signed_blocks() -> None:
    history = [{"role": "user", "content": "Weather in Oslo?"}, *client_turn(thinking_stream(), include=True)]
    body, codes = build({"input": history, "reasoning": {"effort": "low"}, "tools": [TOOL]})
    assert codes == []
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Need the weather.", "signature": "SIG-1"},
            {"type": "redacted_thinking", "data": "REDACTED"},
            {"type": "tool_use", "id": "toolu_9", "name": "w", "input": {"city": "Oslo"}},
        ],
    }
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "sunny"}]


def test_tool_loop_without_encrypted_content_turns_thinking_off() -> None:
    history = [{"role": "user", "content": "Weather in Oslo?"}, *client_turn(thinking_stream(), include=False)]
    body, codes = build({"input": history, "reasoning": {"effort": "low"}, "tools": [TOOL]})
    assert codes == ["thinking_disabled"]
    assert "thinking" not in body
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_9", "name": "w", "input": {"city": "Oslo"}}
    ]


def test_signed_blocks_are_stripped_for_other_protocols_and_lead_their_turn() -> None:
    history = [{"role": "user", "content": "Weather in Oslo?"}, *client_turn(thinking_stream(), include=True)]
    gemini_target = Target(
        provider="google",
        protocol="gemini",
        base_url="http://g",
        api_key="k",
        provider_model_id="gemini-2.5-flash",
        model_canonical="gemini-2.5-flash",
    )
    native = gemini.build_request(ir({"input": history}), gemini_target, stream=False).body
    assert "thoughtSignature" not in json.dumps(native) and "SIG-1" not in json.dumps(native)
    # A reasoning item sent after the text of its turn still leads the assistant turn.
    reasoning = history[1]
    reordered = [history[0], {"role": "assistant", "content": "I'll check."}, reasoning, *history[2:]]
    body, _ = build({"input": reordered, "reasoning": {"effort": "low"}, "tools": [TOOL]})
    assert [b["type"] for b in body["messages"][1]["content"]] == ["thinking", "redacted_thinking", "text", "tool_use"]


def test_final_assistant_prefill_loses_thinking_when_thinking_is_off() -> None:
    history = [{"role": "user", "content": "hi"}, *client_turn(thinking_stream(), include=True)[:2]]
    body, _ = build({"input": [*history, {"role": "assistant", "content": "Sure"}]})
    assert "thinking" not in body
    assert [b["type"] for b in body["messages"][-1]["content"]] == ["text"]


def test_foreign_encrypted_content_is_stripped() -> None:
    body, _ = build(
        {
            "input": [
                {"role": "user", "content": "a"},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "t"}],
                    "encrypted_content": "gAAAAABopenai",
                },
                {"role": "assistant", "content": "b"},
            ]
        }
    )
    assert body["messages"][1]["content"] == [{"type": "text", "text": "b"}]


# --- structured output ----------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}


def test_structured_output_native() -> None:
    body, codes = build({"input": "x", "text": {"format": {"type": "json_schema", "name": "p", "schema": SCHEMA}}})
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert codes == [] and "tools" not in body


def test_structured_output_forced_tool_fallback_and_back_to_text() -> None:
    body, codes = build(
        {"input": "x", "text": {"format": {"type": "json_schema", "name": "p", "schema": SCHEMA}}}, PLAIN
    )
    assert codes == ["structured_output_via_tool"]
    assert body["tools"][-1]["name"] == anthropic.STRUCTURED_OUTPUT_TOOL
    assert body["tools"][-1]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": anthropic.STRUCTURED_OUTPUT_TOOL}
    stream = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 5}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_j",
                "name": anthropic.STRUCTURED_OUTPUT_TOOL,
                "input": {},
            },
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"name":'}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '"Ada"}'}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    final = check_response_stream(render(feed(stream)))
    assert final["status"] == "completed"
    assert [i["type"] for i in final["output"]] == ["message"]
    assert json.loads(final["output"][0]["content"][0]["text"]) == {"name": "Ada"}
    assert feed(stream)[-1] == ev.Finish(reason="stop", native_reason="tool_use")


def test_structured_output_fallback_with_user_tools() -> None:
    fmt = {"format": {"type": "json_object"}}
    body, _ = build({"input": "x", "tools": [TOOL], "text": fmt}, PLAIN)
    assert [t["name"] for t in body["tools"]] == ["f", anthropic.STRUCTURED_OUTPUT_TOOL]
    assert body["tool_choice"] == {"type": "any"}
    body, _ = build({"input": "x", "tools": [TOOL], "tool_choice": "none", "text": fmt}, PLAIN)
    assert [t["name"] for t in body["tools"]] == [anthropic.STRUCTURED_OUTPUT_TOOL]
    with pytest.raises(GatewayError) as info:
        build(
            {"input": "x", "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "array"}}}}, PLAIN
        )
    assert info.value.code == "structured_output_not_supported"


def test_forced_structured_output_turns_thinking_off() -> None:
    body, codes = build(
        {"input": "x", "reasoning": {"effort": "high"}, "text": {"format": {"type": "json_object"}}},
        Target(**{**_fields(TARGET), "capabilities": frozenset({"tools", "reasoning"})}),
    )
    assert "thinking" not in body and "thinking_disabled" in codes


# --- recorded streams -------------------------------------------------------------------------------------------


def fixture_lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def sse_bytes(lines: list[str]) -> bytes:
    return b"".join(f"event: {json.loads(line)['type']}\ndata: {line}\n\n".encode() for line in lines)


def parse_chunks(chunks: list[bytes], target: Target = TARGET) -> list[ev.Event]:
    decoder, parser, out = SSEDecoder(), anthropic.stream_parser(target), []
    for chunk in chunks:
        for event in decoder.decode(chunk):
            out.extend(parser.feed(event))
    for event in decoder.flush():
        out.extend(parser.feed(event))
    out.extend(parser.close())
    return out


def feed(payloads: list[dict[str, Any]], target: Target = TARGET) -> list[ev.Event]:
    parser, out = anthropic.stream_parser(target), []
    for payload in payloads:
        out.extend(parser.feed(SSEEvent(data=json.dumps(payload), event=payload["type"])))
    return out + parser.close()


def render(events: list[ev.Event], include: bool = True) -> list[dict[str, Any]]:
    shell = make_response_shell(ResponseRequest(model="claude", input="x"), "resp_test", "claude")
    builder = ResponseBuilder(shell, include_encrypted_reasoning=include)
    out: list[dict[str, Any]] = []
    for event in events:
        out.extend(builder.feed(event))
    return out + builder.complete()


def sdk_final(events: list[dict[str, Any]]) -> Any:
    """The openai SDK's own stream accumulator over our events (raises on any lifecycle violation it checks)."""
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in copy.deepcopy(events):
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=event))
    return state._completed_response


def without_nulls(value: Any) -> Any:
    """SDK models add ``None`` for absent optional fields and a ``parsed`` slot; compare without them."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None and k != "parsed"}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def upstream_view(lines: list[str]) -> dict[str, Any]:
    """What the upstream sent, read straight from the payloads (independently of the parser)."""
    blocks: dict[int, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    usage: dict[str, Any] = {}
    stop: dict[str, Any] = {}
    for line in lines:
        data = json.loads(line)
        kind = data["type"]
        if kind == "message_start":
            usage.update(data["message"]["usage"])
        elif kind == "content_block_start":
            blocks[data["index"]] = {**data["content_block"], "text_": "", "json_": "", "cites": []}
        elif kind == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            block["text_"] += delta.get("text", "") + delta.get("thinking", "")
            block["json_"] += delta.get("partial_json", "")
            block["signature"] = block.get("signature", "") + delta.get("signature", "")
            if "citation" in delta:
                block["cites"].append(delta["citation"])
        elif kind == "content_block_stop":
            done.append(blocks.pop(data["index"]))
        elif kind == "message_delta":
            usage.update({k: v for k, v in data["usage"].items() if v is not None})
            stop = data["delta"]
    return {
        "text": "".join(b["text_"] for b in done if b["type"] == "text"),
        "calls": [(b["id"], b["name"], json.loads(b["json_"] or "{}")) for b in done if b["type"] == "tool_use"],
        "thinking": [(b["text_"], b["signature"]) for b in done if b["type"] == "thinking"],
        "searches": [json.loads(b["json_"])["query"] for b in done if b.get("name") == "web_search"],
        "citations": sum(len([c for c in b["cites"] if "url" in c]) for b in done if b["type"] == "text"),
        "refusal": stop.get("stop_details", {}).get("explanation") if stop.get("stop_reason") == "refusal" else None,
        "input": usage["input_tokens"]
        + usage.get("cache_creation_input_tokens", 0)
        + usage.get("cache_read_input_tokens", 0),
        "output": usage["output_tokens"],
        "cached": usage.get("cache_read_input_tokens", 0),
        "cache_write": usage.get("cache_creation_input_tokens", 0),
    }


def assert_accumulates_what_upstream_sent(final: dict[str, Any], lines: list[str]) -> None:
    up = upstream_view(lines)
    items = final["output"]
    parts = [p for i in items if i["type"] == "message" for p in i["content"]]
    assert "".join(p["text"] for p in parts if p["type"] == "output_text") == up["text"]
    assert [p["refusal"] for p in parts if p["type"] == "refusal"] == ([up["refusal"]] if up["refusal"] else [])
    calls = [(i["call_id"], i["name"], json.loads(i["arguments"])) for i in items if i["type"] == "function_call"]
    assert calls == up["calls"]
    reasoning = [i for i in items if i["type"] == "reasoning"]
    assert [(i["summary"][0]["text"] if i["summary"] else "") for i in reasoning] == [t for t, _ in up["thinking"]]
    for item, (text, signature) in zip(reasoning, up["thinking"], strict=True):
        envelope = sig.decode(item["encrypted_content"])
        assert envelope is not None and envelope.protocol == "anthropic"
        assert envelope.blocks == (sig.SignedBlock(kind="thinking", data=signature, text=text),)
    assert [i["action"]["query"] for i in items if i["type"] == "web_search_call"] == up["searches"]
    assert sum(len(p["annotations"]) for p in parts if p["type"] == "output_text") == up["citations"]
    usage = final["usage"]
    assert usage["input_tokens"] == up["input"] and usage["output_tokens"] == up["output"]
    assert usage["input_tokens_details"]["cached_tokens"] == up["cached"]
    assert usage["input_tokens_details"].get("cache_write_tokens", 0) == up["cache_write"]


# Hard facts per fixture, written by hand (a second opinion on ``upstream_view``).
EXPECTED: dict[str, dict[str, Any]] = {
    "anthropic-clear-thinking.1.chunks.txt": {
        "items": ["reasoning", "message"],
        "text": "925 ÷ 5 = 185",
        "usage": (69, 53, 0, 0),
    },
    "anthropic-code-execution-20260120-prompt-cache.1.chunks.txt": {
        "items": ["message"],
        "usage": (9632, 198, 6289, 3337),
    },
    "anthropic-fallback.chunks.txt": {"items": ["message"], "usage": (412, 264, 0, 0)},
    "anthropic-json-output-format.1.chunks.txt": {"items": ["message"], "usage": (313, 305, 0, 0), "json": True},
    "anthropic-json-tool.1.chunks.txt": {"items": ["function_call"], "usage": (849, 47, 0, 0), "finish": "tool_calls"},
    "anthropic-message-delta-input-tokens.chunks.txt": {"items": ["message"], "text": "pong", "usage": (61, 2, 0, 0)},
    "anthropic-refusal.chunks.txt": {"items": ["message"], "usage": (18, 5, 0, 0), "finish": "refusal"},
    "anthropic-text.chunks.txt": {"items": ["message"], "usage": (12, 30, 0, 0)},
    "anthropic-tool-no-args.chunks.txt": {
        "items": ["message", "function_call"],
        "usage": (565, 48, 0, 0),
        "args": ["{}"],
        "finish": "tool_calls",
    },
    "anthropic-web-search-tool.1.chunks.txt": {"items": ["web_search_call", "message"], "usage": (15665, 795, 0, 0)},
}


def test_every_fixture_has_expectations() -> None:
    assert set(EXPECTED) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_replay(name: str) -> None:
    lines = fixture_lines(name)
    events = parse_chunks([sse_bytes(lines)])
    out = render(events)
    final = check_response_stream(copy.deepcopy(out))
    assert_accumulates_what_upstream_sent(final, lines)
    facts = EXPECTED[name]
    assert [i["type"] for i in final["output"]] == facts["items"]
    usage = final["usage"]
    assert (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["input_tokens_details"]["cached_tokens"],
        usage["input_tokens_details"].get("cache_write_tokens", 0),
    ) == facts["usage"]
    if "text" in facts:
        assert final["output"][-1]["content"][0]["text"] == facts["text"]
    if facts.get("json"):
        json.loads(final["output"][0]["content"][0]["text"])
    if "args" in facts:
        assert [i["arguments"] for i in final["output"] if i["type"] == "function_call"] == facts["args"]
    finish = [e for e in events if isinstance(e, ev.Finish)]
    assert [f.reason for f in finish] == [facts.get("finish", "stop")]
    assert final["status"] == "completed"
    # The official SDK's accumulator agrees with our terminal event.
    response = sdk_final(out)
    assert without_nulls(response.model_dump(mode="json")["output"]) == without_nulls(final["output"])
    assert response.output_text == "".join(
        p["text"] for i in final["output"] if i["type"] == "message" for p in i["content"] if p["type"] == "output_text"
    )


@pytest.mark.parametrize("name", [n for n in NAMES if (FIXTURES / n).stat().st_size < 4000])
def test_fixture_byte_by_byte_gives_the_same_events(name: str) -> None:
    raw = sse_bytes(fixture_lines(name))
    assert parse_chunks([raw[i : i + 1] for i in range(len(raw))]) == parse_chunks([raw])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), data=st.data())
def test_fixture_random_splits_give_the_same_events(name: str, data: st.DataObject) -> None:
    raw = sse_bytes(fixture_lines(name))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=40)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert parse_chunks(chunks) == parse_chunks([raw])


def test_citations_index_the_text_they_cite() -> None:
    final = check_response_stream(
        render(parse_chunks([sse_bytes(fixture_lines("anthropic-web-search-tool.1.chunks.txt"))]))
    )
    part = final["output"][1]["content"][0]
    spans = {(a["start_index"], a["end_index"]) for a in part["annotations"]}
    cited = [part["text"][a:b] for a, b in sorted(spans)]
    assert cited[0].startswith("Apple today announced") and cited[0].endswith("10 a.m. JST.")
    assert all(c.strip() for c in cited)
    assert all(b <= len(part["text"]) for _, b in spans)


# --- parser details -----------------------------------------------------------------------------------------------


def test_thinking_redacted_and_tool_call_events() -> None:
    events = feed(thinking_stream())
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "ResponseInfo",
        "Usage",
        "ReasoningStart",
        "ReasoningDelta",
        "ReasoningDelta",
        "ReasoningSignature",
        "ItemEnd",
        "ReasoningStart",
        "ReasoningSignature",
        "ItemEnd",
        "ToolCallStart",
        "ToolCallDelta",
        "ToolCallDelta",
        "ToolCallEnd",
        "Usage",
        "Finish",
    ]
    redacted = sig.decode(next(e for e in events[7:] if isinstance(e, ev.ReasoningSignature)).encrypted_content)
    assert redacted is not None and redacted.blocks == (sig.SignedBlock(kind="redacted_thinking", data="REDACTED"),)


@pytest.mark.parametrize(
    ("stop_reason", "finish", "status", "incomplete"),
    [
        ("end_turn", "stop", "completed", None),
        ("stop_sequence", "stop", "completed", None),
        ("max_tokens", "length", "incomplete", "max_output_tokens"),
        ("model_context_window_exceeded", "length", "incomplete", "max_output_tokens"),
        ("pause_turn", "pause", "incomplete", "max_output_tokens"),
        ("refusal", "refusal", "completed", None),
        ("something_new", "stop", "completed", None),
    ],
)
def test_stop_reasons(stop_reason: str, finish: str, status: str, incomplete: str | None) -> None:
    stream = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    events = feed(stream)
    assert events[-1] == ev.Finish(reason=finish, native_reason=stop_reason)  # type: ignore[arg-type]
    final = check_response_stream(render(events))
    assert final["status"] == status
    assert (final["incomplete_details"] or {}).get("reason") == incomplete
    if stop_reason == "refusal":
        assert final["output"][0]["content"][1] == {"type": "refusal", "refusal": anthropic.DEFAULT_REFUSAL}


def test_overloaded_before_content_raises_for_fallback() -> None:
    stream = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    with pytest.raises(UpstreamError) as info:
        feed(stream)
    assert (info.value.code, info.value.retryable, info.value.status) == ("model_unavailable", True, 503)


def test_error_after_content_is_in_band() -> None:
    stream = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ignored"}},
    ]
    events = feed(stream)
    assert isinstance(events[-1], ev.StreamError) and events[-1].error.code == "model_unavailable"
    final = check_response_stream(render(events))
    assert final["status"] == "failed" and final["output"][0]["content"][0]["text"] == "Par"


def test_stream_cut_before_message_stop() -> None:
    stream = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}},
    ]
    events = feed(stream)
    assert isinstance(events[-1], ev.StreamError) and events[-1].error.code == "upstream_error"
    assert events[-1].error.retryable
    with pytest.raises(UpstreamError):
        feed(stream[:1])  # nothing shown yet: raised so the engine can fall back


def test_malformed_frame_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as info:
        anthropic.stream_parser(TARGET).feed(SSEEvent(data="{nope", event="message_start"))
    assert info.value.code == "upstream_error" and info.value.retryable


def test_unknown_events_and_blocks_are_skipped() -> None:
    stream = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}},
        {"type": "ping"},
        {"type": "brand_new_event", "x": 1},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "container_upload", "file_id": "f"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "mystery_delta"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
        {"type": "message_stop"},
    ]
    events = feed(stream)
    assert [type(e).__name__ for e in events] == ["ResponseInfo", "Usage", "Usage", "Finish"]


# --- non-streaming ------------------------------------------------------------------------------------------------


def test_parse_response_gives_the_streamed_events() -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "Need the weather.", "signature": "SIG-1"},
            {"type": "redacted_thinking", "data": "REDACTED"},
            {"type": "tool_use", "id": "toolu_9", "name": "w", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 40},
    }
    got = check_response_stream(render(anthropic.parse_response(json.dumps(message).encode(), TARGET)))
    want = check_response_stream(render(feed(thinking_stream())))
    strip = {"id", "created_at", "completed_at"}
    for a, b in zip(got["output"], want["output"], strict=True):
        assert {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}
    assert got["usage"] == want["usage"]


def test_parse_response_error_body() -> None:
    body = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}).encode()
    with pytest.raises(UpstreamError) as info:
        anthropic.parse_response(body, TARGET)
    assert info.value.code == "model_unavailable"


# --- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "message", "code", "http", "retryable"),
    [
        (400, "invalid_request_error", "max_tokens: too big", "invalid_request", 400, False),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000",
            "context_length_exceeded",
            400,
            False,
        ),
        (401, "authentication_error", "invalid x-api-key", "upstream_error", 502, True),
        (403, "permission_error", "nope", "upstream_error", 502, True),
        (404, "not_found_error", "model: claude-x", "model_not_found", 404, True),
        (413, "request_too_large", "too large", "payload_too_large", 413, False),
        (429, "rate_limit_error", "slow down", "rate_limit_exceeded", 429, True),
        (500, "api_error", "boom", "upstream_error", 502, True),
        (504, "timeout_error", "slow", "upstream_timeout", 504, True),
        (529, "overloaded_error", "Overloaded", "model_unavailable", 503, True),
        (529, None, None, "model_unavailable", 503, True),
        (502, None, None, "upstream_error", 502, True),
        (418, None, None, "invalid_request", 400, False),
    ],
)
def test_map_error(status: int, kind: str | None, message: str | None, code: str, http: int, retryable: bool) -> None:
    body = (
        b"<html>bad gateway</html>"
        if kind is None
        else json.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}).encode()
    )
    error = anthropic.map_error(status, body, {"retry-after": "7"}, TARGET)
    assert (error.code, error.status, error.retryable) == (code, http, retryable)
    assert error.upstream_status == status and error.provider == "anthropic"
    assert error.retry_after == 7
    if kind == "authentication_error":
        assert "x-api-key" not in error.message


# --- the round trip: IR -> native -> IR keeps what the Messages API can hold -------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)
user_parts = st.lists(
    st.one_of(
        texts.map(lambda t: {"type": "input_text", "text": t}),
        st.just({"type": "input_image", "image_url": PNG}),
        st.just({"type": "input_image", "image_url": "https://example.com/x.png"}),
        st.just({"type": "input_file", "file_data": PDF, "filename": "x.pdf"}),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"role": "user", "content": draw(user_parts)}]
    for turn in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            block = sig.SignedBlock(kind="thinking", data=draw(texts), text=draw(texts))
            envelope = sig.Envelope(protocol="anthropic", provider="anthropic", model="m", blocks=(block,))
            items.append({"type": "reasoning", "summary": [], "encrypted_content": sig.encode(envelope)})
        if draw(st.booleans()):
            items.append({"role": "assistant", "content": [{"type": "output_text", "text": draw(texts)}]})
        calls = draw(st.lists(st.tuples(names, st.dictionaries(names, json_values, max_size=3)), max_size=3))
        for i, (name, args) in enumerate(calls):
            items.append(
                {"type": "function_call", "call_id": f"toolu_{turn}_{i}", "name": name, "arguments": json.dumps(args)}
            )
        for i in range(len(calls)):
            items.append({"type": "function_call_output", "call_id": f"toolu_{turn}_{i}", "output": draw(texts)})
        items.append({"role": "user", "content": draw(user_parts)})
    return items


tools = st.lists(
    st.builds(
        lambda name, desc, props: {
            "type": "function",
            "name": name,
            **({"description": desc} if desc else {}),
            "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in props}},
        },
        names,
        st.none() | texts,
        st.lists(names, max_size=3, unique=True),
    ),
    max_size=3,
    unique_by=lambda t: t["name"],
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"input": draw(conversations())}
    if draw(st.booleans()):
        body["instructions"] = draw(texts)
        for text in draw(st.lists(texts, max_size=2)):
            body["input"].insert(draw(st.integers(0, len(body["input"]))), {"role": "developer", "content": text})
    declared = draw(tools)
    if declared:
        body["tools"] = declared
        body["tool_choice"] = draw(
            st.sampled_from(["auto", "none", "required", {"type": "function", "name": declared[0]["name"]}])
        )
        if draw(st.booleans()):
            body["parallel_tool_calls"] = False
    for key, strategy in (
        ("temperature", st.floats(0, 1)),
        ("top_p", st.floats(0, 1)),
        ("top_k", st.integers(1, 100)),
        ("max_output_tokens", st.integers(1, 100_000)),
        ("stop", st.lists(texts, min_size=1, max_size=3)),
        ("user", texts),
    ):
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


def facts(req: ResponseRequest) -> dict[str, Any]:
    """Everything the Messages API can hold, in a comparable form."""
    system = [req.instructions] if req.instructions else []
    messages: list[tuple[str, Any]] = []
    for item in req.input_items():
        if isinstance(item, Message) and item.role in ("system", "developer"):
            system.append(item.content)  # hoisted into the system prompt, in order
        elif isinstance(item, Message):
            content = [item.content] if isinstance(item.content, str) else item.content
            for part in content:
                data = msgspec.to_builtins(part)
                kind = data.pop("type")
                data.pop("annotations", None)
                messages.append((item.role, data if kind not in ("input_text", "output_text") else data["text"]))
        elif isinstance(item, FunctionCall):
            messages.append(("call", (item.call_id, item.name, json.loads(item.arguments))))
        elif isinstance(item, FunctionCallOutput):
            messages.append(("output", (item.call_id, item.output)))
        elif isinstance(item, Reasoning):
            envelope = sig.decode(item.encrypted_content)
            assert envelope is not None
            messages.append(("reasoning", envelope.blocks))
    return {
        "system": system,
        "messages": messages,
        "tools": msgspec.to_builtins(req.tools),
        "tool_choice": (req.tool_choice or "auto") if req.tools else None,
        "parallel": req.parallel_tool_calls if req.tools and req.tool_choice != "none" else None,
        "scalars": (req.temperature, req.top_p, req.top_k, req.stop, req.user),
        "max_tokens": req.max_output_tokens or 4096,
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_round_trip_keeps_what_the_native_format_holds(body: dict[str, Any]) -> None:
    original = ir(body)
    native = anthropic.build_request(original, PLAIN, stream=False)
    assert native.warnings == []
    back = anthropic.parse_request(json.loads(json.dumps(native.body)))
    assert facts(back) == facts(original)
    again = anthropic.build_request(back, PLAIN, stream=False)
    assert again.body == native.body  # a fixed point: nothing else was lost either


def test_normalise_then_build_on_a_real_profile() -> None:
    req, warnings = normalise(ir({"input": "x", "reasoning": {"effort": "xhigh"}, "temperature": 0.3}), TARGET)
    assert [w.code for w in warnings] == ["reasoning_effort_clamped", "temperature_incompatible_with_reasoning"]
    body = anthropic.build_request(req, TARGET, stream=False).body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 32000} and "temperature" not in body


# --- against the simulator, which verifies signatures and tool pairing as the real API does ----------------------

SIM_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}},
]


async def sim_turn(
    session: Any, target: Target, body: dict[str, Any], stream: bool, include: bool
) -> tuple[dict[str, Any], list[str]]:
    from interlock.providers import transport

    req, warnings = normalise(ir(body), target)
    native = anthropic.build_request(req, target, stream=stream)
    builder = ResponseBuilder(make_response_shell(req, "resp_sim", "m"), include_encrypted_reasoning=include)
    out: list[dict[str, Any]] = []
    async for event in transport.call(session, anthropic, native, target, connect_timeout=5, read_timeout=10):
        out.extend(builder.feed(event))
    out.extend(builder.complete())
    return check_response_stream(out), [w.code for w in [*warnings, *native.warnings]]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("include", [True, False], ids=["include", "no-include"])
async def test_parallel_tool_loop_with_thinking_against_the_simulator(stream: bool, include: bool) -> None:
    from interlock.providers import transport
    from interlock.sim import SimServer
    from interlock.sim.config import SimConfig, SimProvider

    async with SimServer(SimConfig(providers={"claude": SimProvider(protocol="anthropic")}, seed=3)) as sim:
        target = Target(**{**_fields(TARGET), "base_url": sim.base_url("claude", "anthropic"), "provider": "claude"})
        session = transport.make_session()
        try:
            history: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in parallel? Call tools."}]
            body = {"input": history, "tools": SIM_TOOLS, "reasoning": {"effort": "low", "summary": "auto"}}
            first, codes = await sim_turn(session, target, body, stream, include)
            assert [i["type"] for i in first["output"]] == ["reasoning", "function_call", "function_call"]
            assert codes == []
            calls = [i for i in first["output"] if i["type"] == "function_call"]
            outputs = [{"type": "function_call_output", "call_id": c["call_id"], "output": "sunny"} for c in calls]
            history += [*first["output"], *outputs]
            second, codes = await sim_turn(session, target, {**body, "input": history}, stream, include)
        finally:
            await session.close()
    assert second["status"] == "completed"
    text = "".join(p["text"] for i in second["output"] if i["type"] == "message" for p in i["content"])
    assert "sunny" in text
    # Without encrypted_content the signed thinking block is gone, so thinking is off for the follow-up turn.
    assert codes == ([] if include else ["thinking_disabled"])
