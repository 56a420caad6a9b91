"""Anthropic Messages ingress: decode and validate a ``POST /v1/messages`` body, then convert it to the IR.

The wire structs mirror protocols.md 3.1-3.3 (anthropic 2.14 ``MessageCreateParams``). One msgspec pass does
type, enum and range checks with the offending field's path as ``param``; content blocks of a type the
gateway does not model (server-tool results, ``search_result``, ``container_upload``...) are dropped with an
``unsupported_field`` warning instead of failing the request.

Conversion to :class:`~interlock.ir.request.ResponseRequest` (protocols.md section 5, read right to left):

* ``system`` -> ``instructions`` (text blocks joined with a newline);
* a user turn's blocks become, in order, user ``message`` items (text, images as data URLs or URLs, PDFs as
  ``input_file``) and one ``function_call_output`` per ``tool_result``; an assistant turn's blocks become
  assistant ``message`` items, one ``reasoning`` item per ``thinking`` / ``redacted_thinking`` block (the
  signature or data in ``encrypted_content``) and one ``function_call`` per ``tool_use`` (``input`` as compact
  JSON, ``id`` as ``call_id``);
* custom tools -> ``function`` tools (``input_schema`` -> ``parameters``); server tools ride as native tools;
  ``tool_choice`` any/tool/none/auto -> required/function/none/auto, ``disable_parallel_tool_use`` ->
  ``parallel_tool_calls: false``;
* ``thinking`` -> ``reasoning`` (a budget becomes an effort: <=2048 low, <=8192 medium, else high;
  ``output_config.effort`` wins; ``display: "omitted"`` -> ``exclude``); ``output_config.format`` ->
  ``text.format``; ``stop_sequences`` -> ``stop``; ``metadata.user_id`` -> ``user``.

:func:`estimate_input_tokens` is the local estimate behind ``POST /v1/messages/count_tokens``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from interlock.ir.chat_in import convert_body
from interlock.ir.errors import GatewayError
from interlock.ir.parse import validate_model_selection, validate_routing
from interlock.ir.request import (
    AnyTool,
    ContentPart,
    Effort,
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    Gateway,
    InputFile,
    InputImage,
    InputItem,
    InputText,
    Message,
    NativeTool,
    OutputText,
    Reasoning,
    ReasoningConfig,
    ResponseRequest,
    SummaryText,
    TextConfig,
    TextFormat,
    ToolChoice,
    ToolOutputPart,
)
from interlock.ir.warnings import RoutingWarning

# --- wire structs -------------------------------------------------------------------------------------------


class _Wire(Struct, kw_only=True, omit_defaults=True):
    """Base of Anthropic wire structs (unknown keys inside objects are tolerated)."""


class AnthropicCacheControl(_Wire):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class _Source(_Wire, tag_field="type"):
    """Base of image/document sources."""


class Base64Source(_Source, tag="base64"):
    media_type: Annotated[str, Meta(min_length=1)]
    data: str


class URLSource(_Source, tag="url"):
    url: Annotated[str, Meta(min_length=1)]


class FileSource(_Source, tag="file"):
    file_id: Annotated[str, Meta(min_length=1)]


class PlainTextSource(_Source, tag="text"):
    data: str
    media_type: Literal["text/plain"] = "text/plain"


class _Block(_Wire, tag_field="type"):
    """Base of content blocks."""


class TextBlock(_Block, tag="text"):
    text: str
    cache_control: AnthropicCacheControl | None = None
    citations: list[dict[str, Any]] | None = None


class ImageBlock(_Block, tag="image"):
    source: Base64Source | URLSource | FileSource
    cache_control: AnthropicCacheControl | None = None


class ContentSource(_Source, tag="content"):
    content: str | list[TextBlock | ImageBlock]


class DocumentBlock(_Block, tag="document"):
    source: Base64Source | PlainTextSource | URLSource | FileSource | ContentSource
    title: str | None = None
    context: str | None = None
    citations: dict[str, Any] | None = None
    cache_control: AnthropicCacheControl | None = None


class UnsupportedBlock(_Block, tag="__unsupported__"):
    """Placeholder for a block type the gateway does not model (it is dropped with a warning)."""

    kind: str = ""


ResultBlock = TextBlock | ImageBlock | DocumentBlock | UnsupportedBlock


class ToolUseBlock(_Block, tag="tool_use"):
    id: Annotated[str, Meta(min_length=1)]
    name: Annotated[str, Meta(min_length=1)]
    input: dict[str, Any]
    cache_control: AnthropicCacheControl | None = None


class ToolResultBlock(_Block, tag="tool_result"):
    tool_use_id: Annotated[str, Meta(min_length=1)]
    content: str | list[ResultBlock] | None = None
    is_error: bool | None = None
    cache_control: AnthropicCacheControl | None = None


class AnthropicThinkingBlock(_Block, tag="thinking"):
    thinking: str
    signature: str = ""


class RedactedThinkingBlock(_Block, tag="redacted_thinking"):
    data: str


Block = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | AnthropicThinkingBlock
    | RedactedThinkingBlock
    | UnsupportedBlock
)


class AnthropicMessage(_Wire):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class CustomTool(_Wire):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    input_schema: dict[str, Any]
    description: str | None = None
    type: Literal["custom"] | None = None
    strict: bool | None = None
    cache_control: AnthropicCacheControl | None = None


class _Choice(_Wire, tag_field="type"):
    """Base of tool_choice variants."""


class ChoiceAuto(_Choice, tag="auto"):
    disable_parallel_tool_use: bool | None = None


class ChoiceAny(_Choice, tag="any"):
    disable_parallel_tool_use: bool | None = None


class ChoiceTool(_Choice, tag="tool"):
    name: Annotated[str, Meta(min_length=1)]
    disable_parallel_tool_use: bool | None = None


class ChoiceNone(_Choice, tag="none"):
    pass


class _Thinking(_Wire, tag_field="type"):
    """Base of thinking configurations."""


class ThinkingEnabled(_Thinking, tag="enabled"):
    budget_tokens: Annotated[int, Meta(ge=1024)]
    display: Literal["summarized", "omitted"] | None = None


class ThinkingDisabled(_Thinking, tag="disabled"):
    pass


class ThinkingAdaptive(_Thinking, tag="adaptive"):
    display: Literal["summarized", "omitted"] | None = None


class ThinkingBetweenTools(_Thinking, tag="between_tools"):
    display: Literal["summarized", "omitted"] | None = None


class JsonOutputFormat(_Wire):
    type: Literal["json_schema"]
    schema: dict[str, Any]


class OutputConfig(_Wire):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: JsonOutputFormat | None = None


class AnthropicMetadata(_Wire):
    user_id: str | None = None


Unit = Annotated[float, Meta(ge=0, le=1)]


class MessagesRequest(_Wire):
    """An Anthropic Messages request (protocols.md 3.1) plus the gateway namespaces."""

    messages: Annotated[list[AnthropicMessage], Meta(min_length=1)]
    model: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    max_tokens: Annotated[int, Meta(ge=1)] | None = None
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    temperature: Unit | None = None
    top_p: Unit | None = None
    top_k: Annotated[int, Meta(ge=0)] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: ChoiceAuto | ChoiceAny | ChoiceTool | ChoiceNone | None = None
    thinking: ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive | ThinkingBetweenTools | None = None
    output_config: OutputConfig | None = None
    output_format: JsonOutputFormat | None = None
    metadata: AnthropicMetadata | None = None
    stream: bool = False
    gateway: Gateway | None = None
    extensions: dict[str, Any] | None = None


MESSAGES_FIELDS: frozenset[str] = frozenset(MessagesRequest.__struct_fields__)

# Anthropic fields the gateway accepts and ignores.
IGNORED_FIELDS: dict[str, str] = {
    "cache_control": "the gateway applies prompt caching itself",
    "container": "containers are not supported",
    "inference_geo": "the gateway chooses where requests run",
    "speed": "use gateway.routing.tier",
    "diagnostics": "diagnostics are not supported",
    "service_tier": "use gateway.routing.tier",
    "mcp_servers": "MCP servers are not supported",
    "context_management": "context management is not supported",
}

_KNOWN_BLOCKS = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"})
_RESULT_BLOCKS = frozenset({"text", "image", "document"})

# --- entry points -------------------------------------------------------------------------------------------


def _warn(code: str, message: str) -> RoutingWarning:
    return RoutingWarning(type="unsupported_field", code=code[:64], message=message)


def decode_messages_request(body: Any, *, count_tokens: bool = False) -> tuple[MessagesRequest, list[RoutingWarning]]:
    """Validate a decoded body into :class:`MessagesRequest`; ``count_tokens`` waives ``max_tokens``."""
    if not isinstance(body, dict):
        raise GatewayError("invalid_request", "The request body must be a JSON object.")
    data = dict(body)
    warnings: list[RoutingWarning] = []
    for key in [k for k in data if k not in MESSAGES_FIELDS]:
        del data[key]
        why = IGNORED_FIELDS.get(key)
        message = f"Ignored field '{key}': {why}." if why else f"Ignored unknown field '{key}'."
        warnings.append(_warn(f"unsupported_field_{key}", message))
    if isinstance(data.get("messages"), list):
        dropped: set[str] = set()
        data["messages"] = [_normalise_message(m, dropped) for m in data["messages"]]
        for kind in sorted(dropped):
            warnings.append(_warn(f"block_{kind}_dropped", f"Dropped content blocks of type '{kind}'."))
    req = convert_body(data, MessagesRequest)
    if req.max_tokens is None and not count_tokens:
        raise GatewayError(
            "missing_required_parameter", "Missing required parameter: 'max_tokens'.", param="max_tokens"
        )
    validate_model_selection(req.model, req.gateway)
    if req.gateway is not None and req.gateway.routing is not None:
        validate_routing(req.gateway.routing)
    return req, warnings


def parse_messages_request(body: Any, *, count_tokens: bool = False) -> tuple[ResponseRequest, list[RoutingWarning]]:
    """Decode, validate and convert a Messages body; returns the IR and the ingress warnings."""
    req, warnings = decode_messages_request(body, count_tokens=count_tokens)
    return messages_to_ir(req), warnings


def _normalise_message(message: Any, dropped: set[str]) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    return {**message, "content": _normalise_blocks(message["content"], _KNOWN_BLOCKS, dropped)}


def _normalise_blocks(blocks: list[Any], known: frozenset[str], dropped: set[str]) -> list[Any]:
    """Replace blocks of unmodelled types with a placeholder (keeps indices, so error params stay exact)."""
    out: list[Any] = []
    for block in blocks:
        if isinstance(block, dict):
            kind = block.get("type")
            if isinstance(kind, str) and kind not in known:
                dropped.add(kind)
                block = {"type": "__unsupported__", "kind": kind}
            elif kind == "tool_result" and isinstance(block.get("content"), list):
                block = {**block, "content": _normalise_blocks(block["content"], _RESULT_BLOCKS, dropped)}
        out.append(block)
    return out


# --- conversion ---------------------------------------------------------------------------------------------


def messages_to_ir(req: MessagesRequest) -> ResponseRequest:
    """The IR for a validated Messages request."""
    tools = _tools(req.tools)
    names = {t.name for t in tools or [] if isinstance(t, FunctionTool)}
    tool_choice, parallel = _tool_choice(req.tool_choice, names)
    fmt = req.output_config.format if req.output_config is not None else None
    fmt = fmt or req.output_format
    text = TextConfig(format=TextFormat(type="json_schema", name="output", schema=fmt.schema)) if fmt else None
    return ResponseRequest(
        model=req.model,
        input=_items(req.messages),
        instructions=_system(req.system),
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        max_output_tokens=req.max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        top_k=req.top_k,
        stream=req.stream,
        text=text,
        reasoning=_reasoning(req),
        user=req.metadata.user_id if req.metadata is not None else None,
        gateway=req.gateway,
        extensions=req.extensions,
        stop=req.stop_sequences or None,
    )


def _system(system: str | list[TextBlock] | None) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    return "\n".join(b.text for b in system) or None


def _tools(raw: list[dict[str, Any]] | None) -> list[AnyTool] | None:
    if raw is None:
        return None
    tools: list[AnyTool] = []
    for i, tool in enumerate(raw):
        kind = tool.get("type")
        if kind is None or kind == "custom":
            custom = convert_body(tool, CustomTool, f"tools[{i}]")
            tools.append(
                FunctionTool(
                    name=custom.name,
                    description=custom.description,
                    parameters=custom.input_schema,
                    strict=custom.strict,
                )
            )
        elif isinstance(kind, str):
            tools.append(NativeTool(raw=tool))  # a server tool (web_search_20250305...): native targets only
        else:
            raise GatewayError("invalid_parameter_value", "A tool's 'type' must be a string.", param=f"tools[{i}].type")
    return tools


def _tool_choice(
    choice: ChoiceAuto | ChoiceAny | ChoiceTool | ChoiceNone | None, names: set[str]
) -> tuple[ToolChoice | None, bool | None]:
    if choice is None:
        return None, None
    if isinstance(choice, ChoiceNone):
        return "none", None
    parallel = False if choice.disable_parallel_tool_use else None
    if isinstance(choice, ChoiceAuto):
        return "auto", parallel
    if isinstance(choice, ChoiceAny):
        return "required", parallel
    if choice.name not in names:
        raise GatewayError(
            "invalid_parameter_value",
            f"tool_choice names '{choice.name}', which is not among the tools.",
            param="tool_choice.name",
        )
    return {"type": "function", "name": choice.name}, parallel


def _reasoning(req: MessagesRequest) -> ReasoningConfig | None:
    thinking = req.thinking
    effort: Effort | None = req.output_config.effort if req.output_config is not None else None
    if thinking is None:
        return ReasoningConfig(effort=effort) if effort is not None else None
    if isinstance(thinking, ThinkingDisabled):
        return ReasoningConfig(effort="none")
    if effort is None:
        if isinstance(thinking, ThinkingEnabled):
            budget = thinking.budget_tokens
            effort = "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"
        else:
            effort = "medium"
    omitted = thinking.display == "omitted"
    return ReasoningConfig(effort=effort, summary="auto", exclude=True if omitted else None)


def _items(messages: list[AnthropicMessage]) -> list[InputItem]:
    items: list[InputItem] = []
    for msg in messages:
        items.extend(_turn_items(msg))
    return items


def _turn_items(msg: AnthropicMessage) -> list[InputItem]:
    """One turn's items: runs of text and media become messages; every other block is its own item."""
    if isinstance(msg.content, str):
        return [Message(role=msg.role, content=msg.content)] if msg.content or msg.role == "user" else []
    items: list[InputItem] = []
    pending: list[ContentPart] = []

    def flush() -> None:
        if pending:
            items.append(Message(role=msg.role, content=list(pending)))
            pending.clear()

    for block in msg.content:
        if isinstance(block, ToolResultBlock):
            flush()
            items.append(FunctionCallOutput(call_id=block.tool_use_id, output=_tool_output(block.content)))
        elif isinstance(block, ToolUseBlock):
            flush()
            items.append(FunctionCall(call_id=block.id, name=block.name, arguments=compact_json(block.input)))
        elif isinstance(block, AnthropicThinkingBlock):
            flush()
            summary = [SummaryText(text=block.thinking)] if block.thinking else []
            items.append(Reasoning(summary=summary, encrypted_content=block.signature or None))
        elif isinstance(block, RedactedThinkingBlock):
            flush()
            items.append(Reasoning(encrypted_content=block.data))
        elif isinstance(block, TextBlock):
            if msg.role == "assistant":
                if block.text:
                    pending.append(OutputText(text=block.text))
            else:
                pending.append(InputText(text=block.text))
        elif isinstance(block, ImageBlock | DocumentBlock):
            pending.extend(_media(block))
    flush()
    return items


def _media(block: ImageBlock | DocumentBlock) -> list[ContentPart]:
    src = block.source
    if isinstance(block, ImageBlock):
        if isinstance(src, Base64Source):
            return [InputImage(image_url=f"data:{src.media_type};base64,{src.data}")]
        if isinstance(src, URLSource):
            return [InputImage(image_url=src.url)]
        assert isinstance(src, FileSource)
        return [InputImage(file_id=src.file_id)]
    title = block.title
    if isinstance(src, Base64Source):
        name = title or ("document.pdf" if src.media_type == "application/pdf" else "document")
        return [InputFile(file_data=f"data:{src.media_type};base64,{src.data}", filename=name)]
    if isinstance(src, PlainTextSource):
        return [InputText(text=f"{title}\n{src.data}" if title else src.data)]
    if isinstance(src, URLSource):
        return [InputFile(file_url=src.url, filename=title)]
    if isinstance(src, FileSource):
        return [InputFile(file_id=src.file_id, filename=title)]
    if isinstance(src.content, str):
        return [InputText(text=src.content)]
    parts: list[ContentPart] = []
    for inner in src.content:
        parts.extend([InputText(text=inner.text)] if isinstance(inner, TextBlock) else _media(inner))
    return parts


def _tool_output(content: str | list[ResultBlock] | None) -> str | list[ToolOutputPart]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[ToolOutputPart] = []
    for block in content:
        if isinstance(block, TextBlock):
            parts.append(InputText(text=block.text))
        elif isinstance(block, ImageBlock | DocumentBlock):
            parts.extend(p for p in _media(block) if isinstance(p, InputText | InputImage | InputFile))
    if all(isinstance(p, InputText) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, InputText))
    return parts


def compact_json(value: Any) -> str:
    """Arguments as OpenAI shapes carry them: compact JSON (protocols.md 5.5)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- count_tokens -------------------------------------------------------------------------------------------

# Word pieces of up to four characters, then single symbols: roughly what a BPE tokenizer produces for English
# text and code. Non-ASCII letters (CJK, emoji...) count one token each, which over-counts slightly for
# accented Latin text and is close for CJK.
_TOKEN_RE = re.compile(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9]")
IMAGE_TOKENS = 1600  # Anthropic's estimate for a ~1.15 megapixel image ((w*h)/750)
DOCUMENT_TOKENS_PER_100KB = 1500
MESSAGE_OVERHEAD = 4  # role and turn delimiters
TOOLS_OVERHEAD = 350  # the tool-use system prompt Anthropic adds when tools are present


def estimate_text_tokens(text: str) -> int:
    """A fast, dependency-free token estimate for ``text`` (see :func:`estimate_input_tokens`)."""
    total = 0
    for match in _TOKEN_RE.finditer(text):
        piece = match.group()
        if piece.isascii() and piece.isalnum():
            total += math.ceil(len(piece) / 4)
        else:
            total += 1
    return total


def estimate_input_tokens(req: ResponseRequest) -> int:
    """Estimate the input tokens of an IR request without calling any upstream.

    Method: text (instructions, message text, tool calls and results, reasoning summaries, JSON tool schemas)
    is split into letter runs, digit runs and single symbols; a run of n letters or digits counts ceil(n/4)
    tokens and every symbol or non-ASCII character one. Each message adds 4 tokens of framing, each image a
    flat 1,600, each embedded document 1,500 per started 100 KB, and a request with tools 350 for the tool-use
    preamble. It is an estimate (typically within 15% for English prose and code), fast enough to run per
    request, and the same for every model.
    """
    total = estimate_text_tokens(req.instructions or "")
    for item in req.input_items():
        total += MESSAGE_OVERHEAD
        if isinstance(item, Message):
            total += _content_tokens(item.content)
        elif isinstance(item, FunctionCall):
            total += estimate_text_tokens(item.name) + estimate_text_tokens(item.arguments)
        elif isinstance(item, FunctionCallOutput):
            total += _content_tokens(item.output)
        elif isinstance(item, Reasoning):
            total += sum(estimate_text_tokens(s.text) for s in item.summary)
    if req.tools:
        total += TOOLS_OVERHEAD
        for tool in req.tools:
            total += estimate_text_tokens(msgspec.json.encode(tool).decode())
    return max(total, 1)


def _content_tokens(content: str | list[Any]) -> int:
    if isinstance(content, str):
        return estimate_text_tokens(content)
    total = 0
    for part in content:
        if isinstance(part, InputImage):
            total += IMAGE_TOKENS
        elif isinstance(part, InputFile):
            size = len(part.file_data or "") * 3 // 4
            total += DOCUMENT_TOKENS_PER_100KB * max(1, math.ceil(size / 100_000))
        else:
            total += estimate_text_tokens(getattr(part, "text", None) or getattr(part, "refusal", "") or "")
    return total


__all__ = [
    "MESSAGES_FIELDS",
    "MessagesRequest",
    "compact_json",
    "decode_messages_request",
    "estimate_input_tokens",
    "estimate_text_tokens",
    "messages_to_ir",
    "parse_messages_request",
]
