"""The protocol-neutral view of a request (`SimRequest`) and the reply the simulator decides to give (`Reply`).

Each protocol module parses its native body into a `SimRequest`; `plan_reply` makes every content decision in
one place (reasoning first, then a tool call, a JSON document, a mention of tool output, or plain text, then the
token cap), and the protocol module only renders the `Reply` in its wire format. Decision order:

1. Reasoning tokens when the request asked for reasoning.
2. Tool calls when function tools are offered, `tool_choice` is not "none", the conversation does not end with a
   tool result, and either the choice forces a tool or the last user text says "tool", "weather" or "call".
   A forced name picks that tool, otherwise the first; "parallel" in the text with two or more tools (and
   parallel calls allowed) picks the first two.
3. A JSON document generated from the requested schema (or `{"answer": ...}` for plain JSON mode).
4. When the conversation ends with tool results: text that quotes them, then generated words.
5. Otherwise generated words. A `max_output_tokens` cap (which includes reasoning) truncates text and sets
   the finish reason to "length".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .config import SimBehaviour
from .textgen import (
    count_input_tokens,
    encode_json,
    generate_words,
    json_from_schema,
    rng_for,
    split_fragments,
    split_words,
)

__all__ = ["FinishReason", "PlannedCall", "Reply", "SimRequest", "ToolChoice", "ToolSpec", "plan_reply"]

ToolChoice = Literal["auto", "none", "required"]
FinishReason = Literal["stop", "length", "tool_calls"]

_TRIGGER = re.compile(r"\b(tools?|weather|calls?)\b", re.IGNORECASE)
_PARALLEL = re.compile(r"\bparallel\b", re.IGNORECASE)
_MENTION_CHARS = 200


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function tool the request offers: its name and JSON schema for the arguments."""

    name: str
    parameters: Mapping[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class SimRequest:
    """What the simulator needs to know about a request, whatever protocol it arrived in.

    `tool_outputs` is None unless the conversation ends with tool results, whose texts it then holds.
    `reasoning_visible` means the client asked to see the reasoning text (a Responses summary, Gemini
    `includeThoughts`); protocols that always show it (Anthropic thinking, Chat `reasoning_content`) ignore it.
    `native` is the decoded request body, for the renderer's echoes and protocol-only options.
    """

    model: str
    stream: bool = False
    last_user_text: str = ""
    text_chars: int = 0
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    forced_tool: str | None = None
    parallel_tool_calls: bool = True
    tool_outputs: list[str] | None = None
    response_schema: Mapping[str, Any] | None = None
    json_mode: bool = False
    reasoning: bool = False
    reasoning_visible: bool = False
    max_output_tokens: int | None = None
    native: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One tool call: the arguments as an object and as compact JSON, and the JSON split into stream deltas."""

    name: str
    args: Any
    arguments: str
    fragments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    """The reply in tokens: reasoning words, text tokens (words or JSON fragments), tool calls, usage inputs."""

    reasoning: tuple[str, ...]
    text: tuple[str, ...]
    calls: tuple[PlannedCall, ...]
    finish: FinishReason
    input_tokens: int
    cached_tokens: int

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    @property
    def output_text(self) -> str:
        return "".join(self.text)

    @property
    def reasoning_tokens(self) -> int:
        return len(self.reasoning)

    @property
    def visible_tokens(self) -> int:
        """Output tokens other than reasoning (text plus tool-call argument fragments)."""
        return len(self.text) + sum(len(call.fragments) for call in self.calls)

    @property
    def output_tokens(self) -> int:
        """All output tokens, reasoning included (the OpenAI and Anthropic convention)."""
        return self.reasoning_tokens + self.visible_tokens


def plan_reply(request: SimRequest, behaviour: SimBehaviour, seed: int) -> Reply:
    """Decide the reply to `request` under `behaviour`; `seed` applies unless the behaviour sets its own."""
    if behaviour.seed is not None:
        seed = behaviour.seed
    key = request.last_user_text
    input_tokens = count_input_tokens(request.text_chars)
    reasoning: tuple[str, ...] = ()
    if request.reasoning:
        topic = key if request.tool_outputs is None else "\x00".join((key, *request.tool_outputs))
        reasoning = generate_words(seed, topic, "reasoning", behaviour.reasoning_tokens, 8, 16)
    calls = _plan_calls(request, seed)
    text: tuple[str, ...] = ()
    if not calls:
        text = _plan_text(request, behaviour, seed)
    finish: FinishReason = "tool_calls" if calls else "stop"
    cap = request.max_output_tokens
    if cap is not None:
        cap = max(cap, 0)
        if len(reasoning) > cap:
            reasoning, text, calls, finish = reasoning[:cap], (), (), "length"
        elif not calls and len(text) > cap - len(reasoning):
            text, finish = text[: cap - len(reasoning)], "length"
    return Reply(
        reasoning=reasoning,
        text=text,
        calls=calls,
        finish=finish,
        input_tokens=input_tokens,
        cached_tokens=min(behaviour.cached_tokens, input_tokens),
    )


def _plan_calls(request: SimRequest, seed: int) -> tuple[PlannedCall, ...]:
    if not request.tools or request.tool_choice == "none" or request.tool_outputs is not None:
        return ()
    forced = request.tool_choice == "required" or request.forced_tool is not None
    if not forced and not _TRIGGER.search(request.last_user_text):
        return ()
    chosen: list[ToolSpec]
    if request.forced_tool is not None:
        named = [tool for tool in request.tools if tool.name == request.forced_tool]
        chosen = named[:1] or [ToolSpec(request.forced_tool)]
    elif request.parallel_tool_calls and len(request.tools) >= 2 and _PARALLEL.search(request.last_user_text):
        chosen = request.tools[:2]
    else:
        chosen = request.tools[:1]
    return tuple(_call(tool, seed, request.last_user_text, index) for index, tool in enumerate(chosen))


def _call(tool: ToolSpec, seed: int, key: str, index: int) -> PlannedCall:
    rng = rng_for(seed, key, f"args:{tool.name}:{index}")
    args = json_from_schema(tool.parameters, rng, only_required=True)
    if not isinstance(args, dict):
        args = {}
    arguments = encode_json(args)
    return PlannedCall(name=tool.name, args=args, arguments=arguments, fragments=split_fragments(arguments))


def _plan_text(request: SimRequest, behaviour: SimBehaviour, seed: int) -> tuple[str, ...]:
    key = request.last_user_text
    if request.response_schema is not None or request.json_mode:
        rng = rng_for(seed, key, "json")
        if request.response_schema is not None:
            document = json_from_schema(request.response_schema, rng)
        else:
            words = generate_words(seed, key, "text", behaviour.output_tokens, 20, 40)
            document = {"answer": "".join(words)}
        return split_fragments(encode_json(document))
    if request.tool_outputs is not None:
        quoted = "; ".join(output[:_MENTION_CHARS] for output in request.tool_outputs)
        words = generate_words(seed, key + "\x00" + quoted, "text", behaviour.output_tokens, 20, 40)
        mention = split_words(f"Tool result: {quoted}.")
        if words:
            return (*mention, " " + words[0], *words[1:])
        return tuple(mention)
    return generate_words(seed, key, "text", behaviour.output_tokens, 20, 40)
