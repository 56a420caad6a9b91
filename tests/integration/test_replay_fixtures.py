"""Every recorded upstream stream in ../shared/fixtures, replayed from a loopback server through the real gateway.

For each fixture the client-side Response API stream must pass the lifecycle invariants, and the openai SDK's
``responses.stream()`` must accumulate exactly the text, tool calls, reasoning and usage the upstream sent.
The expected values are computed from the recorded upstream payloads themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.support.invariants import check_response_stream
from tests.support.replay import ReplayServer, fixture_ids, payloads_for
from tests.support.servers import GatewayServer, LoopThread

PROTOCOL_DIRS = {"openai-responses": "openai-responses", "anthropic": "anthropic", "gemini": "gemini"}
ALL = [(proto, fid) for proto, d in PROTOCOL_DIRS.items() for fid in fixture_ids(d)]
CAPS = ["tools", "vision", "json_schema", "json_object", "reasoning", "streaming"]


@pytest.fixture(scope="module")
def replay(loop_thread: LoopThread) -> Iterator[ReplayServer]:
    server = ReplayServer()
    loop_thread.run(server.start())
    yield server
    loop_thread.run(server.stop())


@pytest.fixture(scope="module")
def replay_gateway(
    loop_thread: LoopThread, replay: ReplayServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayServer, str]]:
    tmp = tmp_path_factory.mktemp("replay")
    providers = [
        {"id": f"replay-{proto}", "protocol": proto, "base_url": replay.base_url(proto), "api_key": "sk-replay"}
        for proto in PROTOCOL_DIRS
    ]
    models = [
        {
            "id": f"{proto}/{fid}",
            "offerings": [
                {
                    "provider": f"replay-{proto}",
                    "provider_model_id": fid,
                    "input_price": 1.0,
                    "output_price": 2.0,
                    "capabilities": CAPS,
                }
            ],
        }
        for proto, fid in ALL
    ]
    config = {"database_url": f"sqlite:///{tmp / 'r.db'}", "catalog": "none", "providers": providers, "models": models}
    server = GatewayServer(loop_thread, config, tmp).start()
    key = server.create_key(name="replay")
    yield server, key
    server.stop()


def expected_openai(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    final = payloads[-1]["response"]
    # The done items, not the final ``output``: one hand-built fixture leaves ``output`` empty.
    items = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    text = "".join(
        p["text"] for i in items if i["type"] == "message" for p in i["content"] if p["type"] == "output_text"
    )
    calls = [(i["name"], i["call_id"], json.loads(i["arguments"])) for i in items if i["type"] == "function_call"]
    others = [i["type"] for i in items if i["type"] not in ("message", "function_call", "reasoning")]
    u = final["usage"]
    return {"text": text, "calls": calls, "others": others, "usage": (u["input_tokens"], u["output_tokens"])}


def expected_anthropic(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    text: list[str] = []
    calls: list[tuple[str, str, Any]] = []
    thinking: list[str] = []
    blocks: dict[int, dict[str, Any]] = {}
    usage: dict[str, int] = {}
    for p in payloads:
        if p["type"] == "message_start":
            usage.update({k: v for k, v in p["message"]["usage"].items() if isinstance(v, int)})
        elif p["type"] == "content_block_start":
            blocks[p["index"]] = {**p["content_block"], "json": ""}
        elif p["type"] == "content_block_delta":
            d = p["delta"]
            if d["type"] == "text_delta":
                text.append(d["text"])
            elif d["type"] == "input_json_delta":
                blocks[p["index"]]["json"] += d["partial_json"]
            elif d["type"] == "thinking_delta":
                thinking.append(d["thinking"])
        elif p["type"] == "content_block_stop":
            b = blocks[p["index"]]
            if b["type"] == "tool_use":
                calls.append((b["name"], b["id"], json.loads(b["json"] or "{}")))
        elif p["type"] == "message_delta":
            usage.update({k: v for k, v in (p.get("usage") or {}).items() if isinstance(v, int)})
    inp = (
        usage.get("input_tokens", 0)
        + usage.get("cache_creation_input_tokens", 0)
        + usage.get("cache_read_input_tokens", 0)
    )
    return {
        "text": "".join(text),
        "calls": calls,
        "thinking": "".join(thinking),
        "usage": (inp, usage.get("output_tokens", 0)),
    }


def expected_gemini(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    text: list[str] = []
    thinking: list[str] = []
    calls: list[tuple[str, Any]] = []
    usage: dict[str, int] = {}
    partial: dict[str, Any] | None = None  # a Vertex call streamed as partialArgs fragments
    for p in payloads:
        for cand in p.get("candidates", []):
            for part in (cand.get("content") or {}).get("parts", []):
                if "functionCall" in part:
                    fc = part["functionCall"]
                    if "name" in fc and fc.get("willContinue"):
                        partial = {"name": fc["name"], "args": {}}
                    elif "partialArgs" in fc and partial is not None:
                        for frag in fc["partialArgs"]:
                            key = frag["jsonPath"].removeprefix("$.")
                            value = next(v for k, v in frag.items() if k.endswith("Value"))
                            prev = partial["args"].get(key)
                            partial["args"][key] = prev + value if isinstance(prev, str) else value
                    elif not fc and partial is not None:
                        calls.append((partial["name"], partial["args"]))
                        partial = None
                    else:
                        calls.append((fc["name"], fc.get("args", {})))
                elif part.get("thought"):
                    thinking.append(part.get("text", ""))
                elif "text" in part:
                    text.append(part["text"])
        if "usageMetadata" in p:
            usage = p["usageMetadata"]
    out = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
    return {
        "text": "".join(text),
        "calls": calls,
        "thinking": "".join(thinking),
        "usage": (usage.get("promptTokenCount", 0), out),
    }


def _reasoning_text(final: Any) -> str:
    return "".join(s.text for item in final.output if item.type == "reasoning" for s in item.summary)


@pytest.mark.parametrize(("proto", "fid"), ALL, ids=[f"{p}:{f}" for p, f in ALL])
def test_replay(replay_gateway: tuple[GatewayServer, str], proto: str, fid: str) -> None:
    server, key = replay_gateway
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)
    payloads = payloads_for(PROTOCOL_DIRS[proto], fid)
    model = f"{proto}/{fid}"

    if proto == "openai-responses" and payloads[-1]["type"] != "response.completed":
        # The upstream failed before any content: the gateway answers with an HTTP error, not a stream.
        with pytest.raises(openai.APIStatusError) as info:
            client.responses.create(model=model, input="replay", stream=True)
        assert info.value.status_code in (429, 502)
        return

    raw = client.responses.create(model=model, input="replay", stream=True)
    events = [e.model_dump(mode="json", exclude_none=False) for e in raw]
    check_response_stream(events)

    with client.responses.stream(model=model, input="replay") as stream:
        final = stream.get_final_response()
    got_text = final.output_text
    got_calls = [(i.name, i.call_id, json.loads(i.arguments)) for i in final.output if i.type == "function_call"]
    assert final.usage is not None
    got_usage = (final.usage.input_tokens, final.usage.output_tokens)

    if proto == "openai-responses":
        exp = expected_openai(payloads)
        assert got_calls == exp["calls"]
        assert [i.type for i in final.output if i.type not in ("message", "function_call", "reasoning")] == exp[
            "others"
        ]
    elif proto == "anthropic":
        exp = expected_anthropic(payloads)
        assert got_calls == exp["calls"]
        assert _reasoning_text(final) == exp["thinking"]
    else:
        exp = expected_gemini(payloads)
        assert [(n, a) for n, _, a in got_calls] == exp["calls"]
        assert all(cid for _, cid, _ in got_calls)
        assert _reasoning_text(final) == exp["thinking"]
    refusal = "".join(
        getattr(p, "refusal", "") or ""
        for i in final.output
        if i.type == "message"
        for p in i.content
        if p.type == "refusal"
    )
    assert got_text + refusal == exp["text"] or got_text == exp["text"]
    assert got_usage == exp["usage"]
