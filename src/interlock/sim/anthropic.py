"""Anthropic Messages API as the simulator speaks it: `POST {base}/messages`, JSON or SSE (protocols.md 3).

Theory of operation: a reply becomes content blocks in a fixed order (thinking, then text or tool_use blocks)
with dense `index` values. The stream is `message_start` (usage with `output_tokens: 1`), then for each block
`content_block_start`, its deltas and `content_block_stop` (a `ping` follows the first start, as recorded
streams show), then `message_delta` with the stop reason and CUMULATIVE usage, then `message_stop`. Every frame
has an `event:` line equal to its `type`. Thinking blocks stream `thinking_delta`s and one `signature_delta`
just before their stop; tool_use blocks start with `input: {}` and an empty `input_json_delta`.

The signature of a thinking block is an HMAC of its text under the simulator's secret, and the next turn is
validated the way the real API does it (protocols.md 3.2), so a gateway test can prove that thinking blocks and
tool results survive translation: every thinking block sent back must carry its original signature; every
tool_use must be answered by a tool_result at the start of the next user turn, and every tool_result must answer
a tool_use of the turn before; and with thinking on, the assistant turn that started the current tool loop
must begin with its thinking block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import SimError
from ._plan import Reply, SimRequest, ToolSpec
from ._wire import ENCODER, CallContext, Frame, RenderedStream, new_id, sse_event
from .config import SimProtocol
from .textgen import encode_json

__all__ = ["ANTHROPIC_ERRORS", "THINKING_DOMAIN", "AnthropicAdapter"]

THINKING_DOMAIN = "anthropic-thinking"

# status -> error.type (protocols.md 3.6).
ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
# How each block starts in a stream; tool_use blocks start as themselves with `input: {}`.
_EMPTY_BLOCKS: dict[str, dict[str, str]] = {
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
    "text": {"type": "text", "text": ""},
}
_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


class AnthropicAdapter:
    """The Messages protocol: parse and validate a request, render a `Message` or its events."""

    protocol: SimProtocol = "anthropic"

    def parse(self, body: dict[str, Any], call: CallContext) -> SimRequest:
        # anthropic>=2 sends its API key as `Authorization: Bearer`; older clients and gateways send `x-api-key`.
        if not call.headers.get("x-api-key") and not call.headers.get("authorization"):
            raise SimError(401, "x-api-key header is required")
        if not call.headers.get("anthropic-version"):
            raise SimError(400, "anthropic-version: header is required")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise SimError(400, "model: Field required")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise SimError(400, "max_tokens: Field required")
        if max_tokens < 1:
            raise SimError(400, "max_tokens: Input should be greater than or equal to 1")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise SimError(
                400, "messages: Field required" if messages is None else "messages: List should have at least 1 item"
            )
        request = SimRequest(model=model, stream=body.get("stream") is True, native=body, max_output_tokens=max_tokens)
        _read_thinking(body, request, max_tokens)
        _read_tools(body, request)
        _read_messages(messages, request, call)
        system = body.get("system")
        request.text_chars += len(system) if isinstance(system, str) else len(_blocks_text(system))
        config = body.get("output_config")
        fmt = config.get("format") if isinstance(config, dict) else body.get("output_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = fmt.get("schema")
            request.response_schema = schema if isinstance(schema, dict) else {}
        return request

    def render(self, reply: Reply, request: SimRequest, call: CallContext) -> bytes:
        message = _message(request)
        message["content"] = _blocks(reply, call)
        message["stop_reason"] = _STOP_REASONS[reply.finish]
        message["usage"] = {**_usage(reply), "output_tokens": reply.output_tokens}
        return ENCODER.encode(message)

    def render_stream(self, reply: Reply, request: SimRequest, call: CallContext) -> RenderedStream:
        frames: list[Frame] = []

        def event(kind: str, weight: int = 0, **fields: Any) -> None:
            frames.append((sse_event(kind, {"type": kind, **fields}), weight))

        start = _message(request)
        start["usage"] = {**_usage(reply), "output_tokens": 1}
        event("message_start", message=start)
        blocks = _blocks(reply, call)
        if not blocks:
            event("ping")
        calls = iter(reply.calls)
        for index, block in enumerate(blocks):
            kind = block["type"]
            event("content_block_start", index=index, content_block=_EMPTY_BLOCKS.get(kind) or {**block, "input": {}})
            if index == 0:
                event("ping")
            if kind == "thinking":
                frames.extend(_deltas(index, "thinking_delta", "thinking", reply.reasoning))
                signature = {"type": "signature_delta", "signature": block["signature"]}
                event("content_block_delta", index=index, delta=signature)
            elif kind == "text":
                frames.extend(_deltas(index, "text_delta", "text", reply.text))
            else:
                event("content_block_delta", index=index, delta={"type": "input_json_delta", "partial_json": ""})
                frames.extend(_deltas(index, "input_json_delta", "partial_json", next(calls).fragments))
            event("content_block_stop", index=index)
        stop = {"stop_reason": _STOP_REASONS[reply.finish], "stop_sequence": None}
        usage = _usage(reply)
        del usage["cache_creation"], usage["service_tier"]
        event("message_delta", delta=stop, usage={**usage, "output_tokens": reply.output_tokens})
        event("message_stop")

        def error_frames(sent: int) -> bytes:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            return sse_event("error", error)

        return RenderedStream(frames=frames, content_type="text/event-stream", error_frames=error_frames)

    def render_error(self, error: SimError) -> bytes:
        default = "invalid_request_error" if error.status < 500 else "api_error"
        kind = error.native_type or ANTHROPIC_ERRORS.get(error.status, default)
        return ENCODER.encode(
            {"type": "error", "error": {"type": kind, "message": error.message}, "request_id": new_id("req_")}
        )


def _deltas(index: int, delta_type: str, key: str, values: Iterable[str]) -> list[Frame]:
    """One `content_block_delta` frame per value, weight 1; the bytes around the value are encoded once."""
    head = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
        + str(index).encode()
        + b',"delta":{"type":"'
        + delta_type.encode()
        + b'","'
        + key.encode()
        + b'":'
    )
    return [(head + ENCODER.encode(value) + b"}}\n\n", 1) for value in values]


def _read_thinking(body: dict[str, Any], request: SimRequest, max_tokens: int) -> None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int):
            raise SimError(400, "thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise SimError(400, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if max_tokens <= budget:
            raise SimError(
                400,
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                f"{_THINKING_DOCS}#max-tokens-and-context-window-size",
            )
    request.reasoning = True
    request.reasoning_visible = True


def _read_tools(body: dict[str, Any], request: SimRequest) -> None:
    request.tools = [
        ToolSpec(tool["name"], tool.get("input_schema") if isinstance(tool.get("input_schema"), dict) else None)
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and isinstance(tool.get("name"), str) and tool.get("type", "custom") == "custom"
    ]
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind in ("any", "tool") and request.reasoning:
        raise SimError(400, "Thinking may not be enabled when tool_choice forces tool use.")
    if kind == "any":
        request.tool_choice = "required"
    elif kind == "none":
        request.tool_choice = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        request.forced_tool = choice["name"]
    request.parallel_tool_calls = choice.get("disable_parallel_tool_use") is not True


def _read_messages(messages: list[Any], request: SimRequest, call: CallContext) -> None:
    """Collect text and tool results, and enforce the API's ordering and signature rules (protocols.md 3.2)."""
    chars = 0
    pending: list[str] = []
    pending_at = -1
    outputs: list[str] | None = None
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise SimError(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise SimError(400, f"messages.{i}.content: Input should be a valid list")
        if role == "assistant":
            if pending:
                raise SimError(400, _unanswered(pending_at, pending))
            pending, pending_at = [], i
            for j, block in enumerate(blocks):
                chars += _check_assistant_block(block, i, j, call, pending)
            outputs = None
            continue
        results = _check_tool_results(blocks, i, pending if pending_at == i - 1 else [])
        missing = [tool_use_id for tool_use_id in pending if tool_use_id not in results]
        if missing:
            raise SimError(400, _unanswered(pending_at, missing))
        pending = []
        texts = [b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text" and b.get("text")]
        outputs = [
            _blocks_text(b.get("content")) for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"
        ] or None
        chars += sum(len(t) for t in texts) + sum(len(o) for o in outputs or [])
        if texts:
            request.last_user_text = "\n".join(texts)
    if pending:
        raise SimError(400, _unanswered(pending_at, pending))
    request.text_chars = chars
    request.tool_outputs = outputs
    if request.reasoning and outputs is not None and len(messages) >= 2:
        _check_thinking_first(messages[-2], len(messages) - 2)


def _check_assistant_block(block: Any, i: int, j: int, call: CallContext, tool_use_ids: list[str]) -> int:
    """Validate one assistant block, note its tool_use id, and return its text length."""
    if not isinstance(block, dict):
        raise SimError(400, f"messages.{i}.content.{j}: Input should be a valid dictionary")
    kind = block.get("type")
    if kind == "tool_use":
        tool_use_id = block.get("id")
        if isinstance(tool_use_id, str):
            tool_use_ids.append(tool_use_id)
        return len(encode_json(block.get("input", {})))
    if kind == "thinking":
        text = block.get("thinking")
        if "signature" not in block:
            raise SimError(400, f"messages.{i}.content.{j}.thinking.signature: Field required")
        if not isinstance(text, str) or not call.signer.verify(THINKING_DOMAIN, text, block["signature"]):
            raise SimError(400, f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
        return len(text)
    text = block.get("text")
    return len(text) if isinstance(text, str) else 0


def _check_tool_results(blocks: list[Any], i: int, expected: list[str]) -> list[str]:
    """Return the tool_use ids answered by the leading tool_result blocks; reject results without a tool_use."""
    leading: list[str] = []
    in_lead = True
    for j, block in enumerate(blocks):
        is_result = isinstance(block, dict) and block.get("type") == "tool_result"
        if not is_result:
            in_lead = False
            continue
        tool_use_id = block.get("tool_use_id")
        if tool_use_id not in expected:
            raise SimError(
                400,
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. "
                "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
            )
        if in_lead:
            leading.append(tool_use_id)
    return leading


def _check_thinking_first(message: Any, index: int) -> None:
    blocks = message.get("content") if isinstance(message, dict) else None
    if not isinstance(blocks, list) or not any(isinstance(b, dict) and b.get("type") == "tool_use" for b in blocks):
        return
    first = blocks[0].get("type") if isinstance(blocks[0], dict) else None
    if first not in ("thinking", "redacted_thinking"):
        raise SimError(
            400,
            f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. "
            "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
            "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
            "thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult "
            f"our documentation at {_THINKING_DOCS}",
        )


def _unanswered(index: int, ids: list[str]) -> str:
    return (
        f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )


def _blocks_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        block["text"] for block in content if isinstance(block, Mapping) and isinstance(block.get("text"), str)
    )


def _message(request: SimRequest) -> dict[str, Any]:
    return {
        "id": new_id("msg_01"),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }


def _usage(reply: Reply) -> dict[str, Any]:
    # `input_tokens` excludes cache reads (protocols.md 3.4); the total prompt is their sum.
    return {
        "input_tokens": reply.input_tokens - reply.cached_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 0,
        "service_tier": "standard",
    }


def _blocks(reply: Reply, call: CallContext) -> list[dict[str, Any]]:
    """The reply's content blocks, as the non-streaming `Message.content` holds them."""
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        text = reply.reasoning_text
        blocks.append({"type": "thinking", "thinking": text, "signature": call.signer.sign(THINKING_DOMAIN, text)})
    if reply.text:
        blocks.append({"type": "text", "text": reply.output_text})
    for planned in reply.calls:
        blocks.append({"type": "tool_use", "id": new_id("toolu_01"), "name": planned.name, "input": planned.args})
    return blocks
