"""Simulator configuration: behaviour knobs per provider and per model, built in Python or loaded from YAML.

A `SimConfig` holds one `default` behaviour and a table of simulated providers. Each provider names the upstream
protocol it speaks and carries a *patch* (a mapping of `SimBehaviour` field names to values) that is applied on
top of the default; each entry of its `models` table is a further patch applied on top of the provider's
behaviour for requests naming that model (exact name first, then `fnmatch` patterns such as `gemini-3*`).
Patches rather than whole structs keep YAML short and let the control API change one knob at a time.

```yaml
seed: 7                      # text and fault draws repeat for the same seed
default: {ttft_ms: 0, tps: 0}
providers:
  fast-chat:
    protocol: openai-chat    # openai-responses | openai-chat | anthropic | gemini
    behaviour: {ttft_ms: 80, tps: 300, error_rate: 0.01}
    models:
      "slow-*": {tps: 20}
  flaky-claude:
    protocol: anthropic
    behaviour: {error_rate: 0.2, error_status: 529, outages: [[60, 90]], retry_after_s: 1}
```
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import msgspec
import yaml

__all__ = [
    "PROTOCOLS",
    "SimBehaviour",
    "SimConfig",
    "SimConfigError",
    "SimProtocol",
    "SimProvider",
    "default_sim_config",
    "find_model_patch",
    "load_sim_config",
    "merge_behaviour",
    "validate_sim_config",
]

SimProtocol = Literal["openai-responses", "openai-chat", "anthropic", "gemini"]
PROTOCOLS: tuple[SimProtocol, ...] = get_args(SimProtocol)

_Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
_NonNegFloat = Annotated[float, msgspec.Meta(ge=0.0)]
_NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
_Status = Annotated[int, msgspec.Meta(ge=400, le=599)]


class SimConfigError(ValueError):
    """Raised when a simulator config file or behaviour patch is invalid."""


class SimBehaviour(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How a simulated provider (or one of its models) behaves.

    Rates are fractions of requests in 0..1, drawn from a `random.Random` seeded per provider so runs repeat.
    `output_tokens` and `reasoning_tokens` left as None are derived from the request hash (20-40 and 8-16).
    `outages` are `[start_s, end_s]` windows relative to the simulator's start; every request in one gets 503.
    `midstream_drop_rate` cuts the connection after a few deltas, `midstream_error_rate` sends the protocol's
    in-stream error event instead, and `malformed_rate` replaces one data frame (or a non-streaming body) with
    invalid JSON. `require_thought_signature` makes the Gemini endpoint demand signatures on any model.
    """

    ttft_ms: _NonNegFloat = 0.0
    tps: _NonNegFloat = 0.0
    error_rate: _Rate = 0.0
    error_status: _Status = 500
    timeout_rate: _Rate = 0.0
    midstream_drop_rate: _Rate = 0.0
    midstream_error_rate: _Rate = 0.0
    malformed_rate: _Rate = 0.0
    outages: tuple[tuple[float, float], ...] = ()
    output_tokens: _NonNegInt | None = None
    reasoning_tokens: _NonNegInt | None = None
    cached_tokens: _NonNegInt = 0
    retry_after_s: _NonNegFloat | None = None
    seed: int | None = None
    require_thought_signature: bool = False


class SimProvider(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One simulated provider: its protocol, a behaviour patch over the default, and per-model patches."""

    protocol: SimProtocol
    behaviour: dict[str, Any] = {}
    models: dict[str, dict[str, Any]] = {}


class SimConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The whole simulator: default behaviour, providers by id, seed, and bookkeeping limits.

    `secret` keys the HMAC signatures of thinking blocks and thought signatures; None picks a random one per
    server. With `allow_unknown_providers`, a request for an unconfigured provider id is served with the
    default behaviour in whatever protocol its path names. The control API keeps the last
    `max_recorded_requests` requests when `record_requests` is on (turn it off for benchmarks).
    """

    providers: dict[str, SimProvider] = {}
    default: SimBehaviour = SimBehaviour()
    seed: int = 0
    secret: str | None = None
    allow_unknown_providers: bool = True
    record_requests: bool = True
    max_recorded_requests: _NonNegInt = 10_000


def merge_behaviour(base: SimBehaviour, patch: Mapping[str, Any]) -> SimBehaviour:
    """Return `base` with the fields named in `patch` replaced, validated; raise SimConfigError if invalid."""
    if not patch:
        return base
    data = msgspec.structs.asdict(base)
    data.update(patch)
    try:
        return msgspec.convert(data, SimBehaviour)
    except msgspec.ValidationError as exc:
        raise SimConfigError(f"invalid behaviour: {exc}") from exc


def find_model_patch(models: Mapping[str, Mapping[str, Any]], model: str) -> Mapping[str, Any] | None:
    """Pick the patch for `model`: an exact key wins, else the first key that matches it as a glob."""
    exact = models.get(model)
    if exact is not None:
        return exact
    for pattern, patch in models.items():
        if fnmatch.fnmatchcase(model, pattern):
            return patch
    return None


def default_sim_config() -> SimConfig:
    """The built-in providers served when no config is given: one per protocol, zero delay, no faults."""
    return SimConfig(
        providers={
            "sim-openai": SimProvider(protocol="openai-responses"),
            "sim-openai-chat": SimProvider(protocol="openai-chat"),
            "sim-anthropic": SimProvider(protocol="anthropic"),
            "sim-gemini": SimProvider(protocol="gemini"),
        }
    )


def load_sim_config(path: str | None) -> SimConfig:
    """Read a simulator config from YAML; None returns `default_sim_config()`.

    The file may hold the simulator mapping at top level or under a `sim:` key (so the gateway's own config
    file can carry it). Every behaviour patch is validated here so mistakes fail at start, not mid-run.
    """
    if path is None:
        return default_sim_config()
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SimConfigError(f"cannot read simulator config {path}: {exc}") from exc
    if raw is None:
        raw = {}
    if isinstance(raw, dict) and isinstance(raw.get("sim"), dict):
        raw = raw["sim"]
    try:
        config = msgspec.convert(raw, SimConfig)
    except msgspec.ValidationError as exc:
        raise SimConfigError(f"invalid simulator config {path}: {exc}") from exc
    validate_sim_config(config)
    return config


def validate_sim_config(config: SimConfig) -> None:
    """Apply every provider and model patch once so invalid values raise SimConfigError."""
    for provider_id, provider in config.providers.items():
        try:
            base = merge_behaviour(config.default, provider.behaviour)
            for patch in provider.models.values():
                merge_behaviour(base, patch)
        except SimConfigError as exc:
            raise SimConfigError(f"provider {provider_id!r}: {exc}") from exc
