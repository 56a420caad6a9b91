"""Adapter for any OpenAI-compatible Chat Completions server (``POST {base_url}/chat/completions``).

OpenAI itself, DeepSeek, Together, Fireworks, Groq, xAI, Mistral, DeepInfra, vLLM, Ollama: one module, the
differences are data (``PARAMS``, :func:`interlock.providers._openai_common.is_openai`). The request side follows
protocols.md section 5: Response API items become Chat messages, flat function tools become nested ones, and
``text.format`` becomes ``response_format``. What has no Chat equivalent is refused with a documented error
(hosted tools, hosted-tool items, stored conversation state, file ids for images) or dropped with a warning.

Theory of operation (stream parser)
-----------------------------------
Chat chunks carry deltas for one choice; only choice 0 is relayed. Within it, ``reasoning_content`` (or
``reasoning``), ``content`` and ``refusal`` become reasoning, text and refusal deltas; the builder opens and
closes items as the kind changes. Tool calls are the subtle part (pitfalls 5.12 #1 #2): fragments are keyed by
``index``, only the first fragment of a call carries ``id`` and ``name``, and one chunk may carry fragments of
several calls. The builder accepts one open item, so the parser streams one call at a time:

* the first call seen becomes *current*: ``ToolCallStart``, then its fragments as ``ToolCallDelta``;
* a fragment of another call is buffered; when it is a new call and the current call's arguments already form a
  complete JSON object, the current call is ended and the next one promoted (the ordinary sequential case, which
  therefore streams without delay); otherwise (an interleaving upstream) it waits until the current call is
  complete or the choice finishes, and is then emitted whole, in order of first appearance;
* a call whose index was reused with a different ``id`` (a buggy bridge sending every call as index 0) is a new
  call; a fragment without ``index`` is matched by ``id``, else belongs to the latest call.

``finish_reason`` flushes every call and yields ``Finish`` via :data:`FINISH_REASONS` (``stop`` after tool calls
is ``tool_calls``: some servers end calls with ``stop``); usage arrives on the last chunk
(``stream_options.include_usage``) and is cumulative. ``data: [DONE]`` ends the stream (a missing finish_reason
then counts as ``stop``); a payload with a top-level ``error`` yields ``StreamError``; end of input with neither a
finish nor ``[DONE]`` yields ``StreamError`` from :meth:`ChatStreamParser.close`. Text or reasoning arriving while
calls are open closes them first; a late fragment for a closed call is dropped (the builder cannot reopen it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from interlock.ir import events as ev
from interlock.ir.errors import GatewayError, UpstreamError
from interlock.ir.request import (
    ContentPart,
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    InputFile,
    InputImage,
    InputText,
    Message,
    NativeItem,
    NativeTool,
    OutputText,
    Reasoning,
    RefusalPart,
    ResponseRequest,
)
from interlock.ir.warnings import RoutingWarning
from interlock.providers import _openai_common as common
from interlock.providers.base import NativeRequest, ProtocolName, SSEEvent, Target
from interlock.providers.normalise import CODE, GATEWAY, UNSUPPORTED, Param, apply_params, maps_to

PROTOCOL: ProtocolName = "openai-chat"

CAPABILITIES: frozenset[str] = frozenset(
    {
        "tools",
        "tool_choice_required",
        "parallel_tool_calls",
        "vision",
        "json_object",
        "json_schema",
        "reasoning",
        "streaming",
    }
)

# One row per ResponseRequest field (protocols.md 5.0). CODE rows are translated by the function named beside them;
# UNSUPPORTED rows are dropped with a warning when set (truncation "disabled" is the default and passes silently).
# Optional parameters an offering does not accept were already dropped by ``normalise`` before this runs.
PARAMS: dict[str, Param] = {
    "model": CODE,  # target.provider_model_id
    "input": CODE,  # _messages
    "instructions": CODE,  # _messages: a leading system message
    "tools": CODE,  # _tools: nested {type: function, function: {...}}; hosted tools refused
    "tool_choice": CODE,  # _tool_choice
    "parallel_tool_calls": CODE,  # build_request: only with tools (OpenAI rejects it otherwise)
    "max_output_tokens": CODE,  # build_request: max_completion_tokens (OpenAI) or max_tokens
    "temperature": maps_to("temperature"),
    "top_p": maps_to("top_p"),
    "top_k": maps_to("top_k"),  # vLLM, Together, Fireworks... (not OpenAI: normalise drops it there)
    "top_logprobs": CODE,  # _logprobs: needs logprobs: true
    "frequency_penalty": maps_to("frequency_penalty"),
    "presence_penalty": maps_to("presence_penalty"),
    "max_tool_calls": UNSUPPORTED,  # caps hosted tools, which Chat Completions has none of
    "stream": CODE,  # build_request(stream=...) + stream_options.include_usage
    "text": CODE,  # _response_format: format -> response_format, verbosity -> verbosity
    "reasoning": CODE,  # build_request: effort -> reasoning_effort ("off" -> "none"); summaries are not requestable
    "truncation": UNSUPPORTED,
    "metadata": maps_to("metadata"),
    "include": CODE,  # _logprobs: message.output_text.logprobs -> logprobs; nothing else exists in Chat output
    "user": maps_to("user"),
    "store": CODE,  # _state_flags: store=true cannot be honoured (warning); false is what Chat does anyway
    "previous_response_id": CODE,  # build_request: refused, the upstream keeps no conversation state
    "prompt_cache_key": maps_to("prompt_cache_key"),
    "safety_identifier": maps_to("safety_identifier"),
    "service_tier": maps_to("service_tier"),
    "background": CODE,  # _state_flags: background=true cannot be honoured (warning)
    "gateway": GATEWAY,
    "extensions": GATEWAY,  # merged into the body by the engine
    "stop": maps_to("stop"),
    "seed": maps_to("seed"),
    "n": maps_to("n"),  # only choice 0 is relayed
    "logit_bias": maps_to("logit_bias"),
    "logprobs": CODE,  # _logprobs
    "extra_params": CODE,  # _extra_params: merged at the top level; never overrides a translated field
}

# Chat ``finish_reason`` -> finish reason; anything else is "stop" with the native value kept.
# https://platform.openai.com/docs/api-reference/chat/object#chat/object-choices
FINISH_REASONS: dict[str, ev.FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

_HOSTED_CHOICES = frozenset(
    {
        "file_search",
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "computer",
        "computer_use",
        "computer_use_preview",
        "image_generation",
        "code_interpreter",
        "mcp",
        "custom",
        "apply_patch",
        "shell",
    }
)
_RESERVED = frozenset({"model", "messages", "stream", "stream_options"})
_LOGPROBS_INCLUDE = "message.output_text.logprobs"

# --- request ------------------------------------------------------------------------------------------------


def build_request(req: ResponseRequest, target: Target, *, stream: bool) -> NativeRequest:
    """The Chat Completions request for ``req`` at ``target``; raises ``GatewayError`` for untranslatable input."""
    if req.previous_response_id is not None:
        raise GatewayError(
            "invalid_parameter_value",
            "previous_response_id needs stored conversation state, which a Chat Completions upstream does not keep.",
            param="previous_response_id",
        )
    body: dict[str, Any] = {"model": target.provider_model_id, "messages": _messages(req, target)}
    warnings = apply_params(req, PARAMS, body, target)
    warnings.extend(_state_flags(req, target))
    tools = _tools(req)
    choice, tools = _tool_choice(req, tools)
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.max_output_tokens is not None:
        body["max_completion_tokens" if common.is_openai(target) else "max_tokens"] = req.max_output_tokens
    _response_format(req, body)
    if req.reasoning is not None and req.reasoning.effort is not None:
        body["reasoning_effort"] = "none" if req.reasoning.effort == "off" else req.reasoning.effort
    _logprobs(req, body)
    warnings.extend(_extra_params(req, body))
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    return NativeRequest(
        url=common.endpoint(target, "chat/completions"),
        headers=common.request_headers(target, stream=stream),
        body=body,
        stream=stream,
        warnings=warnings,
    )


def _messages(req: ResponseRequest, target: Target) -> list[dict[str, Any]]:
    """Response API input items -> Chat messages (protocols.md 5.1, 5.2, 5.5)."""
    keep_developer = common.is_openai(target)  # DeepSeek and others reject the "developer" role
    out: list[dict[str, Any]] = []
    if req.instructions:
        out.append({"role": "system", "content": req.instructions})
    deferred: list[dict[str, Any]] = []  # images/files from tool outputs, sent as a user turn after the results
    for i, item in enumerate(req.input_items()):
        if deferred and not isinstance(item, FunctionCallOutput):
            out.append({"role": "user", "content": deferred})
            deferred = []
        where = f"input[{i}]"
        if isinstance(item, Message):
            out.append(_message(item, where, keep_developer))
        elif isinstance(item, FunctionCall):
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments or "{}"},
            }
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)  # one assistant turn holds all its calls
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, FunctionCallOutput):
            text, extra = _tool_output(item, where)
            out.append({"role": "tool", "tool_call_id": item.call_id, "content": text})
            deferred.extend(extra)
        elif isinstance(item, Reasoning):
            continue  # no Chat slot; generic upstreams reject reasoning in history
        elif isinstance(item, NativeItem):
            kind = item.raw.get("type")
            raise GatewayError(
                "input_requires_responses_endpoint",
                f"Input item of type '{kind}' has no Chat Completions equivalent.",
                param=where,
            )
    if deferred:
        out.append({"role": "user", "content": deferred})
    return out


def _message(item: Message, where: str, keep_developer: bool) -> dict[str, Any]:
    role = item.role
    if role == "developer" and not keep_developer:
        role = "system"
    if role == "assistant":
        return {"role": "assistant", "content": _assistant_text(item.content)}
    if isinstance(item.content, str):
        return {"role": role, "content": item.content}
    parts = [p for j, part in enumerate(item.content) if (p := _part(part, f"{where}.content[{j}]")) is not None]
    if all(p["type"] == "text" for p in parts):
        return {"role": role, "content": "\n".join(p["text"] for p in parts)}  # string content works everywhere
    return {"role": role, "content": parts}


def _assistant_text(content: str | list[ContentPart]) -> str:
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content:
        if isinstance(part, (OutputText, InputText)):
            texts.append(part.text)
        elif isinstance(part, RefusalPart):
            texts.append(part.refusal)  # a refusal in history is plain assistant text (protocols.md 5.2)
    return "".join(texts)


def _part(part: ContentPart, where: str) -> dict[str, Any] | None:
    if isinstance(part, (InputText, OutputText)):
        return {"type": "text", "text": part.text}
    if isinstance(part, RefusalPart):
        return {"type": "text", "text": part.refusal}
    if isinstance(part, InputImage):
        if not part.image_url:
            raise GatewayError(
                "invalid_parameter_value",
                "Images given by file_id cannot be sent to a Chat Completions upstream; use image_url.",
                param=f"{where}.file_id",
            )
        image: dict[str, Any] = {"url": part.image_url}
        if part.detail is not None:
            image["detail"] = "high" if part.detail == "original" else part.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(part, InputFile):
        if part.file_data is None and part.file_id is None:
            raise GatewayError(
                "invalid_parameter_value",
                "Files given by file_url cannot be sent to a Chat Completions upstream; use file_data.",
                param=f"{where}.file_url",
            )
        file = {k: v for k, v in (("file_data", part.file_data), ("file_id", part.file_id)) if v is not None}
        if part.filename is not None:
            file["filename"] = part.filename
        return {"type": "file", "file": file}
    return None  # reasoning_text parts have no Chat slot


def _tool_output(item: FunctionCallOutput, where: str) -> tuple[str, list[dict[str, Any]]]:
    """Tool message text plus the non-text parts, which Chat tool messages cannot hold."""
    if isinstance(item.output, str):
        return item.output, []
    texts: list[str] = []
    extra: list[dict[str, Any]] = []
    for j, part in enumerate(item.output):
        wire = _part(part, f"{where}.output[{j}]")
        if wire is None:
            continue
        if wire["type"] == "text":
            texts.append(wire["text"])
        else:
            extra.append(wire)
    return "\n".join(texts), extra


def _tools(req: ResponseRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in req.tools or []:
        if isinstance(tool, NativeTool):
            raise GatewayError(
                "hosted_tool_not_supported",
                f"Tool type '{tool.raw.get('type')}' is hosted by OpenAI and has no Chat Completions equivalent.",
                param="tools",
            )
        assert isinstance(tool, FunctionTool)
        function: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        if tool.parameters is not None:
            function["parameters"] = tool.parameters
        if tool.strict is not None:
            function["strict"] = tool.strict
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(req: ResponseRequest, tools: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """(Chat tool_choice, tools): ``allowed_tools`` becomes a filtered tool list, which every server accepts."""
    choice = req.tool_choice
    if choice is None or isinstance(choice, str):
        return choice, tools
    kind = choice.get("type")
    if kind == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}, tools
    if kind == "allowed_tools":
        names = {t.get("name") for t in choice.get("tools") or [] if isinstance(t, dict)}
        mode = choice.get("mode") if choice.get("mode") in ("auto", "required") else "auto"
        return mode, [t for t in tools if t["function"]["name"] in names]
    if kind in _HOSTED_CHOICES:
        raise GatewayError(
            "hosted_tool_not_supported",
            f"tool_choice '{kind}' names a hosted tool, which a Chat Completions upstream does not have.",
            param="tool_choice",
        )
    raise GatewayError(
        "invalid_parameter_value", f"tool_choice of type '{kind}' cannot be translated.", param="tool_choice"
    )


def _response_format(req: ResponseRequest, body: dict[str, Any]) -> None:
    if req.text is None:
        return
    if req.text.verbosity is not None:
        body["verbosity"] = req.text.verbosity
    fmt = req.text.format
    if fmt is None or fmt.type == "text":
        return
    if fmt.type == "json_object":
        body["response_format"] = {"type": "json_object"}
        return
    schema: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.description is not None:
        schema["description"] = fmt.description
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    body["response_format"] = {"type": "json_schema", "json_schema": schema}


def _logprobs(req: ResponseRequest, body: dict[str, Any]) -> None:
    wants = req.logprobs is True or _LOGPROBS_INCLUDE in (req.include or [])
    if req.top_logprobs is not None:
        body["top_logprobs"] = req.top_logprobs
        wants = wants or req.logprobs is None
    if wants:
        body["logprobs"] = True
    elif req.logprobs is False:
        body["logprobs"] = False


def _state_flags(req: ResponseRequest, target: Target) -> list[RoutingWarning]:
    warnings: list[RoutingWarning] = []
    if req.store:
        warnings.append(common.unsupported("store", target, "Chat Completions keeps no retrievable response"))
    if req.background:
        warnings.append(common.unsupported("background", target, "the gateway does not run background responses"))
    return warnings


def _extra_params(req: ResponseRequest, body: dict[str, Any]) -> list[RoutingWarning]:
    warnings: list[RoutingWarning] = []
    for key, value in (req.extra_params or {}).items():
        if key in _RESERVED:
            warnings.append(
                RoutingWarning(
                    type="blocked_field", code=f"{key}_blocked", message=f"extra parameter '{key}' was ignored."
                )
            )
        else:
            body.setdefault(key, value)
    return warnings


# --- stream parser ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Call:
    """One tool call being assembled from fragments."""

    slot: int
    id: str | None
    name: str | None
    args: list[str] = field(default_factory=list)
    sent: int = 0  # fragments already emitted as ToolCallDelta
    state: str = "waiting"  # waiting -> open -> ended
    checked: int = -1  # len(args) when completeness was last computed
    complete: bool = False


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _chunk_text(value: Any) -> str:
    """Text of a string or of a list of ``{type: text, text}`` chunks."""
    if isinstance(value, list):
        return "".join(_text(p.get("text")) for p in value if isinstance(p, dict))
    return _text(value)


def _annotation(raw: Any) -> dict[str, Any] | None:
    """Chat ``{type: url_citation, url_citation: {...}}`` -> Response API flat ``{type: url_citation, ...}``."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    nested = raw.get(kind) if isinstance(kind, str) else None
    return {"type": kind, **nested} if isinstance(nested, dict) else raw


def _usage(usage: dict[str, Any]) -> ev.Usage:
    """CompletionUsage -> Usage; ``prompt_tokens`` already includes cached tokens (protocols.md 2.2, 5.8)."""
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = completion if isinstance(completion, dict) else {}
    cached = common.as_int(prompt.get("cached_tokens"))
    if cached is None:
        cached = common.as_int(usage.get("prompt_cache_hit_tokens"))  # DeepSeek
    return ev.Usage(
        input_tokens=common.as_int(usage.get("prompt_tokens")),
        output_tokens=common.as_int(usage.get("completion_tokens")),
        cached_tokens=cached,
        cache_write_tokens=common.as_int(prompt.get("cache_write_tokens")),
        reasoning_tokens=common.as_int(completion.get("reasoning_tokens")),
    )


class ChatStreamParser:
    """Sans-IO parser of one Chat Completions stream; see the module docstring."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._info: tuple[str | None, str | None] = (None, None)
        self._calls: dict[int, _Call] = {}
        self._by_index: dict[int, int] = {}  # upstream index -> slot
        self._by_id: dict[str, int] = {}
        self._queue: list[int] = []  # slots waiting to be streamed, in order of first appearance
        self._current: int | None = None
        self._last: int | None = None
        self._finished = False  # finish_reason seen
        self._closed = False  # [DONE], error, or close()
        self._usage: ev.Usage | None = None

    # -- protocol ----------------------------------------------------------------------------------------

    def feed(self, event: SSEEvent) -> list[ev.Event]:
        if self._closed:
            return []
        data = event.data.strip()
        if not data:
            return []
        if data == "[DONE]":
            self._closed = True
            return [] if self._finished else self._finish(None)
        chunk = common.decode_object(data, self._target)
        error = chunk.get("error")
        if error:
            self._closed = True
            err = error if isinstance(error, dict) else {"message": str(error)}
            return [ev.StreamError(error=common.error_from_object(err, self._target))]
        out = self._info_event(chunk)
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0 and not self._finished:
                delta = choice.get("delta")
                out.extend(self._delta(delta if isinstance(delta, dict) else {}))
                reason = choice.get("finish_reason")
                if isinstance(reason, str) and reason:
                    out.extend(self._finish(reason))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            out.extend(self._usage_event(usage))
        return out

    def close(self) -> list[ev.Event]:
        if self._closed:
            return []
        self._closed = True
        if self._finished:
            return []  # finished but the server closed without [DONE]: nothing is missing
        error = UpstreamError(
            "upstream_error",
            f"{self._target.provider} stream ended before completion.",
            provider=self._target.provider,
            upstream_status=200,
            retryable=True,
        )
        return [ev.StreamError(error=error)]

    def replay(self, completion: dict[str, Any]) -> list[ev.Event]:
        """A non-streaming ``chat.completion`` as the same events, in one batch."""
        self._closed = True
        error = completion.get("error")
        if error:
            err = error if isinstance(error, dict) else {"message": str(error)}
            return [ev.StreamError(error=common.error_from_object(err, self._target))]
        out = self._info_event(completion)
        choices = [c for c in completion.get("choices") or [] if isinstance(c, dict) and c.get("index", 0) == 0]
        reason: str | None = None
        if choices:
            message = choices[0].get("message")
            message = dict(message) if isinstance(message, dict) else {}
            calls = message.pop("tool_calls", None)
            out.extend(self._delta(message))
            for index, call in enumerate(calls if isinstance(calls, list) else []):
                if isinstance(call, dict):
                    out.extend(self._fragment({**call, "index": index}))
            native = choices[0].get("finish_reason")
            reason = native if isinstance(native, str) and native else None
        out.extend(self._finish(reason))
        usage = completion.get("usage")
        if isinstance(usage, dict):
            out.extend(self._usage_event(usage))
        return out

    # -- chunk content -----------------------------------------------------------------------------------

    def _info_event(self, chunk: dict[str, Any]) -> list[ev.Event]:
        rid, model = chunk.get("id"), chunk.get("model")
        info = (
            rid if isinstance(rid, str) and rid else self._info[0],
            model if isinstance(model, str) and model else self._info[1],
        )
        if info == self._info:
            return []
        self._info = info
        return [ev.ResponseInfo(upstream_id=info[0], model=info[1])]

    def _usage_event(self, usage: dict[str, Any]) -> list[ev.Event]:
        parsed = _usage(usage)
        if parsed == self._usage:
            return []  # servers that repeat usage on every chunk
        self._usage = parsed
        return [parsed]

    def _delta(self, delta: dict[str, Any]) -> list[ev.Event]:
        out: list[ev.Event] = []
        reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
        content = delta.get("content")
        if isinstance(content, list):  # Mistral-style chunks: [{type: thinking, thinking: [...]}, {type: text}]
            reasoning += "".join(_chunk_text(p.get("thinking")) for p in content if isinstance(p, dict))
            content = "".join(_text(p.get("text")) for p in content if isinstance(p, dict) and p.get("type") == "text")
        if reasoning:
            out.extend(self._flush_calls())
            out.append(ev.ReasoningDelta(text=reasoning))
        content = _text(content)
        if content:
            out.extend(self._flush_calls())
            out.append(ev.TextDelta(text=content))
        refusal = _text(delta.get("refusal"))
        if refusal:
            out.extend(self._flush_calls())
            out.append(ev.RefusalDelta(text=refusal))
        annotations = delta.get("annotations")
        for raw in annotations if isinstance(annotations, list) else []:
            note = _annotation(raw)
            if note is not None:
                out.extend(self._flush_calls())
                out.append(ev.Annotation(annotation=note))
        calls = delta.get("tool_calls")
        for fragment in calls if isinstance(calls, list) else []:
            if isinstance(fragment, dict):
                out.extend(self._fragment(fragment))
        return out

    def _finish(self, native: str | None) -> list[ev.Event]:
        out = self._flush_calls()
        self._finished = True
        reason = FINISH_REASONS.get(native, "stop") if native is not None else "stop"
        if reason == "stop" and self._calls:
            reason = "tool_calls"  # some servers end tool calls with "stop" (pitfall 5.12 #9)
        out.append(ev.Finish(reason=reason, native_reason=native))
        return out

    # -- tool calls (see the module docstring) -----------------------------------------------------------

    def _slot(self, fragment: dict[str, Any], fid: str | None) -> int:
        index = fragment.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            slot = self._by_index.get(index)
            if slot is not None:
                known = self._calls[slot].id
                if fid is None or known is None or fid == known:
                    return slot
            slot = len(self._calls)
            self._by_index[index] = slot
            return slot
        if fid is not None:
            known_slot = self._by_id.get(fid)
            return known_slot if known_slot is not None else len(self._calls)
        return self._last if self._last is not None else len(self._calls)

    def _fragment(self, fragment: dict[str, Any]) -> list[ev.Event]:
        fid = fragment.get("id") if isinstance(fragment.get("id"), str) and fragment.get("id") else None
        function = fragment.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name") if isinstance(function.get("name"), str) and function.get("name") else None
        args = _text(function.get("arguments"))
        slot = self._slot(fragment, fid)
        call = self._calls.get(slot)
        if call is None:
            call = self._calls[slot] = _Call(slot=slot, id=fid, name=name)
            self._queue.append(slot)
        call.id = call.id or fid
        call.name = call.name or name  # ids and names come once; a repeat is not concatenated
        if call.id is not None:
            self._by_id.setdefault(call.id, slot)
        self._last = slot
        if call.state == "ended":
            return []  # a fragment after the call was closed (text interrupted it): nothing can take it
        if args:
            call.args.append(args)
        return self._advance()

    def _advance(self) -> list[ev.Event]:
        """Stream the current call; promote the next queued call once the current one is complete."""
        out: list[ev.Event] = []
        while True:
            current = self._calls[self._current] if self._current is not None else None
            if current is not None:
                out.extend(self._send(current))
                if not self._queue or not self._is_complete(current):
                    return out
                out.append(ev.ToolCallEnd())
                current.state = "ended"
                self._current = None
            if not self._queue or self._calls[self._queue[0]].name is None:
                return out  # nothing to promote, or the next call has not told its name yet
            nxt = self._calls[self._queue.pop(0)]
            out.extend(self._start(nxt))
            self._current = nxt.slot

    def _start(self, call: _Call) -> list[ev.Event]:
        call.state = "open"
        call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        return [ev.ToolCallStart(call_id=call_id, name=call.name or "")]

    @staticmethod
    def _send(call: _Call) -> list[ev.Event]:
        if call.sent == len(call.args):
            return []
        text = "".join(call.args[call.sent :])
        call.sent = len(call.args)
        return [ev.ToolCallDelta(arguments=text)] if text else []

    @staticmethod
    def _is_complete(call: _Call) -> bool:
        """Whether the arguments so far are a whole JSON object (nothing can follow its closing brace)."""
        if call.checked != len(call.args):
            call.checked = len(call.args)
            try:
                call.complete = isinstance(msgspec.json.decode("".join(call.args)), dict)
            except msgspec.DecodeError:
                call.complete = False
        return call.complete

    def _flush_calls(self) -> list[ev.Event]:
        """End the current call and emit every queued call whole, in order (before text, or at the finish)."""
        out: list[ev.Event] = []
        if self._current is not None:
            current = self._calls[self._current]
            out.extend(self._send(current))
            out.append(ev.ToolCallEnd())
            current.state = "ended"
            self._current = None
        for slot in self._queue:
            call = self._calls[slot]
            out.extend(self._start(call))
            out.extend(self._send(call))
            out.append(ev.ToolCallEnd())
            call.state = "ended"
        self._queue = []
        return out


def stream_parser(target: Target) -> ChatStreamParser:
    """A fresh parser for one streamed completion."""
    return ChatStreamParser(target)


def parse_response(body: bytes, target: Target) -> list[ev.Event]:
    """A non-streaming ``chat.completion`` body as the same events a stream would give, in one batch."""
    return ChatStreamParser(target).replay(common.decode_object(body, target))


map_error = common.map_error

__all__ = [
    "CAPABILITIES",
    "FINISH_REASONS",
    "PARAMS",
    "PROTOCOL",
    "ChatStreamParser",
    "build_request",
    "map_error",
    "parse_response",
    "stream_parser",
]
