"""Logging: the redaction filter scrubs every part of a record; the JSON and text formatters; setup."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from interlock.telemetry.logs import (
    REQUEST_LOGGER,
    JsonFormatter,
    RedactingFilter,
    TextFormatter,
    configure_logging,
    log_request,
    make_handler,
)

SECRET = "sk-proj-abcdefghijklmnopqrstuvwx"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = make_handler("json", stream)
    logger = logging.getLogger("interlock.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_message_and_arguments_are_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.debug("upstream said %s with headers %r", f"bad key {SECRET}", {"authorization": f"Bearer {SECRET}"})
    (line,) = lines(stream)
    assert SECRET not in stream.getvalue()
    assert "[REDACTED]" in str(line["msg"])
    assert line["level"] == "debug" and line["logger"] == "interlock.test.logs"


def test_tracebacks_are_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise RuntimeError(f"could not call https://x?key=AIzaSyA1234567890abcdefghijklmnopqrstu with {SECRET}")
    except RuntimeError:
        logger.exception("failed")
    (line,) = lines(stream)
    assert "RuntimeError" in str(line["exc"])
    assert SECRET not in stream.getvalue() and "AIzaSyA1234567890" not in stream.getvalue()


def test_structured_fields_are_merged_and_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("request", extra={"fields": {"status": 502, "error": f"echo {SECRET}", "nested": {"k": SECRET}}})
    (line,) = lines(stream)
    assert line["status"] == 502
    assert line["error"] == "echo sk-proj-[REDACTED]"
    assert line["nested"] == {"k": "sk-proj-[REDACTED]"}
    assert isinstance(line["pid"], int) and str(line["ts"]).endswith("Z")


def test_clean_fields_pass_unchanged() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "request", None, None)
    fields = {"request_id": "req_1", "status": 200, "model": "gpt-4o"}
    record.fields = fields
    assert RedactingFilter().filter(record)
    assert record.fields is fields


def test_text_formatter_appends_fields() -> None:
    record = logging.LogRecord("interlock.request", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"status": 200, "model": "m", "error": None}
    text = TextFormatter().format(record)
    assert text.endswith("INFO interlock.request: request status=200 model=m")


def test_json_formatter_without_fields() -> None:
    record = logging.LogRecord("a", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello you" and line["level"] == "warning"


def test_configure_logging_installs_one_redacting_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        configure_logging("debug", "json", secrets=["tgp_v1_unshapedsecret0123456789"])
        configure_logging("info", "text")
        ours = [h for h in root.handlers if h.get_name() == "interlock"]
        assert len(ours) == 1
        assert isinstance(ours[0].formatter, TextFormatter)
        assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in root.handlers)
        assert root.level == logging.INFO
        assert ours[0].stream is sys.stderr  # type: ignore[attr-defined]
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
        root.setLevel(level)


def test_request_line_only_when_info_is_enabled() -> None:
    stream = io.StringIO()
    logger = logging.getLogger(REQUEST_LOGGER)
    handler = make_handler("json", stream)
    logger.addHandler(handler)
    old = logger.level
    try:
        logger.setLevel(logging.WARNING)
        log_request({"status": 200})
        assert stream.getvalue() == ""
        logger.setLevel(logging.INFO)
        log_request({"status": 200})
        assert lines(stream)[0]["status"] == 200
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
