"""The provider simulator: a loopback HTTP server that imitates LLM providers in all four upstream protocols.

Each simulated provider lives under `/p/{provider_id}` and speaks OpenAI Responses, OpenAI Chat Completions,
Anthropic Messages or Gemini with deterministic, seeded replies (text, tool calls, JSON documents, reasoning
with verifiable signatures) and configurable latency, pacing, errors, timeouts, outages and stream faults.
`SimServer` runs it in-process; `serve_forever` backs the `interlock sim` command.
"""

from __future__ import annotations

from .config import (
    PROTOCOLS,
    SimBehaviour,
    SimConfig,
    SimConfigError,
    SimProtocol,
    SimProvider,
    default_sim_config,
    load_sim_config,
)
from .server import RecordedRequest, SimServer, serve_forever

__all__ = [
    "PROTOCOLS",
    "RecordedRequest",
    "SimBehaviour",
    "SimConfig",
    "SimConfigError",
    "SimProtocol",
    "SimProvider",
    "SimServer",
    "default_sim_config",
    "load_sim_config",
    "serve_forever",
]
