"""``extensions``: raw provider parameters merged into the chosen provider's native request, sanitised.

Theory of operation (auriko-api.md section 3)
---------------------------------------------
``extensions`` maps a provider name to a block of native request fields. After the adapter has built the native
body, :func:`apply_extensions` merges the block named for the chosen offering's provider id, or for its protocol
family (``anthropic``; ``google`` / ``gemini``; ``openai``), into it. A family block is merged first and the
provider's own block last, so the more specific one wins. Dicts merge recursively; any other value replaces.

Before merging, each block is sanitised, every removal reported as a ``blocked_field`` warning:

* credential-like keys (:data:`AUTH_KEYS`) are removed at every depth, case-insensitively;
* core request fields (:data:`CORE_FIELDS`) are removed at the top level of the block only, case-insensitively
  with ``_``/``-`` ignored (``systemInstruction`` = ``system_instruction``): the gateway owns the model, the
  messages, streaming, token caps, tools and sampling, because routing and billing depend on them.

A block for another known provider gets an ``ignored_extension`` warning, a name no provider has an
``unknown_provider`` warning. ``extensions.thinking`` is refused by :func:`validate_extensions` (400): reasoning
is requested with ``reasoning`` / ``reasoning_effort`` so it can be normalised per model. Gemini bodies are
camelCase on the wire, so keys of a Gemini block are camel-cased (outside user-defined schemas and maps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from interlock.ir.errors import GatewayError
from interlock.ir.warnings import RoutingWarning
from interlock.providers.base import ProtocolName, Target

AUTH_KEYS: Final[frozenset[str]] = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "authorization",
        "auth",
        "bearer",
        "token",
        "access_token",
        "accesstoken",
        "secret",
        "secret_key",
        "secretkey",
        "credential",
        "credentials",
        "password",
        "x-api-key",
        "x-auth-token",
        "anthropic-api-key",
        "openai-api-key",
        "google-api-key",
        "x-goog-api-key",
    }
)
"""Keys removed at every depth (compared lower-cased)."""

CORE_FIELDS: Final[frozenset[str]] = frozenset(
    {
        # routing and billing
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "n",
        # capability routing
        "tools",
        "tool_choice",
        "response_format",
        "parallel_tool_calls",
        # model behaviour
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "stop",
        # platform-controlled
        "user",
        "inference_geo",
        # provider-specific equivalents
        "contents",
        "system_instruction",
        "system",
        "input",
        "instructions",
    }
)
"""Top-level keys of a block the gateway owns (compared with case, ``_`` and ``-`` ignored)."""

FAMILY_ALIASES: Final[Mapping[ProtocolName, frozenset[str]]] = {
    "anthropic": frozenset({"anthropic"}),
    "gemini": frozenset({"google", "gemini"}),
    "openai-responses": frozenset({"openai"}),
    "openai-chat": frozenset({"openai"}),
}
KNOWN_FAMILIES: Final[frozenset[str]] = frozenset().union(*FAMILY_ALIASES.values())

# Gemini subtrees whose keys are user data (schemas, maps), never camel-cased.
_FREEFORM: Final[frozenset[str]] = frozenset(
    {"responseSchema", "responseJsonSchema", "parameters", "parametersJsonSchema", "properties", "labels", "args"}
)
_AUTH_NORMALISED: Final[frozenset[str]] = frozenset(k.lower() for k in AUTH_KEYS)


def _squash(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


_CORE_NORMALISED: Final[frozenset[str]] = frozenset(_squash(k) for k in CORE_FIELDS)


def validate_extensions(extensions: object) -> None:
    """Refuse what can never be merged: ``extensions.thinking`` and non-object blocks (400)."""
    if extensions is None:
        return
    if not isinstance(extensions, Mapping):
        raise GatewayError(
            "invalid_parameter_value", "extensions must be an object keyed by provider name.", param="extensions"
        )
    if "thinking" in extensions:
        raise GatewayError(
            "invalid_parameter_value",
            "extensions.thinking is not supported. Use reasoning.effort (Responses API) or reasoning_effort "
            "(Chat Completions) at the top level instead.",
            param="extensions.thinking",
        )
    for name, block in extensions.items():
        if not isinstance(block, Mapping):
            raise GatewayError(
                "invalid_parameter_value",
                f"extensions.{name} must be an object of native request fields.",
                param=f"extensions.{name}",
            )


def apply_extensions(
    body: dict[str, Any], extensions: Mapping[str, Any] | None, target: Target, known_providers: set[str]
) -> list[RoutingWarning]:
    """Merge the chosen provider's extension blocks into ``body`` in place; warnings for what was left out."""
    warnings: list[RoutingWarning] = []
    if not extensions:
        return warnings
    validate_extensions(extensions)
    aliases = FAMILY_ALIASES.get(target.protocol, frozenset())
    family: list[tuple[str, Mapping[str, Any]]] = []
    own: list[tuple[str, Mapping[str, Any]]] = []
    for name, block in extensions.items():
        if name == target.provider:
            own.append((name, block))
        elif name in aliases:
            family.append((name, block))
        elif name in known_providers or name in KNOWN_FAMILIES:
            warnings.append(
                RoutingWarning(
                    type="ignored_extension",
                    code="extension_ignored",
                    message=f"extensions.{name} ignored: the request was served by {target.provider}.",
                )
            )
        else:
            warnings.append(
                RoutingWarning(
                    type="unknown_provider",
                    code="unknown_provider",
                    message=f"extensions.{name} ignored: no provider is named {name!r}.",
                )
            )
    for name, block in family + own:
        clean = _sanitise(name, block, warnings)
        if target.protocol == "gemini":
            clean = _camelise(clean)
        _merge(body, clean)
    return warnings


def _sanitise(name: str, block: Mapping[str, Any], warnings: list[RoutingWarning]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in block.items():
        if key.lower() in _AUTH_NORMALISED:
            warnings.append(_blocked_auth(f"extensions.{name}.{key}"))
            continue
        if _squash(key) in _CORE_NORMALISED:
            warnings.append(
                RoutingWarning(
                    type="blocked_field",
                    code="core_field_stripped",
                    message=f"extensions.{name}.{key} was removed: the gateway controls {key!r}; "
                    "set the request field instead.",
                )
            )
            continue
        out[key] = _strip_auth(value, f"extensions.{name}.{key}", warnings)
    return out


def _blocked_auth(path: str) -> RoutingWarning:
    return RoutingWarning(
        type="blocked_field", code="auth_field_stripped", message=f"{path} looks like a credential and was removed."
    )


def _strip_auth(value: Any, path: str, warnings: list[RoutingWarning]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, child in value.items():
            if isinstance(key, str) and key.lower() in _AUTH_NORMALISED:
                warnings.append(_blocked_auth(f"{path}.{key}"))
                continue
            out[key] = _strip_auth(child, f"{path}.{key}", warnings)
        return out
    if isinstance(value, list):
        return [_strip_auth(child, f"{path}[{i}]", warnings) for i, child in enumerate(value)]
    return value


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _camelise(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            name = _camel(key) if isinstance(key, str) else key
            out[name] = child if name in _FREEFORM else _camelise(child)
        return out
    if isinstance(value, list):
        return [_camelise(child) for child in value]
    return value


def _merge(into: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _merge(current, value)
        elif isinstance(value, Mapping):
            fresh: dict[str, Any] = {}
            _merge(fresh, value)
            into[key] = fresh
        else:
            into[key] = value


__all__ = [
    "AUTH_KEYS",
    "CORE_FIELDS",
    "FAMILY_ALIASES",
    "KNOWN_FAMILIES",
    "apply_extensions",
    "validate_extensions",
]
