"""Canned upstream replies in the four provider protocols, rendered once as bytes for the mock upstream.

Each reply carries `tokens` text tokens. A stream is a list of frames `(bytes, weight)` where weight 1 marks a
frame that carries one token (the frames a paced upstream spaces out) and 0 marks framing (created, stops,
usage). Shapes follow /work/shared/docs/protocols.md (1.4, 1.10, 2.2, 2.3, 3.4, 3.5, 4.2, 4.3) so real clients
and every gateway under test accept them: Responses objects list every field typed clients require, Chat
streams end with a usage chunk and `[DONE]`, Anthropic events carry `event:` lines, Gemini frames end in CRLF.
"""

from __future__ import annotations

import json
from typing import Any, Literal

__all__ = ["KINDS", "Frame", "Kind", "json_body", "stream_frames"]

Kind = Literal["responses", "chat", "anthropic", "gemini"]
KINDS: tuple[Kind, ...] = ("responses", "chat", "anthropic", "gemini")
Frame = tuple[bytes, int]

MODEL = "bench-model"
INPUT_TOKENS = 12
_WORDS = ("Hello", " there", ",", " this", " is", " a", " canned", " benchmark", " reply", " from", " the", " mock")


def _text(tokens: int) -> list[str]:
    return [_WORDS[i % len(_WORDS)] for i in range(tokens)]


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _event(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(payload) + b"\n\n"


def _data(payload: Any) -> bytes:
    return b"data: " + _dumps(payload) + b"\n\n"


# -- OpenAI Responses ---------------------------------------------------------------------------------------


def _response(status: str, output: list[Any], usage: Any) -> dict[str, Any]:
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1760000000,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "model": MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _responses_usage(tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + tokens,
    }


def _message_item(text: str, status: str) -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status == "completed" else []
    )
    return {"id": "msg_bench", "type": "message", "status": status, "role": "assistant", "content": content}


def _responses_json(tokens: int) -> bytes:
    text = "".join(_text(tokens))
    return _dumps(_response("completed", [_message_item(text, "completed")], _responses_usage(tokens)))


def _responses_stream(tokens: int) -> list[Frame]:
    words = _text(tokens)
    text = "".join(words)
    seq = iter(range(1_000_000))
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    ids = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    head = [
        _event(
            "response.created",
            {"type": "response.created", "sequence_number": next(seq), "response": _response("in_progress", [], None)},
        ),
        _event(
            "response.in_progress",
            {
                "type": "response.in_progress",
                "sequence_number": next(seq),
                "response": _response("in_progress", [], None),
            },
        ),
        _event(
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "sequence_number": next(seq),
                "output_index": 0,
                "item": _message_item("", "in_progress"),
            },
        ),
        _event(
            "response.content_part.added",
            {"type": "response.content_part.added", "sequence_number": next(seq), **ids, "part": part},
        ),
    ]
    frames: list[Frame] = [(b"".join(head), 0)]
    for word in words:
        delta = {
            "type": "response.output_text.delta",
            "sequence_number": next(seq),
            **ids,
            "delta": word,
            "logprobs": [],
        }
        frames.append((_event("response.output_text.delta", delta), 1))
    done_item = _message_item(text, "completed")
    tail = [
        _event(
            "response.output_text.done",
            {"type": "response.output_text.done", "sequence_number": next(seq), **ids, "text": text, "logprobs": []},
        ),
        _event(
            "response.content_part.done",
            {
                "type": "response.content_part.done",
                "sequence_number": next(seq),
                **ids,
                "part": done_item["content"][0],
            },
        ),
        _event(
            "response.output_item.done",
            {"type": "response.output_item.done", "sequence_number": next(seq), "output_index": 0, "item": done_item},
        ),
        _event(
            "response.completed",
            {
                "type": "response.completed",
                "sequence_number": next(seq),
                "response": _response("completed", [done_item], _responses_usage(tokens)),
            },
        ),
    ]
    frames.append((b"".join(tail), 0))
    return frames


# -- OpenAI Chat Completions --------------------------------------------------------------------------------


def _chat_usage(tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": INPUT_TOKENS,
        "completion_tokens": tokens,
        "total_tokens": INPUT_TOKENS + tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_json(tokens: int) -> bytes:
    return _dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1760000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(_text(tokens)),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _chat_usage(tokens),
            "service_tier": "default",
            "system_fingerprint": "fp_bench",
        }
    )


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _data(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1760000000,
            "model": MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
    )


def _chat_stream(tokens: int) -> list[Frame]:
    frames: list[Frame] = [(_chunk({"role": "assistant", "content": "", "refusal": None}), 0)]
    frames.extend((_chunk({"content": word}), 1) for word in _text(tokens))
    usage = _data(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1760000000,
            "model": MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [],
            "usage": _chat_usage(tokens),
        }
    )
    frames.append((_chunk({}, "stop") + usage + b"data: [DONE]\n\n", 0))
    return frames


# -- Anthropic Messages -------------------------------------------------------------------------------------


def _anthropic_json(tokens: int) -> bytes:
    return _dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{"type": "text", "text": "".join(_text(tokens))}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "output_tokens": tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
    )


def _anthropic_stream(tokens: int) -> list[Frame]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "output_tokens": 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
    }
    head = (
        _event("message_start", start)
        + _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        + _event("ping", {"type": "ping"})
    )
    frames: list[Frame] = [(head, 0)]
    for word in _text(tokens):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
        frames.append((_event("content_block_delta", delta), 1))
    tail = (
        _event("content_block_stop", {"type": "content_block_stop", "index": 0})
        + _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": tokens},
            },
        )
        + _event("message_stop", {"type": "message_stop"})
    )
    frames.append((tail, 0))
    return frames


# -- Gemini -------------------------------------------------------------------------------------------------


def _gemini_usage(tokens: int) -> dict[str, Any]:
    return {"promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": tokens, "totalTokenCount": INPUT_TOKENS + tokens}


def _gemini_chunk(text: str, tokens: int, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": _gemini_usage(tokens),
        "modelVersion": MODEL,
        "responseId": "bench",
    }


def _gemini_json(tokens: int) -> bytes:
    return _dumps(_gemini_chunk("".join(_text(tokens)), tokens, "STOP"))


def _gemini_stream(tokens: int) -> list[Frame]:
    words = _text(tokens)
    frames: list[Frame] = []
    for index, word in enumerate(words):
        finish = "STOP" if index == len(words) - 1 else None
        frames.append((b"data: " + _dumps(_gemini_chunk(word, index + 1, finish)) + b"\r\n\r\n", 1))
    return frames


def json_body(kind: Kind, tokens: int) -> bytes:
    """The non-streaming reply body of `kind` with `tokens` output tokens."""
    return {"responses": _responses_json, "chat": _chat_json, "anthropic": _anthropic_json, "gemini": _gemini_json}[
        kind
    ](tokens)


def stream_frames(kind: Kind, tokens: int) -> list[Frame]:
    """The streamed reply of `kind` as frames; weight-1 frames carry one token each."""
    return {
        "responses": _responses_stream,
        "chat": _chat_stream,
        "anthropic": _anthropic_stream,
        "gemini": _gemini_stream,
    }[kind](tokens)
