"""Authentication of inference requests by ``ak_live_`` API key (Bearer, or ``x-api-key`` on /v1/messages)."""

from __future__ import annotations

from typing import Protocol

from interlock.api.http import Request
from interlock.ir.errors import GatewayError
from interlock.store.keys import KeyRecord


class Authenticator(Protocol):
    async def authenticate(self, raw_key: str) -> KeyRecord | None: ...


def bearer_token(request: Request, *, allow_x_api_key: bool = False) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if allow_x_api_key:
        key = request.headers.get("x-api-key")
        if key:
            return key.strip()
    return None


async def authenticate(request: Request, authenticator: Authenticator, *, allow_x_api_key: bool = False) -> KeyRecord:
    """The key's record; missing, unknown or revoked -> 401 invalid_api_key, expired -> 401 expired_api_key."""
    token = bearer_token(request, allow_x_api_key=allow_x_api_key)
    if token is None:
        raise GatewayError("invalid_api_key", "Missing API key. Send 'Authorization: Bearer <key>'.", param=None)
    record = await authenticator.authenticate(token) if token.startswith("ak_") else None
    if record is None or record.status == "revoked":
        raise GatewayError("invalid_api_key", "Invalid API key.")
    if record.status == "expired":
        raise GatewayError("expired_api_key", "This API key has expired.")
    return record


__all__ = ["Authenticator", "authenticate", "bearer_token"]
