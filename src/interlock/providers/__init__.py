"""Upstream adapters, one module per wire protocol, plus the shared transport and SSE decoder.

``ADAPTERS`` maps the config file's protocol names to adapter modules (uvicorn's ``HTTP_PROTOCOLS`` pattern):
adding a protocol is one module and one line here; adding an OpenAI-compatible vendor is configuration only.
"""

from __future__ import annotations

import importlib
from typing import cast

from interlock.providers.base import Adapter, NativeRequest, ProtocolName, SSEEvent, StreamParser, Target
from interlock.providers.sse import SSEDecoder

ADAPTER_MODULES: dict[str, str] = {
    "openai-responses": "interlock.providers.openai_responses",
    "openai-chat": "interlock.providers.openai_chat",
    "anthropic": "interlock.providers.anthropic",
    "gemini": "interlock.providers.gemini",
}

_LOADED: dict[str, Adapter] = {}


def get_adapter(protocol: str) -> Adapter:
    """The adapter module for a protocol name (imported once)."""
    adapter = _LOADED.get(protocol)
    if adapter is None:
        adapter = cast(Adapter, importlib.import_module(ADAPTER_MODULES[protocol]))
        _LOADED[protocol] = adapter
    return adapter


__all__ = [
    "ADAPTER_MODULES",
    "Adapter",
    "NativeRequest",
    "ProtocolName",
    "SSEDecoder",
    "SSEEvent",
    "StreamParser",
    "Target",
    "get_adapter",
]
