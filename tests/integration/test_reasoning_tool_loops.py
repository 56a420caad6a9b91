"""Tool loops with reasoning through the real gateway: Claude thinking signatures and Gemini thought signatures.

The openai SDK drives two turns (call -> ``function_call_output`` -> answer). The second request is then read
at the simulated upstream: the call and its result must be paired, and the signatures the upstream issued in
turn one must come back unaltered (the simulator verifies Anthropic signatures itself and answers 400 when one
is missing or forged; for Gemini 3 it refuses a function call without its thought signature).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.support.servers import GatewayServer, LoopThread, SimHandle

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
CAPS = ["tools", "reasoning", "streaming"]
CLAUDE_REASONING = {
    "style": "budget",
    "efforts": ["low", "medium", "high"],
    "budgets": {"low": 1024, "medium": 4096, "high": 16000},
}
GEMINI_REASONING = {"style": "level", "efforts": ["low", "high"]}


@pytest.fixture(scope="module")
def loop_gateway(
    loop_thread: LoopThread, sim: SimHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayServer, str]]:
    tmp = tmp_path_factory.mktemp("loops")
    config = {
        "database_url": f"sqlite:///{tmp / 'loops.db'}",
        "catalog": "none",
        "providers": [
            {"id": pid, "protocol": proto, "base_url": sim.base_url(pid, proto), "api_key": "sk-loop"}
            for pid, proto in (("sim-anthropic", "anthropic"), ("sim-gemini", "gemini"))
        ],
        "models": [
            {
                "id": "loop-claude",
                "reasoning": CLAUDE_REASONING,
                "offerings": [
                    {
                        "provider": "sim-anthropic",
                        "provider_model_id": "claude-sim-thinking",
                        "input_price": 3.0,
                        "output_price": 15.0,
                        "max_output_tokens": 32000,
                        "capabilities": CAPS,
                    }
                ],
            },
            {
                "id": "loop-gemini",
                "reasoning": GEMINI_REASONING,
                "offerings": [
                    {
                        "provider": "sim-gemini",
                        "provider_model_id": "gemini-3-pro-sim",
                        "input_price": 2.0,
                        "output_price": 12.0,
                        "capabilities": CAPS,
                    }
                ],
            },
        ],
    }
    server = GatewayServer(loop_thread, config, tmp).start()
    yield server, server.create_key(name="loops")
    server.stop()


def _client(loop_gateway: tuple[GatewayServer, str]) -> openai.OpenAI:
    server, key = loop_gateway
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)


def _two_turns(client: openai.OpenAI, model: str, stream: bool) -> tuple[Any, Any]:
    question = {"role": "user", "content": "What is the weather in Oslo? Use the tool."}
    common: dict[str, Any] = {
        "model": model,
        "tools": TOOLS,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
    }
    if stream:
        with client.responses.stream(input=[question], **common) as s:
            first = s.get_final_response()
    else:
        first = client.responses.create(input=[question], **common)
    calls = [i for i in first.output if i.type == "function_call"]
    assert calls, first.output
    replay = [i.model_dump(exclude_none=True) for i in first.output if i.type in ("reasoning", "function_call")]
    outputs = [{"type": "function_call_output", "call_id": c.call_id, "output": '{"temp_c": 4}'} for c in calls]
    second = client.responses.create(input=[question, *replay, *outputs], **common)
    return first, second


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_claude_tool_loop_with_thinking(loop_gateway: tuple[GatewayServer, str], sim: SimHandle, stream: bool) -> None:
    sim.server.clear_requests("sim-anthropic")
    first, second = _two_turns(_client(loop_gateway), "loop-claude", stream)
    reasoning = [i for i in first.output if i.type == "reasoning"]
    assert reasoning and all(i.encrypted_content for i in reasoning)
    assert second.status == "completed" and second.output_text
    body = sim.server.requests("sim-anthropic")[-1].body
    call = next(i for i in first.output if i.type == "function_call")
    assistant = next(m for m in body["messages"] if m["role"] == "assistant")
    blocks = assistant["content"]
    assert blocks[0]["type"] == "thinking" and blocks[0]["signature"], "thinking must lead the tool-use turn"
    assert any(b["type"] == "tool_use" and b["id"] == call.call_id for b in blocks)
    follow = body["messages"][body["messages"].index(assistant) + 1]
    assert follow["role"] == "user"
    assert follow["content"][0]["type"] == "tool_result" and follow["content"][0]["tool_use_id"] == call.call_id
    assert body.get("thinking", {}).get("type") in ("enabled", "adaptive")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_gemini_tool_loop_keeps_thought_signatures(
    loop_gateway: tuple[GatewayServer, str], sim: SimHandle, stream: bool
) -> None:
    sim.server.clear_requests("sim-gemini")
    first, second = _two_turns(_client(loop_gateway), "loop-gemini", stream)
    assert any(i.type == "reasoning" and i.encrypted_content for i in first.output), "the signature's carrier"
    assert second.status == "completed" and second.output_text
    requests = sim.server.requests("sim-gemini")
    issued = requests[0]
    replayed = requests[-1].body
    assert issued is not replayed
    model_turn = next(c for c in replayed["contents"] if c["role"] == "model")
    call_parts = [p for p in model_turn["parts"] if "functionCall" in p]
    assert call_parts and call_parts[0].get("thoughtSignature"), "the first call must carry its thought signature"
    assert call_parts[0]["thoughtSignature"] != "skip_thought_signature_validator"
    user_after = replayed["contents"][replayed["contents"].index(model_turn) + 1]
    responses = [p["functionResponse"] for p in user_after["parts"] if "functionResponse" in p]
    assert [r["name"] for r in responses] == [p["functionCall"]["name"] for p in call_parts]
