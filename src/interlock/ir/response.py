"""The Response object shell: every field of protocols.md 1.4, echoed from the request, nullable ones null."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from interlock.ir.request import ResponseRequest


def make_response_shell(req: ResponseRequest, response_id: str, model: str) -> dict[str, Any]:
    """A Response in state ``in_progress`` with no output, ready for ``ResponseBuilder``.

    Strict typed clients (Go, Rust, TS) fail on missing required keys, so every field is present.
    """
    tools = [msgspec.to_builtins(t) for t in req.tools or []]
    tools = [t["raw"] if t.get("type") == "native" else t for t in tools]
    reasoning: dict[str, Any] = {"effort": None, "summary": None}
    if req.reasoning is not None:
        reasoning = {
            "effort": req.reasoning.effort,
            "summary": req.reasoning.summary or req.reasoning.generate_summary,
        }
    text: dict[str, Any] = {"format": {"type": "text"}, "verbosity": "medium"}
    if req.text is not None:
        if req.text.format is not None:
            text["format"] = msgspec.to_builtins(req.text.format)
        if req.text.verbosity is not None:
            text["verbosity"] = req.text.verbosity
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": bool(req.background),
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "model": model,
        "output": [],
        "parallel_tool_calls": True if req.parallel_tool_calls is None else req.parallel_tool_calls,
        "previous_response_id": req.previous_response_id,
        "prompt_cache_key": req.prompt_cache_key,
        "reasoning": reasoning,
        "safety_identifier": req.safety_identifier,
        "service_tier": req.service_tier,
        "store": req.store is not False,
        "temperature": req.temperature,
        "text": text,
        "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
        "tools": tools,
        "top_logprobs": req.top_logprobs,
        "top_p": req.top_p,
        "truncation": req.truncation or "disabled",
        "usage": None,
        "user": req.user,
        "metadata": dict(req.metadata or {}),
    }


__all__ = ["make_response_shell"]
