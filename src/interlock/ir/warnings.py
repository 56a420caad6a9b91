"""Structured warnings reported in ``routing_metadata.warnings`` (auriko-api.md section 4)."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

WarningType = Literal[
    "unsupported_parameter",
    "unsupported_feature",
    "unsupported_field",
    "ignored_extension",
    "unknown_provider",
    "blocked_field",
    "provider_timeout",
]


class RoutingWarning(Struct, frozen=True, kw_only=True):
    """The gateway changed or ignored part of a request; ``code`` is a stable machine-readable string."""

    type: WarningType
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "code": self.code, "message": self.message}


__all__ = ["RoutingWarning", "WarningType"]
