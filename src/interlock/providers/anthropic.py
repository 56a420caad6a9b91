"""Anthropic Messages API adapter: the request IR to ``POST /messages`` and its answers back to internal events.

Request translation (protocols.md 3 and 5)
------------------------------------------
``instructions`` and every system/developer message (wherever it sits: Anthropic has one system slot, so
mid-conversation ones are hoisted, in order) become ``system`` text blocks. Items become alternating turns:
consecutive same-role content merges into one turn; ``function_call`` items are ``tool_use`` blocks of the
assistant turn and ``function_call_output`` items are ``tool_result`` blocks placed first in the following user
turn. A call without an output gets a placeholder error result and an output without its call is dropped, both
with a warning, because the API refuses either (5.12 #12). A ``reasoning`` item whose ``encrypted_content`` is
the gateway's Anthropic envelope (``_signatures``) comes back as its ``thinking`` / ``redacted_thinking`` block,
first in its assistant turn; any other reasoning item is stripped. ``max_tokens`` is always sent. Reasoning
effort becomes a thinking budget or adaptive thinking per the model's reasoning profile; when the request
continues a tool loop whose last assistant turn lost its thinking block (a client that did not ask for
``reasoning.encrypted_content``), thinking is switched off for that request with a warning instead of failing.
Structured output uses ``output_config.format`` on models with the ``json_schema`` capability and otherwise a
forced tool, :data:`STRUCTURED_OUTPUT_TOOL`, whose input the parser turns back into output text.

Stream parsing (theory of operation)
------------------------------------
The parser is sans-IO and keeps one record per open content block, keyed by the block ``index``. Each
Anthropic block maps to at most one output item, so output indices stay dense whatever blocks are skipped:

* ``text`` blocks stream ``TextDelta``; consecutive text blocks stay in one message part (citations make
  Anthropic split text into many blocks), and ``citations_delta`` values become ``url_citation`` annotations
  whose indices the parser computes from the characters it has emitted into the open part;
* ``thinking`` -> ``ReasoningStart``, ``ReasoningDelta``..., then at the block's stop one ``ReasoningSignature``
  carrying the envelope (thinking text + signature) and ``ItemEnd`` so the next block gets its own item;
  ``redacted_thinking`` -> a reasoning item with an envelope and no summary;
* ``tool_use`` -> ``ToolCallStart`` (the ``toolu_`` id is the call id), ``input_json_delta`` fragments verbatim,
  ``ToolCallEnd``; the structured-output tool streams as text instead;
* ``server_tool_use`` for web search -> a ``web_search_call`` item; other server-tool blocks, their results and
  unknown blocks are skipped (the model's text already reports them).

``message_start`` / ``message_delta`` usage is cumulative and merged key by key (5.8, 5.12 #14).
``message_stop`` emits the ``Finish`` (a refusal first emits its explanation as refusal content). An ``error``
event, or a stream that ends without ``message_stop``, becomes an error: raised when nothing reached the client
yet (so the engine may fall back), a ``StreamError`` event otherwise (5.12 #15). ``parse_response`` replays a
non-streaming ``Message`` through the same parser, so both paths produce identical events.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

import msgspec

from interlock.ir import events as ev
from interlock.ir.errors import GatewayError, UpstreamError
from interlock.ir.request import (
    REQUEST_FIELDS,
    ContentPart,
    Effort,
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    InputFile,
    InputImage,
    InputItem,
    InputText,
    Message,
    NativeItem,
    NativeTool,
    OutputText,
    Reasoning,
    ReasoningConfig,
    RefusalPart,
    ResponseRequest,
    SummaryText,
    TextConfig,
    TextFormat,
    ToolOutputPart,
)
from interlock.ir.warnings import RoutingWarning
from interlock.providers import _signatures as sig
from interlock.providers._convert import arguments_object, data_url
from interlock.providers._retry import retry_after
from interlock.providers.base import NativeRequest, ProtocolName, SSEEvent, Target
from interlock.providers.normalise import (
    CODE,
    GATEWAY,
    UNSUPPORTED,
    Param,
    apply_params,
    maps_to,
    reasoning_effort,
    reasoning_profile,
    supports_reasoning,
    warning,
)

PROTOCOL: ProtocolName = "anthropic"
API_VERSION: Final = "2023-06-01"

CAPABILITIES: Final[frozenset[str]] = frozenset(
    {"tools", "tool_choice_required", "parallel_tool_calls", "vision", "pdf", "json_schema", "reasoning", "streaming"}
)
"""What the protocol can carry (an offering may declare less)."""

DEFAULT_MAX_TOKENS: Final = 4096
DEFAULT_THINKING_MAX_TOKENS: Final = 8192
MIN_THINKING_BUDGET: Final = 1024
# Thinking budgets per effort when the catalog gives none (protocols.md 5.6: gateway policy, not protocol).
DEFAULT_BUDGETS: Final[Mapping[str, int]] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 32000,
}
# output_config.effort values (https://docs.anthropic.com/en/docs/build-with-claude/effort).
_EFFORT_VALUES: Final[Mapping[str, str]] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
STRUCTURED_OUTPUT_TOOL: Final = "json_response"
"""Name of the forced tool that carries structured output on models without ``output_config.format``."""

TOOL_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
IMAGE_TYPES: Final[frozenset[str]] = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_WEB_SEARCH_TYPES: Final[frozenset[str]] = frozenset(
    {"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"}
)
_NATIVE_TOOL_TYPE: Final = re.compile(r"^[a-z_]+_\d{8}$")  # Anthropic server tools: web_search_20250305...
_PLACEHOLDER_RESULT: Final = "No result was provided for this tool call."

# One row per IR request field (style.md item 7); a test keeps the keys equal to REQUEST_FIELDS.
# https://docs.anthropic.com/en/api/messages
PARAMS: Final[Mapping[str, Param]] = {
    "model": CODE,  # target.provider_model_id
    "input": CODE,  # messages (+ system)
    "instructions": CODE,  # system
    "tools": CODE,
    "tool_choice": CODE,
    "parallel_tool_calls": CODE,  # tool_choice.disable_parallel_tool_use (inverted)
    "max_output_tokens": CODE,  # max_tokens, always sent
    "temperature": maps_to("temperature", clamp=(0, 1)),
    "top_p": maps_to("top_p"),
    "top_k": maps_to("top_k"),
    "top_logprobs": UNSUPPORTED,
    "frequency_penalty": UNSUPPORTED,
    "presence_penalty": UNSUPPORTED,
    "max_tool_calls": UNSUPPORTED,
    "stream": CODE,
    "text": CODE,  # output_config.format or the forced structured-output tool
    "reasoning": CODE,  # thinking / output_config.effort
    "truncation": UNSUPPORTED,  # "auto" is not emulated
    "metadata": GATEWAY,  # echoed in the Response; Anthropic metadata holds only user_id
    "include": GATEWAY,
    "user": maps_to("metadata.user_id"),
    "store": GATEWAY,
    "previous_response_id": GATEWAY,
    "prompt_cache_key": UNSUPPORTED,
    "safety_identifier": CODE,  # metadata.user_id when user is absent
    "service_tier": CODE,  # auto -> auto, default -> standard_only
    "background": GATEWAY,
    "gateway": GATEWAY,
    "extensions": GATEWAY,  # merged by providers.extensions
    "stop": maps_to("stop_sequences"),
    "seed": UNSUPPORTED,
    "n": UNSUPPORTED,
    "logit_bias": UNSUPPORTED,
    "logprobs": UNSUPPORTED,
    "extra_params": UNSUPPORTED,
}
assert set(PARAMS) == REQUEST_FIELDS

# https://docs.anthropic.com/en/api/handling-stop-reasons
FINISH_REASONS: Final[Mapping[str, ev.FinishReason]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "refusal",
    "pause_turn": "pause",
}
DEFAULT_FINISH: Final[ev.FinishReason] = "stop"
DEFAULT_REFUSAL: Final = "The model declined to answer this request."

_JSON = msgspec.json.Decoder()
_log = logging.getLogger(__name__)
# Blocks the parser skips on purpose: server-side tool traffic the model's text already reports.
_QUIET_BLOCKS: Final[frozenset[str]] = frozenset({"server_tool_use", "fallback", "compaction"})


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- build_request ------------------------------------------------------------------------------------


def _bad(message: str, param: str, code: str = "invalid_parameter_value") -> GatewayError:
    return GatewayError(code, message, param=param)


def _image_block(url: str | None, file_id: str | None, param: str) -> dict[str, Any]:
    if file_id and not url:
        raise _bad("Provider file ids are not portable; send the image as a URL or data URL.", param + ".file_id")
    if not url:
        raise _bad("An image needs image_url.", param + ".image_url")
    if url.startswith("data:"):
        media, data = data_url(url, param + ".image_url")
        if media not in IMAGE_TYPES:
            raise _bad(f"Anthropic accepts jpeg, png, gif and webp images, not {media}.", param + ".image_url")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _file_block(part: InputFile, param: str) -> dict[str, Any]:
    if part.file_data:
        media, data = data_url(part.file_data, param + ".file_data")
        if media in IMAGE_TYPES:
            return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
        if media == "application/pdf":
            block: dict[str, Any] = {
                "type": "document",
                "source": {"type": "base64", "media_type": media, "data": data},
            }
        elif media == "text/plain":
            try:
                text = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise _bad("file_data is not valid base64 UTF-8 text.", param + ".file_data") from None
            block = {"type": "document", "source": {"type": "text", "media_type": media, "data": text}}
        else:
            raise _bad(f"Anthropic documents must be PDF or plain text, not {media}.", param + ".file_data")
    elif part.file_url:
        block = {"type": "document", "source": {"type": "url", "url": part.file_url}}
    elif part.file_id:
        raise _bad("Provider file ids are not portable; send the file as file_data or file_url.", param + ".file_id")
    else:
        raise _bad("An input_file needs file_data or file_url.", param)
    if part.filename:
        block["title"] = part.filename
    return block


def _content_blocks(
    content: str | list[ContentPart], role: str, param: str, warnings: list[RoutingWarning]
) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}.content[{j}]"
        if isinstance(part, (InputText, OutputText)):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, RefusalPart):
            if part.refusal:
                blocks.append({"type": "text", "text": part.refusal})
        elif isinstance(part, (InputImage, InputFile)):
            if role != "user":
                warnings.append(
                    warning(
                        "unsupported_feature",
                        "content_part_dropped",
                        f"{where}: Anthropic accepts images and documents only in user turns; dropped.",
                    )
                )
                continue
            if isinstance(part, InputImage):
                blocks.append(_image_block(part.image_url, part.file_id, where))
            else:
                blocks.append(_file_block(part, where))
        # ReasoningTextPart: raw reasoning text has no replayable slot without its signature.
    return blocks


def _tool_result(item: FunctionCallOutput, param: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": item.call_id}
    if isinstance(item.output, str):
        if item.output:
            block["content"] = item.output
        return block
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(item.output):
        where = f"{param}.output[{j}]"
        if isinstance(part, InputText):
            if part.text:
                parts.append({"type": "text", "text": part.text})
        elif isinstance(part, InputImage):
            parts.append(_image_block(part.image_url, part.file_id, where))
        else:
            parts.append(_file_block(part, where))
    if parts:
        block["content"] = parts
    return block


@dataclass
class _Turn:
    role: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


class _Turns:
    """Alternating user/assistant turns, merging consecutive same-role content."""

    def __init__(self) -> None:
        self.turns: list[_Turn] = []

    def add(self, role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if self.turns and self.turns[-1].role == role:
            self.turns[-1].blocks.extend(blocks)
        else:
            self.turns.append(_Turn(role, list(blocks)))


def _convert_input(
    req: ResponseRequest, target: Target, warnings: list[RoutingWarning]
) -> tuple[list[str], list[_Turn]]:
    system: list[str] = [req.instructions] if req.instructions else []
    turns = _Turns()
    for i, item in enumerate(req.input_items()):
        param = f"input[{i}]"
        if isinstance(item, Message):
            if item.role in ("system", "developer"):
                blocks = _content_blocks(item.content, "system", param, warnings)
                text = "\n".join(b["text"] for b in blocks if b["type"] == "text")
                if text:
                    system.append(text)
                continue
            turns.add(item.role, _content_blocks(item.content, item.role, param, warnings))
        elif isinstance(item, FunctionCall):
            if not TOOL_NAME.match(item.name):
                raise _bad(f"Tool name {item.name!r} is not valid for Anthropic ([a-zA-Z0-9_-]{{1,64}}).", param)
            args = arguments_object(item.arguments, param, warnings)
            turns.add("assistant", [{"type": "tool_use", "id": item.call_id, "name": item.name, "input": args}])
        elif isinstance(item, FunctionCallOutput):
            turns.add("user", [_tool_result(item, param)])
        elif isinstance(item, Reasoning):
            turns.add("assistant", _replay_reasoning(item))
        elif isinstance(item, NativeItem):
            kind = item.raw.get("type")
            warnings.append(
                warning(
                    "unsupported_feature",
                    "input_item_dropped",
                    f"{param}: items of type {kind!r} cannot be sent to Anthropic; dropped.",
                )
            )
    return system, _pair_tool_calls(turns.turns, warnings)


def _replay_reasoning(item: Reasoning) -> list[dict[str, Any]]:
    envelope = sig.open_for(item.encrypted_content, PROTOCOL)
    if envelope is None:
        return []  # foreign or missing: thinking cannot be replayed without its own signature
    blocks: list[dict[str, Any]] = []
    for b in envelope.blocks:
        if b.kind == "thinking":
            blocks.append({"type": "thinking", "thinking": b.text, "signature": b.data})
        elif b.kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": b.data})
    return blocks


def _is_thinking(block: Mapping[str, Any]) -> bool:
    return block.get("type") in ("thinking", "redacted_thinking")


def _pair_tool_calls(turns: list[_Turn], warnings: list[RoutingWarning]) -> list[_Turn]:
    """Every tool_use answered in the next user turn, tool_results first there, thinking first in its turn."""
    out: list[_Turn] = []
    pending: list[str] = []  # tool_use ids of the previous assistant turn
    for turn in turns:
        if turn.role == "assistant":
            if out and out[-1].role == "assistant":  # the user turn between them held only dropped orphans
                turn.blocks = out.pop().blocks + turn.blocks
            # Thinking blocks lead their turn (the API requires it when thinking is on); order kept otherwise.
            turn.blocks = [b for b in turn.blocks if _is_thinking(b)] + [b for b in turn.blocks if not _is_thinking(b)]
            pending = [b["id"] for b in turn.blocks if b["type"] == "tool_use"]
            out.append(turn)
            continue
        results = [b for b in turn.blocks if b["type"] == "tool_result"]
        others = [b for b in turn.blocks if b["type"] != "tool_result"]
        kept: list[dict[str, Any]] = []
        for block in results:
            if block["tool_use_id"] in pending:
                kept.append(block)
            else:
                warnings.append(
                    warning(
                        "unsupported_feature",
                        "orphan_tool_output_dropped",
                        f"function_call_output for call {block['tool_use_id']!r} has no matching call in the "
                        "preceding assistant turn; dropped.",
                    )
                )
        answered = {b["tool_use_id"] for b in kept}
        missing = [cid for cid in pending if cid not in answered]
        kept.extend(_placeholder(missing, warnings))
        pending = []
        turn.blocks = kept + others
        if turn.blocks:
            if out and out[-1].role == "user":
                out[-1].blocks.extend(turn.blocks)
            else:
                out.append(turn)
    if pending:
        out.append(_Turn("user", _placeholder(pending, warnings)))
    return out


def _placeholder(call_ids: list[str], warnings: list[RoutingWarning]) -> list[dict[str, Any]]:
    blocks = []
    for cid in call_ids:
        warnings.append(
            warning(
                "unsupported_feature",
                "missing_tool_output",
                f"Call {cid!r} has no function_call_output; Anthropic needs one, so an error result was inserted.",
            )
        )
        blocks.append({"type": "tool_result", "tool_use_id": cid, "content": _PLACEHOLDER_RESULT, "is_error": True})
    return blocks


def _input_schema(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    if not parameters:
        return {"type": "object", "properties": {}}
    schema = dict(parameters)
    schema.setdefault("type", "object")
    if schema.get("type") == "object":
        schema.setdefault("properties", {})
    return schema


def _convert_tools(req: ResponseRequest, target: Target) -> tuple[list[dict[str, Any]], set[str]]:
    """Native tools, and the names of hosted tools mapped to Anthropic server tools."""
    tools: list[dict[str, Any]] = []
    server: set[str] = set()
    native_strict = "json_schema" in target.capabilities
    for i, tool in enumerate(req.tools or []):
        param = f"tools[{i}]"
        if isinstance(tool, FunctionTool):
            if not TOOL_NAME.match(tool.name):
                raise _bad(
                    f"Tool name {tool.name!r} is not valid for Anthropic ([a-zA-Z0-9_-]{{1,64}}).", param + ".name"
                )
            out: dict[str, Any] = {"name": tool.name, "input_schema": _input_schema(tool.parameters)}
            if tool.description:
                out["description"] = tool.description
            if tool.strict and native_strict:
                out["strict"] = True
            tools.append(out)
            continue
        assert isinstance(tool, NativeTool)
        kind = str(tool.raw.get("type", ""))
        if kind in _WEB_SEARCH_TYPES:
            search: dict[str, Any] = {"type": "web_search_20250305", "name": "web_search"}
            filters = tool.raw.get("filters")
            if isinstance(filters, Mapping) and filters.get("allowed_domains"):
                search["allowed_domains"] = list(filters["allowed_domains"])
            location = tool.raw.get("user_location")
            if isinstance(location, Mapping):
                search["user_location"] = {"type": "approximate", **{k: v for k, v in location.items() if v}}
            tools.append(search)
            server.add(kind)
        elif _NATIVE_TOOL_TYPE.match(kind):
            tools.append(dict(tool.raw))  # already an Anthropic server tool (extensions-style passthrough)
        else:
            raise GatewayError(
                "hosted_tool_not_supported",
                f"Hosted tool {kind!r} has no Anthropic equivalent.",
                param=param,
            )
    return tools, server


def _tool_choice(
    req: ResponseRequest, tools: list[dict[str, Any]], server: set[str]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(native tool_choice or None for the default, the tools list after allowed_tools filtering)."""
    choice = req.tool_choice
    native: dict[str, Any] | None = None
    if choice is None or choice == "auto":
        native = None
    elif choice == "none":
        native = {"type": "none"}
    elif choice == "required":
        native = {"type": "any"}
    elif isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function":
            native = {"type": "tool", "name": choice.get("name")}
        elif kind == "allowed_tools":
            allowed = {t.get("name") for t in choice.get("tools") or [] if isinstance(t, Mapping)}
            tools = [t for t in tools if t.get("name") in allowed or "input_schema" not in t]
            native = {"type": "any"} if choice.get("mode") == "required" else None
        elif kind in server:
            native = {"type": "tool", "name": "web_search"}
        else:
            raise _bad(f"tool_choice of type {kind!r} cannot be expressed for Anthropic.", "tool_choice")
    if req.parallel_tool_calls is False and (native is None or native["type"] != "none"):
        native = {"type": "auto"} if native is None else dict(native)
        native["disable_parallel_tool_use"] = True
    return native, tools


def _structured_output(
    req: ResponseRequest, target: Target, body: dict[str, Any], warnings: list[RoutingWarning]
) -> bool:
    """Apply ``text.format``; True when the forced structured-output tool is in use."""
    fmt = req.text.format if req.text is not None else None
    if fmt is None or fmt.type == "text":
        return False
    if fmt.type == "json_schema" and "json_schema" in target.capabilities:
        body.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": fmt.schema or {}}
        return False
    schema: dict[str, Any] = dict(fmt.schema or {}) if fmt.type == "json_schema" else {"type": "object"}
    if schema.get("type", "object") != "object":
        raise GatewayError(
            "structured_output_not_supported",
            "Structured output on this Anthropic model needs a JSON Schema whose root is an object.",
            param="text.format.schema",
        )
    schema.setdefault("type", "object")
    description = "Respond with your final answer by calling this tool; its input is the JSON answer."
    if fmt.description:
        description += " " + fmt.description
    tools: list[dict[str, Any]] = body.setdefault("tools", [])
    if any(t.get("name") == STRUCTURED_OUTPUT_TOOL for t in tools):
        raise _bad(f"The tool name {STRUCTURED_OUTPUT_TOOL!r} is reserved for structured output.", "tools")
    user_tools = bool(tools) and body.get("tool_choice", {}).get("type") != "none"
    tools.append({"name": STRUCTURED_OUTPUT_TOOL, "description": description, "input_schema": schema})
    if not user_tools:
        body["tool_choice"] = {"type": "tool", "name": STRUCTURED_OUTPUT_TOOL}
        body["tools"] = [t for t in tools if t["name"] == STRUCTURED_OUTPUT_TOOL or "input_schema" not in t]
    elif body.get("tool_choice", {}).get("type") in (None, "auto"):
        body["tool_choice"] = {**body.get("tool_choice", {}), "type": "any"}
    warnings.append(
        warning(
            "unsupported_feature",
            "structured_output_via_tool",
            f"{target.provider_model_id} has no native {fmt.type} output; a forced tool carries the JSON answer.",
        )
    )
    return True


def _thinking(
    req: ResponseRequest, target: Target, body: dict[str, Any], turns: list[_Turn], warnings: list[RoutingWarning]
) -> None:
    """``thinking``, ``output_config.effort`` and ``max_tokens``."""
    effort = reasoning_effort(req)
    profile = reasoning_profile(target)
    style = profile.style if profile is not None else "budget"
    wants = effort is not None and effort not in ("none", "off") and style != "fixed" and supports_reasoning(target)
    cap = target.max_output_tokens
    max_tokens = req.max_output_tokens or cap or (DEFAULT_THINKING_MAX_TOKENS if wants else DEFAULT_MAX_TOKENS)
    if wants:
        reason = _thinking_blocker(body, turns)
        if reason:
            warnings.append(warning("unsupported_feature", "thinking_disabled", reason))
            wants = False
    if wants and effort is not None:
        if style in ("adaptive", "effort"):
            body.setdefault("output_config", {})["effort"] = _EFFORT_VALUES.get(effort, "high")
        if style == "adaptive":
            body["thinking"] = {"type": "adaptive"}
        else:
            budget = (profile.budgets.get(effort) if profile else None) or DEFAULT_BUDGETS.get(effort, 8192)
            if req.max_output_tokens is None and max_tokens <= budget:
                max_tokens = budget + DEFAULT_MAX_TOKENS if cap is None else min(cap, budget + DEFAULT_MAX_TOKENS)
            limit = max_tokens - MIN_THINKING_BUDGET if max_tokens >= 2 * MIN_THINKING_BUDGET else max_tokens - 1
            if limit < MIN_THINKING_BUDGET:
                warnings.append(
                    warning(
                        "unsupported_feature",
                        "thinking_disabled",
                        f"max_output_tokens {max_tokens} leaves no room for Anthropic's minimum thinking budget "
                        f"({MIN_THINKING_BUDGET}); thinking is off.",
                    )
                )
            else:
                if budget > limit:
                    warnings.append(
                        warning(
                            "unsupported_parameter",
                            "reasoning_budget_clamped",
                            f"thinking budget {budget} reduced to {limit} to fit max_output_tokens {max_tokens}.",
                        )
                    )
                    budget = limit
                body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    body["max_tokens"] = max_tokens
    if "thinking" in body:
        _strip_sampling(body, warnings)


def _thinking_blocker(body: Mapping[str, Any], turns: list[_Turn]) -> str:
    """Why thinking cannot be on for this request ("" when it can)."""
    choice = body.get("tool_choice") or {}
    if choice.get("type") in ("any", "tool"):
        return "Anthropic cannot think while a tool call is forced; thinking is off for this request."
    # "A final assistant message must start with a thinking block (preceding the lastmost set of tool_use and
    # tool_result blocks)": only while the request continues a tool loop, i.e. ends with tool results.
    if len(turns) < 2 or not any(b["type"] == "tool_result" for b in turns[-1].blocks):
        return ""
    last = turns[-2]
    if any(b["type"] == "tool_use" for b in last.blocks) and not _is_thinking(last.blocks[0]):
        return (
            "The last assistant turn continues a tool loop without its thinking block (send reasoning items back "
            "with include: ['reasoning.encrypted_content']); thinking is off for this request."
        )
    return ""


def _strip_sampling(body: dict[str, Any], warnings: list[RoutingWarning]) -> None:
    """Sampling values Anthropic rejects with thinking on (normally already removed by ``normalise``)."""
    for name, keep in (("temperature", lambda v: v == 1), ("top_p", lambda v: v >= 0.95), ("top_k", lambda v: False)):
        if name in body and not keep(body[name]):
            value = body.pop(name)
            warnings.append(
                warning(
                    "unsupported_parameter",
                    f"{name}_incompatible_with_reasoning",
                    f"{name} {value} cannot be combined with thinking on Anthropic; dropped.",
                )
            )


def build_request(req: ResponseRequest, target: Target, *, stream: bool) -> NativeRequest:
    """The ``POST {base_url}/messages`` request for ``req`` (already normalised for ``target``)."""
    warnings: list[RoutingWarning] = []
    body: dict[str, Any] = {"model": target.provider_model_id}
    warnings.extend(apply_params(req, PARAMS, body, target))
    system, turns = _convert_input(req, target, warnings)
    if system:
        body["system"] = [{"type": "text", "text": text} for text in system]
    tools, server = _convert_tools(req, target)
    if tools:
        choice, tools = _tool_choice(req, tools, server)
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    _structured_output(req, target, body, warnings)
    _thinking(req, target, body, turns, warnings)
    if "thinking" not in body and turns and turns[-1].role == "assistant":
        # "When thinking is disabled, an assistant message in the final position cannot contain thinking."
        turns[-1].blocks = [b for b in turns[-1].blocks if not _is_thinking(b)]
        if not turns[-1].blocks:
            turns.pop()
    body["messages"] = [{"role": t.role, "content": t.blocks} for t in turns]
    if req.text is not None and req.text.verbosity is not None:
        warnings.append(
            warning("unsupported_parameter", "verbosity_dropped", "text.verbosity is not supported by Anthropic.")
        )
    if req.user is None and req.safety_identifier:
        body.setdefault("metadata", {})["user_id"] = req.safety_identifier
    if req.service_tier is not None:
        tier = {"auto": "auto", "default": "standard_only"}.get(req.service_tier)
        if tier is None:
            warnings.append(
                warning(
                    "unsupported_parameter",
                    "service_tier_dropped",
                    f"service_tier {req.service_tier!r} has no Anthropic equivalent; dropped.",
                )
            )
        else:
            body["service_tier"] = tier
    if stream:
        body["stream"] = True
    headers = {
        "x-api-key": target.api_key or "",
        "anthropic-version": API_VERSION,
        "content-type": "application/json",
        **target.headers,
    }
    url = target.base_url.rstrip("/") + "/messages"
    return NativeRequest(url=url, headers=headers, body=body, stream=stream, warnings=warnings)


# --- stream parsing -----------------------------------------------------------------------------------


@dataclass
class _Block:
    kind: str  # text | json | thinking | redacted | tool | web_search | skip
    id: str = ""
    name: str = ""
    chunks: list[str] = field(default_factory=list)
    signature: str = ""
    data: str = ""
    start_input: object = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    start_offset: int = 0


class AnthropicStreamParser:
    """Sans-IO parser of one Messages API SSE stream (see the module docstring)."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._blocks: dict[int, _Block] = {}
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._stop_details: Mapping[str, Any] | None = None
        self._done = False
        self._failed = False
        self._shown = False  # something visible went out (errors after that are in-band)
        self._text_open = False  # the open output item is a message whose text part continues
        self._part_len = 0  # characters emitted into the open text part (annotation indices)
        self._calls = 0  # client function calls (the structured-output tool does not count)
        self._skipped: set[str] = set()

    # -- feeding -------------------------------------------------------------------------------------

    def feed(self, event: SSEEvent) -> list[ev.Event]:
        if not event.data or event.data == "[DONE]":
            return []
        try:
            data = _JSON.decode(event.data)
        except msgspec.DecodeError:
            raise UpstreamError(
                "upstream_error",
                "anthropic sent a malformed stream event.",
                provider=self._target.provider,
                upstream_status=200,
                retryable=True,
            ) from None
        if not isinstance(data, dict):
            return []
        return self.handle(data, event.event)

    def handle(self, data: Mapping[str, Any], name: str | None = None) -> list[ev.Event]:
        """Internal events for one decoded stream event."""
        kind = str(data.get("type") or name)
        if self._done or self._failed:
            return []
        handler = _HANDLERS.get(kind)
        if handler is None:
            self._skip("event", kind)
            return []
        return handler(self, data)

    def close(self) -> list[ev.Event]:
        if self._done or self._failed:
            return []
        return self._fail(
            UpstreamError(
                "upstream_error",
                "anthropic closed the stream before message_stop.",
                provider=self._target.provider,
                upstream_status=200,
                retryable=True,
            )
        )

    # -- helpers -------------------------------------------------------------------------------------

    def _fail(self, error: UpstreamError) -> list[ev.Event]:
        self._failed = True
        if not self._shown:
            raise error  # nothing reached the client: let the engine fall back
        return [ev.StreamError(error=error)]

    def _skip(self, what: str, kind: str) -> None:
        """Note an upstream event or block this parser does not model (logged once per stream)."""
        if kind in ("ping", *_QUIET_BLOCKS) or kind.endswith("_tool_result") or kind in self._skipped:
            return
        self._skipped.add(kind)
        _log.debug("anthropic stream: skipping unknown %s %r", what, kind)

    def _visible(self, events: list[ev.Event]) -> list[ev.Event]:
        if events:
            self._shown = True
        return events

    def _leave_text(self) -> None:
        self._text_open = False
        self._part_len = 0

    def _text(self, text: str) -> list[ev.Event]:
        if not text:
            return []
        self._text_open = True
        self._part_len += len(text)
        return self._visible([ev.TextDelta(text=text)])

    def _usage_event(self, usage: object) -> list[ev.Event]:
        if not isinstance(usage, Mapping):
            return []
        self._usage.update({k: v for k, v in usage.items() if v is not None})
        u = self._usage
        parts = [u.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        numbers = [p for p in parts if isinstance(p, int)]
        details = u.get("output_tokens_details")
        thinking = details.get("thinking_tokens") if isinstance(details, Mapping) else None
        return [
            ev.Usage(
                input_tokens=sum(numbers) if numbers else None,
                output_tokens=_int(u.get("output_tokens")),
                cached_tokens=_int(u.get("cache_read_input_tokens")),
                cache_write_tokens=_int(u.get("cache_creation_input_tokens")),
                reasoning_tokens=_int(thinking),
            )
        ]

    # -- handlers ------------------------------------------------------------------------------------

    def _on_message_start(self, data: Mapping[str, Any]) -> list[ev.Event]:
        message = data.get("message")
        if not isinstance(message, Mapping):
            return []
        out: list[ev.Event] = [ev.ResponseInfo(upstream_id=message.get("id"), model=message.get("model"))]
        return out + self._usage_event(message.get("usage"))

    def _on_block_start(self, data: Mapping[str, Any]) -> list[ev.Event]:
        index = data.get("index")
        block = data.get("content_block")
        if not isinstance(index, int) or not isinstance(block, Mapping):
            return []
        kind = block.get("type")
        out: list[ev.Event] = []
        if kind == "text":
            if not self._text_open:
                self._part_len = 0
            self._blocks[index] = _Block("text", start_offset=self._part_len)
            out.extend(self._text(str(block.get("text") or "")))
            for citation in block.get("citations") or []:
                if isinstance(citation, Mapping):
                    self._blocks[index].citations.append(dict(citation))
        elif kind == "thinking":
            self._leave_text()
            rec = _Block("thinking", signature=str(block.get("signature") or ""))
            self._blocks[index] = rec
            out.append(ev.ReasoningStart())
            if block.get("thinking"):
                rec.chunks.append(str(block["thinking"]))
                out.append(ev.ReasoningDelta(text=str(block["thinking"])))
            self._shown = True
        elif kind == "redacted_thinking":
            self._blocks[index] = _Block("redacted", data=str(block.get("data") or ""))
        elif kind == "tool_use":
            name = str(block.get("name") or "")
            if name == STRUCTURED_OUTPUT_TOOL:
                if self._text_open:
                    out.append(ev.ItemEnd())  # keep any preamble out of the JSON answer's text part
                self._leave_text()
                self._blocks[index] = _Block("json", start_input=block.get("input"))
            else:
                self._leave_text()
                self._calls += 1
                self._blocks[index] = _Block(
                    "tool", id=str(block.get("id") or ""), name=name, start_input=block.get("input")
                )
                out.extend(self._visible([ev.ToolCallStart(call_id=str(block.get("id") or ""), name=name)]))
        elif kind == "server_tool_use" and block.get("name") == "web_search":
            self._blocks[index] = _Block("web_search", id=str(block.get("id") or ""), start_input=block.get("input"))
        else:
            self._skip("content block", str(kind))
            self._blocks[index] = _Block("skip")
        return out

    def _on_block_delta(self, data: Mapping[str, Any]) -> list[ev.Event]:
        index = data.get("index")
        rec = self._blocks.get(index) if isinstance(index, int) else None
        delta = data.get("delta")
        if rec is None or not isinstance(delta, Mapping):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and rec.kind == "text":
            return self._text(str(delta.get("text") or ""))
        if kind == "citations_delta" and rec.kind == "text" and isinstance(delta.get("citation"), Mapping):
            rec.citations.append(dict(delta["citation"]))
        elif kind == "thinking_delta" and rec.kind == "thinking":
            text = str(delta.get("thinking") or "")
            if text:
                rec.chunks.append(text)
                return [ev.ReasoningDelta(text=text)]
        elif kind == "signature_delta" and rec.kind == "thinking":
            rec.signature += str(delta.get("signature") or "")
        elif kind == "input_json_delta":
            fragment = str(delta.get("partial_json") or "")
            if not fragment:
                return []
            rec.chunks.append(fragment)
            if rec.kind == "tool":
                return [ev.ToolCallDelta(arguments=fragment)]
            if rec.kind == "json":
                return self._text(fragment)
        return []

    def _on_block_stop(self, data: Mapping[str, Any]) -> list[ev.Event]:
        index = data.get("index")
        rec = self._blocks.pop(index, None) if isinstance(index, int) else None
        if rec is None:
            return []
        if rec.kind == "text":
            return [ev.Annotation(annotation=a) for c in rec.citations if (a := _annotation(c, rec, self._part_len))]
        if rec.kind == "json":
            if not rec.chunks and isinstance(rec.start_input, Mapping) and rec.start_input:
                return self._text(_dumps(rec.start_input))
            return []
        if rec.kind == "tool":
            if not rec.chunks and isinstance(rec.start_input, Mapping) and rec.start_input:
                return [ev.ToolCallEnd(arguments=_dumps(rec.start_input))]
            return [ev.ToolCallEnd()]
        if rec.kind == "thinking":
            out: list[ev.Event] = []
            if rec.signature:
                block = sig.SignedBlock(kind="thinking", data=rec.signature, text="".join(rec.chunks))
                out.append(ev.ReasoningSignature(encrypted_content=self._envelope(block)))
            return [*out, ev.ItemEnd()]
        if rec.kind == "redacted":
            self._leave_text()
            block = sig.SignedBlock(kind="redacted_thinking", data=rec.data)
            return self._visible(
                [ev.ReasoningStart(), ev.ReasoningSignature(encrypted_content=self._envelope(block)), ev.ItemEnd()]
            )
        if rec.kind == "web_search":
            self._leave_text()
            return self._visible(_web_search_item(rec))
        return []

    def _envelope(self, block: sig.SignedBlock) -> str:
        t = self._target
        envelope = sig.Envelope(protocol=PROTOCOL, provider=t.provider, model=t.provider_model_id, blocks=(block,))
        return sig.encode(envelope)

    def _on_message_delta(self, data: Mapping[str, Any]) -> list[ev.Event]:
        delta = data.get("delta")
        if isinstance(delta, Mapping):
            if delta.get("stop_reason"):
                self._stop_reason = str(delta["stop_reason"])
            if isinstance(delta.get("stop_details"), Mapping):
                self._stop_details = delta["stop_details"]
        return self._usage_event(data.get("usage"))

    def _on_message_stop(self, data: Mapping[str, Any]) -> list[ev.Event]:
        self._done = True
        native = self._stop_reason
        out: list[ev.Event] = []
        if native == "refusal":
            details = self._stop_details or {}
            explanation = details.get("explanation") if isinstance(details, Mapping) else None
            self._leave_text()
            out.append(ev.RefusalDelta(text=str(explanation or DEFAULT_REFUSAL)))
        reason = FINISH_REASONS.get(native or "", DEFAULT_FINISH)
        if reason == "tool_calls" and not self._calls:
            reason = "stop"  # only the structured-output tool (or a server tool) was used
        out.append(ev.Finish(reason=reason, native_reason=native))
        return out

    def _on_error(self, data: Mapping[str, Any]) -> list[ev.Event]:
        error = data.get("error")
        error = error if isinstance(error, Mapping) else {}
        return self._fail(_upstream_error(200, error, {}, self._target))


_HANDLERS: Final = {
    "message_start": AnthropicStreamParser._on_message_start,
    "content_block_start": AnthropicStreamParser._on_block_start,
    "content_block_delta": AnthropicStreamParser._on_block_delta,
    "content_block_stop": AnthropicStreamParser._on_block_stop,
    "message_delta": AnthropicStreamParser._on_message_delta,
    "message_stop": AnthropicStreamParser._on_message_stop,
    "error": AnthropicStreamParser._on_error,
}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _annotation(citation: Mapping[str, Any], rec: _Block, end: int) -> dict[str, Any] | None:
    """A Response API ``url_citation`` for a web-search citation (other citation kinds have no URL)."""
    url = citation.get("url")
    if not isinstance(url, str):
        return None
    return {
        "type": "url_citation",
        "url": url,
        "title": str(citation.get("title") or ""),
        "start_index": rec.start_offset,
        "end_index": end,
    }


def _web_search_item(rec: _Block) -> list[ev.Event]:
    args: object = rec.start_input
    if rec.chunks:
        try:
            args = json.loads("".join(rec.chunks))
        except ValueError:
            args = {}
    query = args.get("query") if isinstance(args, Mapping) else None
    suffix = rec.id.split("_", 1)[-1] if rec.id else ""
    item: dict[str, Any] = {
        "id": f"ws_{suffix}" if suffix else f"ws_{rec.id}",
        "type": "web_search_call",
        "status": "in_progress",
        "action": {"type": "search", "query": query or ""},
    }
    return [ev.NativeItemStart(item=item), ev.NativeItemDone(item={**item, "status": "completed"})]


def stream_parser(target: Target) -> AnthropicStreamParser:
    """A fresh parser for one streamed response."""
    return AnthropicStreamParser(target)


def _message_events(message: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """A non-streaming ``Message`` as the stream events that would have carried it."""
    yield {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}
    for index, block in enumerate(message.get("content") or []):
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            for citation in block.get("citations") or []:
                delta = {"type": "citations_delta", "citation": citation}
                yield {"type": "content_block_delta", "index": index, "delta": delta}
            delta = {"type": "text_delta", "text": block.get("text") or ""}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        elif kind == "thinking":
            thinking = {"type": "thinking", "thinking": "", "signature": ""}
            yield {"type": "content_block_start", "index": index, "content_block": thinking}
            delta = {"type": "thinking_delta", "thinking": block.get("thinking") or ""}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
            delta = {"type": "signature_delta", "signature": block.get("signature") or ""}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        elif kind in ("tool_use", "server_tool_use"):
            start: dict[str, Any] = {**block, "input": {}}
            yield {"type": "content_block_start", "index": index, "content_block": start}
            delta = {"type": "input_json_delta", "partial_json": _dumps(block.get("input") or {})}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        else:
            yield {"type": "content_block_start", "index": index, "content_block": dict(block)}
        yield {"type": "content_block_stop", "index": index}
    delta = {"stop_reason": message.get("stop_reason"), "stop_details": message.get("stop_details")}
    yield {"type": "message_delta", "delta": delta, "usage": {}}
    yield {"type": "message_stop"}


def parse_response(body: bytes, target: Target) -> list[ev.Event]:
    """Internal events for a non-streaming ``Message`` (the same events its stream would give)."""
    try:
        message = _JSON.decode(body)
    except msgspec.DecodeError:
        raise UpstreamError(
            "upstream_error",
            "anthropic sent a malformed response body.",
            provider=target.provider,
            upstream_status=200,
            retryable=True,
        ) from None
    if not isinstance(message, dict):
        raise UpstreamError("upstream_error", "anthropic sent a malformed response body.", provider=target.provider)
    if message.get("type") == "error":
        error = message.get("error")
        raise _upstream_error(200, error if isinstance(error, Mapping) else {}, {}, target)
    parser = AnthropicStreamParser(target)
    out: list[ev.Event] = []
    for data in _message_events(message):
        out.extend(parser.handle(data))
    return out


# --- errors -------------------------------------------------------------------------------------------

# https://docs.anthropic.com/en/api/errors: native error type -> (our code, retryable on another offering).
ERRORS: Final[Mapping[str, tuple[str, bool]]] = {
    "invalid_request_error": ("invalid_request", False),
    "authentication_error": ("upstream_error", True),  # the gateway's key, not the client's
    "permission_error": ("upstream_error", True),
    "billing_error": ("upstream_error", True),
    "not_found_error": ("model_not_found", True),
    "request_too_large": ("payload_too_large", False),
    "rate_limit_error": ("rate_limit_exceeded", True),
    "api_error": ("upstream_error", True),
    "timeout_error": ("upstream_timeout", True),
    "overloaded_error": ("model_unavailable", True),
}
# When the body names no known type: by HTTP status (529 is Anthropic's "overloaded").
STATUS_ERRORS: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_CONTEXT = re.compile(r"prompt is too long|context window|too many tokens", re.IGNORECASE)


def _upstream_error(status: int, error: Mapping[str, Any], headers: Mapping[str, str], target: Target) -> UpstreamError:
    native = str(error.get("type") or "")
    if native not in ERRORS:
        native = STATUS_ERRORS.get(status, "api_error" if status >= 500 or status == 200 else "invalid_request_error")
    code, retryable = ERRORS[native]
    detail = str(error.get("message") or native)
    if code == "invalid_request" and _CONTEXT.search(detail):
        code = "context_length_exceeded"
    if native in ("authentication_error", "permission_error"):
        message = f"{target.provider} rejected the gateway's credentials ({native})."
    else:
        message = f"{target.provider}: {detail}"
    return UpstreamError(
        code,
        message,
        provider=target.provider,
        upstream_status=status,
        retryable=retryable,
        retry_after=retry_after(headers),
    )


def map_error(status: int, body: bytes, headers: Mapping[str, str], target: Target) -> UpstreamError:
    """The documented error for an Anthropic HTTP error response."""
    error: Mapping[str, Any] = {}
    try:
        data = _JSON.decode(body) if body else None
    except msgspec.DecodeError:
        data = None
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        error = data["error"]
    return _upstream_error(status, error, headers, target)


# --- the reverse: a native request as IR (Messages ingress, round-trip tests) --------------------------


def _parts_from_blocks(blocks: object, role: str) -> list[ContentPart]:
    parts: list[ContentPart] = []
    for block in blocks if isinstance(blocks, list) else [{"type": "text", "text": blocks}]:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            text = str(block.get("text") or "")
            parts.append(OutputText(text=text) if role == "assistant" else InputText(text=text))
        elif kind in ("image", "document"):
            parts.append(_media_part(block))
    return parts


def _media_part(block: Mapping[str, Any]) -> InputImage | InputFile:
    source = block.get("source") if isinstance(block.get("source"), Mapping) else {}
    assert isinstance(source, Mapping)
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "text":
        encoded = base64.b64encode(str(source.get("data") or "").encode()).decode()
        url = f"data:text/plain;base64,{encoded}"
    else:
        url = str(source.get("url") or "")
    if block.get("type") == "image":
        return InputImage(image_url=url)
    title = block.get("title")
    if url.startswith("data:"):
        return InputFile(file_data=url, filename=title)
    return InputFile(file_url=url, filename=title)


def _tool_output(content: object) -> str | list[ToolOutputPart]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[ToolOutputPart] = []
    for part in _parts_from_blocks(content, "user"):
        if isinstance(part, (InputText, InputImage, InputFile)):
            parts.append(part)
    return parts


def parse_request(body: Mapping[str, Any]) -> ResponseRequest:
    """The request IR for a native Messages request body (the reverse of :func:`build_request`)."""
    items: list[InputItem] = []
    for message in body.get("messages") or []:
        items.extend(_message_items(str(message.get("role")), message.get("content")))
    # The first system block is the instructions, later ones system messages (what build_request made of them).
    system = body.get("system")
    texts = [system] if isinstance(system, str) else [str(b.get("text") or "") for b in system or []]
    items[:0] = [Message(role="system", content=text) for text in texts[1:]]
    tools: list[FunctionTool | NativeTool] = []
    for tool in body.get("tools") or []:
        if "input_schema" in tool:
            tools.append(
                FunctionTool(
                    name=tool["name"],
                    description=tool.get("description"),
                    parameters=tool.get("input_schema"),
                    strict=tool.get("strict"),
                )
            )
        else:
            tools.append(NativeTool(raw=dict(tool)))
    choice = body.get("tool_choice") or {}
    tool_choice: Any = {"auto": "auto", "none": "none", "any": "required"}.get(str(choice.get("type")))
    if choice.get("type") == "tool":
        tool_choice = {"type": "function", "name": choice.get("name")}
    parallel = False if choice.get("disable_parallel_tool_use") else None
    output_config = body.get("output_config") or {}
    fmt = output_config.get("format")
    text = (
        TextConfig(format=TextFormat(type="json_schema", name="response", schema=fmt.get("schema")))
        if isinstance(fmt, Mapping)
        else None
    )
    thinking = body.get("thinking") or {}
    effort: Effort | None = output_config.get("effort") or _effort_for_budget(thinking.get("budget_tokens"))
    if thinking.get("type") == "adaptive" and effort is None:
        effort = "medium"
    metadata = body.get("metadata") or {}
    return ResponseRequest(
        model=body.get("model"),
        input=items,
        instructions=texts[0] if texts else None,
        tools=tools or None,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        max_output_tokens=body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        top_k=body.get("top_k"),
        stream=bool(body.get("stream")),
        text=text,
        reasoning=ReasoningConfig(effort=effort) if effort else None,
        user=metadata.get("user_id"),
        stop=body.get("stop_sequences"),
    )


def _message_items(role: str, content: object) -> list[InputItem]:
    """The IR items of one native message: content runs become messages, special blocks their own items."""
    items: list[InputItem] = []
    pending: list[ContentPart] = []
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind not in ("tool_use", "tool_result", "thinking", "redacted_thinking"):
            pending.extend(_parts_from_blocks([block], role))
            continue
        if pending:
            items.append(Message(role="assistant" if role == "assistant" else "user", content=pending))
            pending = []
        if kind == "tool_use":
            args = _dumps(block.get("input") or {})
            items.append(FunctionCall(call_id=str(block.get("id")), name=str(block.get("name")), arguments=args))
        elif kind == "tool_result":
            output = _tool_output(block.get("content"))
            items.append(FunctionCallOutput(call_id=str(block.get("tool_use_id")), output=output))
        else:
            items.append(_reasoning_item(block))
    if pending:
        items.append(Message(role="assistant" if role == "assistant" else "user", content=pending))
    return items


def _reasoning_item(block: Mapping[str, Any]) -> Reasoning:
    if block.get("type") == "thinking":
        signed = sig.SignedBlock(kind="thinking", data=str(block.get("signature") or ""), text=str(block["thinking"]))
        summary = [SummaryText(text=str(block["thinking"]))] if block.get("thinking") else []
    else:
        signed = sig.SignedBlock(kind="redacted_thinking", data=str(block.get("data") or ""))
        summary = []
    envelope = sig.Envelope(protocol=PROTOCOL, provider="", model="", blocks=(signed,))
    return Reasoning(summary=summary, encrypted_content=sig.encode(envelope))


def _effort_for_budget(budget: object) -> Effort | None:
    if not isinstance(budget, int):
        return None
    best = min(DEFAULT_BUDGETS, key=lambda effort: abs(DEFAULT_BUDGETS[effort] - budget))
    return cast(Effort, best)


__all__ = [
    "API_VERSION",
    "CAPABILITIES",
    "DEFAULT_BUDGETS",
    "ERRORS",
    "FINISH_REASONS",
    "PARAMS",
    "PROTOCOL",
    "STRUCTURED_OUTPUT_TOOL",
    "AnthropicStreamParser",
    "build_request",
    "map_error",
    "parse_request",
    "parse_response",
    "stream_parser",
]
