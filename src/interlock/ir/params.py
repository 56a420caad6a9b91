"""Optional request parameters whose support varies by offering, and what each wire protocol accepts natively.

One table shared by the catalog (offering defaults, ``require_parameters``) and the providers' normalisation
(drop with a warning what an offering does not accept). The names are the auriko-api.md 2.6 list plus the
sampling knobs OpenAI-compatible hosts accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

OptionalParam = Literal[
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "top_a",
    "repetition_penalty",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "n",
    "user",
    "parallel_tool_calls",
    "prompt_cache_key",
    "safety_identifier",
    "verbosity",
    "web_search_options",
]
OPTIONAL_PARAMS: Final[tuple[OptionalParam, ...]] = get_args(OptionalParam)

WireProtocol = Literal["openai-responses", "openai-chat", "anthropic", "gemini"]

# Optional parameters each protocol's native API accepts, used when neither the offering nor its provider lists
# `accepted_params`. Conservative on purpose: a parameter missing here is dropped with a warning, while one listed
# wrongly would be forwarded and may make the upstream fail.
PROTOCOL_PARAMS: Final[Mapping[WireProtocol, frozenset[OptionalParam]]] = {
    # Responses API: no seed, stop, n, penalties or logit_bias.
    "openai-responses": frozenset(
        {"temperature", "top_p", "top_logprobs", "parallel_tool_calls", "user", "prompt_cache_key", "safety_identifier"}
    ),
    "openai-chat": frozenset(
        {
            "temperature",
            "top_p",
            "seed",
            "stop",
            "frequency_penalty",
            "presence_penalty",
            "logit_bias",
            "logprobs",
            "top_logprobs",
            "n",
            "user",
            "parallel_tool_calls",
        }
    ),
    # Messages API: user -> metadata.user_id, parallel_tool_calls -> disable_parallel_tool_use.
    "anthropic": frozenset({"temperature", "top_p", "top_k", "stop", "user", "parallel_tool_calls"}),
    # generationConfig: candidateCount carries n.
    "gemini": frozenset(
        {"temperature", "top_p", "top_k", "seed", "stop", "frequency_penalty", "presence_penalty", "n"}
    ),
}

__all__ = ["OPTIONAL_PARAMS", "PROTOCOL_PARAMS", "OptionalParam", "WireProtocol"]
