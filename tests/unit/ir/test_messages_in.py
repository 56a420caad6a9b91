"""Anthropic Messages ingress: validation with params, conversion to the IR, and the count_tokens estimate."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.ir.errors import GatewayError
from interlock.ir.messages_in import estimate_input_tokens, estimate_text_tokens, parse_messages_request
from interlock.ir.request import (
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    InputFile,
    InputImage,
    InputText,
    Message,
    NativeTool,
    OutputText,
    Reasoning,
    ResponseRequest,
)

USER = [{"role": "user", "content": "hi"}]


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 100, "messages": USER, **fields}


def user(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(blocks)}]


BAD: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("missing max_tokens", {"model": "m", "messages": USER}, "missing_required_parameter", "max_tokens"),
    ("missing messages", {"model": "m", "max_tokens": 1}, "missing_required_parameter", "messages"),
    ("missing model", {"max_tokens": 1, "messages": USER}, "missing_required_parameter", "model"),
    ("max_tokens zero", body(max_tokens=0), "invalid_parameter_value", "max_tokens"),
    ("role", body(messages=[{"role": "system", "content": "x"}]), "invalid_parameter_value", "messages[0].role"),
    ("temperature", body(temperature=1.5), "invalid_parameter_value", "temperature"),
    ("top_k", body(top_k=-1), "invalid_parameter_value", "top_k"),
    (
        "image source",
        body(messages=user({"type": "image", "source": {"type": "base64", "data": "x"}})),
        "missing_required_parameter",
        "messages[0].content[0].source.media_type",
    ),
    (
        "tool_use input",
        body(messages=[{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}]}]),
        "invalid_parameter_value",
        "messages[0].content[0].input",
    ),
    (
        "tool_result id",
        body(messages=user({"type": "tool_result", "content": "x"})),
        "missing_required_parameter",
        "messages[0].content[0].tool_use_id",
    ),
    ("tool schema", body(tools=[{"name": "f"}]), "missing_required_parameter", "tools[0].input_schema"),
    ("tool name", body(tools=[{"name": "", "input_schema": {}}]), "invalid_parameter_value", "tools[0].name"),
    ("tool_choice type", body(tool_choice={"type": "sometimes"}), "invalid_parameter_value", "tool_choice.type"),
    (
        "tool_choice name",
        body(tools=[{"name": "f", "input_schema": {"type": "object"}}], tool_choice={"type": "tool", "name": "g"}),
        "invalid_parameter_value",
        "tool_choice.name",
    ),
    (
        "budget",
        body(thinking={"type": "enabled", "budget_tokens": 10}),
        "invalid_parameter_value",
        "thinking.budget_tokens",
    ),
    ("thinking type", body(thinking={"type": "always"}), "invalid_parameter_value", "thinking.type"),
    ("effort", body(output_config={"effort": "extreme"}), "invalid_parameter_value", "output_config.effort"),
    ("stop_sequences", body(stop_sequences="END"), "invalid_parameter_value", "stop_sequences"),
    ("model and models", body(gateway={"models": ["x"]}), "invalid_parameter_value", "gateway.models"),
]


@pytest.mark.parametrize(("name", "data", "code", "param"), BAD, ids=[c[0] for c in BAD])
def test_bad_requests(name: str, data: dict[str, Any], code: str, param: str | None) -> None:
    with pytest.raises(GatewayError) as info:
        parse_messages_request(data)
    assert (info.value.code, info.value.param) == (code, param)


def test_count_tokens_needs_no_max_tokens() -> None:
    req, _ = parse_messages_request({"model": "m", "messages": USER}, count_tokens=True)
    assert req.max_output_tokens is None


def test_conversation_with_every_block() -> None:
    req, warnings = parse_messages_request(
        body(
            system=[
                {"type": "text", "text": "one"},
                {"type": "text", "text": "two", "cache_control": {"type": "ephemeral"}},
            ],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}},
                        {
                            "type": "document",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": "PDF"},
                        },
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                            "title": "T",
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "SIG"},
                        {"type": "redacted_thinking", "data": "RED"},
                        {"type": "text", "text": "calling"},
                        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}},
                        {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}]},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "is_error": True,
                            "content": [{"type": "image", "source": {"type": "url", "url": "https://i"}}],
                        },
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
        )
    )
    assert req.instructions == "one\ntwo"
    items = req.input_items()
    assert items[0] == Message(
        role="user",
        content=[
            InputText(text="look"),
            InputImage(image_url="data:image/png;base64,AAA"),
            InputImage(image_url="https://x/y.jpg"),
            InputFile(file_data="data:application/pdf;base64,PDF", filename="document.pdf"),
            InputText(text="T\nnotes"),
        ],
    )
    assert isinstance(items[1], Reasoning) and items[1].encrypted_content == "SIG" and items[1].summary[0].text == "hmm"
    assert isinstance(items[2], Reasoning) and items[2].encrypted_content == "RED"
    assert items[3] == Message(role="assistant", content=[OutputText(text="calling")])
    assert items[4] == FunctionCall(call_id="toolu_1", name="f", arguments='{"a":[1,2]}')
    assert items[5] == FunctionCallOutput(call_id="toolu_1", output="ok")
    assert items[6] == FunctionCallOutput(call_id="toolu_2", output=[InputImage(image_url="https://i")])
    assert items[7] == Message(role="user", content=[InputText(text="thanks")])
    assert [w.code for w in warnings] == ["block_server_tool_use_dropped"]


def test_tools_choice_and_parallelism() -> None:
    req, _ = parse_messages_request(
        body(
            tools=[
                {"name": "f", "description": "d", "input_schema": {"type": "object"}},
                {"type": "custom", "name": "g", "input_schema": {"type": "object"}, "strict": True},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
            ],
            tool_choice={"type": "tool", "name": "g", "disable_parallel_tool_use": True},
        )
    )
    assert req.tools == [
        FunctionTool(name="f", description="d", parameters={"type": "object"}),
        FunctionTool(name="g", parameters={"type": "object"}, strict=True),
        NativeTool(raw={"type": "web_search_20250305", "name": "web_search", "max_uses": 2}),
    ]
    assert req.tool_choice == {"type": "function", "name": "g"}
    assert req.parallel_tool_calls is False
    for choice, expected in (({"type": "any"}, "required"), ({"type": "auto"}, "auto"), ({"type": "none"}, "none")):
        req, _ = parse_messages_request(body(tool_choice=choice))
        assert req.tool_choice == expected and req.parallel_tool_calls is None


@pytest.mark.parametrize(
    ("fields", "effort", "exclude"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low", None),
        ({"thinking": {"type": "enabled", "budget_tokens": 8000}}, "medium", None),
        ({"thinking": {"type": "enabled", "budget_tokens": 32000}}, "high", None),
        ({"thinking": {"type": "enabled", "budget_tokens": 32000, "display": "omitted"}}, "high", True),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}, "max", None),
        ({"thinking": {"type": "adaptive"}}, "medium", None),
        ({"thinking": {"type": "disabled"}}, "none", None),
        ({"output_config": {"effort": "low"}}, "low", None),
    ],
)
def test_thinking(fields: dict[str, Any], effort: str, exclude: bool | None) -> None:
    req, _ = parse_messages_request(body(**fields))
    assert req.reasoning is not None
    assert (req.reasoning.effort, req.reasoning.exclude) == (effort, exclude)


def test_scalars_and_format() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    req, warnings = parse_messages_request(
        body(
            temperature=0.2,
            top_p=0.9,
            top_k=5,
            stop_sequences=["END"],
            metadata={"user_id": "u1"},
            stream=True,
            output_config={"format": {"type": "json_schema", "schema": schema}},
            service_tier="auto",
            container="c",
        )
    )
    assert (req.temperature, req.top_p, req.top_k, req.stop, req.user, req.stream) == (
        0.2,
        0.9,
        5,
        ["END"],
        "u1",
        True,
    )
    assert req.max_output_tokens == 100
    assert req.text is not None and req.text.format is not None and req.text.format.schema == schema
    assert {w.code for w in warnings} == {"unsupported_field_service_tier", "unsupported_field_container"}


def test_empty_assistant_text_is_dropped() -> None:
    req, _ = parse_messages_request(body(messages=[*USER, {"role": "assistant", "content": ""}, *USER]))
    assert [i.role for i in req.input_items() if isinstance(i, Message)] == ["user", "user"]


def test_token_estimate() -> None:
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("hello world") == 4  # two 5-letter runs, ceil(5/4) each
    assert estimate_text_tokens("日本語") == 3
    small = estimate_input_tokens(ResponseRequest(model="m", input="Hi"))
    big = estimate_input_tokens(ResponseRequest(model="m", input="The quick brown fox jumps over the lazy dog. " * 50))
    assert 1 <= small < 10
    assert 450 < big < 750  # about 10 tokens per sentence for a BPE tokenizer: ~500
    req, _ = parse_messages_request(
        body(
            messages=user(
                {"type": "text", "text": "what is this"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
            ),
            tools=[{"name": "f", "input_schema": {"type": "object"}}],
        )
    )
    assert estimate_input_tokens(req) > 1600 + 350
