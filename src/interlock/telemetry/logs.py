"""Logging: structured JSON or text lines, a redaction filter on every handler, and the per-request line.

``configure_logging`` owns the root logger of a server process (``serve`` and each worker call it; tests and
embedders that build the app themselves keep their own logging). Every record passes :class:`RedactingFilter`
before any formatter sees it, so provider keys and ``ak_`` keys are scrubbed from messages, arguments,
tracebacks and structured fields alike, whichever library logged them.

A record may carry structured fields in ``record.fields`` (a dict); the JSON formatter merges them into the
line, the text formatter appends them as ``key=value``. The per-request line is one such record on the
``interlock.request`` logger (see :func:`log_request`).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Final

import msgspec

from interlock.telemetry.redaction import add_secrets, has_secret, redact

REQUEST_LOGGER: Final = "interlock.request"
_request_log = logging.getLogger(REQUEST_LOGGER)
_ENCODER = msgspec.json.Encoder()


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _scrub_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with secrets redacted; flat fields are scanned once, joined (the request line's hot path)."""
    texts: list[str] = []
    for v in fields.values():
        if isinstance(v, str):
            texts.append(v)
        elif isinstance(v, (dict, list, tuple)):
            return {k: _scrub(v) for k, v in fields.items()}
    if texts and has_secret("\n".join(texts)):
        return {k: redact(v) if isinstance(v, str) else v for k, v in fields.items()}
    return fields


class RedactingFilter(logging.Filter):
    """Replaces secrets in a record's message, arguments, traceback and fields (see ``telemetry.redaction``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: keep the raw parts
                message = f"{record.msg} {record.args!r}"
            record.msg, record.args = redact(message), None
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        else:
            record.msg = redact(str(record.msg))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = _scrub_fields(fields)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``pid``, ``msg``, the record's fields, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return _ENCODER.encode(line).decode()


class TextFormatter(logging.Formatter):
    """``asctime level logger: message key=value ...`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return text


def make_handler(fmt: str, stream: Any = None) -> logging.Handler:
    """A stream handler (stderr by default) with the redaction filter and the formatter for ``fmt``."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler.set_name("interlock")
    return handler


def configure_logging(level: str, fmt: str, *, secrets: list[str | None] | None = None) -> None:
    """Make the root logger write ``fmt`` (``json`` | ``text``) lines at ``level`` to stderr, redacted.

    Replaces a handler installed by an earlier call; other handlers stay, but each gets the redaction filter.
    ``secrets`` are literal values (configured provider keys) to redact as well.
    """
    if secrets:
        add_secrets(secrets)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "interlock":
            root.removeHandler(existing)
    root.addHandler(make_handler(fmt))
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    root.setLevel(level.upper())
    # uvicorn's loggers reach the root handler (serve passes log_config=None so uvicorn installs none).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).propagate = True


def log_request(fields: dict[str, Any]) -> None:
    """Write the per-request line (``interlock.request`` at INFO) when that logger is enabled for INFO."""
    if _request_log.isEnabledFor(logging.INFO):
        _request_log.info("request", extra={"fields": fields})


__all__ = [
    "REQUEST_LOGGER",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "configure_logging",
    "log_request",
    "make_handler",
]
