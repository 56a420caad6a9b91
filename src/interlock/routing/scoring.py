"""Scoring: the expected cost of a request on an offering, the strategy presets, and the score that orders a plan.

Theory of operation
-------------------
Each surviving candidate gets three raw dimensions:

- *cost*: the expected USD cost of this request on this offering. Input tokens are estimated without any
  network or tokenizer, as characters / 4 of the instructions, input items and tool definitions (images and
  files count a flat ``IMAGE_TOKENS`` / ``FILE_TOKENS``). Output tokens are ``max_output_tokens`` when given,
  else ``DEFAULT_OUTPUT_TOKENS`` (``DEFAULT_REASONING_OUTPUT_TOKENS`` when reasoning is asked for), capped at
  the offering's own maximum. When a prompt cache is likely (:func:`cached_share`) that share of the input is
  priced at the offering's ``cache_read_price``. Unpriced offerings have no cost and rank as the most
  expensive candidate (they report no cost rather than $0).
- *ttft*: milliseconds to first token, *tps*: output tokens per second, both at the requested percentile from
  the live stats blended with priors (``routing.stats.estimate``).

Each dimension is min-max normalised across the candidates into a *badness* in [0, 1] (0 = best: cheapest,
quickest first token, highest throughput; all equal -> 0). With weights ``w`` (summing to 1)::

    score = 1 - (w.cost * cost_n + w.ttft * ttft_n + w.tps * tps_n)
              - RELIABILITY_WEIGHT * failure_rate          (decayed errors + timeouts, 0..1)
              + PREFER_BONUS  if the provider is the caller's `prefer`

Higher is better; without the bonus a score lies in [-0.5, 1]. ``PREFER_BONUS`` (2.0) exceeds that whole range, so
a preferred provider that passed every filter (and whose circuit is not open) goes first ("used if available"),
and it never excludes anything. Presets (cost / ttft / tps):

============  =====  =====  =====
strategy      cost   ttft   tps
============  =====  =====  =====
cost          0.60   0.20   0.20
cost-focus    0.90   0.05   0.05   (the default)
ttft          0.20   0.60   0.20
ttft-focus    0.05   0.90   0.05
tps           0.20   0.20   0.60
tps-focus     0.05   0.05   0.90
balanced      1/3    1/3    1/3
============  =====  =====  =====

Custom ``weights`` (keys cost, ttft, throughput) are normalised to sum 1 and reported as strategy ``custom``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec

from interlock.ir.request import (
    FunctionCall,
    FunctionCallOutput,
    InputFile,
    InputImage,
    InputText,
    Message,
    NativeItem,
    OutputText,
    Reasoning,
    RefusalPart,
    ResponseRequest,
)
from interlock.routing.catalog import Offering

__all__ = [
    "DEFAULT_STRATEGY",
    "PREFER_BONUS",
    "PRESETS",
    "RELIABILITY_WEIGHT",
    "STRATEGIES",
    "Dimensions",
    "Weights",
    "cached_share",
    "estimate_input_tokens",
    "expected_cost",
    "expected_output_tokens",
    "score",
    "weights_for",
]


@dataclass(frozen=True, slots=True)
class Weights:
    """Relative importance of the three dimensions; always normalised to sum 1."""

    cost: float
    ttft: float
    tps: float

    @classmethod
    def of(cls, cost: float, ttft: float, tps: float) -> Weights:
        total = cost + ttft + tps
        if total <= 0:
            raise ValueError("at least one weight must be > 0")
        return cls(cost / total, ttft / total, tps / total)

    @property
    def performance(self) -> float:
        """The share of the weight on speed (TTFT + TPS); exploration only runs when it matters."""
        return self.ttft + self.tps

    def to_dict(self) -> dict[str, float]:
        return {"cost": round(self.cost, 4), "ttft": round(self.ttft, 4), "throughput": round(self.tps, 4)}


PRESETS: Final[Mapping[str, Weights]] = {
    "cost": Weights.of(0.6, 0.2, 0.2),
    "cost-focus": Weights.of(0.9, 0.05, 0.05),
    "ttft": Weights.of(0.2, 0.6, 0.2),
    "ttft-focus": Weights.of(0.05, 0.9, 0.05),
    "tps": Weights.of(0.2, 0.2, 0.6),
    "tps-focus": Weights.of(0.05, 0.05, 0.9),
    "balanced": Weights.of(1.0, 1.0, 1.0),
}
STRATEGIES: Final[frozenset[str]] = frozenset(PRESETS)
DEFAULT_STRATEGY: Final = "cost-focus"

PREFER_BONUS: Final = 2.0
RELIABILITY_WEIGHT: Final = 0.5

CHARS_PER_TOKEN: Final = 4
IMAGE_TOKENS: Final = 800
FILE_TOKENS: Final = 1500
DEFAULT_OUTPUT_TOKENS: Final = 512
DEFAULT_REASONING_OUTPUT_TOKENS: Final = 2048
# Prompt-cache likelihood: an explicit cache key, a continued conversation, or a long prompt (system prompts and
# long histories are usually resent unchanged) make the provider's cache likely to hold the prefix.
CACHE_SHARE_KEYED: Final = 0.75
CACHE_SHARE_CONTINUED: Final = 0.5
CACHE_SHARE_LONG: Final = 0.5
LONG_PROMPT_TOKENS: Final = 2048

_ENCODER = msgspec.json.Encoder()


def weights_for(strategy: str, custom: Mapping[str, float] | None = None) -> Weights:
    """The weights of a preset, or of the caller's ``weights`` (strategy ``custom``)."""
    if custom is not None:
        return Weights.of(custom.get("cost", 0.0), custom.get("ttft", 0.0), custom.get("throughput", 0.0))
    return PRESETS.get(strategy, PRESETS[DEFAULT_STRATEGY])


def _text_chars(content: object) -> tuple[int, int]:
    """(characters, flat tokens for images/files) of a message content or tool output."""
    if isinstance(content, str):
        return len(content), 0
    chars = tokens = 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, InputText | OutputText):
                chars += len(part.text)
            elif isinstance(part, RefusalPart):
                chars += len(part.refusal)
            elif isinstance(part, InputImage):
                tokens += IMAGE_TOKENS
            elif isinstance(part, InputFile):
                tokens += FILE_TOKENS
    return chars, tokens


def estimate_input_tokens(req: ResponseRequest) -> int:
    """Input tokens as characters / 4 (no tokenizer, no network); a routing estimate, never billed."""
    chars = len(req.instructions or "")
    flat = 0
    for item in req.input_items():
        if isinstance(item, Message):
            c, t = _text_chars(item.content)
            chars, flat = chars + c, flat + t
        elif isinstance(item, FunctionCall):
            chars += len(item.name) + len(item.arguments)
        elif isinstance(item, FunctionCallOutput):
            c, t = _text_chars(item.output)
            chars, flat = chars + c, flat + t
        elif isinstance(item, Reasoning):
            chars += sum(len(s.text) for s in item.summary)
        elif isinstance(item, NativeItem):
            chars += len(_ENCODER.encode(item.raw))
    for tool in req.tools or ():
        chars += len(_ENCODER.encode(tool))
    return chars // CHARS_PER_TOKEN + flat


def expected_output_tokens(req: ResponseRequest, reasoning: bool) -> int:
    """``max_output_tokens`` when set, else a default (larger when the request asks for reasoning)."""
    if req.max_output_tokens is not None:
        return req.max_output_tokens
    return DEFAULT_REASONING_OUTPUT_TOKENS if reasoning else DEFAULT_OUTPUT_TOKENS


def cached_share(req: ResponseRequest, input_tokens: int) -> float:
    """The share of input tokens expected to be read from a prompt cache."""
    if req.prompt_cache_key:
        return CACHE_SHARE_KEYED
    if req.previous_response_id:
        return CACHE_SHARE_CONTINUED
    if input_tokens >= LONG_PROMPT_TOKENS:
        return CACHE_SHARE_LONG
    return 0.0


def expected_cost(offering: Offering, input_tokens: int, output_tokens: int, cache_share: float) -> float | None:
    """USD this request is expected to cost on ``offering`` (None when unpriced); same rules as accounting.cost."""
    if offering.input_price is None or offering.output_price is None:
        return None
    if offering.max_output_tokens is not None:
        output_tokens = min(output_tokens, offering.max_output_tokens)
    cached = int(input_tokens * cache_share) if offering.cache_read_price is not None else 0
    read_price = offering.cache_read_price if offering.cache_read_price is not None else offering.input_price
    fresh = input_tokens - cached
    usd = fresh * offering.input_price + cached * read_price + output_tokens * offering.output_price
    return usd / 1_000_000


@dataclass(frozen=True, slots=True)
class Dimensions:
    """Raw dimensions of one candidate (cost None = unpriced)."""

    cost: float | None
    ttft_ms: float
    tps: float
    failure_rate: float = 0.0
    preferred: bool = False


def _badness(values: Sequence[float], higher_is_better: bool = False) -> list[float]:
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return [0.0] * len(values)
    span = hi - lo
    return [((hi - v) if higher_is_better else (v - lo)) / span for v in values]


def score(dims: Sequence[Dimensions], weights: Weights) -> list[tuple[float, tuple[float, float, float]]]:
    """Score every candidate; returns (score, (cost_n, ttft_n, tps_n)) in input order."""
    if not dims:
        return []
    priced = [d.cost for d in dims if d.cost is not None]
    worst = max(priced) if priced else 0.0
    # Unpriced candidates rank as the most expensive one (just above it, so a priced tie still wins).
    costs = [d.cost if d.cost is not None else worst * 1.000001 + 1e-12 for d in dims]
    cost_n = _badness(costs)
    ttft_n = _badness([d.ttft_ms for d in dims])
    tps_n = _badness([d.tps for d in dims], higher_is_better=True)
    out = []
    for d, c, t, p in zip(dims, cost_n, ttft_n, tps_n, strict=True):
        value = 1.0 - (weights.cost * c + weights.ttft * t + weights.tps * p)
        value -= RELIABILITY_WEIGHT * d.failure_rate
        if d.preferred:
            value += PREFER_BONUS
        out.append((value, (c, t, p)))
    return out
