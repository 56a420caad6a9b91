"""``GET /v1/me``: the identity of the calling API key, in the auriko SDK 1.2.0 ``ApiKeyIdentity`` shape.

``rate_limits.inference_rpm`` is the key's requests-per-minute limit, 0 when the key has none. Interlock keys
cannot call a management API, so both management limits are 0 unless the key holds a management scope.
"""

from __future__ import annotations

import datetime
from typing import Any

from interlock.api.auth import authenticate
from interlock.api.context import AppContext
from interlock.api.http import Request, Response, json_response
from interlock.store.keys import KeyRecord

INFERENCE_SCOPES = frozenset({"inference"})
# Management-API limits for keys with a management scope (auriko-api.md 8: reads 60/min, writes 10/min).
MANAGEMENT_READS_RPM = 60
MANAGEMENT_WRITES_RPM = 10


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def profile_of(scopes: tuple[str, ...]) -> str:
    """``inference``, ``management`` or ``mixed``, derived from the key's scopes (auriko-api.md 8)."""
    inference = any(s in INFERENCE_SCOPES for s in scopes)
    management = any(s not in INFERENCE_SCOPES for s in scopes)
    if inference and management:
        return "mixed"
    return "management" if management else "inference"


def identity(record: KeyRecord) -> dict[str, Any]:
    """The ``ApiKeyIdentity`` body for ``record``."""
    profile = profile_of(record.scopes)
    manages = profile != "inference"
    return {
        "credential_type": "api_key",
        "status": record.status,
        "profile": profile,
        "key_id": record.id,
        "key_prefix": record.key_prefix,
        "key_name": record.name,
        "workspace": {"id": record.workspace_id, "name": record.workspace_name},
        "scopes": list(record.scopes),
        "rate_limits": {
            "inference_rpm": record.rpm_limit or 0,
            "management_reads_rpm": MANAGEMENT_READS_RPM if manages else 0,
            "management_writes_rpm": MANAGEMENT_WRITES_RPM if manages else 0,
        },
        "expires_at": _iso(record.expires_at) if record.expires_at is not None else None,
        "created_at": _iso(record.created_at),
    }


async def get_me(ctx: AppContext, request: Request) -> Response:
    record = await authenticate(request, ctx.authenticator)
    return json_response(identity(record))


__all__ = ["get_me", "identity", "profile_of"]
