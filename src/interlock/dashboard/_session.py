"""Browser sessions for the dashboard: HMAC-signed cookies with expiry, CSRF tokens, and a login throttle.

Theory of operation
-------------------
Everything is derived from the admin key, so there is no server-side session table and every worker (and
replica) accepts the same cookie; changing the admin key logs every browser out.

- The session cookie is ``v1.<expiry unix seconds>.<nonce>.<signature>``: the signature is HMAC-SHA256 of
  ``v1.<expiry>.<nonce>`` under a key derived from the admin key for this purpose alone. It is ``HttpOnly``
  (scripts cannot read it), ``SameSite=Strict`` (other sites cannot make the browser send it) and ``Secure``
  when the request came over HTTPS.
- The CSRF token of a session is an HMAC of its nonce under a second derived key; every POST form carries it
  and the server compares it in constant time. The login form has no session yet: ``GET /dashboard/login``
  sets a short-lived pre-session cookie with its own nonce, and the form carries that nonce's token.
- A POST that carries an ``Origin`` header must come from the dashboard's own origin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "SESSION_TTL_S",
    "LoginThrottle",
    "Session",
    "clear_cookie",
    "csrf_token",
    "issue_session",
    "login_token",
    "new_nonce",
    "parse_cookies",
    "same_origin",
    "session_cookie",
    "tokens_match",
    "verify_session",
]

SESSION_COOKIE: Final = "interlock_dashboard"
LOGIN_COOKIE: Final = "interlock_dashboard_login"
SESSION_TTL_S: Final = 12 * 3600
LOGIN_TTL_S: Final = 3600
_VERSION: Final = "v1"


def _derive(admin_key: str, purpose: str) -> bytes:
    return hmac.new(admin_key.encode("utf-8"), f"interlock-dashboard/{purpose}".encode(), hashlib.sha256).digest()


def _mac(admin_key: str, purpose: str, message: str) -> str:
    digest = hmac.new(_derive(admin_key, purpose), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_nonce() -> str:
    """A random 128-bit nonce, URL-safe."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class Session:
    """A verified browser session."""

    nonce: str
    expires_at: int


def issue_session(admin_key: str, *, ttl_s: int = SESSION_TTL_S, now: float | None = None) -> tuple[str, Session]:
    """A new session: the cookie value and what it stands for."""
    expires = int(now if now is not None else time.time()) + ttl_s
    nonce = new_nonce()
    body = f"{_VERSION}.{expires}.{nonce}"
    return f"{body}.{_mac(admin_key, 'session', body)}", Session(nonce, expires)


def verify_session(admin_key: str, value: str | None, *, now: float | None = None) -> Session | None:
    """The session of a cookie value, or ``None`` when it is absent, forged, malformed or expired."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != _VERSION or not parts[1].isdigit():
        return None
    body = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode("ascii", "replace"), _mac(admin_key, "session", body).encode()):
        return None
    expires = int(parts[1])
    if expires <= (now if now is not None else time.time()):
        return None
    return Session(parts[2], expires)


def csrf_token(admin_key: str, nonce: str) -> str:
    """The CSRF token that goes with a session's (or a login form's) nonce."""
    return _mac(admin_key, "csrf", nonce)


def login_token(admin_key: str, nonce: str) -> str:
    """The token of the login form shown to the holder of the pre-session cookie ``nonce``."""
    return _mac(admin_key, "login", nonce)


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a token with what the form sent."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def parse_cookies(header: str | None) -> dict[str, str]:
    """The ``Cookie`` request header as a mapping (first value wins)."""
    out: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in out:
            out[name] = value.strip().strip('"')
    return out


def session_cookie(name: str, value: str, *, max_age: int, path: str, secure: bool) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    flags = f"; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return f"{name}={value}{flags}{'; Secure' if secure else ''}"


def clear_cookie(name: str, *, path: str, secure: bool) -> str:
    """A ``Set-Cookie`` value that deletes the cookie."""
    return session_cookie(name, "", max_age=0, path=path, secure=secure)


def same_origin(headers: Mapping[str, str], scheme: str) -> bool:
    """False when the request names an ``Origin`` other than its own host (cross-site form posts)."""
    origin = headers.get("origin")
    if origin is None:
        return True  # older browsers and non-browser clients; SameSite and the token still apply
    host = headers.get("host", "")
    return origin in (f"{scheme}://{host}", f"http://{host}", f"https://{host}")


class LoginThrottle:
    """At most ``limit`` failed logins per ``window_s`` in this process; further attempts wait for the window."""

    def __init__(self, limit: int = 10, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: deque[float] = deque()

    def _prune(self) -> float:
        now = self.clock()
        while self._failures and self._failures[0] <= now - self.window_s:
            self._failures.popleft()
        return now

    def retry_after(self) -> int:
        """Seconds until a login may be tried again (0: now)."""
        now = self._prune()
        if len(self._failures) < self.limit:
            return 0
        return max(1, int(self._failures[0] + self.window_s - now + 0.999))

    def failed(self) -> None:
        self._prune()
        self._failures.append(self.clock())
