"""Chat Completions ingress: validation errors with their params, and the conversion of every field to the IR."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.ir.chat_in import CHAT_FIELDS, parse_chat_request
from interlock.ir.errors import GatewayError
from interlock.ir.request import (
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    InputFile,
    InputImage,
    InputText,
    Message,
    OutputText,
    Reasoning,
    RefusalPart,
)

USER = [{"role": "user", "content": "hi"}]


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": USER, **fields}


BAD: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("missing messages", {"model": "m"}, "missing_required_parameter", "messages"),
    ("empty messages", body(messages=[]), "invalid_parameter_value", "messages"),
    ("missing model", {"messages": USER}, "missing_required_parameter", "model"),
    ("model and models", body(gateway={"models": ["x"]}), "invalid_parameter_value", "gateway.models"),
    ("bad role", body(messages=[{"role": "wizard", "content": "x"}]), "invalid_parameter_value", "messages[0].role"),
    ("no role", body(messages=[{"content": "x"}]), "missing_required_parameter", "messages[0].role"),
    (
        "null user content",
        body(messages=[{"role": "user", "content": None}]),
        "invalid_parameter_value",
        "messages[0].content",
    ),
    (
        "image without url",
        body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
        "missing_required_parameter",
        "messages[0].content[0].image_url.url",
    ),
    (
        "audio part",
        body(messages=[{"role": "user", "content": [{"type": "input_audio"}]}]),
        "invalid_parameter_value",
        "messages[0].content[0].type",
    ),
    (
        "bad detail",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "ultra"}}],
                }
            ]
        ),
        "invalid_parameter_value",
        "messages[0].content[0].image_url.detail",
    ),
    (
        "tool without id",
        body(messages=[{"role": "tool", "content": "x"}]),
        "missing_required_parameter",
        "messages[0].tool_call_id",
    ),
    (
        "tool call no function",
        body(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}]),
        "missing_required_parameter",
        "messages[0].tool_calls[0].function",
    ),
    ("temperature", body(temperature=2.5), "invalid_parameter_value", "temperature"),
    ("temperature type", body(temperature="hot"), "invalid_parameter_value", "temperature"),
    ("top_p", body(top_p=-0.1), "invalid_parameter_value", "top_p"),
    ("max_tokens", body(max_tokens=0), "invalid_parameter_value", "max_tokens"),
    ("max_completion_tokens", body(max_completion_tokens=-1), "invalid_parameter_value", "max_completion_tokens"),
    ("reasoning_effort", body(reasoning_effort="extreme"), "invalid_parameter_value", "reasoning_effort"),
    ("penalty", body(frequency_penalty=3), "invalid_parameter_value", "frequency_penalty"),
    ("presence", body(presence_penalty=-3), "invalid_parameter_value", "presence_penalty"),
    ("top_k", body(top_k=-1), "invalid_parameter_value", "top_k"),
    ("min_p", body(min_p=2), "invalid_parameter_value", "min_p"),
    ("top_a", body(top_a=-1), "invalid_parameter_value", "top_a"),
    ("repetition_penalty", body(repetition_penalty=0), "invalid_parameter_value", "repetition_penalty"),
    ("stop too many", body(stop=["a", "b", "c", "d", "e"]), "invalid_parameter_value", "stop"),
    ("seed type", body(seed="x"), "invalid_parameter_value", "seed"),
    ("n", body(n=0), "invalid_parameter_value", "n"),
    (
        "custom tool",
        body(tools=[{"type": "custom", "function": {"name": "f"}}]),
        "invalid_parameter_value",
        "tools[0].type",
    ),
    (
        "tool no name",
        body(tools=[{"type": "function", "function": {}}]),
        "missing_required_parameter",
        "tools[0].function.name",
    ),
    ("tool_choice unknown", body(tool_choice="sometimes"), "invalid_parameter_value", "tool_choice"),
    (
        "tool_choice not a tool",
        body(
            tools=[{"type": "function", "function": {"name": "f"}}],
            tool_choice={"type": "function", "function": {"name": "g"}},
        ),
        "invalid_parameter_value",
        "tool_choice",
    ),
    ("required without tools", body(tool_choice="required"), "invalid_parameter_value", "tool_choice"),
    ("response_format type", body(response_format={"type": "xml"}), "invalid_parameter_value", "response_format.type"),
    (
        "json_schema no schema",
        body(response_format={"type": "json_schema", "json_schema": {"name": "x"}}),
        "missing_required_parameter",
        "response_format.json_schema.schema",
    ),
    ("top_logprobs", body(top_logprobs=21), "invalid_parameter_value", "top_logprobs"),
    ("logit_bias", body(logit_bias={"1": 200}), "invalid_parameter_value", "logit_bias"),
    ("verbosity", body(verbosity="loud"), "invalid_parameter_value", "verbosity"),
    ("stream", body(stream="yes"), "invalid_parameter_value", "stream"),
    (
        "stream_options",
        body(stream_options={"include_usage": "yes"}),
        "invalid_parameter_value",
        "stream_options.include_usage",
    ),
    ("reasoning.exclude", body(reasoning={"exclude": 1}), "invalid_parameter_value", "reasoning.exclude"),
    (
        "routing",
        body(gateway={"routing": {"optimize": "fastest"}}),
        "invalid_parameter_value",
        "gateway.routing.optimize",
    ),
    (
        "weights",
        body(gateway={"routing": {"weights": {"speed": 1}}}),
        "invalid_parameter_value",
        "gateway.routing.weights",
    ),
    (
        "cache_control",
        body(
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "persistent"}}]}
            ]
        ),
        "invalid_parameter_value",
        "messages[0].content[0].cache_control.type",
    ),
    ("function_call", body(function_call="always"), "invalid_parameter_value", "function_call"),
]


@pytest.mark.parametrize(("name", "data", "code", "param"), BAD, ids=[c[0] for c in BAD])
def test_bad_requests(name: str, data: dict[str, Any], code: str, param: str | None) -> None:
    with pytest.raises(GatewayError) as info:
        parse_chat_request(data)
    assert info.value.code == code
    assert info.value.param == param
    assert info.value.status == 400


def test_body_must_be_an_object() -> None:
    with pytest.raises(GatewayError) as info:
        parse_chat_request([1])
    assert info.value.code == "invalid_request"


def test_the_32_fields_are_accepted() -> None:
    # auriko-api.md 1.1: "accepts and forwards 32 parameters" besides the messages (legacy fields aside).
    assert len(CHAT_FIELDS - {"messages", "functions", "function_call"}) == 32
    req, warnings = parse_chat_request(
        body(
            stream=True,
            stream_options={"include_usage": False},
            temperature=0.5,
            top_p=0.9,
            max_tokens=10,
            max_completion_tokens=20,
            reasoning_effort="low",
            reasoning={"exclude": False},
            frequency_penalty=0.1,
            presence_penalty=0.2,
            top_k=40,
            min_p=0.05,
            top_a=0.1,
            repetition_penalty=1.1,
            stop="END",
            seed=7,
            n=1,
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            tool_choice="auto",
            parallel_tool_calls=False,
            response_format={"type": "json_object"},
            logprobs=False,
            top_logprobs=0,
            logit_bias={"50256": -100},
            user="u1",
            web_search_options={"search_context_size": "low"},
            verbosity="high",
            prompt_cache_key="k",
            safety_identifier="s",
            gateway={"metadata": {"tags": ["a"]}},
            extensions={"openai": {"store": False}},
        )
    )
    assert warnings == []
    assert req.stream is True
    assert req.temperature == 0.5 and req.top_p == 0.9 and req.top_k == 40
    assert req.max_output_tokens == 20  # max_completion_tokens wins over max_tokens
    assert req.reasoning is not None and req.reasoning.effort == "low" and req.reasoning.summary == "auto"
    assert req.frequency_penalty == 0.1 and req.presence_penalty == 0.2
    assert req.extra_params == {
        "min_p": 0.05,
        "top_a": 0.1,
        "repetition_penalty": 1.1,
        "web_search_options": {"search_context_size": "low"},
    }
    assert req.stop == ["END"] and req.seed == 7 and req.n == 1
    assert req.tools == [FunctionTool(name="f", parameters={"type": "object"})]
    assert req.tool_choice == "auto" and req.parallel_tool_calls is False
    assert req.text is not None and req.text.format is not None and req.text.format.type == "json_object"
    assert req.text.verbosity == "high"
    assert req.logprobs is False and req.top_logprobs == 0 and req.logit_bias == {"50256": -100}
    assert req.user == "u1" and req.prompt_cache_key == "k" and req.safety_identifier == "s"
    assert req.gateway is not None and req.extensions == {"openai": {"store": False}}


def test_message_shapes() -> None:
    req, warnings = parse_chat_request(
        body(
            messages=[
                {"role": "system", "content": "sys", "name": "x"},
                {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
                        {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA", "filename": "a.pdf"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "reasoning": [
                        {"type": "thinking", "thinking": "hmm", "signature": "SIG"},
                        {"type": "redacted", "data": "RED"},
                    ],
                    "reasoning_content": "hmm",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "g", "arguments": "{}"},
                            "provider_signature": "PS",
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "one"},
                {
                    "role": "tool",
                    "tool_call_id": "c2",
                    "content": [{"type": "text", "text": "t"}, {"type": "text", "text": "wo"}],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
                {"role": "assistant", "content": "plain"},
            ]
        )
    )
    items = req.input_items()
    assert items[0] == Message(role="system", content="sys")
    assert items[1] == Message(role="developer", content=[InputText(text="dev")])
    assert items[2] == Message(
        role="user",
        content=[
            InputText(text="look"),
            InputImage(image_url="data:image/png;base64,AAAA", detail="low"),
            InputFile(file_data="data:application/pdf;base64,AA", filename="a.pdf"),
        ],
    )
    assert isinstance(items[3], Reasoning) and items[3].encrypted_content == "SIG"
    assert items[3].summary[0].text == "hmm"
    assert isinstance(items[4], Reasoning) and items[4].encrypted_content == "RED" and items[4].summary == []
    assert items[5] == FunctionCall(call_id="c1", name="f", arguments='{"a":1}')
    assert isinstance(items[6], Reasoning) and items[6].encrypted_content == "PS"
    assert items[7] == FunctionCall(call_id="c2", name="g", arguments="{}")
    assert items[8] == FunctionCallOutput(call_id="c1", output="one")
    assert items[9] == FunctionCallOutput(call_id="c2", output="two")
    assert items[10] == Message(role="assistant", content=[OutputText(text="a"), RefusalPart(refusal="no")])
    assert items[11] == Message(role="assistant", content="plain")
    assert [w.code for w in warnings] == ["cache_control_ignored"]


def test_reasoning_content_without_blocks_becomes_a_summary() -> None:
    req, _ = parse_chat_request(
        body(messages=[*USER, {"role": "assistant", "content": "x", "reasoning_content": "because"}])
    )
    reasoning = req.input_items()[1]
    assert isinstance(reasoning, Reasoning) and reasoning.summary[0].text == "because"
    assert reasoning.encrypted_content is None


def test_legacy_functions_convert_when_tools_absent() -> None:
    req, _ = parse_chat_request(
        body(
            functions=[{"name": "f", "parameters": {"type": "object"}}],
            function_call={"name": "f"},
            messages=[
                *USER,
                {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "done"},
            ],
        )
    )
    assert req.tools == [FunctionTool(name="f", parameters={"type": "object"})]
    assert req.tool_choice == {"type": "function", "name": "f"}
    call, output = req.input_items()[1:]
    assert isinstance(call, FunctionCall) and isinstance(output, FunctionCallOutput)
    assert call.call_id == output.call_id and output.output == "done"


def test_modern_fields_win_over_legacy() -> None:
    req, _ = parse_chat_request(
        body(
            tools=[{"type": "function", "function": {"name": "modern"}}],
            tool_choice="none",
            functions=[{"name": "legacy"}],
            function_call="auto",
        )
    )
    assert [t.name for t in req.tools or [] if isinstance(t, FunctionTool)] == ["modern"]
    assert req.tool_choice == "none"


def test_orphan_function_result_gets_a_call() -> None:
    req, _ = parse_chat_request(body(messages=[*USER, {"role": "function", "name": "f", "content": "r"}]))
    call, output = req.input_items()[1:]
    assert isinstance(call, FunctionCall) and isinstance(output, FunctionCallOutput)
    assert call.call_id == output.call_id


def test_tool_choice_objects() -> None:
    tools = [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}]
    req, _ = parse_chat_request(body(tools=tools, tool_choice={"type": "function", "function": {"name": "b"}}))
    assert req.tool_choice == {"type": "function", "name": "b"}
    req, _ = parse_chat_request(
        body(
            tools=tools,
            tool_choice={
                "type": "allowed_tools",
                "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "a"}}]},
            },
        )
    )
    assert req.tool_choice == {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "a"}],
    }


def test_response_format_json_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    req, _ = parse_chat_request(
        body(response_format={"type": "json_schema", "json_schema": {"name": "A", "schema": schema, "strict": True}})
    )
    assert req.text is not None and req.text.format is not None
    fmt = req.text.format
    assert (fmt.type, fmt.name, fmt.schema, fmt.strict) == ("json_schema", "A", schema, True)


@pytest.mark.parametrize(
    ("fields", "effort", "summary", "exclude"),
    [
        ({"reasoning_effort": "high"}, "high", "auto", None),
        ({"reasoning_effort": "off"}, "off", None, None),
        ({"reasoning_effort": "medium", "reasoning": {"exclude": True}}, "medium", None, True),
        ({"reasoning": {"exclude": True}}, None, None, True),
    ],
)
def test_reasoning(fields: dict[str, Any], effort: str | None, summary: str | None, exclude: bool | None) -> None:
    req, _ = parse_chat_request(body(**fields))
    assert req.reasoning is not None
    assert (req.reasoning.effort, req.reasoning.summary, req.reasoning.exclude) == (effort, summary, exclude)


def test_ignored_and_unknown_fields_warn() -> None:
    req, warnings = parse_chat_request(body(metadata={"a": "b"}, store=True, service_tier="flex", bogus=1))
    assert [(w.type, w.code) for w in warnings] == [
        ("unsupported_field", "unsupported_field_metadata"),
        ("unsupported_field", "unsupported_field_store"),
        ("unsupported_field", "unsupported_field_service_tier"),
        ("unsupported_field", "unsupported_field_bogus"),
    ]
    assert req.metadata is None and req.service_tier is None


def test_n_above_one_and_logprobs_warn() -> None:
    req, warnings = parse_chat_request(body(n=3, logprobs=True))
    assert req.n is None
    assert {w.code for w in warnings} == {"n_dropped", "logprobs_not_returned"}


def test_max_tokens_alone() -> None:
    req, _ = parse_chat_request(body(max_tokens=5))
    assert req.max_output_tokens == 5


def test_gateway_models_instead_of_model() -> None:
    req, _ = parse_chat_request({"messages": USER, "gateway": {"models": ["a", "b"], "routing": {"mode": "fallback"}}})
    assert req.model is None and req.gateway is not None and req.gateway.models == ["a", "b"]


def test_integral_floats_are_integers() -> None:
    req, _ = parse_chat_request(body(max_tokens=10.0, top_k=5.0, seed=-3.0, temperature=1))
    assert (req.max_output_tokens, req.top_k, req.seed, req.temperature) == (10, 5, -3, 1.0)
    with pytest.raises(GatewayError) as info:
        parse_chat_request(body(max_tokens=10.5))
    assert info.value.param == "max_tokens"
