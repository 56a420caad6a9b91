"""Checks every lifecycle invariant of a Response API event stream (protocols.md 1.7 and 1.8)."""

from __future__ import annotations

from typing import Any

TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def check_response_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Assert the invariants and return the terminal event's ``response``."""
    assert events, "empty stream"
    assert events[0]["type"] == "response.created", events[0]["type"]
    assert events[0]["response"]["output"] == []
    seqs = [e["sequence_number"] for e in events]
    assert seqs == list(range(len(seqs))), f"sequence numbers not dense/monotonic: {seqs}"
    terminals = [e for e in events if e["type"] in TERMINAL]
    assert len(terminals) == 1, f"expected one terminal event, got {[e['type'] for e in terminals]}"
    assert events[-1]["type"] in TERMINAL, "terminal event is not last"
    rid = events[0]["response"]["id"]
    for e in events:
        if e["type"].startswith("response.") and "response" in e:
            assert e["response"]["id"] == rid, "lifecycle response identity changed"
    open_index: int | None = None
    open_item: dict[str, Any] | None = None
    next_index = 0
    done_items: list[dict[str, Any]] = []
    open_parts: set[int] = set()
    for e in events[1:-1]:
        t = e["type"]
        if t == "response.output_item.added":
            assert open_index is None, f"item {e['output_index']} added while item {open_index} is open"
            assert e["output_index"] == next_index, f"output_index {e['output_index']} != {next_index}"
            item = e["item"]
            if item["type"] == "message":
                assert item["content"] == []
            if item["type"] == "reasoning":
                assert item["summary"] == []
            if item["type"] == "function_call":
                assert item["arguments"] == ""
            open_index, open_item = e["output_index"], item
            open_parts = set()
            next_index += 1
        elif t == "response.output_item.done":
            assert open_index == e["output_index"], "done for an item that is not open"
            assert open_item is not None
            assert e["item"]["type"] == open_item["type"]
            assert e["item"].get("id") == open_item.get("id")
            assert e["item"].get("call_id") == open_item.get("call_id")
            assert not open_parts, "item done with a content part still open"
            done_items.append(e["item"])
            open_index, open_item = None, None
        elif t == "response.content_part.added":
            assert open_item is not None and open_item["type"] == "message"
            assert e["output_index"] == open_index and e["item_id"] == open_item["id"]
            open_parts.add(e["content_index"])
        elif t == "response.content_part.done":
            assert e["content_index"] in open_parts
            open_parts.discard(e["content_index"])
        elif t in (
            "response.output_text.delta",
            "response.output_text.done",
            "response.refusal.delta",
            "response.refusal.done",
            "response.output_text.annotation.added",
        ):
            assert open_item is not None and open_item["type"] == "message", t
            assert e["output_index"] == open_index
            assert e["content_index"] in open_parts, f"{t} before content_part.added"
        elif t.startswith("response.function_call_arguments."):
            assert open_item is not None and open_item["type"] == "function_call", t
            assert e["output_index"] == open_index
        elif t.startswith("response.reasoning_summary"):
            assert open_item is not None and open_item["type"] == "reasoning", t
            assert e["output_index"] == open_index
        elif t == "error":
            assert "code" in e and "message" in e and "error" not in e, "error event must be flat"
        elif "output_index" in e:
            assert e["output_index"] == open_index, f"{t} references a closed item"
    final = events[-1]["response"]
    assert open_index is None, "stream ended with an open item"
    assert final["output"] == done_items, "final output differs from the done items"
    if final["status"] != "failed":
        usage = final["usage"]
        assert usage is not None
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert "cached_tokens" in usage["input_tokens_details"]
        assert "reasoning_tokens" in usage["output_tokens_details"]
    return final
