"""Settings from YAML and the environment; merges the bundled catalog with the user's (design.md section 3).

Theory of operation. `load_settings` builds one `Settings` in five steps:

1. Read the config file (the `path` argument, else `INTERLOCK_CONFIG`, else none) with `yaml.safe_load`.
2. Expand `${VAR}` and `${VAR:-default}` in every string value from the environment (`$${` is a literal `${`).
   A value that comes out empty is *absent*: the key is dropped and its default applies. For a provider's
   `api_key` that means "no key", which turns the provider off unless the config sets `enabled` itself.
3. Layer the catalogs: the bundled `data/catalog.yaml` (unless `catalog: none`), then the user's `providers`
   and `models`. A user provider with a bundled id overrides it field by field (mappings such as `headers`
   merge key by key). A user model with a bundled id overrides its fields, adds aliases, and adds offerings or
   overrides the bundled offering of the same provider and tier (and provider_model_id, when given).
4. Embedded default: when no provider ended up enabled and the config defines no providers, the simulated
   catalog `data/sim.yaml` replaces everything and `settings.simulated` is True (`catalog: sim` forces it).
5. Convert to typed structs and check references. Every problem raises `ConfigError` naming the file and key.

Environment overrides win over the file: `INTERLOCK_DATABASE_URL`, `INTERLOCK_STATE_URL`, `INTERLOCK_ADMIN_KEY`.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
import yaml

from interlock.routing.catalog import (
    PROTOCOLS,
    Catalog,
    CatalogError,
    ModelEntry,
    Offering,
    ProviderConfig,
)

__all__ = [
    "AccountingSettings",
    "ConfigError",
    "FetchSettings",
    "LimitsSettings",
    "ServerSettings",
    "Settings",
    "TelemetrySettings",
    "load_catalog",
    "load_settings",
]

_T = TypeVar("_T")

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]

BUNDLED_CATALOG: Final = "catalog.yaml"
SIM_CATALOG: Final = "sim.yaml"
_ENV_OVERRIDES: Final = {
    "INTERLOCK_DATABASE_URL": "database_url",
    "INTERLOCK_STATE_URL": "state_url",
    "INTERLOCK_ADMIN_KEY": "admin_key",
}


class ConfigError(Exception):
    """The configuration cannot be used. The message names the file and the key at fault."""


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """HTTP server options (`server:` in the config file; the CLI flags override host, port and workers)."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    workers: PositiveInt = 1
    max_body_bytes: PositiveInt = 10 * 1024 * 1024
    max_header_bytes: PositiveInt = 16 * 1024  # total size of the request line and headers
    max_headers: PositiveInt = 100
    # On SIGTERM: stop accepting, let in-flight requests and open streams finish for up to this long, then exit.
    shutdown_grace_seconds: Annotated[float, msgspec.Meta(ge=0)] = 30.0


PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class LimitsSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Caps on every input (`limits:`; `interlock.api.limits`); body and header sizes are under `server:`.

    Each refusal is the documented error naming the offending parameter. The timeouts bound how slowly a client
    may send a request (slow-loris): its head from the first byte, its body once the head is in.
    """

    max_input_items: PositiveInt = 4096  # input[] (Responses) or messages[] (Chat, Messages)
    max_tools: PositiveInt = 128
    max_tool_schema_bytes: PositiveInt = 64 * 1024  # each tool's JSON schema, as sent
    max_metadata_pairs: PositiveInt = 16  # metadata and gateway.metadata.custom_fields
    max_metadata_key_chars: PositiveInt = 64
    max_metadata_value_chars: PositiveInt = 512
    max_json_depth: PositiveInt = 64  # nesting of arrays and objects anywhere in the body
    header_timeout_s: PositiveFloat = 10.0
    body_timeout_s: PositiveFloat = 60.0
    # Idle time allowed between two requests on one connection. Longer than clients' own idle expiry (httpx, so
    # the openai/anthropic SDKs: 5 s; aiohttp: 15 s) so the client always closes first: a server that closes at
    # the same moment races the client's next request, which then fails with a connection error.
    keep_alive_timeout_s: PositiveFloat = 65.0


class FetchSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The gateway's own fetches of client URLs (`fetch:`; `interlock.providers.fetch`), e.g. images to inline.

    Loopback, private, link-local and metadata addresses are refused unless `allow_private` is set, or the
    host is in `allowed_hosts` (exact host names or IP literals, checked again on every redirect).
    """

    allow_private: bool = False
    allowed_hosts: list[str] = []
    max_bytes: PositiveInt = 20 * 1024 * 1024
    timeout_s: PositiveFloat = 10.0
    max_redirects: Annotated[int, msgspec.Meta(ge=0, le=10)] = 3
    allowed_content_types: list[str] = msgspec.field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "image/heic",
            "image/heif",
            "application/pdf",
        ]
    )


class TelemetrySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Metrics, request logs and traces (`telemetry:` in the config file). Tracing is off without an endpoint."""

    metrics: bool = True  # GET /metrics and the per-request metric updates
    request_logs: bool = True  # one INFO line per finished request
    otlp_endpoint: str | None = None  # OTLP/HTTP, e.g. http://127.0.0.1:4318 (/v1/traces is appended)
    otlp_headers: dict[str, str] = {}
    service_name: str = "interlock"
    trace_sample_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0


class AccountingSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Usage ledger, rate limits and budgets (`accounting:` in the config file; see `interlock.accounting`)."""

    enabled: bool = True  # false: no ledger rows, limits or budgets (the bench compares requests/s on vs off)
    default_rpm: PositiveInt | None = None  # requests per minute for keys that set none (None: unlimited)
    ledger_queue_size: PositiveInt = 10_000  # rows waiting to be written; beyond it new rows are dropped + counted
    ledger_batch_size: PositiveInt = 500  # rows per INSERT transaction at most
    # How long a response's last byte waits for its ledger row to be committed (0: do not wait).
    ledger_durable_wait_ms: Annotated[int, msgspec.Meta(ge=0)] = 2_000
    reservation_ttl_seconds: PositiveInt = 900  # a budget reservation never settled (crashed worker) lapses then
    record_rejections: bool = True  # ledger rows for requests refused before routing (rate limit, bad input)


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Everything the gateway is configured with. `providers` and `models` are the merged, typed catalog."""

    database_url: str = "sqlite:///./interlock.db"
    state_url: str = "memory://"
    catalog: Literal["bundled", "none", "sim"] = "bundled"
    providers: list[ProviderConfig] = []
    models: list[ModelEntry] = []
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    telemetry: TelemetrySettings = msgspec.field(default_factory=TelemetrySettings)
    accounting: AccountingSettings = msgspec.field(default_factory=AccountingSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    fetch: FetchSettings = msgspec.field(default_factory=FetchSettings)
    state_prefix: str = "interlock:"  # prefix of every key Interlock writes in the shared state (Redis)
    admin_key: str | None = None
    store_responses: bool = True
    response_retention_seconds: PositiveInt = 30 * 24 * 3600
    # Per-attempt upstream timeout when a request sets no gateway.routing.timeout_ms. Generous because reasoning
    # models can take minutes to their first token.
    default_timeout_ms: PositiveInt = 300_000
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["text", "json"] = "text"
    # Set by the loader, not read from the file.
    simulated: bool = False
    config_path: str | None = None
    prices_as_of: str | None = None
    warnings: list[str] = []

    def __repr__(self) -> str:
        admin = None if self.admin_key is None else "***"
        return (
            f"Settings(config_path={self.config_path!r}, database_url={self.database_url!r}, "
            f"state_url={self.state_url!r}, catalog={self.catalog!r}, simulated={self.simulated!r}, "
            f"providers={len(self.providers)}, models={len(self.models)}, admin_key={admin!r})"
        )


_LOADER_FIELDS: Final = frozenset({"simulated", "config_path", "prices_as_of", "warnings"})
_FILE_KEYS: Final = frozenset(Settings.__struct_fields__) - _LOADER_FIELDS


def load_settings(path: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load settings from `path` (else `$INTERLOCK_CONFIG`, else defaults only) and the environment `env`.

    `env` defaults to `os.environ`; pass a mapping to keep tests hermetic. Raises `ConfigError`.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    config_path = path or environ.get("INTERLOCK_CONFIG") or None
    source = config_path or "<no config file>"

    tree: object = _read_yaml_file(config_path) if config_path else {}
    tree = _expand(tree, environ, source, "")
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of settings")
    unknown = sorted(str(k) for k in tree if k not in _FILE_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(_FILE_KEYS))})")

    user_providers = _entries(tree.pop("providers", None), source, "providers")
    user_models = _entries(tree.pop("models", None), source, "models")
    options = _prune(tree)
    if isinstance(options.get("log_level"), str):
        options["log_level"] = options["log_level"].lower()
    settings = _convert(options, Settings, source, "")
    settings.config_path = config_path
    for var, attr in _ENV_OVERRIDES.items():
        value = environ.get(var)
        if value:
            setattr(settings, attr, value)

    user = _Layer(source, user_providers, user_models)
    if settings.catalog == "sim":
        _apply_catalog(settings, [_read_data(SIM_CATALOG, environ), user], simulated=True)
        return settings

    layers = [user] if settings.catalog == "none" else [_read_data(BUNDLED_CATALOG, environ), user]
    _apply_catalog(settings, layers, simulated=False)
    if any(p.enabled for p in settings.providers):
        return settings
    if user_providers:
        reasons = "; ".join(f"{p.id}: {p.disabled_reason or 'disabled'}" for p in settings.providers)
        settings.warnings.append(f"no provider is enabled ({reasons}); every request will fail")
        return settings

    sim = _read_data(SIM_CATALOG, environ)
    _apply_catalog(settings, [sim], simulated=True)
    settings.warnings.append(
        "no provider API key is set and the config defines no providers: serving the built-in simulated providers"
    )
    if user_models:
        settings.warnings.append(
            f"{source}: the {len(user_models)} model(s) under `models` are ignored in simulated mode"
        )
    return settings


def load_catalog(settings: Settings) -> Catalog:
    """Build the routing `Catalog` from loaded settings. Raises `ConfigError` on inconsistent entries."""
    try:
        return Catalog(settings.providers, settings.models, prices_as_of=settings.prices_as_of)
    except CatalogError as exc:
        raise ConfigError(f"{settings.config_path or 'catalog'}: {exc}") from exc


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class _Layer:
    """One catalog source: its name for messages and its raw provider and model entries."""

    source: str
    providers: list[dict[str, Any]]
    models: list[dict[str, Any]]
    prices_as_of: str | None = None


def _read_yaml_file(path: str) -> object:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    return _parse_yaml(text, path)


def _parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from exc


def _read_data(name: str, environ: Mapping[str, str]) -> _Layer:
    """Read a catalog shipped in `interlock/data/` (bundled or simulated) as a layer."""
    resource = importlib.resources.files("interlock").joinpath("data", name)
    source = f"interlock/data/{name}"
    tree = _expand(_parse_yaml(resource.read_text(encoding="utf-8"), source), environ, source, "")
    if not isinstance(tree, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    unknown = sorted(set(tree) - {"prices_as_of", "source", "providers", "models"})
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}")
    prices_as_of = tree.get("prices_as_of")
    if prices_as_of is not None and not isinstance(prices_as_of, str):
        raise ConfigError(f"{source}: prices_as_of: expected a quoted date string")
    return _Layer(
        source,
        _entries(tree.get("providers"), source, "providers"),
        _entries(tree.get("models"), source, "models"),
        prices_as_of,
    )


def _entries(value: object, source: str, key: str) -> list[dict[str, Any]]:
    if value is None or isinstance(value, _Absent):
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{source}: {key}: expected a list of mappings")
    return value


# ---------------------------------------------------------------------------------------------- ${VAR} expansion


@dataclass(frozen=True)
class _Absent:
    """A value that expanded to the empty string; `refs` are the variables it referenced."""

    refs: tuple[str, ...]


_REF = re.compile(r"(\$?)\$\{([^}]*)\}")
_REF_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_UNCLOSED = re.compile(r"(?<!\$)\$\{[^}]*$")


def _expand(node: object, environ: Mapping[str, str], source: str, path: str) -> object:
    """Expand `${...}` in string values recursively; empty results become `_Absent`."""
    if isinstance(node, dict):
        return {k: _expand(v, environ, source, _join(path, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, environ, source, f"{path}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node
    if _UNCLOSED.search(node):
        raise ConfigError(f"{source}: {path}: unclosed '${{' in {node!r}")
    refs: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):  # "$${...}" is a literal "${...}"
            return match.group(0)[1:]
        body = _REF_BODY.fullmatch(match.group(2))
        if body is None:
            raise ConfigError(
                f"{source}: {path}: malformed variable reference {match.group(0)!r} "
                "(use ${NAME} or ${NAME:-default})"
            )
        name, default = body.group(1), body.group(2)
        refs.append(name)
        value = environ.get(name, "")
        return value if value or default is None else default

    expanded = _REF.sub(substitute, node)
    return _Absent(tuple(refs)) if expanded == "" else expanded


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _prune(node: dict[str, Any]) -> dict[str, Any]:
    """Drop absent values (recursively) so that defaults apply."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, _Absent):
            continue
        if isinstance(value, dict):
            value = _prune(value)
        elif isinstance(value, list):
            value = [_prune(v) if isinstance(v, dict) else v for v in value if not isinstance(v, _Absent)]
        out[key] = value
    return out


# ---------------------------------------------------------------------------------------------- merging


@dataclass
class _Raw:
    """A raw entry being merged, with where it was last written (for messages)."""

    data: dict[str, Any]
    source: str
    label: str
    offerings: list[_Raw] = field(default_factory=list)


def _apply_catalog(settings: Settings, layers: list[_Layer], *, simulated: bool) -> None:
    """Merge `layers` in order and store the typed providers and models on `settings`."""
    providers: dict[str, _Raw] = {}
    models: dict[str, _Raw] = {}
    for layer in layers:
        _merge_providers(providers, layer)
        _merge_models(models, layer)
    settings.providers = [_build_provider(raw) for raw in providers.values()]
    known = {p.id for p in settings.providers}
    settings.models = [_build_model(raw, known) for raw in models.values()]
    settings.simulated = simulated
    settings.prices_as_of = next((la.prices_as_of for la in layers if la.prices_as_of), None)
    try:
        Catalog(settings.providers, settings.models)  # alias collisions and duplicate offerings
    except CatalogError as exc:
        raise ConfigError(f"{layers[-1].source}: {exc}") from exc


def _entry_id(entry: dict[str, Any], source: str, label: str) -> str:
    value = entry.get("id")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: {label}.id: required, a non-empty string")
    return value


def _merge_providers(merged: dict[str, _Raw], layer: _Layer) -> None:
    seen: set[str] = set()
    for i, entry in enumerate(layer.providers):
        pid = _entry_id(entry, layer.source, f"providers[{i}]")
        label = f"providers[{i}] ({pid})"
        if pid in seen:
            raise ConfigError(f"{layer.source}: {label}: provider id {pid!r} is defined twice")
        seen.add(pid)
        base = merged.get(pid)
        data = _deep_merge(base.data, entry) if base is not None else dict(entry)
        merged[pid] = _Raw(data, layer.source, label)


def _merge_models(merged: dict[str, _Raw], layer: _Layer) -> None:
    seen: set[str] = set()
    for i, entry in enumerate(layer.models):
        mid = _entry_id(entry, layer.source, f"models[{i}]")
        label = f"models[{i}] ({mid})"
        if mid in seen:
            raise ConfigError(f"{layer.source}: {label}: model id {mid!r} is defined twice")
        seen.add(mid)
        fields = {k: v for k, v in entry.items() if k != "offerings"}
        raw_offerings = entry.get("offerings")
        if raw_offerings is None or isinstance(raw_offerings, _Absent):
            raw_offerings = []
        if not isinstance(raw_offerings, list) or not all(isinstance(o, dict) for o in raw_offerings):
            raise ConfigError(f"{layer.source}: {label}.offerings: expected a list of mappings")
        offerings = [
            _Raw(dict(o), layer.source, f"{label}.offerings[{j}] ({o.get('provider', '?')})")
            for j, o in enumerate(raw_offerings)
        ]
        base = merged.get(mid)
        if base is None:
            merged[mid] = _Raw(fields, layer.source, label, offerings)
            continue
        aliases = _merge_aliases(base.data.get("aliases"), fields.get("aliases"), layer.source, label)
        data = _deep_merge(base.data, fields)
        if aliases is not None:
            data["aliases"] = aliases
        merged[mid] = _Raw(data, layer.source, label, _merge_offerings(base.offerings, offerings))


def _merge_aliases(base: object, extra: object, source: str, label: str) -> list[object] | None:
    """Union of aliases, bundled first; None when neither layer lists any."""
    if extra is None or isinstance(extra, _Absent):
        return None
    if not isinstance(extra, list):
        raise ConfigError(f"{source}: {label}.aliases: expected a list of strings")
    current = list(base) if isinstance(base, list) else []
    return current + [a for a in extra if a not in current]


def _merge_offerings(base: list[_Raw], extra: list[_Raw]) -> list[_Raw]:
    """Overlay `extra` on `base`: same provider and tier (and provider_model_id, if given) overrides."""
    result = list(base)
    for over in extra:
        for index, current in enumerate(result):
            if _same_offering(current.data, over.data):
                result[index] = _Raw(_deep_merge(current.data, over.data), over.source, over.label)
                break
        else:
            result.append(over)
    return result


def _same_offering(current: dict[str, Any], over: dict[str, Any]) -> bool:
    if current.get("provider") != over.get("provider"):
        return False
    if current.get("tier", "standard") != over.get("tier", "standard"):
        return False
    pmid = over.get("provider_model_id")
    return pmid is None or pmid == current.get("provider_model_id")


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; every other value (lists included) replaces."""
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            out[key] = _deep_merge(current, value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------- typing


def _build_provider(raw: _Raw) -> ProviderConfig:
    data = dict(raw.data)
    protocol = data.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ConfigError(
            f"{raw.source}: {raw.label}.protocol: unknown protocol {protocol!r} "
            f"(expected one of: {', '.join(PROTOCOLS)})"
        )
    key = data.get("api_key")
    if isinstance(key, _Absent) and "enabled" not in data:
        data["enabled"] = False
        missing = " and ".join(key.refs)
        data["disabled_reason"] = f"no API key: {missing} is not set" if missing else "no API key (api_key is empty)"
    return _convert(_prune(data), ProviderConfig, raw.source, raw.label)


def _build_model(raw: _Raw, known_providers: set[str]) -> ModelEntry:
    entry = _convert(_prune(raw.data), ModelEntry, raw.source, raw.label)
    offerings = []
    for off in raw.offerings:
        provider = off.data.get("provider")
        if isinstance(provider, str) and provider not in known_providers:
            known = ", ".join(sorted(known_providers)) or "none"
            raise ConfigError(f"{off.source}: {off.label}.provider: unknown provider {provider!r} (known: {known})")
        offerings.append(_convert(_prune(off.data), Offering, off.source, off.label))
    return msgspec.structs.replace(entry, offerings=tuple(offerings))


def _convert(data: dict[str, Any], kind: type[_T], source: str, label: str) -> _T:
    """`msgspec.convert` with lax scalars (env values are strings) and errors that name the file and key."""
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError as exc:
        message, sep, path = str(exc).rpartition(" - at `$")
        if not sep:
            message, path = str(exc), ""
        key = f"{label}{path.rstrip('`')}".lstrip(".")
        raise ConfigError(f"{source}: {key + ': ' if key else ''}{message}") from exc
