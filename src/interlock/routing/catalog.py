"""The model catalog: providers, canonical models, aliases and priced offerings, indexed for routing.

The catalog is data. `config.py` reads it from YAML (the bundled `data/catalog.yaml`, the user's config file, or
the simulator's `data/sim.yaml`) and hands the typed entries to `Catalog`, which resolves defaults once and
builds the lookup tables the hot path uses:

- `ProviderConfig` is one upstream account: protocol, base URL (including the API version path, e.g.
  `https://api.openai.com/v1`; adapters append the endpoint), key, data policy, and whether it is enabled.
- `ModelEntry` is one canonical model (`routing_metadata.model_canonical`) with its aliases, reasoning profile,
  client endpoints and offerings.
- `Offering` is one provider serving one model at one tier: the provider's model id, prices in USD per 1M tokens,
  limits, capabilities, accepted optional parameters and performance priors.

`Catalog` fills in what an entry left to its provider or protocol (data policy, accepted parameters, display
names), so consumers read an offering's fields directly and never repeat the fallback rules.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import time
from collections.abc import Callable, Iterable
from typing import Annotated, Final, Literal

import msgspec

from interlock.ir.params import PROTOCOL_PARAMS, OptionalParam

__all__ = [
    "CAPABILITIES",
    "EFFORT_ORDER",
    "PROTOCOLS",
    "PROTOCOL_PARAMS",
    "Capability",
    "Catalog",
    "CatalogError",
    "DataPolicy",
    "Effort",
    "Endpoint",
    "ModelEntry",
    "Offering",
    "OptionalParam",
    "Priors",
    "Protocol",
    "ProviderConfig",
    "ReasoningProfile",
    "ReasoningStyle",
    "Tier",
]

Protocol = Literal["openai-responses", "openai-chat", "anthropic", "gemini"]
DataPolicy = Literal["none", "no_training", "zdr"]
Endpoint = Literal["chat_completions", "responses"]
Tier = Literal["standard", "priority"]
Capability = Literal[
    "tools",
    "tool_choice_required",
    "parallel_tool_calls",
    "vision",
    "pdf",
    "json_object",
    "json_schema",
    "reasoning",
    "streaming",
]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
# How a model's reasoning is controlled (auriko-api.md 10.1):
#   effort    native reasoning_effort string (OpenAI o-series and GPT-5, xAI, gpt-oss)
#   budget    a thinking-token budget derived from the effort (Claude 4.5, Gemini 2.5)
#   adaptive  Anthropic adaptive thinking with an effort control (Claude 4.6)
#   level     Gemini 3 thinking level
#   fixed     always reasons, depth not controllable; a requested effort is dropped with a warning
ReasoningStyle = Literal["effort", "budget", "adaptive", "level", "fixed"]

PROTOCOLS: Final[tuple[Protocol, ...]] = ("openai-responses", "openai-chat", "anthropic", "gemini")
CAPABILITIES: Final[tuple[Capability, ...]] = (
    "tools",
    "tool_choice_required",
    "parallel_tool_calls",
    "vision",
    "pdf",
    "json_object",
    "json_schema",
    "reasoning",
    "streaming",
)
# Increasing reasoning depth. "none" means no reasoning (the Response API's spelling of the chat API's "off").
EFFORT_ORDER: Final[tuple[Effort, ...]] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

_DEFAULT_ENDPOINTS: Final[tuple[Endpoint, ...]] = ("chat_completions", "responses")

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class CatalogError(ValueError):
    """Raised when catalog entries are inconsistent (unknown provider, duplicate id or alias, ...)."""


class _Entry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every catalog struct: immutable, keyword-only, strict about unknown keys (typos in YAML)."""


class Priors(_Entry, frozen=True):
    """Typical performance of an offering, used for ranking until live stats arrive."""

    ttft_ms: NonNegative | None = None
    tps: Positive | None = None


class ReasoningProfile(_Entry, frozen=True):
    """What reasoning controls a model accepts, enough to clamp a requested effort (auriko-api.md 10.1).

    `efforts` lists the efforts the model takes natively, in `EFFORT_ORDER`; `max_effort` is the ceiling
    ("max" on OpenAI maps to it) and defaults to the deepest listed effort. For `budget` models `budgets` maps
    each effort to a thinking-token budget.
    """

    style: ReasoningStyle
    efforts: tuple[Effort, ...] = ()
    can_disable: bool = False
    max_effort: Effort | None = None
    budgets: dict[Effort, PositiveInt] | None = None

    def __post_init__(self) -> None:
        ranks = [EFFORT_ORDER.index(e) for e in self.efforts]
        if ranks != sorted(set(ranks)):
            raise ValueError(f"efforts must be distinct and in the order {', '.join(EFFORT_ORDER)}")
        if self.style != "fixed" and not self.efforts:
            raise ValueError(f"style {self.style!r} needs at least one effort")
        if self.max_effort is not None and self.max_effort not in self.efforts:
            raise ValueError(f"max_effort {self.max_effort!r} is not one of the efforts")
        if self.style == "budget":
            graded = {e for e in self.efforts if e != "none"}
            if self.budgets is None or set(self.budgets) != graded:
                raise ValueError("style 'budget' needs `budgets` with one entry per effort (except none)")
        elif self.budgets is not None:
            raise ValueError("`budgets` only applies to style 'budget'")

    @property
    def ceiling(self) -> Effort | None:
        """The deepest effort this model accepts (None for `fixed` models without listed efforts)."""
        if self.max_effort is not None:
            return self.max_effort
        graded = [e for e in self.efforts if e != "none"]
        return graded[-1] if graded else None

    def clamp(self, effort: Effort | Literal["off"]) -> Effort | Literal["off"] | None:
        """Map a requested effort to one this model accepts.

        Returns the effort to send (unchanged when supported), "none" or "off" for a disable request the model
        honours ("none" when it takes that natively), or None when the model cannot disable reasoning. A graded
        effort the model lacks rounds up to the next supported one and is capped at the ceiling, which gives
        the documented mappings: Claude 4.6 "xhigh" -> "max", Opus 4.5 "xhigh" -> "high", OpenAI "max" -> the
        model's ceiling, Claude "minimal" -> "low". `fixed` models return their ceiling or the request as is;
        the caller drops it with a warning.
        """
        if effort in ("off", "none"):
            if "none" in self.efforts:
                return "none"
            return "off" if self.can_disable else None
        ceiling = self.ceiling
        if ceiling is None:
            return effort
        rank, top = EFFORT_ORDER.index(effort), EFFORT_ORDER.index(ceiling)
        for candidate in self.efforts:
            if candidate != "none" and EFFORT_ORDER.index(candidate) >= rank:
                return candidate if EFFORT_ORDER.index(candidate) <= top else ceiling
        return ceiling


class ProviderConfig(_Entry, frozen=True):
    """One upstream account. `id` is what `routing_metadata.provider` reports."""

    id: NonEmpty
    protocol: Protocol
    base_url: NonEmpty
    api_key: str | None = None
    data_policy: DataPolicy = "none"
    display_name: str = ""
    description: str = ""
    headers: dict[str, str] = {}
    accepted_params: frozenset[OptionalParam] | None = None
    # Behaviour patch for the built-in simulator (`interlock.sim.config.SimBehaviour` field names, e.g. ttft_ms,
    # tps, error_rate); validated by the simulator, which owns those knobs. None for real providers.
    sim: dict[str, object] | None = None
    enabled: bool = True
    # Set by the loader when it turns a provider off, e.g. "OPENAI_API_KEY is not set".
    disabled_reason: str = ""

    def __repr__(self) -> str:
        key = None if self.api_key is None else "***"
        return (
            f"ProviderConfig(id={self.id!r}, protocol={self.protocol!r}, base_url={self.base_url!r}, "
            f"api_key={key!r}, data_policy={self.data_policy!r}, enabled={self.enabled!r})"
        )

    @property
    def name(self) -> str:
        """Human-readable name: `display_name`, else the id."""
        return self.display_name or self.id


class Offering(_Entry, frozen=True):
    """One provider serving one model at one tier. Prices are USD per 1M tokens; None means unpriced."""

    provider: NonEmpty
    provider_model_id: NonEmpty
    input_price: NonNegative | None
    output_price: NonNegative | None
    cache_read_price: NonNegative | None = None
    cache_write_price: NonNegative | None = None
    context_window: PositiveInt | None = None
    max_output_tokens: PositiveInt | None = None
    capabilities: frozenset[Capability] = frozenset()
    # None: the provider's policy. `Catalog` resolves it, so offerings it returns always carry one.
    data_policy: DataPolicy | None = None
    tier: Tier = "standard"
    # None: the provider's list, else the protocol's (`PROTOCOL_PARAMS`). Resolved by `Catalog`.
    accepted_params: frozenset[OptionalParam] | None = None
    priors: Priors | None = None
    # Every protocol Interlock speaks streams, so `Catalog` adds the "streaming" capability unless this is False.
    streams: bool = True
    # The canonical model id; filled in by `Catalog`, not written in YAML.
    model: str = ""

    @property
    def key(self) -> str:
        """Stable identity of this offering (for stats, breakers and logs)."""
        return f"{self.provider}/{self.provider_model_id}@{self.tier}"

    @property
    def blended_price(self) -> float | None:
        """Average of input and output price per 1M tokens, the measure of `max_cost_per_1m`."""
        if self.input_price is None or self.output_price is None:
            return None
        return (self.input_price + self.output_price) / 2

    def supports(self, capability: Capability) -> bool:
        """Whether this offering has `capability`."""
        return capability in self.capabilities

    def accepts(self, param: str) -> bool:
        """Whether this offering accepts the optional request parameter `param` (resolved offerings only)."""
        return self.accepted_params is not None and param in self.accepted_params


class ModelEntry(_Entry, frozen=True):
    """A canonical model with its aliases and the offerings that serve it."""

    id: NonEmpty
    aliases: tuple[NonEmpty, ...] = ()
    family: str = ""
    display_name: str = ""
    author: str = ""
    description: str = ""
    released: str | None = None  # ISO date; /v1/models reports it as `created`
    endpoints: tuple[Endpoint, ...] = _DEFAULT_ENDPOINTS
    reasoning: ReasoningProfile | None = None
    offerings: tuple[Offering, ...] = ()

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("endpoints must not be empty")
        if self.released is not None:
            try:
                datetime.date.fromisoformat(self.released)
            except ValueError:
                raise ValueError(f"released {self.released!r} is not an ISO date (YYYY-MM-DD)") from None

    @property
    def name(self) -> str:
        """Human-readable name: `display_name`, else the id."""
        return self.display_name or self.id

    @property
    def responses_only(self) -> bool:
        """True for Response-API-only models (chat-format requests get `response_api_only`)."""
        return "chat_completions" not in self.endpoints

    @property
    def context_window(self) -> int | None:
        """The largest context window across offerings (what /v1/models reports)."""
        windows = [o.context_window for o in self.offerings if o.context_window is not None]
        return max(windows) if windows else None

    @property
    def created(self) -> int:
        """`released` as a Unix timestamp at 00:00 UTC (0 when unknown)."""
        if not self.released:
            return 0
        return calendar.timegm(datetime.date.fromisoformat(self.released).timetuple())


class Catalog:
    """The resolved, indexed catalog the gateway routes on. Immutable once built; rebuild to reload.

    Raises `CatalogError` when an offering names an unknown provider, when ids or aliases collide, or when one
    model lists the same (provider, provider_model_id, tier) twice.
    """

    def __init__(
        self,
        providers: Iterable[ProviderConfig],
        models: Iterable[ModelEntry],
        *,
        prices_as_of: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.providers: dict[str, ProviderConfig] = {}
        for provider in providers:
            if provider.id in self.providers:
                raise CatalogError(f"duplicate provider id {provider.id!r}")
            if not provider.display_name:
                provider = msgspec.structs.replace(provider, display_name=provider.id)
            self.providers[provider.id] = provider

        self.models: list[ModelEntry] = []
        self._by_name: dict[str, ModelEntry] = {}
        self._enabled: dict[str, list[Offering]] = {}
        for entry in models:
            entry = self._resolve_entry(entry)
            for name in (entry.id, *entry.aliases):
                other = self._by_name.get(name)
                if other is not None:
                    raise CatalogError(f"model name {name!r} is used by both {other.id!r} and {entry.id!r}")
                self._by_name[name] = entry
            self.models.append(entry)
            self._enabled[entry.id] = [o for o in entry.offerings if self.providers[o.provider].enabled]

        self.prices_as_of = prices_as_of
        self.version = _content_hash(list(self.providers.values()), self.models)
        self._clock = clock
        self.loaded_at: float = clock()

    def _resolve_entry(self, entry: ModelEntry) -> ModelEntry:
        seen: set[str] = set()
        offerings = []
        for offering in entry.offerings:
            provider = self.providers.get(offering.provider)
            if provider is None:
                known = ", ".join(sorted(self.providers)) or "none"
                raise CatalogError(
                    f"model {entry.id!r}: offering names unknown provider {offering.provider!r} (known: {known})"
                )
            if offering.key in seen:
                raise CatalogError(f"model {entry.id!r}: offering {offering.key!r} is listed twice")
            seen.add(offering.key)
            accepted = offering.accepted_params
            if accepted is None:
                accepted = provider.accepted_params
            if accepted is None:
                accepted = PROTOCOL_PARAMS[provider.protocol]
            offerings.append(
                msgspec.structs.replace(
                    offering,
                    model=entry.id,
                    data_policy=offering.data_policy or provider.data_policy,
                    accepted_params=accepted,
                    capabilities=(
                        offering.capabilities | {"streaming"}
                        if offering.streams
                        else offering.capabilities - {"streaming"}
                    ),
                )
            )
        return msgspec.structs.replace(entry, offerings=tuple(offerings))

    def resolve(self, model_id: str) -> ModelEntry | None:
        """The model named `model_id` (canonical id or alias, case-sensitive), or None if unknown.

        Known models whose providers are all disabled resolve too; `offerings_for` then returns nothing.
        """
        return self._by_name.get(model_id)

    def offerings_for(self, model_id: str) -> list[Offering]:
        """Offerings of `model_id` (canonical id or alias) on enabled providers, in catalog order."""
        entry = self._by_name.get(model_id)
        if entry is None:
            return []
        return list(self._enabled[entry.id])

    @property
    def available_models(self) -> list[ModelEntry]:
        """Models with at least one offering on an enabled provider (what /v1/models lists)."""
        return [m for m in self.models if self._enabled[m.id]]

    @property
    def enabled_providers(self) -> list[ProviderConfig]:
        """Providers that requests may be routed to."""
        return [p for p in self.providers.values() if p.enabled]

    def age_seconds(self) -> float:
        """Seconds since this catalog was loaded (`catalog_age_seconds`)."""
        return max(0.0, self._clock() - self.loaded_at)


def _content_hash(providers: list[ProviderConfig], models: list[ModelEntry]) -> str:
    """A short stable hash of the catalog content; keys are left out so rotating one keeps the version."""
    public = [msgspec.structs.replace(p, api_key=None, headers={}) for p in providers]
    blob = msgspec.json.encode({"providers": public, "models": models}, order="deterministic")
    return hashlib.sha256(blob).hexdigest()[:16]
