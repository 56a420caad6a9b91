"""Secret redaction for anything that leaves the process as text: log lines, tracebacks, error messages.

One compiled alternation finds every kind of secret in a single pass. Most strings contain none, and a
case-insensitive alternation is slow to fail, so a substring check for the fixed part every pattern needs
(``_TRIGGERS``) runs first and the regex only runs when one is present. Each kind keeps a short, non-secret
hint so a reader still knows *what* was there:

- Interlock keys ``ak_live_...`` / ``ak_test_...`` -> ``ak_live_[REDACTED]``
- Anthropic ``sk-ant-...``, OpenAI-style ``sk-...`` / ``sk-proj-...``, Groq ``gsk_...``, xAI ``xai-...``,
  Fireworks ``fw_...`` -> the prefix plus ``[REDACTED]``
- Google API keys ``AIza...`` -> ``AIza[REDACTED]``
- ``Bearer <token>`` -> ``Bearer [REDACTED]``; the password of a URL (``postgresql://u:[REDACTED]@host``)
- the value of an ``authorization``, ``x-api-key``, ``x-goog-api-key``, ``api-key`` or ``api_key`` header or
  field, however quoted (``x-api-key: v``, ``"x-api-key": "v"``, ``api_key=v``), and ``?key=`` in URLs

Keys without a recognisable shape (Together's hex keys, Mistral's) are covered by :func:`add_secrets`, which
the server calls with every configured provider key: any token that starts with the first ``LITERAL_PREFIX``
characters of one is redacted, so a partial echo ("Key starts tgp_v1_abcdef12****") is caught too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
LITERAL_PREFIX = 10

_HEADER_NAMES = r"authorization|proxy-authorization|x-api-key|x-goog-api-key|api-key|api_key|apikey|anthropic-api-key"
_PATTERN = (
    r"(?P<ak>\bak_(?:live|test)_)[A-Za-z0-9]{4,}"
    r"|(?P<sk>\b(?:sk-ant-|sk-proj-|sk-|gsk_|xai-|fw_))[A-Za-z0-9_\-]{8,}"
    r"|(?P<google>\bAIza)[0-9A-Za-z_\-]{20,}"
    r"|(?P<scheme>\bBearer\s+)[A-Za-z0-9._~+/=\-]{8,}"
    rf"|(?P<header>\b(?:{_HEADER_NAMES})[\"']?\s*[:=]\s*[\"']?(?:(?:Bearer|Basic)\s+)?+)[^\s\"',;&}}\[\]]+"
    r"|(?P<query>[?&](?:key|api_key|apikey)=)[^&\s\"'#]+"
    r"|(?P<userinfo>://[^/\s:@]*:)[^@\s/]+(?=@)"
)
_REGEX = re.compile(_PATTERN, re.IGNORECASE)
# Every match of _PATTERN contains one of these (lowercased); keep the two lists in step.
_TRIGGERS: tuple[str, ...] = (
    *("ak_", "sk-", "gsk_", "xai-", "fw_", "aiza", "bearer"),
    *("authorization", "api-key", "api_key", "apikey", "key=", "://"),
)
_literal: re.Pattern[str] | None = None
_literals: set[str] = set()
_prefixes: tuple[str, ...] = ()


def _may_match(text: str) -> bool:
    low = text.lower()
    return any(t in low for t in _TRIGGERS)


def _may_match_literal(text: str) -> bool:
    return any(p in text for p in _prefixes)


def _replace(match: re.Match[str]) -> str:
    group = match.lastgroup
    prefix = match.group(group) if group is not None else ""
    return prefix + REDACTED


def add_secrets(secrets: Iterable[str | None]) -> None:
    """Also redact these values (configured provider keys), whole or echoed in part; short ones are skipped."""
    global _literal, _prefixes
    _literals.update(s for s in secrets if s and len(s) >= LITERAL_PREFIX)
    if _literals:
        # A key's first characters, then the rest of the token (however much of the key an error repeats).
        _prefixes = tuple(sorted({s[:LITERAL_PREFIX] for s in _literals}))
        _literal = re.compile("(?:" + "|".join(re.escape(p) for p in _prefixes) + r")[A-Za-z0-9_.+/=\-]*")


def has_secret(text: str) -> bool:
    """Whether :func:`redact` would change ``text`` (one scan; the common answer is no)."""
    if _prefixes and _may_match_literal(text):
        return True
    return _may_match(text) and _REGEX.search(text) is not None


def redact(text: str) -> str:
    """``text`` with every secret it contains replaced (see the module docstring)."""
    if _literal is not None and _may_match_literal(text):
        text = _literal.sub(REDACTED, text)
    return _REGEX.sub(_replace, text) if _may_match(text) else text


__all__ = ["LITERAL_PREFIX", "REDACTED", "add_secrets", "has_secret", "redact"]
