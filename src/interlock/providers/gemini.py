"""Gemini API adapter: the request IR to ``generateContent`` / ``streamGenerateContent?alt=sse`` and back.

Request translation (protocols.md 4 and 5)
------------------------------------------
``instructions`` and every system/developer message (hoisted, in order) become ``systemInstruction``. Items
become ``contents`` turns (``user`` / ``model``), consecutive same-role content merged. ``function_call`` items
are ``functionCall`` parts of the model turn and carry their call id as ``id``; ``function_call_output`` items
are ``functionResponse`` parts of the following user turn, named from the call they answer (looked up by call
id in the request's history), ordered like the calls, with string outputs wrapped as ``{"result": ...}`` and
JSON-object outputs passed through. A call without an output gets a placeholder error response and an output
without its call is dropped, both with a warning. Function declarations and ``responseSchema`` get the JSON
Schema cleaned to the OpenAPI subset Gemini accepts (:func:`clean_schema`, pitfall 5.12 #16).

Thought signatures (5.12 #9-#10): a ``reasoning`` item whose ``encrypted_content`` is a Gemini envelope for the
same model is restored as ``thoughtSignature`` on the part it came from: the envelope says whether it sat on a
``functionCall`` (the next call of the same model turn gets it) or on a text/thought part (the closest text part
of the turn gets it). Envelopes from other protocols or models are stripped. When a Gemini 3 model turn still
has a function call without a signature (a client that did not ask for ``reasoning.encrypted_content``), the
documented ``skip_thought_signature_validator`` value is sent instead, with a warning.

Stream parsing (theory of operation)
------------------------------------
Every SSE chunk is a whole ``GenerateContentResponse`` holding only new parts. The parser is sans-IO:

* ``text`` parts stream ``TextDelta``; ``thought: true`` parts stream ``ReasoningDelta`` (summaries);
* a ``functionCall`` part arrives whole (``ToolCallStart`` + ``ToolCallEnd`` with the full JSON arguments and a
  call id: the part's ``id`` or a synthesized ``call_...`` derived from the response id and the call's index);
  Vertex's streamed form (``name`` + ``willContinue``, then ``partialArgs`` fragments, then an empty
  ``functionCall``) is reassembled by JSON path before the call is emitted;
* a ``thoughtSignature`` becomes ``ReasoningSignature`` + ``ItemEnd`` holding an envelope: *before* the call it
  belongs to (so the reasoning item precedes the function_call item), or *after* the text part it sat on;
* ``usageMetadata`` is cumulative: each chunk's counts replace the previous ones (5.12 #14);
* ``finishReason`` maps through :data:`FINISH_REASONS`. Tool calls end with ``STOP``, often in a later chunk
  than the calls, so the parser remembers any call it saw (5.12 #9) but never turns ``MAX_TOKENS`` or a safety
  stop into ``tool_calls``. Finish reasons that mean the model failed become an error, as do
  ``promptFeedback.blockReason`` (``content_filtered``) and ``{"error": ...}`` chunks: raised when nothing has
  reached the client yet, a ``StreamError`` event otherwise. A stream that closes without a finish reason fails.

``parse_response`` feeds the one non-streaming body through the same parser.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Mapping
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
    TextConfig,
    TextFormat,
    ToolOutputPart,
)
from interlock.ir.warnings import RoutingWarning
from interlock.providers import _signatures as sig
from interlock.providers._convert import arguments_object, data_url
from interlock.providers._retry import clamp_seconds, retry_after
from interlock.providers.base import NativeRequest, ProtocolName, SSEEvent, Target
from interlock.providers.fetch import MediaKind, needs_fetch, remote_media
from interlock.providers.normalise import (
    CODE,
    GATEWAY,
    UNSUPPORTED,
    Param,
    apply_params,
    maps_to,
    reasoning_effort,
    reasoning_profile,
    warning,
)

PROTOCOL: ProtocolName = "gemini"

CAPABILITIES: Final[frozenset[str]] = frozenset(
    {"tools", "tool_choice_required", "vision", "pdf", "json_object", "json_schema", "reasoning", "streaming"}
)
"""What the protocol can carry (an offering may declare less). No ``parallel_tool_calls`` control."""

SKIP_SIGNATURE: Final = "skip_thought_signature_validator"
"""Google's documented stand-in for a thought signature the client lost (ai.google.dev thought-signatures)."""

# Thinking budgets per effort for budget-style models when the catalog gives none (Gemini 2.5).
DEFAULT_BUDGETS: Final[Mapping[str, int]] = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}
# thinkingLevel per effort for Gemini 3 (xhigh/max fall back to HIGH unless the profile lists them).
LEVELS: Final[Mapping[str, str]] = {
    "none": "MINIMAL",
    "off": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}
MAX_STOP_SEQUENCES: Final = 5
FUNCTION_NAME: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$")
_GEMINI_MAJOR: Final = re.compile(r"gemini-(\d+)")
_WEB_SEARCH_TYPES: Final[frozenset[str]] = frozenset(
    {"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"}
)
# Gemini-native tools a client may name directly ({"type": "google_search"} -> {"googleSearch": {}}).
_NATIVE_TOOLS: Final[Mapping[str, str]] = {
    "google_search": "googleSearch",
    "googleSearch": "googleSearch",
    "url_context": "urlContext",
    "urlContext": "urlContext",
    "code_execution": "codeExecution",
    "codeExecution": "codeExecution",
}
_PLACEHOLDER_RESULT: Final = "No result was provided for this tool call."

# One row per IR request field (style.md item 7); a test keeps the keys equal to REQUEST_FIELDS.
# https://ai.google.dev/api/generate-content#generationconfig
PARAMS: Final[Mapping[str, Param]] = {
    "model": CODE,  # in the URL
    "input": CODE,  # contents
    "instructions": CODE,  # systemInstruction
    "tools": CODE,  # tools[].functionDeclarations
    "tool_choice": CODE,  # toolConfig.functionCallingConfig
    "parallel_tool_calls": UNSUPPORTED,  # no control: Gemini decides
    "max_output_tokens": maps_to("generationConfig.maxOutputTokens"),
    "temperature": maps_to("generationConfig.temperature", clamp=(0, 2)),
    "top_p": maps_to("generationConfig.topP"),
    "top_k": maps_to("generationConfig.topK"),
    "top_logprobs": UNSUPPORTED,
    "frequency_penalty": maps_to("generationConfig.frequencyPenalty"),
    "presence_penalty": maps_to("generationConfig.presencePenalty"),
    "max_tool_calls": UNSUPPORTED,
    "stream": CODE,  # the endpoint
    "text": CODE,  # responseMimeType / responseSchema
    "reasoning": CODE,  # generationConfig.thinkingConfig
    "truncation": UNSUPPORTED,
    "metadata": GATEWAY,
    "include": GATEWAY,
    "user": UNSUPPORTED,
    "store": GATEWAY,
    "previous_response_id": GATEWAY,
    "prompt_cache_key": UNSUPPORTED,
    "safety_identifier": UNSUPPORTED,
    "service_tier": UNSUPPORTED,
    "background": GATEWAY,
    "gateway": GATEWAY,
    "extensions": GATEWAY,  # merged by providers.extensions
    "stop": CODE,  # generationConfig.stopSequences (at most 5)
    "seed": maps_to("generationConfig.seed"),
    "n": UNSUPPORTED,  # candidateCount > 1: the Response API has one output
    "logit_bias": UNSUPPORTED,
    "logprobs": UNSUPPORTED,
    "extra_params": UNSUPPORTED,
}
assert set(PARAMS) == REQUEST_FIELDS

# https://ai.google.dev/api/generate-content#FinishReason ("error": the model failed; becomes an error).
FINISH_REASONS: Final[Mapping[str, ev.FinishReason]] = {
    "FINISH_REASON_UNSPECIFIED": "stop",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "IMAGE_OTHER": "content_filter",
    "NO_IMAGE": "content_filter",
    "LANGUAGE": "error",
    "OTHER": "error",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
}
DEFAULT_FINISH: Final[ev.FinishReason] = "stop"
_RETRYABLE_FINISH: Final[frozenset[str]] = frozenset({"MALFORMED_FUNCTION_CALL", "MALFORMED_RESPONSE", "OTHER"})

_JSON = msgspec.json.Decoder()


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError("invalid_parameter_value", message, param=param)


# --- schema cleaning ----------------------------------------------------------------------------------

# Keys of the OpenAPI 3.0 Schema subset Gemini accepts (https://ai.google.dev/api/caching#Schema).
_SCHEMA_KEYS: Final[frozenset[str]] = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_MAX_REF_DEPTH: Final = 8


def clean_schema(schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON Schema reduced to what Gemini's ``Schema`` accepts; None for "no parameters".

    Inlines ``$ref`` into ``$defs``/``definitions`` (recursion cut at a fixed depth), turns ``type: [X, "null"]``
    and ``anyOf: [X, {type: null}]`` into ``nullable``, ``oneOf`` into ``anyOf``, merges ``allOf``, turns ``const``
    into a one-value ``enum``, keeps ``enum`` only on strings, filters ``required`` to declared properties,
    gives arrays an ``items`` and every node a ``type``, and drops every other keyword (``$schema``,
    ``additionalProperties``, ``propertyNames``...). An object without properties at the root is "no parameters".
    """
    if not schema:
        return None
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), Mapping):
            defs.update({f"#/{key}/{name}": value for name, value in schema[key].items()})
    cleaned = _clean(schema, defs, 0)
    if cleaned.get("type") == "object" and not cleaned.get("properties"):
        return None
    return cleaned


def _clean(node: Any, defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, Mapping):
        return {"type": "string"}
    node = dict(node)
    ref = node.pop("$ref", None)
    if isinstance(ref, str):
        target = defs.get(ref)
        if target is None or depth >= _MAX_REF_DEPTH:
            return {"type": "object", "description": str(node.get("description") or "")} if node else {"type": "object"}
        node = {**target, **node}
        depth += 1
    for key in ("allOf",):
        parts = node.pop(key, None)
        if isinstance(parts, list):
            for part in parts:
                if isinstance(part, Mapping):
                    resolved = defs.get(part["$ref"], {}) if isinstance(part.get("$ref"), str) else part
                    for k, v in resolved.items():
                        if k == "properties" and isinstance(v, Mapping):
                            node["properties"] = {**node.get("properties", {}), **v}
                        elif k == "required" and isinstance(v, list):
                            node["required"] = [*node.get("required", []), *v]
                        else:
                            node.setdefault(k, v)
    if "oneOf" in node and "anyOf" not in node:
        node["anyOf"] = node.pop("oneOf")
    out: dict[str, Any] = {}
    nullable = False
    kind = node.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        nullable = len(types) < len(kind)
        if len(types) == 1:
            kind = types[0]
        elif types:
            branches = [_clean({**node, "type": t}, defs, depth) for t in types]
            return {"anyOf": branches, **({"nullable": True} if nullable else {})}
        else:
            kind = "null"
    if "const" in node and "enum" not in node:
        node["enum"] = [node["const"]]
    variants = node.get("anyOf")
    if isinstance(variants, list):
        real = [v for v in variants if not (isinstance(v, Mapping) and v.get("type") == "null")]
        nullable = nullable or len(real) < len(variants)
        if len(real) == 1 and not kind:
            merged = _clean(real[0], defs, depth)
            for key in ("description", "title", "default"):
                if key in node and key not in merged:
                    merged[key] = node[key]
            if nullable:
                merged["nullable"] = True
            return merged
        out["anyOf"] = [_clean(v, defs, depth) for v in real]
    if not kind and "anyOf" not in out:
        if isinstance(node.get("properties"), Mapping):
            kind = "object"
        elif "items" in node:
            kind = "array"
        elif isinstance(node.get("enum"), list) and all(isinstance(e, str) for e in node["enum"]):
            kind = "string"
        else:
            kind = "string"
    if kind:
        out["type"] = kind
    for key in ("format", "title", "description", "pattern", "example", "default"):
        if key in node and key not in out:
            out[key] = node[key]
    for key in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
        if isinstance(node.get(key), int):
            out[key] = node[key]
    for key in ("minimum", "maximum"):
        if isinstance(node.get(key), (int, float)) and not isinstance(node.get(key), bool):
            out[key] = node[key]
    enum = node.get("enum")
    if isinstance(enum, list) and kind == "string":
        out["enum"] = [str(e) for e in enum if e is not None]
    if kind == "object":
        props = node.get("properties")
        if isinstance(props, Mapping) and props:
            out["properties"] = {str(k): _clean(v, defs, depth) for k, v in props.items()}
            required = [r for r in node.get("required") or [] if isinstance(r, str) and r in out["properties"]]
            if required:
                out["required"] = list(dict.fromkeys(required))
            ordering = node.get("propertyOrdering")
            if isinstance(ordering, list):
                out["propertyOrdering"] = [p for p in ordering if p in out["properties"]]
    elif kind == "array":
        items = node.get("items")
        if isinstance(items, list):
            items = items[0] if items else None
        out["items"] = _clean(items, defs, depth) if isinstance(items, Mapping) else {"type": "string"}
    if nullable:
        out["nullable"] = True
    return {k: v for k, v in out.items() if k in _SCHEMA_KEYS}


# --- build_request ------------------------------------------------------------------------------------


_EXTENSION_TYPES: Final[Mapping[str, str]] = {
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "heic": "image/heic",
    "pdf": "application/pdf",
    "txt": "text/plain",
}


def _guess_type(url: str, default: str) -> str:
    path = url.split("?", 1)[0].rsplit("/", 1)[-1]
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return _EXTENSION_TYPES.get(ext, default)


def _media_part(url: str | None, file_id: str | None, default_type: str, param: str) -> dict[str, Any]:
    if file_id and not url:
        raise _bad("Provider file ids are not portable; send a URL or data URL.", param + ".file_id")
    if not url:
        raise _bad("A media part needs a URL or data URL.", param)
    if url.startswith("data:"):
        mime, data = data_url(url, param)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if needs_fetch(url):  # Gemini takes http(s) media only inline: marked here, fetched under the fetch guard.
        kind: MediaKind = "image" if default_type.startswith("image/") else "file"
        return remote_media(url, _guess_type(url, default_type), param, kind)
    # gs:// and Files API URIs go by reference.
    return {"fileData": {"mimeType": _guess_type(url, default_type), "fileUri": url}}


def _parts(content: str | list[ContentPart], role: str, param: str, warnings: list[RoutingWarning]) -> list[Any]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}.content[{j}]"
        if isinstance(part, (InputText, OutputText)):
            if part.text:
                parts.append({"text": part.text})
        elif isinstance(part, RefusalPart):
            if part.refusal:
                parts.append({"text": part.refusal})
        elif isinstance(part, InputImage):
            if role != "user":
                warnings.append(_dropped_media(where))
                continue
            parts.append(_media_part(part.image_url, part.file_id, "image/jpeg", where + ".image_url"))
        elif isinstance(part, InputFile):
            if role != "user":
                warnings.append(_dropped_media(where))
                continue
            parts.append(_media_part(part.file_data or part.file_url, part.file_id, "application/pdf", where))
    return parts


def _dropped_media(where: str) -> RoutingWarning:
    return warning(
        "unsupported_feature", "content_part_dropped", f"{where}: media is only sent in user turns; dropped."
    )


def _response_object(output: str | list[ToolOutputPart], param: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(functionResponse.response, extra media parts) for a function_call_output."""
    media: list[dict[str, Any]] = []
    if isinstance(output, str):
        text = output
    else:
        texts = []
        for j, part in enumerate(output):
            if isinstance(part, InputText):
                texts.append(part.text)
            elif isinstance(part, InputImage):
                media.append(_media_part(part.image_url, part.file_id, "image/jpeg", f"{param}.output[{j}]"))
            else:
                url = part.file_data or part.file_url
                media.append(_media_part(url, part.file_id, "application/pdf", f"{param}.output[{j}]"))
        text = "\n".join(texts)
    try:
        parsed = json.loads(text) if text.lstrip().startswith("{") else None
    except ValueError:
        parsed = None
    return (parsed if isinstance(parsed, dict) else {"result": text}), media


@dataclass
class _Turn:
    role: str
    parts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Contents:
    """Turn assembly plus the thought signatures waiting for the part they belong to."""

    turns: list[_Turn] = field(default_factory=list)
    pending: list[tuple[str, str]] = field(default_factory=list)  # (signature, anchor) for the next model part

    def add(self, role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if role == "model":
            for part in parts:
                self._attach_pending(part)
        else:
            self.pending.clear()  # a signature never crosses into another turn
        if self.turns and self.turns[-1].role == role:
            self.turns[-1].parts.extend(parts)
        else:
            self.turns.append(_Turn(role, list(parts)))

    def _attach_pending(self, part: dict[str, Any]) -> None:
        if not self.pending or "thoughtSignature" in part:
            return
        signature, anchor = self.pending[0]
        if anchor == "call" and "functionCall" not in part:
            return
        part["thoughtSignature"] = signature
        self.pending.pop(0)

    def signature(self, value: str, anchor: str) -> None:
        if anchor != "call" and self.turns and self.turns[-1].role == "model":
            for part in reversed(self.turns[-1].parts):
                if "text" in part:
                    if "thoughtSignature" not in part:
                        part["thoughtSignature"] = value
                        return
                    break
        self.pending.append((value, anchor or "part"))


def _model_name(target: Target) -> str:
    """The model id without the API's optional ``models/`` prefix (signatures are bound to it)."""
    return target.provider_model_id.removeprefix("models/")


def _gemini_major(target: Target) -> int:
    match = _GEMINI_MAJOR.search(target.provider_model_id)
    return int(match.group(1)) if match else 0


def _convert_input(
    req: ResponseRequest, target: Target, warnings: list[RoutingWarning]
) -> tuple[list[str], list[_Turn]]:
    system: list[str] = [req.instructions] if req.instructions else []
    contents = _Contents()
    names: dict[str, str] = {}
    for item in req.input_items():
        if isinstance(item, FunctionCall):
            names.setdefault(item.call_id, item.name)
    for i, item in enumerate(req.input_items()):
        param = f"input[{i}]"
        if isinstance(item, Message):
            if item.role in ("system", "developer"):
                text = "\n".join(p["text"] for p in _parts(item.content, "system", param, warnings) if "text" in p)
                if text:
                    system.append(text)
                continue
            role = "model" if item.role == "assistant" else "user"
            contents.add(role, _parts(item.content, item.role, param, warnings))
        elif isinstance(item, FunctionCall):
            if not FUNCTION_NAME.match(item.name):
                raise _bad(f"Function name {item.name!r} is not valid for Gemini.", param + ".name")
            call = {"name": item.name, "args": arguments_object(item.arguments, param, warnings), "id": item.call_id}
            contents.add("model", [{"functionCall": call}])
        elif isinstance(item, FunctionCallOutput):
            response, media = _response_object(item.output, param)
            name = names.get(item.call_id, "")
            part = {"functionResponse": {"name": name, "response": response, "id": item.call_id}}
            contents.add("user", [part, *media])
        elif isinstance(item, Reasoning):
            envelope = sig.open_for(item.encrypted_content, PROTOCOL, model=_model_name(target))
            for block in envelope.blocks if envelope else ():
                if block.kind == "thought_signature":
                    contents.signature(block.data, block.at)
        elif isinstance(item, NativeItem):
            warnings.append(
                warning(
                    "unsupported_feature",
                    "input_item_dropped",
                    f"{param}: items of type {item.raw.get('type')!r} cannot be sent to Gemini; dropped.",
                )
            )
    turns = _pair_calls(contents.turns, warnings)
    profile = reasoning_profile(target)
    if _gemini_major(target) >= 3 or (profile is not None and profile.style == "level"):
        _fill_signatures(turns, warnings)  # Gemini 3 refuses replayed calls without a signature
    return system, turns


def _pair_calls(turns: list[_Turn], warnings: list[RoutingWarning]) -> list[_Turn]:
    """Every functionCall answered in the next user turn, in call order; orphan responses dropped."""
    out: list[_Turn] = []
    pending: list[dict[str, Any]] = []  # functionCall payloads of the previous model turn
    for turn in turns:
        if turn.role == "model":
            if out and out[-1].role == "model":
                turn.parts = out.pop().parts + turn.parts
            pending = [p["functionCall"] for p in turn.parts if "functionCall" in p]
            out.append(turn)
            continue
        responses = {p["functionResponse"]["id"]: p for p in turn.parts if "functionResponse" in p}
        others = [p for p in turn.parts if "functionResponse" not in p]
        ordered = _answers(pending, responses, warnings)
        for call_id in responses:
            warnings.append(
                warning(
                    "unsupported_feature",
                    "orphan_tool_output_dropped",
                    f"function_call_output for call {call_id!r} has no matching call in the preceding model turn; "
                    "dropped.",
                )
            )
        pending = []
        turn.parts = ordered + others
        if turn.parts:
            if out and out[-1].role == "user":
                out[-1].parts.extend(turn.parts)
            else:
                out.append(turn)
    if pending:
        out.append(_Turn("user", _answers(pending, {}, warnings)))
    return out


def _answers(
    calls: list[dict[str, Any]], responses: dict[str, dict[str, Any]], warnings: list[RoutingWarning]
) -> list[dict[str, Any]]:
    """The functionResponse parts for ``calls`` in call order (taken out of ``responses``), placeholders if absent."""
    ordered: list[dict[str, Any]] = []
    for call in calls:
        part = responses.pop(call["id"], None)
        if part is None:
            warnings.append(
                warning(
                    "unsupported_feature",
                    "missing_tool_output",
                    f"Call {call['id']!r} has no function_call_output; an error response was inserted.",
                )
            )
            response = {"name": call["name"], "response": {"error": _PLACEHOLDER_RESULT}, "id": call["id"]}
            part = {"functionResponse": response}
        ordered.append(part)
    return ordered


def _fill_signatures(turns: list[_Turn], warnings: list[RoutingWarning]) -> None:
    missing: list[str] = []
    for turn in turns:
        if turn.role != "model":
            continue
        calls = [p for p in turn.parts if "functionCall" in p]
        if calls and not any("thoughtSignature" in p for p in calls):
            calls[0]["thoughtSignature"] = SKIP_SIGNATURE
            missing.append(str(calls[0]["functionCall"].get("name")))
    if missing:
        warnings.append(
            warning(
                "unsupported_feature",
                "thought_signature_missing",
                f"Replayed Gemini calls ({', '.join(missing)}) had no thought signature (ask for "
                "include: ['reasoning.encrypted_content'] and send reasoning items back); validation skipped.",
            )
        )


def _convert_tools(req: ResponseRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(functionDeclarations, other native tool entries)."""
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for i, tool in enumerate(req.tools or []):
        param = f"tools[{i}]"
        if isinstance(tool, FunctionTool):
            if not FUNCTION_NAME.match(tool.name):
                raise _bad(f"Function name {tool.name!r} is not valid for Gemini.", param + ".name")
            decl: dict[str, Any] = {"name": tool.name}
            if tool.description:
                decl["description"] = tool.description
            schema = clean_schema(tool.parameters)
            if schema is not None:
                decl["parameters"] = schema
            declarations.append(decl)
            continue
        assert isinstance(tool, NativeTool)
        kind = str(tool.raw.get("type", ""))
        if kind in _WEB_SEARCH_TYPES:
            native.append({"googleSearch": {}})
        elif kind in _NATIVE_TOOLS:
            config = {k: v for k, v in tool.raw.items() if k != "type"}
            native.append({_NATIVE_TOOLS[kind]: config})
        else:
            raise GatewayError(
                "hosted_tool_not_supported", f"Hosted tool {kind!r} has no Gemini equivalent.", param=param
            )
    return declarations, native


def _tool_config(
    req: ResponseRequest, declarations: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    choice = req.tool_choice
    config: dict[str, Any] | None = None
    if choice == "none":
        config = {"mode": "NONE"}
    elif choice == "required":
        config = {"mode": "ANY"}
    elif isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function":
            config = {"mode": "ANY", "allowedFunctionNames": [choice.get("name")]}
        elif kind == "allowed_tools":
            allowed = [t.get("name") for t in choice.get("tools") or [] if isinstance(t, Mapping)]
            if choice.get("mode") == "required":
                config = {"mode": "ANY", "allowedFunctionNames": allowed}
            else:  # AUTO ignores allowedFunctionNames: filter the declarations instead
                declarations = [d for d in declarations if d["name"] in allowed]
        elif kind in _WEB_SEARCH_TYPES:
            config = None
        else:
            raise _bad(f"tool_choice of type {kind!r} cannot be expressed for Gemini.", "tool_choice")
    return ({"functionCallingConfig": config} if config else None), declarations


def _thinking_config(req: ResponseRequest, target: Target, warnings: list[RoutingWarning]) -> dict[str, Any] | None:
    effort = reasoning_effort(req)
    summary = req.reasoning.summary or req.reasoning.generate_summary if req.reasoning else None
    if effort is None and summary is None:
        return None
    config: dict[str, Any] = {}
    if summary is not None:
        config["includeThoughts"] = True
    profile = reasoning_profile(target)
    if effort is not None and (profile is None or profile.style != "fixed"):
        style = profile.style if profile else ("level" if _gemini_major(target) >= 3 else "budget")
        if style == "level":
            listed = profile is not None and effort in profile.efforts
            config["thinkingLevel"] = effort.upper() if listed and effort not in ("none", "off") else LEVELS[effort]
        elif effort in ("none", "off"):
            config["thinkingBudget"] = 0
        else:
            budget = (profile.budgets.get(effort) if profile else None) or DEFAULT_BUDGETS[effort]
            cap = req.max_output_tokens
            if cap is not None and budget > cap:
                warnings.append(
                    warning(
                        "unsupported_parameter",
                        "reasoning_budget_clamped",
                        f"thinking budget {budget} reduced to max_output_tokens {cap}.",
                    )
                )
                budget = cap
            config["thinkingBudget"] = budget
    return config or None


def build_request(req: ResponseRequest, target: Target, *, stream: bool) -> NativeRequest:
    """The ``generateContent`` (or ``streamGenerateContent?alt=sse``) request for ``req``."""
    warnings: list[RoutingWarning] = []
    body: dict[str, Any] = {}
    warnings.extend(apply_params(req, PARAMS, body, target))
    system, turns = _convert_input(req, target, warnings)
    body["contents"] = [{"role": t.role, "parts": t.parts} for t in turns]
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    declarations, native = _convert_tools(req)
    if declarations or native:
        config, declarations = _tool_config(req, declarations)
        tools: list[dict[str, Any]] = [{"functionDeclarations": declarations}] if declarations else []
        body["tools"] = tools + native
        if config is not None and declarations:
            body["toolConfig"] = config
    generation: dict[str, Any] = body.setdefault("generationConfig", {})
    if req.stop:
        if len(req.stop) > MAX_STOP_SEQUENCES:
            warnings.append(
                warning(
                    "unsupported_parameter",
                    "stop_truncated",
                    f"Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences; the rest were dropped.",
                )
            )
        generation["stopSequences"] = req.stop[:MAX_STOP_SEQUENCES]
    fmt = req.text.format if req.text is not None else None
    if fmt is not None and fmt.type in ("json_object", "json_schema"):
        generation["responseMimeType"] = "application/json"
        schema = clean_schema(fmt.schema) if fmt.type == "json_schema" else None
        if schema is not None:
            generation["responseSchema"] = schema
    if req.text is not None and req.text.verbosity is not None:
        warnings.append(
            warning("unsupported_parameter", "verbosity_dropped", "text.verbosity is not supported by Gemini.")
        )
    thinking = _thinking_config(req, target, warnings)
    if thinking is not None:
        generation["thinkingConfig"] = thinking
    if not generation:
        del body["generationConfig"]
    model = _model_name(target)
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    url = f"{target.base_url.rstrip('/')}/models/{model}:{action}"
    headers = {"x-goog-api-key": target.api_key or "", "content-type": "application/json", **target.headers}
    return NativeRequest(url=url, headers=headers, body=body, stream=stream, warnings=warnings)


# --- stream parsing -----------------------------------------------------------------------------------


@dataclass
class _PartialCall:
    """A Vertex streamed function call being reassembled from ``partialArgs``."""

    name: str
    id: str | None
    signature: str | None
    args: dict[str, Any] = field(default_factory=dict)


_PATH_PART: Final = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _path(json_path: str) -> list[str | int]:
    path = json_path[1:] if json_path.startswith("$") else json_path
    return [int(m.group(2)) if m.group(2) is not None else m.group(1) for m in _PATH_PART.finditer(path)]


def _set_partial(root: dict[str, Any], arg: Mapping[str, Any]) -> None:
    """Apply one ``partialArgs`` entry: string values continue, other values replace."""
    segments = _path(str(arg.get("jsonPath") or ""))
    if not segments:
        return
    if "stringValue" in arg:
        value: Any = arg["stringValue"] or ""
    elif "numberValue" in arg:
        value = arg["numberValue"]
    elif "boolValue" in arg:
        value = arg["boolValue"]
    elif "nullValue" in arg:
        value = None
    else:
        return
    node: Any = root
    for seg, nxt in itertools.pairwise(segments):
        if isinstance(node, dict) and isinstance(seg, str):
            child = node.get(seg)
            if not isinstance(child, (dict, list)):
                child = [] if isinstance(nxt, int) else {}
                node[seg] = child
            node = child
        elif isinstance(node, list) and isinstance(seg, int):
            while len(node) <= seg:
                node.append([] if isinstance(nxt, int) else {})
            node = node[seg]
        else:
            return
    leaf = segments[-1]
    if isinstance(node, dict) and isinstance(leaf, str):
        current = node.get(leaf)
        node[leaf] = current + value if isinstance(current, str) and isinstance(value, str) else value
    elif isinstance(node, list) and isinstance(leaf, int):
        while len(node) <= leaf:
            node.append(None)
        current = node[leaf]
        node[leaf] = current + value if isinstance(current, str) and isinstance(value, str) else value


class GeminiStreamParser:
    """Sans-IO parser of one ``streamGenerateContent?alt=sse`` stream (see the module docstring)."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._response_id: str | None = None
        self._model: str | None = None
        self._calls = 0  # function calls emitted (their index seeds synthesized ids)
        self._partial: _PartialCall | None = None
        self._finish: str | None = None
        self._finished = False
        self._failed = False
        self._shown = False
        self._seed = uuid.uuid4().hex  # synthesized call ids before a responseId is known

    def feed(self, event: SSEEvent) -> list[ev.Event]:
        if not event.data or event.data == "[DONE]":
            return []
        try:
            data = _JSON.decode(event.data)
        except msgspec.DecodeError:
            raise UpstreamError(
                "upstream_error",
                "gemini sent a malformed stream chunk.",
                provider=self._target.provider,
                upstream_status=200,
                retryable=True,
            ) from None
        if isinstance(data, list) and data:  # a JSON-array stream element
            data = data[0]
        return self.handle(data) if isinstance(data, dict) else []

    def handle(self, chunk: Mapping[str, Any]) -> list[ev.Event]:
        """Internal events for one decoded ``GenerateContentResponse``."""
        if self._failed:
            return []
        if isinstance(chunk.get("error"), Mapping):
            return self._fail(_upstream_error(200, chunk["error"], {}, self._target))
        out: list[ev.Event] = []
        rid, model = chunk.get("responseId"), chunk.get("modelVersion")
        if (rid and rid != self._response_id) or (model and model != self._model):
            self._response_id = rid or self._response_id
            self._model = model or self._model
            out.append(ev.ResponseInfo(upstream_id=self._response_id, model=self._model))
        feedback = chunk.get("promptFeedback")
        candidates = chunk.get("candidates") or []
        if isinstance(feedback, Mapping) and feedback.get("blockReason") and not candidates:
            out.extend(self._usage(chunk.get("usageMetadata")))
            reason = str(feedback["blockReason"])
            detail = feedback.get("blockReasonMessage") or f"blocked by Gemini's safety system ({reason})"
            error = UpstreamError(
                "content_filtered",
                f"{self._target.provider}: the prompt was {detail}.",
                provider=self._target.provider,
                upstream_status=200,
                retryable=False,
            )
            return out + self._fail(error)
        candidate = candidates[0] if candidates and isinstance(candidates[0], Mapping) else {}
        content = candidate.get("content")
        if not self._finished and isinstance(content, Mapping):
            for part in content.get("parts") or []:
                if isinstance(part, Mapping):
                    out.extend(self._part(part))
        out.extend(self._usage(chunk.get("usageMetadata")))
        finish = candidate.get("finishReason")
        if finish and not self._finished:
            out.extend(self._flush_partial())
            self._finished = True
            self._finish = str(finish)
            out.extend(self._finish_events(str(finish), candidate.get("finishMessage")))
        return out

    def close(self) -> list[ev.Event]:
        if self._failed or self._finished:
            return []
        return self._fail(
            UpstreamError(
                "upstream_error",
                "gemini closed the stream without a finish reason.",
                provider=self._target.provider,
                upstream_status=200,
                retryable=True,
            )
        )

    # -- helpers -------------------------------------------------------------------------------------

    def _fail(self, error: UpstreamError) -> list[ev.Event]:
        self._failed = True
        if not self._shown:
            raise error
        return [ev.StreamError(error=error)]

    def _visible(self, events: list[ev.Event]) -> list[ev.Event]:
        if events:
            self._shown = True
        return events

    def _envelope(self, signature: str, anchor: sig.Anchor) -> list[ev.Event]:
        t = self._target
        block = sig.SignedBlock(kind="thought_signature", data=signature, at=anchor)
        envelope = sig.Envelope(protocol=PROTOCOL, provider=t.provider, model=_model_name(t), blocks=(block,))
        return self._visible([ev.ReasoningSignature(encrypted_content=sig.encode(envelope)), ev.ItemEnd()])

    def _part(self, part: Mapping[str, Any]) -> list[ev.Event]:
        signature = part.get("thoughtSignature")
        signature = signature if isinstance(signature, str) and signature else None
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            return self._function_call(call, signature)
        out: list[ev.Event] = self._flush_partial()
        text = part.get("text")
        if isinstance(text, str) and text:
            delta: ev.Event = ev.ReasoningDelta(text=text) if part.get("thought") else ev.TextDelta(text=text)
            out.extend(self._visible([delta]))
        if signature is not None:
            out.extend(self._envelope(signature, "part"))
        return out

    def _function_call(self, call: Mapping[str, Any], signature: str | None) -> list[ev.Event]:
        name = call.get("name")
        if isinstance(name, str) and name:
            out = self._flush_partial()
            if call.get("willContinue") and "args" not in call:
                cid = call.get("id")
                self._partial = _PartialCall(name=name, id=cid if isinstance(cid, str) else None, signature=signature)
                return out
            args = call.get("args")
            cid = call.get("id")
            return out + self._emit_call(
                name, args if isinstance(args, Mapping) else {}, cid if isinstance(cid, str) else None, signature
            )
        if self._partial is None:
            return []
        for arg in call.get("partialArgs") or []:
            if isinstance(arg, Mapping):
                _set_partial(self._partial.args, arg)
        if signature and not self._partial.signature:
            self._partial.signature = signature
        if not call.get("willContinue") and "partialArgs" not in call:
            return self._flush_partial()
        return []

    def _flush_partial(self) -> list[ev.Event]:
        partial, self._partial = self._partial, None
        if partial is None:
            return []
        return self._emit_call(partial.name, partial.args, partial.id, partial.signature)

    def _emit_call(
        self, name: str, args: Mapping[str, Any], call_id: str | None, signature: str | None
    ) -> list[ev.Event]:
        out: list[ev.Event] = []
        if signature is not None:
            out.extend(self._envelope(signature, "call"))
        index = self._calls
        self._calls += 1
        cid = call_id or self._synthesize_id(index)
        out.extend(self._visible([ev.ToolCallStart(call_id=cid, name=name), ev.ToolCallEnd(arguments=_dumps(args))]))
        return out

    def _synthesize_id(self, index: int) -> str:
        seed = self._response_id or self._seed
        digest = hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:24]
        return f"call_{digest}"

    def _usage(self, usage: object) -> list[ev.Event]:
        if not isinstance(usage, Mapping):
            return []
        prompt, tool_prompt = _int(usage.get("promptTokenCount")), _int(usage.get("toolUsePromptTokenCount"))
        candidates, thoughts = _int(usage.get("candidatesTokenCount")), _int(usage.get("thoughtsTokenCount"))
        cached = _int(usage.get("cachedContentTokenCount"))
        inp = None if prompt is None and tool_prompt is None else (prompt or 0) + (tool_prompt or 0)
        out = None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
        if inp is None and out is None and cached is None:
            return []  # Vertex sends {trafficType} alone on early chunks
        return [ev.Usage(input_tokens=inp, output_tokens=out, cached_tokens=cached, reasoning_tokens=thoughts)]

    def _finish_events(self, native: str, message: object) -> list[ev.Event]:
        reason = FINISH_REASONS.get(native, DEFAULT_FINISH)
        if reason == "error":
            detail = f": {message}" if isinstance(message, str) and message else ""
            error = UpstreamError(
                "upstream_error",
                f"{self._target.provider} stopped with {native}{detail}.",
                provider=self._target.provider,
                upstream_status=200,
                retryable=native in _RETRYABLE_FINISH,
            )
            return self._fail(error)
        if reason == "stop" and self._calls:
            reason = "tool_calls"  # Gemini ends tool calls with STOP, maybe chunks after the calls
        return [ev.Finish(reason=reason, native_reason=native)]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stream_parser(target: Target) -> GeminiStreamParser:
    """A fresh parser for one streamed response."""
    return GeminiStreamParser(target)


def parse_response(body: bytes, target: Target) -> list[ev.Event]:
    """Internal events for a non-streaming ``GenerateContentResponse`` (the same events as one big chunk)."""
    try:
        data = _JSON.decode(body)
    except msgspec.DecodeError:
        raise UpstreamError(
            "upstream_error",
            "gemini sent a malformed response body.",
            provider=target.provider,
            upstream_status=200,
            retryable=True,
        ) from None
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        raise UpstreamError("upstream_error", "gemini sent a malformed response body.", provider=target.provider)
    parser = GeminiStreamParser(target)
    return parser.handle(data) + parser.close()


# --- errors -------------------------------------------------------------------------------------------

# https://ai.google.dev/gemini-api/docs/troubleshooting: canonical status -> (our code, retryable elsewhere).
ERRORS: Final[Mapping[str, tuple[str, bool]]] = {
    "INVALID_ARGUMENT": ("invalid_request", False),
    "OUT_OF_RANGE": ("invalid_request", False),
    "FAILED_PRECONDITION": ("upstream_error", True),  # region or billing of the gateway's account
    "UNAUTHENTICATED": ("upstream_error", True),  # the gateway's key, not the client's
    "PERMISSION_DENIED": ("upstream_error", True),
    "NOT_FOUND": ("model_not_found", True),
    "RESOURCE_EXHAUSTED": ("rate_limit_exceeded", True),
    "CANCELLED": ("upstream_error", True),
    "UNKNOWN": ("upstream_error", True),
    "INTERNAL": ("upstream_error", True),
    "UNAVAILABLE": ("model_unavailable", True),
    "DEADLINE_EXCEEDED": ("upstream_timeout", True),
}
STATUS_ERRORS: Final[Mapping[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_CONTEXT = re.compile(r"exceeds the maximum number of tokens|input token count|context length", re.IGNORECASE)
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _retry_after(error: Mapping[str, Any], headers: Mapping[str, str]) -> int | None:
    for detail in error.get("details") or []:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay") or ""))
            if match:
                return clamp_seconds(float(match.group(1)))
    return retry_after(headers)


def _upstream_error(status: int, error: Mapping[str, Any], headers: Mapping[str, str], target: Target) -> UpstreamError:
    native = str(error.get("status") or "")
    code_status = error.get("code")
    if native not in ERRORS:
        native = STATUS_ERRORS.get(code_status if isinstance(code_status, int) else status, "")
    if native not in ERRORS:
        native = "INTERNAL" if status >= 500 or status == 200 else "INVALID_ARGUMENT"
    code, retryable = ERRORS[native]
    detail = str(error.get("message") or native)
    if code == "invalid_request" and _CONTEXT.search(detail):
        code = "context_length_exceeded"
    if native in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        message = f"{target.provider} rejected the gateway's credentials ({native})."
    else:
        message = f"{target.provider}: {detail}"
    return UpstreamError(
        code,
        message,
        provider=target.provider,
        upstream_status=status,
        retryable=retryable,
        retry_after=_retry_after(error, headers),
    )


def map_error(status: int, body: bytes, headers: Mapping[str, str], target: Target) -> UpstreamError:
    """The documented error for a Gemini HTTP error response."""
    try:
        data = _JSON.decode(body) if body else None
    except msgspec.DecodeError:
        data = None
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, Mapping) else None
    return _upstream_error(status, error if isinstance(error, Mapping) else {}, headers, target)


# --- the reverse: a native request as IR (round-trip tests) -------------------------------------------


def _content_part(part: Mapping[str, Any], role: str) -> ContentPart | None:
    if "text" in part:
        text = str(part["text"])
        return OutputText(text=text) if role == "model" else InputText(text=text)
    blob = part.get("inlineData") or part.get("fileData")
    if not isinstance(blob, Mapping):
        return None
    mime = str(blob.get("mimeType") or "")
    url = f"data:{mime};base64,{blob['data']}" if "data" in blob else str(blob.get("fileUri") or "")
    if mime.startswith("image/"):
        return InputImage(image_url=url)
    return InputFile(file_data=url) if url.startswith("data:") else InputFile(file_url=url)


def _signature_item(signature: str, anchor: sig.Anchor, model: str) -> Reasoning:
    block = sig.SignedBlock(kind="thought_signature", data=signature, at=anchor)
    envelope = sig.Envelope(protocol=PROTOCOL, provider="", model=model, blocks=(block,))
    return Reasoning(encrypted_content=sig.encode(envelope))


def _output(response: object) -> str:
    if isinstance(response, Mapping) and set(response) == {"result"} and isinstance(response["result"], str):
        return response["result"]
    return _dumps(response)


def parse_request(body: Mapping[str, Any], model: str = "") -> ResponseRequest:
    """The request IR for a native ``generateContent`` body (the reverse of :func:`build_request`)."""
    items: list[InputItem] = []
    calls: list[tuple[str, str]] = []  # (call_id, name) in order, for responses without ids
    answered = 0
    for turn in body.get("contents") or []:
        role = str(turn.get("role") or "user")
        pending: list[ContentPart] = []

        def flush(role: str = role, pending: list[ContentPart] = pending) -> None:
            if pending:
                items.append(Message(role="assistant" if role == "model" else "user", content=list(pending)))
                pending.clear()

        for part in turn.get("parts") or []:
            signature = part.get("thoughtSignature")
            if "functionCall" in part:
                flush()
                call = part["functionCall"]
                if signature:
                    items.append(_signature_item(signature, "call", model))
                cid = str(call.get("id") or f"call_{len(calls)}")
                calls.append((cid, str(call.get("name"))))
                items.append(FunctionCall(call_id=cid, name=str(call.get("name")), arguments=_dumps(call.get("args"))))
            elif "functionResponse" in part:
                flush()
                resp = part["functionResponse"]
                cid = resp.get("id")
                if not cid:
                    cid = calls[answered][0] if answered < len(calls) else f"call_{answered}"
                answered += 1
                items.append(FunctionCallOutput(call_id=str(cid), output=_output(resp.get("response"))))
            else:
                content = _content_part(part, role)
                if content is not None and not part.get("thought"):
                    pending.append(content)
                if signature:
                    flush()
                    items.append(_signature_item(signature, "part", model))
        flush()
    # The first system part is the instructions, later ones system messages (what build_request made of them).
    system = body.get("systemInstruction") or {}
    texts = [str(p.get("text") or "") for p in system.get("parts") or []]
    items[:0] = [Message(role="system", content=text) for text in texts[1:]]
    instructions = texts[0] if texts else None
    declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    tools: list[FunctionTool | NativeTool] = [
        FunctionTool(name=d["name"], description=d.get("description"), parameters=d.get("parameters"))
        for d in declarations
    ]
    for tool in body.get("tools") or []:
        for key, value in tool.items():
            if key != "functionDeclarations":
                tools.append(NativeTool(raw={"type": key, **(value if isinstance(value, Mapping) else {})}))
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode, names = config.get("mode"), config.get("allowedFunctionNames")
    tool_choice: Any = {"NONE": "none", "ANY": "required", "AUTO": "auto"}.get(str(mode))
    if mode == "ANY" and isinstance(names, list) and len(names) == 1:
        tool_choice = {"type": "function", "name": names[0]}
    gen = body.get("generationConfig") or {}
    text = None
    if gen.get("responseMimeType") == "application/json":
        schema = gen.get("responseSchema")
        fmt = (
            TextFormat(type="json_schema", name="response", schema=schema) if schema else TextFormat(type="json_object")
        )
        text = TextConfig(format=fmt)
    thinking = gen.get("thinkingConfig") or {}
    effort: Effort | None = None
    if "thinkingLevel" in thinking:
        effort = cast(Effort, str(thinking["thinkingLevel"]).lower())
    elif isinstance(thinking.get("thinkingBudget"), int):
        budget = thinking["thinkingBudget"]
        best = min(DEFAULT_BUDGETS, key=lambda e: abs(DEFAULT_BUDGETS[e] - budget))
        effort = cast(Effort, "none" if budget == 0 else best)
    reasoning = None
    if effort is not None or thinking.get("includeThoughts"):
        reasoning = ReasoningConfig(effort=effort, summary="auto" if thinking.get("includeThoughts") else None)
    return ResponseRequest(
        model=model or None,
        input=items,
        instructions=instructions,
        tools=tools or None,
        tool_choice=tool_choice,
        max_output_tokens=gen.get("maxOutputTokens"),
        temperature=gen.get("temperature"),
        top_p=gen.get("topP"),
        top_k=gen.get("topK"),
        frequency_penalty=gen.get("frequencyPenalty"),
        presence_penalty=gen.get("presencePenalty"),
        text=text,
        reasoning=reasoning,
        stop=gen.get("stopSequences"),
        seed=gen.get("seed"),
    )


__all__ = [
    "CAPABILITIES",
    "DEFAULT_BUDGETS",
    "ERRORS",
    "FINISH_REASONS",
    "LEVELS",
    "PARAMS",
    "PROTOCOL",
    "SKIP_SIGNATURE",
    "GeminiStreamParser",
    "build_request",
    "clean_schema",
    "map_error",
    "parse_request",
    "parse_response",
    "stream_parser",
]
