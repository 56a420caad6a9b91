"""OpenAI Responses API as the simulator speaks it: `POST {base}/responses`, JSON or SSE (protocols.md 1).

Theory of operation: the stream is rendered in one pass over the planned reply, in the canonical order of
protocols.md 1.7. Items never interleave and `output_index` counts items in order: a reasoning item first
(with summary parts only when `reasoning.summary` was requested), then one message item or one function_call
item per call. Every event carries the next `sequence_number`, starting at 0 on `response.created`; the terminal
event is `response.completed`, or `response.incomplete` when the token cap cut the text. `output_item.added`
items carry their initial state (`content: []`, `summary: []`, `arguments: ""`) so SDK accumulators that append
to them work. Reasoning that is not shown weighs its token count on the reasoning item's `done` frame, so a
paced stream still spends the thinking time before the first visible token.

The request is validated like the real API where gateways get it wrong: a `function_call_output` needs a
`function_call` with the same `call_id` earlier in `input`, a reasoning item's `encrypted_content` must be one
the simulator issued, and `previous_response_id` is refused (the simulator keeps no state).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._errors import SimError
from ._openai import content_text, render_openai_error
from ._plan import Reply, SimRequest, ToolChoice, ToolSpec
from ._wire import ENCODER, CallContext, Frame, RenderedStream, new_id, sse_event
from .config import SimProtocol
from .textgen import split_fragments

__all__ = ["REASONING_DOMAIN", "OpenAIResponsesAdapter"]

REASONING_DOMAIN = "openai-reasoning"
_TOOL_CHOICES: dict[str, ToolChoice] = {"auto": "auto", "none": "none", "required": "required"}


class OpenAIResponsesAdapter:
    """The Responses protocol: parse a `ResponseCreateParams` body, render a `Response` or its events."""

    protocol: SimProtocol = "openai-responses"

    def parse(self, body: dict[str, Any], call: CallContext) -> SimRequest:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise SimError(
                400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
            )
        previous = body.get("previous_response_id")
        if previous:
            raise SimError(
                400,
                f"Previous response with id '{previous}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        request = SimRequest(model=model, stream=body.get("stream") is True, native=body)
        _read_input(body, request, call)
        _read_tools(body, request)
        _read_options(body, request)
        return request

    def render(self, reply: Reply, request: SimRequest, call: CallContext) -> bytes:
        status, incomplete = _status(reply)
        output = _output_items(reply, request, call)
        response_id = new_id("resp_", 48)
        return ENCODER.encode(_response(response_id, request, call, status, output, _usage(reply), incomplete))

    def render_stream(self, reply: Reply, request: SimRequest, call: CallContext) -> RenderedStream:
        response_id = new_id("resp_", 48)
        events = _Events()
        snapshot = _response(response_id, request, call, "in_progress", [], None, None)
        events.add("response.created", response=snapshot)
        events.add("response.in_progress", response=snapshot)
        final = _output_items(reply, request, call)
        for index, item in enumerate(final):
            _stream_item(events, index, item, reply)
        status, incomplete = _status(reply)
        terminal = "response.completed" if status == "completed" else "response.incomplete"
        events.add(terminal, response=_response(response_id, request, call, status, final, _usage(reply), incomplete))

        def error_frames(sent: int) -> bytes:
            message = "The server had an error while processing your request (simulated)."
            failed = _response(response_id, request, call, "failed", [], None, None)
            failed["error"] = {"code": "server_error", "message": message}
            error = {
                "type": "error",
                "sequence_number": sent,
                "error": {"type": "server_error", "code": "server_error", "message": message, "param": None},
            }
            return sse_event("error", error) + sse_event(
                "response.failed", {"type": "response.failed", "sequence_number": sent + 1, "response": failed}
            )

        return RenderedStream(frames=events.frames, content_type="text/event-stream", error_frames=error_frames)

    def render_error(self, error: SimError) -> bytes:
        return render_openai_error(error)


class _Events:
    """Collects SSE frames, numbering them with `sequence_number` as it goes."""

    __slots__ = ("frames", "seq")

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.seq = 0

    def add(self, kind: str, weight: int = 0, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.frames.append((sse_event(kind, payload), weight))
        self.seq += 1

    def add_deltas(self, kind: str, where: dict[str, Any], deltas: Iterable[str], tail: bytes = b"}") -> None:
        """One `kind` event per delta, weight 1; the bytes around the delta are encoded once."""
        head = b"event: " + kind.encode() + b'\ndata: {"type":"' + kind.encode() + b'","sequence_number":'
        middle = b"," + ENCODER.encode(where)[1:-1] + b',"delta":'
        tail += b"\n\n"
        for delta in deltas:
            self.frames.append((head + str(self.seq).encode() + middle + ENCODER.encode(delta) + tail, 1))
            self.seq += 1


def _read_input(body: dict[str, Any], request: SimRequest, call: CallContext) -> None:
    raw = body.get("input")
    items: list[Any]
    if isinstance(raw, str):
        items = [{"type": "message", "role": "user", "content": raw}]
    elif isinstance(raw, list):
        items = raw
    else:
        raise SimError(400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    instructions = body.get("instructions")
    chars = len(instructions) if isinstance(instructions, str) else 0
    call_ids: set[str] = set()
    trailing: list[str] = []
    last_kind = ""
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise SimError(400, f"Invalid type for 'input[{index}]': expected an object.", param=f"input[{index}]")
        kind = item.get("type") or "message"
        last_kind = kind
        if kind == "function_call_output":
            call_id = item.get("call_id")
            if call_id not in call_ids:
                raise SimError(
                    400, f"No tool call found for function call output with call_id {call_id}.", param="input"
                )
            output = item.get("output")
            text = output if isinstance(output, str) else content_text(output)
            chars += len(text)
            trailing.append(text)
            continue
        trailing = []
        if kind == "message":
            text = content_text(item.get("content"))
            chars += len(text)
            if item.get("role") == "user":
                request.last_user_text = text
        elif kind == "function_call":
            call_id = item.get("call_id")
            if isinstance(call_id, str):
                call_ids.add(call_id)
            arguments = item.get("arguments")
            chars += len(arguments) if isinstance(arguments, str) else 0
        elif kind == "reasoning":
            sealed = item.get("encrypted_content")
            if sealed is not None and call.signer.unseal(REASONING_DOMAIN, sealed) is None:
                raise SimError(
                    400,
                    f"The encrypted content for item {item.get('id')} could not be verified.",
                    param=f"input[{index}].encrypted_content",
                    code="invalid_encrypted_content",
                )
    request.text_chars = chars
    if last_kind == "function_call_output":
        request.tool_outputs = trailing


def _read_tools(body: dict[str, Any], request: SimRequest) -> None:
    tools = body.get("tools")
    if isinstance(tools, list):
        request.tools = [
            ToolSpec(tool["name"], tool.get("parameters") if isinstance(tool.get("parameters"), dict) else None)
            for tool in tools
            if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("name"), str)
        ]
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        request.tool_choice = _TOOL_CHOICES.get(choice, "auto")
    elif isinstance(choice, dict):
        if choice.get("type") == "function" and isinstance(choice.get("name"), str):
            request.forced_tool = choice["name"]
        elif choice.get("type") == "allowed_tools":
            allowed = {t.get("name") for t in choice.get("tools") or [] if isinstance(t, dict)}
            request.tools = [tool for tool in request.tools if tool.name in allowed]
            request.tool_choice = "required" if choice.get("mode") == "required" else "auto"
    request.parallel_tool_calls = body.get("parallel_tool_calls") is not False


def _read_options(body: dict[str, Any], request: SimRequest) -> None:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            schema = fmt.get("schema")
            request.response_schema = schema if isinstance(schema, dict) else {}
        elif fmt.get("type") == "json_object":
            request.json_mode = True
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        effort = reasoning.get("effort")
        summary = reasoning.get("summary") or reasoning.get("generate_summary")
        request.reasoning = effort != "none" and (effort is not None or summary is not None)
        request.reasoning_visible = request.reasoning and summary is not None
    cap = body.get("max_output_tokens")
    if isinstance(cap, int):
        request.max_output_tokens = cap


def _status(reply: Reply) -> tuple[str, dict[str, str] | None]:
    if reply.finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    return "completed", None


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.input_tokens,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens},
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


def _output_items(reply: Reply, request: SimRequest, call: CallContext) -> list[dict[str, Any]]:
    """The final `output` list: the items exactly as `output_item.done` and the terminal event carry them."""
    items: list[dict[str, Any]] = []
    if reply.reasoning:
        summary = [{"type": "summary_text", "text": reply.reasoning_text}] if request.reasoning_visible else []
        reasoning: dict[str, Any] = {"id": new_id("rs_", 48), "type": "reasoning", "summary": summary}
        include = request.native.get("include")
        if isinstance(include, list) and "reasoning.encrypted_content" in include:
            reasoning["encrypted_content"] = call.signer.seal(REASONING_DOMAIN, reply.reasoning_text)
        items.append(reasoning)
    if reply.text or not reply.calls:
        items.append(
            {
                "id": new_id("msg_", 48),
                "type": "message",
                "status": "incomplete" if reply.finish == "length" else "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": reply.output_text}],
            }
        )
    for planned in reply.calls:
        items.append(
            {
                "id": new_id("fc_", 48),
                "type": "function_call",
                "status": "completed",
                "arguments": planned.arguments,
                "call_id": new_id("call_"),
                "name": planned.name,
            }
        )
    return items


def _stream_item(events: _Events, index: int, item: dict[str, Any], reply: Reply) -> None:
    item_id = item["id"]
    kind = item["type"]
    if kind == "reasoning":
        events.add("response.output_item.added", output_index=index, item={**item, "summary": []})
        if item["summary"]:
            where = {"item_id": item_id, "output_index": index, "summary_index": 0}
            events.add("response.reasoning_summary_part.added", **where, part={"type": "summary_text", "text": ""})
            events.add_deltas("response.reasoning_summary_text.delta", where, reply.reasoning)
            events.add("response.reasoning_summary_text.done", **where, text=reply.reasoning_text)
            events.add("response.reasoning_summary_part.done", **where, part=item["summary"][0])
            events.add("response.output_item.done", output_index=index, item=item)
        else:
            events.add("response.output_item.done", reply.reasoning_tokens, output_index=index, item=item)
    elif kind == "message":
        part = item["content"][0]
        events.add(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "content": []},
        )
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        events.add("response.content_part.added", **where, part={**part, "text": ""})
        events.add_deltas("response.output_text.delta", where, reply.text, b',"logprobs":[]}')
        events.add("response.output_text.done", **where, text=part["text"], logprobs=[])
        events.add("response.content_part.done", **where, part=part)
        events.add("response.output_item.done", output_index=index, item=item)
    else:
        events.add(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "arguments": ""},
        )
        where = {"item_id": item_id, "output_index": index}
        events.add_deltas("response.function_call_arguments.delta", where, split_fragments(item["arguments"]))
        events.add(
            "response.function_call_arguments.done", item_id=item_id, output_index=index, arguments=item["arguments"]
        )
        events.add("response.output_item.done", output_index=index, item=item)


def _response(
    response_id: str,
    request: SimRequest,
    call: CallContext,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    incomplete: dict[str, str] | None,
) -> dict[str, Any]:
    """A `Response` object with every field real servers send (null when unknown), echoing the request."""
    body = request.native
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        reasoning = {}
    text = body.get("text")
    if not isinstance(text, dict):
        text = {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": call.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": request.model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls,
        "previous_response_id": None,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity", "medium")},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }
