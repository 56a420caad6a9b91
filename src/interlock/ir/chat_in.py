"""Chat Completions ingress: decode and validate a ``POST /v1/chat/completions`` body, then convert it to the IR.

The wire structs below mirror auriko-api.md 1.1 (the 32 request fields plus the legacy ``functions`` /
``function_call``) and the message shapes of the SDK's ``chat_params.py``. One msgspec pass validates types,
enums and ranges; failures become ``invalid_parameter_value`` / ``missing_required_parameter`` with the
dotted/indexed ``param`` of the offending field (``messages[2].content[0].image_url.url``), like ``ir.parse``.

Conversion to :class:`~interlock.ir.request.ResponseRequest` (auriko-api.md 1.2 "Chat->Responses mapping"):

* ``messages`` -> ``input`` items, in order: system/developer/user messages stay messages; an assistant message
  becomes its reasoning blocks (``reasoning`` items, signature in ``encrypted_content``), then its text/refusal
  (an assistant ``message``), then one ``function_call`` item per tool call; ``tool`` messages become
  ``function_call_output`` items. Legacy ``function_call`` / ``role:"function"`` messages get synthesized call
  ids so they pair up like modern tool calls.
* Nested tool definitions become flat ``function`` tools; ``tool_choice`` objects become the Responses shape;
  ``functions`` / ``function_call`` are used only when ``tools`` / ``tool_choice`` are absent.
* ``response_format`` -> ``text.format``; ``verbosity`` -> ``text.verbosity``; ``reasoning_effort`` and
  ``reasoning.exclude`` -> ``reasoning``; ``max_completion_tokens`` (else ``max_tokens``) -> ``max_output_tokens``.
* Request fields with no IR slot (``min_p``, ``top_a``, ``repetition_penalty``, ``web_search_options``) ride in
  ``extra_params``; OpenAI fields the gateway ignores (``metadata``, ``store``, ``service_tier``...) and unknown
  fields are dropped with an ``unsupported_field`` warning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from interlock.ir.errors import GatewayError
from interlock.ir.parse import _param_of, validate_model_selection, validate_routing
from interlock.ir.request import (
    AnyTool,
    ContentPart,
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    Gateway,
    InputFile,
    InputImage,
    InputItem,
    InputText,
    Message,
    OutputText,
    Reasoning,
    ReasoningConfig,
    RefusalPart,
    ResponseRequest,
    SummaryText,
    TextConfig,
    TextFormat,
    ToolChoice,
)
from interlock.ir.warnings import RoutingWarning

# --- wire structs -------------------------------------------------------------------------------------------


class _Wire(Struct, kw_only=True, omit_defaults=True):
    """Base of Chat wire structs (unknown keys inside objects are tolerated, as OpenAI does)."""


class ChatCacheControl(_Wire, forbid_unknown_fields=True):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class _Part(_Wire, tag_field="type"):
    """Base of content parts."""


class ChatTextPart(_Part, tag="text"):
    text: str
    cache_control: ChatCacheControl | None = None


class ImageURL(_Wire):
    url: Annotated[str, Meta(min_length=1)]
    detail: Literal["auto", "low", "high"] | None = None


class ChatImagePart(_Part, tag="image_url"):
    image_url: ImageURL
    cache_control: ChatCacheControl | None = None


class ChatFile(_Wire):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class ChatFilePart(_Part, tag="file"):
    file: ChatFile


class ChatRefusalPart(_Part, tag="refusal"):
    refusal: str


UserPart = ChatTextPart | ChatImagePart | ChatFilePart
AssistantPart = ChatTextPart | ChatRefusalPart


class _Block(_Wire, tag_field="type"):
    """Base of assistant reasoning blocks (auriko-api.md 1.1)."""


class ChatThinkingBlock(_Block, tag="thinking"):
    thinking: str
    signature: str = ""


class ChatRedactedBlock(_Block, tag="redacted"):
    data: str


class ToolCallFunction(_Wire):
    name: Annotated[str, Meta(min_length=1)]
    arguments: str


class ToolCallParam(_Wire):
    id: Annotated[str, Meta(min_length=1)]
    function: ToolCallFunction
    type: Literal["function"] = "function"
    provider_signature: str | None = None


class _Msg(_Wire, tag_field="role"):
    """Base of messages; ``role`` is the tag."""


class SystemMessage(_Msg, tag="system"):
    content: str | list[ChatTextPart]
    name: str | None = None


class DeveloperMessage(_Msg, tag="developer"):
    content: str | list[ChatTextPart]
    name: str | None = None


class UserMessage(_Msg, tag="user"):
    content: str | list[UserPart]
    name: str | None = None


class AssistantMessage(_Msg, tag="assistant"):
    content: str | list[AssistantPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallParam] | None = None
    reasoning: list[ChatThinkingBlock | ChatRedactedBlock] | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    function_call: ToolCallFunction | None = None


class ToolMessage(_Msg, tag="tool"):
    content: str | list[ChatTextPart]
    tool_call_id: Annotated[str, Meta(min_length=1)]


class FunctionMessage(_Msg, tag="function"):
    """Deprecated: the result of a legacy ``function_call``."""

    name: Annotated[str, Meta(min_length=1)]
    content: str | None = None


ChatMessage = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage


class FunctionDef(_Wire):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatTool(_Wire):
    type: Literal["function"]
    function: FunctionDef


class FunctionName(_Wire):
    name: Annotated[str, Meta(min_length=1)]


class _Format(_Wire, tag_field="type"):
    """Base of ``response_format`` variants."""


class FormatText(_Format, tag="text"):
    pass


class FormatJsonObject(_Format, tag="json_object"):
    pass


class JsonSchemaSpec(_Wire):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    schema: dict[str, Any]
    description: str | None = None
    strict: bool | None = None


class FormatJsonSchema(_Format, tag="json_schema"):
    json_schema: JsonSchemaSpec


ResponseFormat = FormatText | FormatJsonObject | FormatJsonSchema


class StreamOptions(_Wire):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ChatReasoning(_Wire):
    """The top-level ``reasoning`` object: ``exclude`` (auriko-api.md 1.1); ``effort`` as OpenRouter sends it."""

    exclude: bool | None = None
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max", "off"] | None = None


ChatEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max", "off"]
Penalty = Annotated[float, Meta(ge=-2, le=2)]
Unit = Annotated[float, Meta(ge=0, le=1)]


class ChatRequest(_Wire):
    """A Chat Completions request: the 32 fields of auriko-api.md 1.1 plus legacy ``functions``/``function_call``."""

    messages: Annotated[list[ChatMessage], Meta(min_length=1)]
    model: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    gateway: Gateway | None = None
    extensions: dict[str, Any] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Unit | None = None
    max_tokens: Annotated[int, Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Meta(ge=1)] | None = None
    reasoning_effort: ChatEffort | None = None
    reasoning: ChatReasoning | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    top_k: Annotated[int, Meta(ge=0)] | None = None
    min_p: Unit | None = None
    top_a: Unit | None = None
    repetition_penalty: Annotated[float, Meta(gt=0, le=2)] | None = None
    stop: str | Annotated[list[str], Meta(max_length=4)] | None = None
    seed: int | None = None
    n: Annotated[int, Meta(ge=1, le=128)] | None = None
    tools: list[ChatTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    logit_bias: dict[str, Annotated[float, Meta(ge=-100, le=100)]] | None = None
    user: str | None = None
    web_search_options: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    functions: Annotated[list[FunctionDef], Meta(min_length=1)] | None = None
    function_call: Literal["none", "auto"] | FunctionName | None = None


CHAT_FIELDS: frozenset[str] = frozenset(ChatRequest.__struct_fields__)

# OpenAI Chat fields the gateway accepts and ignores (auriko-api.md 1.1 "silently-dropped fields").
IGNORED_FIELDS: dict[str, str] = {
    "metadata": "use gateway.metadata instead",
    "store": "the gateway stores no chat completions",
    "service_tier": "the gateway chooses the tier (gateway.routing.tier)",
    "prediction": "predicted outputs are not supported",
    "modalities": "only text output is supported",
    "audio": "audio output is not supported",
    "prompt_cache_retention": "the gateway manages prompt caching",
}

# Parameters without an IR field (normalise reads them from ``extra_params``).
EXTRA_PARAMS: tuple[str, ...] = ("min_p", "top_a", "repetition_penalty", "web_search_options")

# --- entry point --------------------------------------------------------------------------------------------


def _warn(
    type_: Literal["unsupported_field", "unsupported_parameter", "unsupported_feature"], code: str, message: str
) -> RoutingWarning:
    return RoutingWarning(type=type_, code=code[:64], message=message)


T = TypeVar("T")


def convert_body(data: dict[str, Any], kind: type[T], prefix: str = "") -> T:
    """One strict msgspec pass; failures become the documented error with the field's path as ``param``.

    JSON has one number type: ``2.0`` is a valid integer to JSON Schema (and to OpenAI), but not to a strict
    msgspec ``int``. Only when the fast path fails, integral floats are turned into ints and the body retried.
    """
    try:
        return msgspec.convert(data, kind, strict=True)
    except msgspec.ValidationError as exc:
        error = exc
    fixed, changed = _integral_floats(data)
    if changed:
        try:
            return msgspec.convert(fixed, kind, strict=True)
        except msgspec.ValidationError as exc:
            error = exc
    raise validation_error(error, prefix) from None


def _integral_floats(value: Any) -> tuple[Any, bool]:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value), True
    if isinstance(value, dict):
        pairs = [(k, _integral_floats(v)) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, any(c for _, (_, c) in pairs)
    if isinstance(value, list):
        items = [_integral_floats(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def validation_error(exc: msgspec.ValidationError, prefix: str = "") -> GatewayError:
    """The documented error for a msgspec validation failure; ``param`` is the field path (map keys elided)."""
    code, param, msg = _param_of(exc, prefix)
    if param is not None:
        param = param.replace("[...]", "")
    return GatewayError(code, f"Invalid value for '{param}': {msg}" if param else msg, param=param)


def decode_chat_request(body: Any) -> tuple[ChatRequest, list[RoutingWarning]]:
    """Validate a decoded body into :class:`ChatRequest`; unknown and ignored fields become warnings."""
    if not isinstance(body, dict):
        raise GatewayError("invalid_request", "The request body must be a JSON object.")
    data = dict(body)
    warnings: list[RoutingWarning] = []
    for key in [k for k in data if k not in CHAT_FIELDS]:
        del data[key]
        why = IGNORED_FIELDS.get(key)
        message = f"Ignored field '{key}': {why}." if why else f"Ignored unknown field '{key}'."
        warnings.append(_warn("unsupported_field", f"unsupported_field_{key}", message))
    chat = convert_body(data, ChatRequest)
    validate_model_selection(chat.model, chat.gateway)
    if chat.gateway is not None and chat.gateway.routing is not None:
        validate_routing(chat.gateway.routing)
    return chat, warnings


def parse_chat_request(body: Any) -> tuple[ResponseRequest, list[RoutingWarning]]:
    """Decode, validate and convert a Chat Completions body; returns the IR and the ingress warnings."""
    chat, warnings = decode_chat_request(body)
    return chat_to_ir(chat, warnings), warnings


def chat_to_ir(chat: ChatRequest, warnings: list[RoutingWarning]) -> ResponseRequest:
    """The IR for a validated Chat request; appends the warnings conversion produces to ``warnings``."""
    tools = _tools(chat)
    tool_choice = _tool_choice(chat, tools)
    items, cache_marked = _messages(chat.messages)
    if cache_marked:
        warnings.append(
            _warn(
                "unsupported_field",
                "cache_control_ignored",
                "cache_control markers are not forwarded; the gateway applies prompt caching itself.",
            )
        )
    n = chat.n
    if n is not None and n > 1:
        warnings.append(
            _warn("unsupported_parameter", "n_dropped", "'n' > 1 is not supported; one choice is returned.")
        )
        n = None
    if chat.logprobs or chat.top_logprobs:
        warnings.append(
            _warn("unsupported_feature", "logprobs_not_returned", "Log probabilities are not returned by this gateway.")
        )
    extra = {name: getattr(chat, name) for name in EXTRA_PARAMS if getattr(chat, name) is not None}
    return ResponseRequest(
        model=chat.model,
        input=items,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=chat.parallel_tool_calls,
        max_output_tokens=chat.max_completion_tokens if chat.max_completion_tokens is not None else chat.max_tokens,
        temperature=chat.temperature,
        top_p=chat.top_p,
        top_k=chat.top_k,
        top_logprobs=chat.top_logprobs,
        frequency_penalty=chat.frequency_penalty,
        presence_penalty=chat.presence_penalty,
        stream=chat.stream,
        text=_text(chat),
        reasoning=_reasoning(chat),
        user=chat.user,
        prompt_cache_key=chat.prompt_cache_key,
        safety_identifier=chat.safety_identifier,
        gateway=chat.gateway,
        extensions=chat.extensions,
        stop=[chat.stop] if isinstance(chat.stop, str) else chat.stop,
        seed=chat.seed,
        n=n,
        logit_bias=chat.logit_bias,
        logprobs=chat.logprobs,
        extra_params=extra or None,
    )


# --- fields -------------------------------------------------------------------------------------------------


def _tools(chat: ChatRequest) -> list[AnyTool] | None:
    if chat.tools is not None:
        defs = [t.function for t in chat.tools]
    elif chat.functions is not None:
        defs = chat.functions  # legacy, used only when ``tools`` is absent
    else:
        return None
    return [
        FunctionTool(name=d.name, description=d.description, parameters=d.parameters, strict=d.strict) for d in defs
    ]


def _tool_choice(chat: ChatRequest, tools: list[AnyTool] | None) -> ToolChoice | None:
    names = {t.name for t in tools or [] if isinstance(t, FunctionTool)}
    choice = chat.tool_choice
    if choice is None and chat.tools is None and chat.function_call is not None:
        legacy = chat.function_call
        if isinstance(legacy, FunctionName):
            return _named(legacy.name, names, "function_call")
        return legacy
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice == "required" and not names:
            raise GatewayError(
                "invalid_parameter_value", "tool_choice 'required' needs at least one tool.", param="tool_choice"
            )
        return choice
    kind = choice.get("type")
    if kind == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise GatewayError(
                "invalid_parameter_value", "tool_choice of type 'function' needs function.name.", param="tool_choice"
            )
        return _named(name, names, "tool_choice")
    if kind == "allowed_tools":
        spec = choice.get("allowed_tools")
        mode = spec.get("mode") if isinstance(spec, dict) else None
        listed = spec.get("tools") if isinstance(spec, dict) else None
        if mode not in ("auto", "required") or not isinstance(listed, list) or not listed:
            raise GatewayError(
                "invalid_parameter_value",
                "allowed_tools needs mode 'auto' or 'required' and a non-empty tools list.",
                param="tool_choice.allowed_tools",
            )
        allowed: list[dict[str, str]] = []
        for i, entry in enumerate(listed):
            fn = entry.get("function") if isinstance(entry, dict) else None
            name = fn.get("name") if isinstance(fn, dict) else None
            if not isinstance(name, str) or name not in names:
                raise GatewayError(
                    "invalid_parameter_value",
                    "allowed_tools entries must name one of the tools.",
                    param=f"tool_choice.allowed_tools.tools[{i}]",
                )
            allowed.append({"type": "function", "name": name})
        return {"type": "allowed_tools", "mode": mode, "tools": allowed}
    raise GatewayError(
        "invalid_parameter_value",
        "tool_choice must be 'auto', 'none', 'required' or a function/allowed_tools object.",
        param="tool_choice",
    )


def _named(name: str, names: set[str], param: str) -> dict[str, Any]:
    if name not in names:
        raise GatewayError(
            "invalid_parameter_value", f"{param} names '{name}', which is not among the tools.", param=param
        )
    return {"type": "function", "name": name}


def _text(chat: ChatRequest) -> TextConfig | None:
    fmt: TextFormat | None = None
    rf = chat.response_format
    if isinstance(rf, FormatJsonSchema):
        spec = rf.json_schema
        fmt = TextFormat(
            type="json_schema", name=spec.name, schema=spec.schema, description=spec.description, strict=spec.strict
        )
    elif isinstance(rf, FormatJsonObject):
        fmt = TextFormat(type="json_object")
    elif isinstance(rf, FormatText):
        fmt = TextFormat(type="text")
    if fmt is None and chat.verbosity is None:
        return None
    return TextConfig(format=fmt, verbosity=chat.verbosity)


def _reasoning(chat: ChatRequest) -> ReasoningConfig | None:
    effort = chat.reasoning_effort
    if effort is None and chat.reasoning is not None:
        effort = chat.reasoning.effort
    exclude = chat.reasoning.exclude if chat.reasoning is not None else None
    if effort is None and exclude is None:
        return None
    # Chat clients read reasoning text from reasoning_content: ask for visible reasoning (protocols.md 5.12 #19).
    visible = effort is not None and effort not in ("none", "off") and not exclude
    return ReasoningConfig(effort=effort, summary="auto" if visible else None, exclude=exclude)


# --- messages -----------------------------------------------------------------------------------------------


def _messages(messages: list[ChatMessage]) -> tuple[list[InputItem], bool]:
    """Input items for ``messages`` and whether any part carried ``cache_control``."""
    items: list[InputItem] = []
    cache_marked = False
    legacy_ids: dict[str, list[str]] = {}  # legacy function name -> synthesized call ids not yet answered
    legacy_count = 0
    for msg in messages:
        if isinstance(msg, SystemMessage | DeveloperMessage):
            role: Literal["system", "developer"] = "system" if isinstance(msg, SystemMessage) else "developer"
            if isinstance(msg.content, str):
                items.append(Message(role=role, content=msg.content))
            else:
                cache_marked |= any(p.cache_control is not None for p in msg.content)
                items.append(Message(role=role, content=[InputText(text=p.text) for p in msg.content]))
        elif isinstance(msg, UserMessage):
            if isinstance(msg.content, str):
                items.append(Message(role="user", content=msg.content))
            else:
                parts: list[ContentPart] = []
                for p in msg.content:
                    if isinstance(p, ChatTextPart):
                        cache_marked |= p.cache_control is not None
                        parts.append(InputText(text=p.text))
                    elif isinstance(p, ChatImagePart):
                        cache_marked |= p.cache_control is not None
                        parts.append(InputImage(image_url=p.image_url.url, detail=p.image_url.detail))
                    else:
                        f = p.file
                        parts.append(InputFile(file_data=f.file_data, file_id=f.file_id, filename=f.filename))
                items.append(Message(role="user", content=parts))
        elif isinstance(msg, AssistantMessage):
            items.extend(_assistant_reasoning(msg))
            content = _assistant_content(msg)
            if content is not None:
                items.append(Message(role="assistant", content=content))
            for call in msg.tool_calls or []:
                if call.provider_signature:
                    # The only IR slot for opaque replay data: a reasoning item just before the call it belongs to.
                    items.append(Reasoning(encrypted_content=call.provider_signature))
                items.append(FunctionCall(call_id=call.id, name=call.function.name, arguments=call.function.arguments))
            if msg.function_call is not None:
                legacy_count += 1
                call_id = f"call_legacy_{legacy_count}"
                legacy_ids.setdefault(msg.function_call.name, []).append(call_id)
                items.append(
                    FunctionCall(call_id=call_id, name=msg.function_call.name, arguments=msg.function_call.arguments)
                )
        elif isinstance(msg, ToolMessage):
            output = msg.content if isinstance(msg.content, str) else "".join(p.text for p in msg.content)
            items.append(FunctionCallOutput(call_id=msg.tool_call_id, output=output))
        else:
            pending = legacy_ids.get(msg.name)
            if pending:
                call_id = pending.pop(0)
            else:  # a result with no call in the history: give it a call so every provider accepts the pair
                legacy_count += 1
                call_id = f"call_legacy_{legacy_count}"
                items.append(FunctionCall(call_id=call_id, name=msg.name, arguments="{}"))
            items.append(FunctionCallOutput(call_id=call_id, output=msg.content or ""))
    return items, cache_marked


def _assistant_reasoning(msg: AssistantMessage) -> list[InputItem]:
    if msg.reasoning:
        out: list[InputItem] = []
        for block in msg.reasoning:
            if isinstance(block, ChatThinkingBlock):
                summary = [SummaryText(text=block.thinking)] if block.thinking else []
                out.append(Reasoning(summary=summary, encrypted_content=block.signature or None))
            else:
                out.append(Reasoning(encrypted_content=block.data))
        return out
    if msg.reasoning_content:
        return [Reasoning(summary=[SummaryText(text=msg.reasoning_content)])]
    return []


def _assistant_content(msg: AssistantMessage) -> str | list[ContentPart] | None:
    parts: list[ContentPart] = []
    if isinstance(msg.content, str):
        if msg.content:
            parts.append(OutputText(text=msg.content))
    elif msg.content is not None:
        for p in msg.content:
            if isinstance(p, ChatTextPart):
                if p.text:
                    parts.append(OutputText(text=p.text))
            elif p.refusal:
                parts.append(RefusalPart(refusal=p.refusal))
    if msg.refusal:
        parts.append(RefusalPart(refusal=msg.refusal))
    if not parts:
        return None
    if len(parts) == 1 and isinstance(parts[0], OutputText):
        return parts[0].text
    return parts


__all__ = [
    "CHAT_FIELDS",
    "EXTRA_PARAMS",
    "IGNORED_FIELDS",
    "ChatRequest",
    "chat_to_ir",
    "convert_body",
    "decode_chat_request",
    "parse_chat_request",
    "validation_error",
]
