"""What every handler shares: settings, the engine's Gateway, the key authenticator, and request helpers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from interlock.api.auth import Authenticator
from interlock.api.http import BodyTooLarge, Request
from interlock.engine import Gateway
from interlock.ir.errors import GatewayError

log = logging.getLogger("interlock.api")


@dataclass(slots=True)
class AppContext:
    settings: Any
    gateway: Gateway
    authenticator: Authenticator
    max_body_bytes: int = 10 * 1024 * 1024
    extras: dict[str, Any] = field(default_factory=dict)
    # Run in order at shutdown, after in-flight requests and streams drained (e.g. the ledger's final flush).
    shutdown_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def read_body(self, request: Request) -> bytes:
        try:
            return await request.read_body(self.max_body_bytes)
        except BodyTooLarge:
            raise GatewayError(
                "payload_too_large", f"The request body exceeds {self.max_body_bytes} bytes.", param=None
            ) from None

    def log_internal(self, exc: BaseException) -> None:
        log.error("internal error: %s", type(exc).__name__, exc_info=exc)


__all__ = ["AppContext"]
