"""Google Gemini as the simulator speaks it: `models/{model}:generateContent` and `:streamGenerateContent`.

Theory of operation (protocols.md 4): every stream chunk is a whole `GenerateContentResponse` holding only the
NEW parts, with CUMULATIVE `usageMetadata` (`candidatesTokenCount` excludes thoughts, `thoughtsTokenCount`
counts them). Thought summaries (`thought: true` text parts, only with `includeThoughts`) come first, one per
token; then text parts, one per token, or all functionCall parts in one chunk; the last chunk has an empty text
part and `finishReason` (`STOP`, also for tool calls, or `MAX_TOKENS`). With `?alt=sse` chunks are `data:`
frames ended by CRLF CRLF and the stream ends when the connection closes; without it the body is one JSON array
streamed element by element.

Thought signatures: the first functionCall part of a reply carries a `thoughtSignature`, an HMAC of the call's
name and arguments (canonical JSON), and a text reply with thinking carries one on its last part. On a later
turn, for models whose name contains "gemini-3" (or with `require_thought_signature`), the first functionCall
of each model turn since the last user prompt must carry the signature it was issued with, as Gemini 3 demands;
function responses must match the number of calls of the turn before them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._errors import SimError
from ._plan import Reply, SimRequest, ToolSpec
from ._wire import ENCODER, CallContext, Frame, RenderedStream, new_id
from .config import SimProtocol
from .textgen import encode_json

__all__ = ["BYPASS_SIGNATURES", "CALL_DOMAIN", "GEMINI_ERRORS", "TEXT_DOMAIN", "GeminiAdapter", "call_payload"]

CALL_DOMAIN = "gemini-function-call"
TEXT_DOMAIN = "gemini-text"
# Values Google documents for histories that never had a signature; the API accepts them in place of one.
BYPASS_SIGNATURES = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})

# status -> canonical error status (protocols.md 4.4).
GEMINI_ERRORS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_SIGNATURE_DOCS = "https://ai.google.dev/gemini-api/docs/thought-signatures"


def call_payload(name: str, args: Any) -> str:
    """The canonical text a functionCall's thought signature signs: name and args with sorted keys."""
    return msgspec.json.encode({"name": name, "args": args}, order="sorted").decode()


class GeminiAdapter:
    """The Gemini protocol: parse a `GenerateContentRequest`, render responses or their stream chunks."""

    protocol: SimProtocol = "gemini"

    def parse(self, body: dict[str, Any], call: CallContext) -> SimRequest:
        model = call.path_model
        if not model:
            raise SimError(404, "models/ is not found for API version v1beta.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise SimError(400, "* GenerateContentRequest.contents: contents is not specified\n")
        request = SimRequest(model=model, stream=call.stream, native=body)
        _read_config(body, request)
        _read_tools(body, request)
        require = call.behaviour.require_thought_signature or "gemini-3" in model
        _read_contents(contents, request, call, require)
        system = _get(body, "systemInstruction", "system_instruction")
        if isinstance(system, dict):
            request.text_chars += sum(len(p.get("text", "")) for p in system.get("parts") or [] if isinstance(p, dict))
        return request

    def render(self, reply: Reply, request: SimRequest, call: CallContext) -> bytes:
        parts: list[dict[str, Any]] = []
        if reply.reasoning and request.reasoning_visible:
            parts.append({"text": reply.reasoning_text, "thought": True})
        if reply.text:
            part: dict[str, Any] = {"text": reply.output_text}
            if reply.reasoning:
                part["thoughtSignature"] = call.signer.sign(TEXT_DOMAIN, reply.output_text)
            parts.append(part)
        parts.extend(_call_parts(reply, call))
        if not parts:
            parts.append({"text": ""})
        response = _chunk(reply, request, new_id("", 22), parts, reply.visible_tokens, reply.reasoning_tokens)
        response["candidates"][0]["finishReason"] = _FINISH[reply.finish]
        return ENCODER.encode(response)

    def render_stream(self, reply: Reply, request: SimRequest, call: CallContext) -> RenderedStream:
        chunks = _stream_chunks(reply, request, call)
        sse = call.query.get("alt") == "sse"
        frames: list[Frame] = []
        for index, (data, weight) in enumerate(chunks):
            if sse:
                frames.append((b"data: " + data + b"\r\n\r\n", weight))
            else:
                frames.append(((b"[" if index == 0 else b",\r\n") + data, weight))
        if not sse:
            frames.append((b"]", 0))

        def error_frames(sent: int) -> bytes:
            error = {
                "error": {
                    "code": 503,
                    "message": "The model is overloaded. Please try again later.",
                    "status": "UNAVAILABLE",
                }
            }
            data = ENCODER.encode(error)
            return b"data: " + data + b"\r\n\r\n" if sse else b",\r\n" + data + b"]"

        content_type = "text/event-stream" if sse else "application/json"
        return RenderedStream(frames=frames, content_type=content_type, error_frames=error_frames)

    def render_error(self, error: SimError) -> bytes:
        default = "INVALID_ARGUMENT" if error.status < 500 else "INTERNAL"
        status = error.native_type or GEMINI_ERRORS.get(error.status, default)
        body: dict[str, Any] = {"code": error.status, "message": error.message, "status": status}
        if error.status == 429:
            body["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
        return ENCODER.encode({"error": body})


def _stream_chunks(reply: Reply, request: SimRequest, call: CallContext) -> list[tuple[bytes, int]]:
    """Each stream chunk's JSON and token weight: thoughts, text tokens or the calls, then the finish chunk."""
    response_id = new_id("", 22)
    chunks: list[tuple[bytes, int]] = []
    # Token chunks differ only in their part and usage: encode the rest of the envelope once.
    head = b'{"candidates":[{"content":{"parts":[{"text":'
    middle = b'],"role":"model"},"index":0}],"usageMetadata":'
    tail = b',"modelVersion":' + ENCODER.encode(request.model) + b',"responseId":"' + response_id.encode() + b'"}'
    thoughts = 0 if request.reasoning_visible else reply.reasoning_tokens
    visible = 0
    if request.reasoning_visible:
        for token in reply.reasoning:
            thoughts += 1
            usage = ENCODER.encode(_usage(reply, 0, thoughts))
            chunks.append((head + ENCODER.encode(token) + b',"thought":true}' + middle + usage + tail, 1))
    for token in reply.text:
        visible += 1
        usage = ENCODER.encode(_usage(reply, visible, thoughts))
        chunks.append((head + ENCODER.encode(token) + b"}" + middle + usage + tail, 1))
    if reply.calls:
        weight = sum(len(planned.fragments) for planned in reply.calls)
        visible += weight
        calls = _chunk(reply, request, response_id, _call_parts(reply, call), visible, thoughts)
        chunks.append((ENCODER.encode(calls), weight))
    last: dict[str, Any] = {"text": ""}
    if reply.reasoning and reply.text:
        last["thoughtSignature"] = call.signer.sign(TEXT_DOMAIN, reply.output_text)
    final = _chunk(reply, request, response_id, [last], visible, thoughts)
    final["candidates"][0]["finishReason"] = _FINISH[reply.finish]
    chunks.append((ENCODER.encode(final), 0))
    if not request.reasoning_visible and reply.reasoning_tokens:
        # Hidden thinking still takes time before the first chunk when the stream is paced.
        first, weight = chunks[0]
        chunks[0] = (first, weight + reply.reasoning_tokens)
    return chunks


def _get(mapping: dict[str, Any], camel: str, snake: str) -> Any:
    """Google's JSON parsing accepts both spellings of a field name."""
    value = mapping.get(camel)
    return mapping.get(snake) if value is None else value


def _read_config(body: dict[str, Any], request: SimRequest) -> None:
    config = _get(body, "generationConfig", "generation_config")
    if not isinstance(config, dict):
        config = {}
    schema = _get(config, "responseJsonSchema", "response_json_schema")
    if schema is None:
        schema = _get(config, "responseSchema", "response_schema")
    if isinstance(schema, dict):
        request.response_schema = schema
    elif _get(config, "responseMimeType", "response_mime_type") == "application/json":
        request.json_mode = True
    cap = _get(config, "maxOutputTokens", "max_output_tokens")
    if isinstance(cap, int):
        request.max_output_tokens = cap
    thinking = _get(config, "thinkingConfig", "thinking_config")
    if isinstance(thinking, dict):
        request.reasoning = _get(thinking, "thinkingBudget", "thinking_budget") != 0
        request.reasoning_visible = request.reasoning and _get(thinking, "includeThoughts", "include_thoughts") is True
    elif "gemini-3" in request.model:
        request.reasoning = True  # Gemini 3 models always think


def _read_tools(body: dict[str, Any], request: SimRequest) -> None:
    specs: list[ToolSpec] = []
    for tool in body.get("tools") or []:
        declarations = _get(tool, "functionDeclarations", "function_declarations") if isinstance(tool, dict) else None
        for declaration in declarations or []:
            if not isinstance(declaration, dict) or not isinstance(declaration.get("name"), str):
                continue
            schema = _get(declaration, "parametersJsonSchema", "parameters_json_schema")
            if schema is None:
                schema = declaration.get("parameters")
            specs.append(ToolSpec(declaration["name"], schema if isinstance(schema, dict) else None))
    request.tools = specs
    tool_config = _get(body, "toolConfig", "tool_config")
    calling = (
        _get(tool_config, "functionCallingConfig", "function_calling_config") if isinstance(tool_config, dict) else None
    )
    if not isinstance(calling, dict):
        return
    mode = str(calling.get("mode", "AUTO")).upper()
    allowed = _get(calling, "allowedFunctionNames", "allowed_function_names")
    if mode == "NONE":
        request.tool_choice = "none"
    elif mode in ("ANY", "VALIDATED"):
        request.tool_choice = "required" if mode == "ANY" else "auto"
        if isinstance(allowed, list) and allowed:
            request.tools = [tool for tool in specs if tool.name in allowed]
            if len(allowed) == 1 and isinstance(allowed[0], str):
                request.forced_tool = allowed[0]


def _read_contents(contents: list[Any], request: SimRequest, call: CallContext, require_signature: bool) -> None:
    chars = 0
    prompt_at = -1
    previous_calls = 0
    outputs: list[str] | None = None
    for index, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            raise SimError(
                400, f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.\n"
            )
        texts = [
            p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
        ]
        calls = [p for p in parts if isinstance(p, dict) and isinstance(_get(p, "functionCall", "function_call"), dict)]
        responses = [
            _get(p, "functionResponse", "function_response")
            for p in parts
            if isinstance(p, dict) and isinstance(_get(p, "functionResponse", "function_response"), dict)
        ]
        chars += sum(len(text) for text in texts)
        if responses and len(responses) != previous_calls:
            raise SimError(
                400,
                "Please ensure that the number of function response parts is equal to the number of function "
                "call parts of the function call turn."
                if previous_calls
                else "Please ensure that function response turn comes immediately after a function call turn.",
            )
        if previous_calls and not responses:
            raise SimError(
                400,
                "Please ensure that the number of function response parts is equal to the number of function "
                "call parts of the function call turn.",
            )
        outputs = [_response_text(response) for response in responses] if responses else None
        chars += sum(len(output) for output in outputs or [])
        previous_calls = len(calls)
        for part in calls:
            function_call = _get(part, "functionCall", "function_call")
            chars += len(encode_json(function_call.get("args", {})))
        if texts and not responses and content.get("role", "user") != "model":
            request.last_user_text = "\n".join(texts)
            prompt_at = index
    request.text_chars = chars
    request.tool_outputs = outputs
    if require_signature:
        for index in range(prompt_at + 1, len(contents)):
            _check_signature(contents[index], index, call)


def _check_signature(content: Any, index: int, call: CallContext) -> None:
    """The first functionCall part of a model turn in the current turn must carry its issued signature."""
    for position, part in enumerate(content.get("parts") or []):
        function_call = _get(part, "functionCall", "function_call") if isinstance(part, dict) else None
        if not isinstance(function_call, dict):
            continue
        signature = _get(part, "thoughtSignature", "thought_signature")
        name = function_call.get("name")
        if signature is None:
            raise SimError(
                400,
                "Function call is missing a thought_signature in functionCall parts. This is required for tools "
                "to work correctly, and missing thought_signature may lead to degraded model performance. "
                f"Additional data, function call `default_api:{name}` , position {position + 1}. Please refer to "
                f"{_SIGNATURE_DOCS} for more details.",
            )
        payload = call_payload(str(name), function_call.get("args", {}))
        if signature not in BYPASS_SIGNATURES and not call.signer.verify(CALL_DOMAIN, payload, signature):
            raise SimError(
                400, f"Corrupted thought signature in contents[{index}].parts[{position}] (function call `{name}`)."
            )
        return


def _response_text(response: dict[str, Any]) -> str:
    """A functionResponse's output as text: a lone string value as is, anything else as compact JSON."""
    value = response.get("response")
    if isinstance(value, dict) and len(value) == 1:
        (only,) = value.values()
        if isinstance(only, str):
            return only
    return encode_json(value if value is not None else {})


def _call_parts(reply: Reply, call: CallContext) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for index, planned in enumerate(reply.calls):
        part: dict[str, Any] = {"functionCall": {"name": planned.name, "args": planned.args}}
        if index == 0:
            part["thoughtSignature"] = call.signer.sign(CALL_DOMAIN, call_payload(planned.name, planned.args))
        parts.append(part)
    return parts


def _chunk(
    reply: Reply, request: SimRequest, response_id: str, parts: list[dict[str, Any]], visible: int, thoughts: int
) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}],
        "usageMetadata": _usage(reply, visible, thoughts),
        "modelVersion": request.model,
        "responseId": response_id,
    }


def _usage(reply: Reply, visible: int, thoughts: int) -> dict[str, Any]:
    """Cumulative `usageMetadata` after `visible` candidate tokens and `thoughts` thought tokens."""
    usage: dict[str, Any] = {
        "promptTokenCount": reply.input_tokens,
        "candidatesTokenCount": visible,
        "totalTokenCount": reply.input_tokens + visible + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.input_tokens}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    return usage
