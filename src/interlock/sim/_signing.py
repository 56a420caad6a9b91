"""HMAC signatures the simulator hands out and later verifies (thinking blocks, thought signatures, reasoning).

Real providers return opaque signatures and reject altered or foreign ones on the next turn. The simulator signs
`domain + NUL + payload` with a per-server secret, so a gateway test can prove that a signature survived a round
trip byte for byte and was attached to the block it was issued for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["Signer"]


class Signer:
    """Signs and verifies payloads under one secret; signatures are standard base64 strings."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        self._key = secret

    def _mac(self, domain: str, payload: str) -> bytes:
        message = domain.encode() + b"\x00" + payload.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def sign(self, domain: str, payload: str) -> str:
        """Return the signature of `payload` in `domain`."""
        return base64.b64encode(self._mac(domain, payload)).decode()

    def verify(self, domain: str, payload: str, signature: object) -> bool:
        """True when `signature` is what `sign(domain, payload)` returns."""
        if not isinstance(signature, str):
            return False
        try:
            given = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self._mac(domain, payload))

    def seal(self, domain: str, payload: str) -> str:
        """Return an opaque token carrying `payload` and its signature (Responses `encrypted_content`)."""
        raw = self._mac(domain, payload) + payload.encode()
        return base64.urlsafe_b64encode(raw).decode()

    def unseal(self, domain: str, token: object) -> str | None:
        """Return the payload sealed in `token`, or None when it was not issued by this signer."""
        if not isinstance(token, str):
            return None
        try:
            raw = base64.urlsafe_b64decode(token.encode())
        except (binascii.Error, ValueError):
            return None
        mac, payload = raw[:32], raw[32:]
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            return None
        if len(mac) != 32 or not hmac.compare_digest(mac, self._mac(domain, text)):
            return None
        return text
