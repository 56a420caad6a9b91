"""OpenAI Chat Completions as the simulator speaks it: `POST {base}/chat/completions` (protocols.md 2).

Streams follow protocols.md 2.3: a first chunk with `role` and an empty `content`, then reasoning as
`delta.reasoning_content` (the DeepSeek/vLLM convention), text as `delta.content`, and each tool call as one
chunk with `index`, `id`, `type` and `name` followed by argument fragments carrying only `index` and
`function.arguments` (re-sending `id` or `name` would make SDK accumulators concatenate them). A last chunk with
an empty delta carries `finish_reason`; with `stream_options.include_usage` every chunk has `usage: null`
and an extra chunk with `choices: []` carries the usage; `data: [DONE]` ends the stream.

Validation mirrors the real API's tool-message rules: a `tool` message must answer a `tool_calls` id of the
assistant message just before it, and every id of that assistant message must be answered before any other
message follows.
"""

from __future__ import annotations

from typing import Any

from ._errors import SimError
from ._openai import content_text, render_openai_error
from ._plan import Reply, SimRequest, ToolChoice, ToolSpec
from ._wire import ENCODER, CallContext, Frame, RenderedStream, new_id, sse_data
from .config import SimProtocol

__all__ = ["OpenAIChatAdapter"]

_TOOL_CHOICES: dict[str, ToolChoice] = {"auto": "auto", "none": "none", "required": "required"}
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
_DONE = b"data: [DONE]\n\n"
_FINGERPRINT = "fp_interlock_sim"


class OpenAIChatAdapter:
    """The Chat Completions protocol: parse a request body, render a completion or its chunks."""

    protocol: SimProtocol = "openai-chat"

    def parse(self, body: dict[str, Any], call: CallContext) -> SimRequest:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise SimError(
                400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise SimError(
                400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
            )
        request = SimRequest(model=model, stream=body.get("stream") is True, native=body)
        _read_messages(messages, request)
        _read_tools(body, request)
        _read_options(body, request)
        return request

    def render(self, reply: Reply, request: SimRequest, call: CallContext) -> bytes:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.output_text if reply.text or not reply.calls else None,
            "refusal": None,
            "annotations": [],
        }
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning_text
        if reply.calls:
            message["tool_calls"] = [
                {
                    "id": new_id("call_"),
                    "type": "function",
                    "function": {"name": planned.name, "arguments": planned.arguments},
                }
                for planned in reply.calls
            ]
        completion = {
            **_base(request, call, "chat.completion"),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _FINISH[reply.finish]}],
            "usage": _usage(reply),
        }
        return ENCODER.encode(completion)

    def render_stream(self, reply: Reply, request: SimRequest, call: CallContext) -> RenderedStream:
        base = _base(request, call, "chat.completion.chunk")
        options = request.native.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        if include_usage:
            base["usage"] = None
        frames: list[Frame] = []
        # Every chunk is `base` plus one choice: encode the shared bytes once and only the delta per token.
        prefix = b"data: " + ENCODER.encode(base)[:-1] + b',"choices":[{"index":0,"delta":'
        open_suffix = b',"logprobs":null,"finish_reason":null}]}\n\n'

        def chunk(delta: bytes, weight: int = 0) -> None:
            frames.append((prefix + delta + open_suffix, weight))

        chunk(b'{"role":"assistant","content":"","refusal":null}')
        for token in reply.reasoning:
            chunk(b'{"reasoning_content":' + ENCODER.encode(token) + b"}", 1)
        for token in reply.text:
            chunk(b'{"content":' + ENCODER.encode(token) + b"}", 1)
        for index, planned in enumerate(reply.calls):
            head = {"index": index, "id": new_id("call_"), "type": "function"}
            chunk(ENCODER.encode({"tool_calls": [{**head, "function": {"name": planned.name, "arguments": ""}}]}))
            fragment_head = b'{"tool_calls":[{"index":' + str(index).encode() + b',"function":{"arguments":'
            for fragment in planned.fragments:
                chunk(fragment_head + ENCODER.encode(fragment) + b"}}]}", 1)
        finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": _FINISH[reply.finish]}
        frames.append((sse_data({**base, "choices": [finish]}), 0))
        if include_usage:
            frames.append((sse_data({**base, "choices": [], "usage": _usage(reply)}), 0))
        frames.append((_DONE, 0))

        def error_frames(sent: int) -> bytes:
            message = "The server had an error while processing your request (simulated)."
            return sse_data({"error": {"message": message, "type": "server_error", "param": None, "code": None}})

        return RenderedStream(frames=frames, content_type="text/event-stream", error_frames=error_frames)

    def render_error(self, error: SimError) -> bytes:
        return render_openai_error(error)


def _read_messages(messages: list[Any], request: SimRequest) -> None:
    chars = 0
    answerable: set[str] = set()
    pending: set[str] = set()
    trailing: list[str] = []
    last_role = ""
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise SimError(
                400, f"Invalid type for 'messages[{index}]': expected an object.", param=f"messages.[{index}]"
            )
        role = message.get("role")
        last_role = role if isinstance(role, str) else ""
        text = content_text(message.get("content"))
        chars += len(text)
        if role == "tool":
            tool_call_id = message.get("tool_call_id")
            if tool_call_id not in answerable:
                raise SimError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            pending.discard(tool_call_id)
            trailing.append(text)
            continue
        if pending:
            raise SimError(400, _unanswered(pending), param=f"messages.[{index}].role")
        trailing = []
        answerable = set()
        if role == "user":
            request.last_user_text = text
        elif role == "assistant":
            for tool_call in message.get("tool_calls") or []:
                if not isinstance(tool_call, dict):
                    continue
                function = tool_call.get("function")
                arguments = function.get("arguments") if isinstance(function, dict) else None
                chars += len(arguments) if isinstance(arguments, str) else 0
                if isinstance(tool_call.get("id"), str):
                    answerable.add(tool_call["id"])
            pending = set(answerable)
    if pending:
        raise SimError(400, _unanswered(pending), param=f"messages.[{len(messages) - 1}].role")
    request.text_chars = chars
    if last_role == "tool":
        request.tool_outputs = trailing


def _unanswered(pending: set[str]) -> str:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(sorted(pending))}"
    )


def _read_tools(body: dict[str, Any], request: SimRequest) -> None:
    specs: list[ToolSpec] = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            specs.append(ToolSpec(function["name"], parameters if isinstance(parameters, dict) else None))
    for function in body.get("functions") or []:
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            specs.append(ToolSpec(function["name"], parameters if isinstance(parameters, dict) else None))
    request.tools = specs
    choice = body.get("tool_choice", body.get("function_call"))
    if isinstance(choice, str):
        request.tool_choice = _TOOL_CHOICES.get(choice, "auto")
    elif isinstance(choice, dict):
        function = choice.get("function") if choice.get("type") == "function" else choice
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            request.forced_tool = function["name"]
        allowed = choice.get("allowed_tools")
        if choice.get("type") == "allowed_tools" and isinstance(allowed, dict):
            names = {
                t["function"].get("name")
                for t in allowed.get("tools") or []
                if isinstance(t, dict) and isinstance(t.get("function"), dict)
            }
            request.tools = [tool for tool in request.tools if tool.name in names]
            request.tool_choice = "required" if allowed.get("mode") == "required" else "auto"
    request.parallel_tool_calls = body.get("parallel_tool_calls") is not False


def _read_options(body: dict[str, Any], request: SimRequest) -> None:
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            spec = fmt.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            request.response_schema = schema if isinstance(schema, dict) else {}
        elif fmt.get("type") == "json_object":
            request.json_mode = True
    effort = body.get("reasoning_effort")
    request.reasoning = isinstance(effort, str) and effort != "none"
    request.reasoning_visible = request.reasoning
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(cap, int):
        request.max_output_tokens = cap


def _base(request: SimRequest, call: CallContext, kind: str) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl-", 29),
        "object": kind,
        "created": call.created,
        "model": request.model,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
