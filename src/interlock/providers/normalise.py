"""Parameter normalisation shared by every adapter: what an offering cannot take is dropped, clamped or refused.

Theory of operation
-------------------
The engine calls :func:`normalise` once per chosen offering, before the adapter's ``build_request``. It is a
pure function of the request IR and the :class:`Target`, and it returns a new request plus the
``routing_metadata.warnings`` that explain every change (auriko-api.md 2.6, 10.1 and 4):

1. *Optional parameters* (:data:`OPTIONAL_PARAMS`, the auriko-api.md 2.6 list plus the sampling knobs of
   OpenAI-compatible hosts) that the offering does not accept (``Target.accepted_params``, else the protocol's
   defaults in :data:`interlock.ir.params.PROTOCOL_PARAMS`) are dropped with an ``unsupported_parameter`` warning. With
   ``gateway.routing.require_parameters`` the routing engine never picks such an offering (it asks
   :func:`unsupported_params`); if one reaches us anyway we refuse with ``required_params_not_supported``.
2. ``max_output_tokens`` above the offering's ceiling is clamped.
3. ``reasoning.effort`` is checked against the model: a model without reasoning refuses a real effort with
   ``reasoning_not_supported`` (``none``/``off``/``minimal`` are dropped instead); otherwise the effort is
   clamped to one the model's reasoning profile accepts (round up to the next supported effort, cap at the
   ceiling: Claude ``xhigh`` -> ``max``, Opus 4.5 ``xhigh`` -> ``high``, Gemini 3 ``max`` -> ``high``, OpenAI
   ``max`` -> the model's ceiling), each change with a warning. ``fixed`` models drop the effort.
4. Sampling parameters the provider rejects while reasoning (Anthropic thinking: temperature other than 1,
   ``top_k``, ``top_p`` below 0.95; OpenAI reasoning: temperature, ``top_p``) are stripped with a warning, and
   Anthropic thinking, which cannot be combined with a forced tool choice, is turned off instead.

The module also holds the ``PARAMS`` table machinery of style.md item 7: each adapter declares one
:class:`Param` row per IR request field and :func:`apply_params` copies, clamps or refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from interlock.ir.errors import GatewayError
from interlock.ir.params import OPTIONAL_PARAMS, PROTOCOL_PARAMS
from interlock.ir.request import ReasoningConfig, ResponseRequest, TextConfig
from interlock.ir.warnings import RoutingWarning, WarningType
from interlock.providers.base import Target

# --- tables -------------------------------------------------------------------------------------------

# Where a Chat-only optional parameter without an IR field lives: in ``extra_params``.
_EXTRA_PARAMS: Final[frozenset[str]] = frozenset({"min_p", "top_a", "repetition_penalty", "web_search_options"})

EFFORT_ORDER: Final[tuple[str, ...]] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_DISABLE: Final[frozenset[str]] = frozenset({"none", "off"})

# Values that mean "not asked for" even though the field is present (dropping them changes nothing).
_DEFAULTS: Final[Mapping[str, object]] = {
    "n": 1,
    "logprobs": False,
    "parallel_tool_calls": True,
    "stream": False,
    "truncation": "disabled",
}

# --- warnings -----------------------------------------------------------------------------------------


def warning(type_: WarningType, code: str, message: str) -> RoutingWarning:
    """A routing warning (tiny helper so adapters read like the tables they implement)."""
    return RoutingWarning(type=type_, code=code, message=message)


def _where(target: Target) -> str:
    return f"{target.provider}/{target.provider_model_id}"


# --- PARAMS rows --------------------------------------------------------------------------------------

ParamHow = Literal["copy", "code", "gateway", "unsupported"]


@dataclass(frozen=True, slots=True)
class Param:
    """How one IR request field reaches a native request.

    ``copy``: the value is written at the dotted ``native`` path (clamped to ``clamp`` with a warning);
    ``code``: the adapter translates it in code (messages, tools, reasoning...); ``gateway``: consumed by the
    gateway itself and never sent upstream (routing, storage flags, ``metadata`` echoed in the response);
    ``unsupported``: the native API has no slot; a value that differs from the default is dropped with a warning.
    """

    how: ParamHow
    native: str | None = None
    clamp: tuple[float, float] | None = None


def maps_to(native: str, clamp: tuple[float, float] | None = None) -> Param:
    """A ``copy`` row: the value goes to the dotted ``native`` path."""
    return Param("copy", native, clamp)


CODE: Final = Param("code")
GATEWAY: Final = Param("gateway")
UNSUPPORTED: Final = Param("unsupported")


def is_set(name: str, value: object) -> bool:
    """Whether a request field carries something a dropped row would lose."""
    if value is None or value == {} or value == [] or value == "":
        return False
    default = _DEFAULTS.get(name, _MISSING)
    return default is _MISSING or value != default


_MISSING = object()


def set_path(body: dict[str, Any], path: str, value: object) -> None:
    """``body[a][b][c] = value`` for ``path == "a.b.c"``, creating the dicts on the way."""
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[leaf] = value


def apply_params(
    req: ResponseRequest, table: Mapping[str, Param], body: dict[str, Any], target: Target
) -> list[RoutingWarning]:
    """Apply the ``copy`` and ``unsupported`` rows of an adapter's ``PARAMS`` table to ``body``."""
    warnings: list[RoutingWarning] = []
    for name, row in table.items():
        if row.how in ("code", "gateway"):
            continue
        value = getattr(req, name)
        if not is_set(name, value):
            continue
        if row.how == "unsupported":
            shown = f"{name} ({', '.join(sorted(value))})" if isinstance(value, dict) else name
            warnings.append(
                warning(
                    "unsupported_parameter",
                    f"{name}_dropped",
                    f"{shown} is not supported by {_where(target)}; dropped.",
                )
            )
            continue
        assert row.native is not None, name
        if row.clamp is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = row.clamp
            clamped = min(max(value, low), high)
            if clamped != value:
                warnings.append(
                    warning(
                        "unsupported_parameter",
                        f"{name}_clamped",
                        f"{name} {value} is outside {low}..{high} on {_where(target)}; clamped to {clamped}.",
                    )
                )
                value = clamped
        set_path(body, row.native, value)
    return warnings


# --- reasoning profiles -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """A defensive view of ``Target.reasoning`` (the catalog's ReasoningProfile as a mapping)."""

    style: str
    efforts: tuple[str, ...]
    can_disable: bool
    max_effort: str | None
    budgets: Mapping[str, int]

    @property
    def ceiling(self) -> str | None:
        if self.max_effort is not None:
            return self.max_effort
        graded = [e for e in self.efforts if e != "none"]
        return graded[-1] if graded else None

    @property
    def floor(self) -> str | None:
        graded = [e for e in self.efforts if e != "none"]
        return graded[0] if graded else None

    def clamp(self, effort: str) -> str | None:
        """The effort to send; "none"/"off" to disable; None when the model cannot disable reasoning.

        The same rule as ``routing.catalog.ReasoningProfile.clamp``: a graded effort the model lacks rounds up
        to the next supported one and is capped at the ceiling.
        """
        if effort in _DISABLE:
            if "none" in self.efforts:
                return "none"
            return "off" if self.can_disable else None
        ceiling = self.ceiling
        if ceiling is None:
            return effort
        rank, top = _rank(effort), _rank(ceiling)
        for candidate in self.efforts:
            if candidate != "none" and _rank(candidate) >= rank:
                return candidate if _rank(candidate) <= top else ceiling
        return ceiling


def _rank(effort: str) -> int:
    return EFFORT_ORDER.index(effort) if effort in EFFORT_ORDER else EFFORT_ORDER.index("medium")


def _field(source: object, key: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def reasoning_profile(target: Target) -> Profile | None:
    """``Target.reasoning`` read defensively (a mapping or a struct; unknown or malformed keys ignored)."""
    raw: object = target.reasoning
    if raw is None:
        return None
    style = _field(raw, "style")
    efforts_raw = _field(raw, "efforts") or ()
    listed = efforts_raw if _iterable(efforts_raw) else ()
    efforts = tuple(sorted({e for e in listed if isinstance(e, str) and e in EFFORT_ORDER}, key=EFFORT_ORDER.index))
    max_effort = _field(raw, "max_effort")
    budgets_raw = _field(raw, "budgets")
    budgets: dict[str, int] = {}
    if isinstance(budgets_raw, Mapping):
        budgets = {str(k): int(v) for k, v in budgets_raw.items() if isinstance(v, int) and not isinstance(v, bool)}
    return Profile(
        style=style if isinstance(style, str) else "effort",
        efforts=efforts,
        can_disable=bool(_field(raw, "can_disable")),
        max_effort=max_effort if isinstance(max_effort, str) and max_effort in efforts else None,
        budgets=budgets,
    )


def _iterable(value: object) -> bool:
    return isinstance(value, (list, tuple, set, frozenset))


def supports_reasoning(target: Target) -> bool:
    """The offering can reason: the ``reasoning`` capability, or a reasoning profile in the catalog."""
    return "reasoning" in target.capabilities or target.reasoning is not None


def reasoning_effort(req: ResponseRequest) -> str | None:
    """The requested effort (None when not given)."""
    return req.reasoning.effort if req.reasoning is not None else None


def thinking_enabled(req: ResponseRequest, target: Target) -> bool:
    """Whether the request, as it stands, makes the model reason visibly (an effort that is not a disable)."""
    effort = reasoning_effort(req)
    if effort is None or effort in _DISABLE:
        return False
    profile = reasoning_profile(target)
    return profile is None or profile.style != "fixed"


# --- optional parameters ------------------------------------------------------------------------------


def _param_value(req: ResponseRequest, name: str) -> object:
    if name == "verbosity":
        return req.text.verbosity if req.text is not None else None
    if name in _EXTRA_PARAMS:
        return (req.extra_params or {}).get(name)
    return getattr(req, name)


def accepted_params(target: Target) -> frozenset[str]:
    """The optional parameters the offering accepts (the protocol's defaults when the catalog lists none)."""
    if target.accepted_params is not None:
        return frozenset(target.accepted_params)
    return frozenset(PROTOCOL_PARAMS.get(target.protocol, frozenset()))


def unsupported_params(req: ResponseRequest, target: Target) -> list[str]:
    """Optional parameters the request sets that the offering does not accept (for ``require_parameters``)."""
    accepted = accepted_params(target)
    return [name for name in OPTIONAL_PARAMS if name not in accepted and is_set(name, _param_value(req, name))]


def _drop_param(req: ResponseRequest, name: str) -> ResponseRequest:
    if name == "verbosity":
        assert req.text is not None
        text = msgspec.structs.replace(req.text, verbosity=None)
        return msgspec.structs.replace(req, text=None if text == TextConfig() else text)
    if name in _EXTRA_PARAMS:
        extra = {k: v for k, v in (req.extra_params or {}).items() if k != name}
        return msgspec.structs.replace(req, extra_params=extra or None)
    return msgspec.structs.replace(req, **{name: None})


# --- normalise ----------------------------------------------------------------------------------------

# Sampling parameters a provider rejects while the model reasons, with the values it still takes.
_THINKING_SAMPLING: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    # Anthropic extended thinking: temperature must be unset or 1, top_p in [0.95, 1], no top_k.
    "anthropic": (("temperature", "eq1"), ("top_p", "ge0.95"), ("top_k", "never")),
    # OpenAI reasoning models (o-series, GPT-5 with reasoning) reject sampling parameters.
    "openai-chat": (("temperature", "never"), ("top_p", "never")),
    "openai-responses": (("temperature", "never"), ("top_p", "never")),
}
_GPT_MINOR = re.compile(r"gpt-5\.(\d+)")


def _sampling_allowed(rule: str, value: float) -> bool:
    if rule == "eq1":
        return value == 1
    if rule == "ge0.95":
        return value >= 0.95
    return False


def normalise(req: ResponseRequest, target: Target) -> tuple[ResponseRequest, list[RoutingWarning]]:
    """The request as this offering can take it, and a warning for every change (see the module docstring).

    Raises ``GatewayError`` ``reasoning_not_supported`` (param ``reasoning.effort``) for a real effort on a model
    without reasoning, and ``required_params_not_supported`` when ``require_parameters`` is set and the offering
    lacks a parameter the request uses.
    """
    warnings: list[RoutingWarning] = []
    where = _where(target)

    unsupported = unsupported_params(req, target)
    routing = req.gateway.routing if req.gateway is not None else None
    if unsupported and routing is not None and routing.require_parameters:
        raise GatewayError(
            "required_params_not_supported",
            f"{where} does not accept {', '.join(unsupported)} and gateway.routing.require_parameters is set.",
            param=unsupported[0],
        )
    for name in unsupported:
        req = _drop_param(req, name)
        warnings.append(
            warning("unsupported_parameter", f"{name}_dropped", f"{name} is not supported by {where}; dropped.")
        )

    if (
        target.max_output_tokens is not None
        and req.max_output_tokens is not None
        and req.max_output_tokens > target.max_output_tokens
    ):
        warnings.append(
            warning(
                "unsupported_parameter",
                "max_output_tokens_clamped",
                f"max_output_tokens {req.max_output_tokens} exceeds the {target.max_output_tokens} {where} "
                f"allows; clamped.",
            )
        )
        req = msgspec.structs.replace(req, max_output_tokens=target.max_output_tokens)

    req = _normalise_reasoning(req, target, warnings)
    req = _strip_thinking_sampling(req, target, warnings)
    return req, warnings


def _with_effort(req: ResponseRequest, effort: str | None) -> ResponseRequest:
    assert req.reasoning is not None
    reasoning = msgspec.structs.replace(req.reasoning, effort=effort)
    if reasoning == ReasoningConfig():
        return msgspec.structs.replace(req, reasoning=None)
    return msgspec.structs.replace(req, reasoning=reasoning)


def _normalise_reasoning(req: ResponseRequest, target: Target, warnings: list[RoutingWarning]) -> ResponseRequest:
    if req.reasoning is None:
        return req
    where = _where(target)
    effort = req.reasoning.effort

    if not supports_reasoning(target):
        if effort is not None and effort not in ("none", "off", "minimal"):
            raise GatewayError(
                "reasoning_not_supported",
                f"{target.model_canonical} does not support reasoning; remove reasoning.effort.",
                param="reasoning.effort",
            )
        summary = req.reasoning.summary or req.reasoning.generate_summary
        if effort is not None:
            warnings.append(
                warning(
                    "unsupported_parameter",
                    "reasoning_effort_dropped",
                    f"reasoning.effort {effort!r} ignored: {where} does not reason.",
                )
            )
        if summary is not None:
            warnings.append(
                warning(
                    "unsupported_parameter",
                    "reasoning_summary_dropped",
                    f"reasoning.summary ignored: {where} does not reason.",
                )
            )
        return msgspec.structs.replace(req, reasoning=None)

    if effort is None:
        return req

    # OpenAI GPT-5.4+ answers 400 to reasoning_effort together with function tools on Chat Completions.
    minor = _GPT_MINOR.search(target.provider_model_id)
    if target.protocol == "openai-chat" and req.tools and minor is not None and int(minor.group(1)) >= 4:
        warnings.append(
            warning(
                "unsupported_parameter",
                "reasoning_effort_dropped",
                f"reasoning.effort is not accepted together with tools by {where}; dropped.",
            )
        )
        return _with_effort(req, None)

    profile = reasoning_profile(target)
    if profile is None:
        return req
    if profile.style == "fixed":
        warnings.append(
            warning(
                "unsupported_parameter",
                "reasoning_effort_dropped",
                f"{where} always reasons at a fixed depth; reasoning.effort {effort!r} dropped.",
            )
        )
        return _with_effort(req, None)

    clamped = profile.clamp(effort)
    if clamped is None:
        # A disable request the model cannot honour: reason as little as it allows.
        floor = profile.floor
        warnings.append(
            warning(
                "unsupported_parameter",
                "reasoning_effort_clamped",
                f"{where} cannot turn reasoning off; reasoning.effort {effort!r} became {floor!r}.",
            )
        )
        return _with_effort(req, floor)
    if clamped != effort and not (clamped in _DISABLE and effort in _DISABLE):
        warnings.append(
            warning(
                "unsupported_parameter",
                "reasoning_effort_clamped",
                f"reasoning.effort {effort!r} is not offered by {where}; using {clamped!r}.",
            )
        )
    if clamped != effort:
        return _with_effort(req, clamped)
    return req


def _strip_thinking_sampling(req: ResponseRequest, target: Target, warnings: list[RoutingWarning]) -> ResponseRequest:
    if not thinking_enabled(req, target):
        return req
    where = _where(target)
    if target.protocol == "anthropic" and _forces_tool(req):
        warnings.append(
            warning(
                "unsupported_parameter",
                "reasoning_effort_dropped",
                f"{where} cannot think while a tool call is forced (tool_choice {_choice_name(req)}); "
                "reasoning.effort dropped.",
            )
        )
        return _with_effort(req, None)
    for name, rule in _THINKING_SAMPLING.get(target.protocol, ()):
        value = getattr(req, name)
        if value is None or _sampling_allowed(rule, float(value)):
            continue
        req = msgspec.structs.replace(req, **{name: None})
        warnings.append(
            warning(
                "unsupported_parameter",
                f"{name}_incompatible_with_reasoning",
                f"{name} {value} cannot be combined with reasoning on {where}; dropped.",
            )
        )
    return req


def _forces_tool(req: ResponseRequest) -> bool:
    if not req.tools:
        return False
    choice = req.tool_choice
    if choice == "required":
        return True
    if isinstance(choice, dict):
        if choice.get("type") == "allowed_tools":
            return choice.get("mode") == "required"
        return choice.get("type") not in (None, "auto", "none")
    return False


def _choice_name(req: ResponseRequest) -> str:
    choice = req.tool_choice
    if isinstance(choice, dict):
        return repr(choice.get("name") or choice.get("type"))
    return repr(choice)


__all__ = [
    "CODE",
    "EFFORT_ORDER",
    "GATEWAY",
    "OPTIONAL_PARAMS",
    "UNSUPPORTED",
    "Param",
    "Profile",
    "accepted_params",
    "apply_params",
    "is_set",
    "maps_to",
    "normalise",
    "reasoning_effort",
    "reasoning_profile",
    "set_path",
    "supports_reasoning",
    "thinking_enabled",
    "unsupported_params",
    "warning",
]
