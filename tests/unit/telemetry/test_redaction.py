"""Redaction: every kind of secret is replaced wherever it sits in a string; ordinary text is left alone."""

from __future__ import annotations

import pytest

from interlock.telemetry.redaction import REDACTED, add_secrets, has_secret, redact

SECRET_CASES = [
    ("key ak_live_AbCdEf0123456789abcdef0123456789abcdefgh end", "ak_live_AbCdEf0123456789", "ak_live_" + REDACTED),
    ("ak_test_0123456789abcdef", "0123456789abcdef", "ak_test_" + REDACTED),
    ("Incorrect API key provided: sk-proj-abcDEF1234567890xyz.", "abcDEF1234567890", "sk-proj-" + REDACTED),
    ("sk-abcdefghijklmnop1234", "abcdefghijklmnop1234", "sk-" + REDACTED),
    ("anthropic sk-ant-api03-AAAABBBBCCCCDDDD-_x", "api03-AAAABBBB", "sk-ant-" + REDACTED),
    ("groq gsk_abcdefghijklmnop", "abcdefghijklmnop", "gsk_" + REDACTED),
    ("xai-abcdefghijklmnopq", "abcdefghijklmnopq", "xai-" + REDACTED),
    ("key=AIzaSyA1234567890abcdefghijklmnopqrstu", "SyA1234567890abc", REDACTED),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstu", "SyA1234567890abc", "AIza" + REDACTED),
    ("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.abc", "eyJhbGciOi", "Authorization: Bearer " + REDACTED),
    ("authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA", "authorization=Basic " + REDACTED),
    ("headers {'x-api-key': 'plainsecretvalue'}", "plainsecretvalue", "'x-api-key': '" + REDACTED),
    ('{"x-goog-api-key": "plainsecretvalue"}', "plainsecretvalue", '"x-goog-api-key": "' + REDACTED),
    ("X-Api-Key: plainsecretvalue", "plainsecretvalue", "X-Api-Key: " + REDACTED),
    ("api_key=plainsecretvalue&x=1", "plainsecretvalue", "api_key=" + REDACTED + "&x=1"),
    ("GET https://h/v1beta/models?key=plainsecretvalue&alt=sse", "plainsecretvalue", "?key=" + REDACTED + "&alt"),
    ("postgresql://user:hunter2pass@db:5432/x", "hunter2pass", "postgresql://user:" + REDACTED + "@db"),
    ("redis://:hunter2pass@cache:6379/0", "hunter2pass", "redis://:" + REDACTED + "@cache"),
]


@pytest.mark.parametrize(("text", "secret", "expected"), SECRET_CASES, ids=[c[0][:24] for c in SECRET_CASES])
def test_secret_is_replaced(text: str, secret: str, expected: str) -> None:
    out = redact(text)
    assert secret not in out
    assert expected in out
    assert has_secret(text)
    assert redact(out) == out  # idempotent: a redacted string stays as it is


@pytest.mark.parametrize(
    "text",
    [
        "POST /v1/chat/completions 200 in 12.5 ms",
        "the task-force met; risk-assessment done",
        "model gpt-4o-2024-08-06 via openai-chat",
        "Bearer token required",  # a word, not a token
        "Basic authentication failed",
        "request req_0123456789abcdef key_4iQIjCywnatyVH20",
        "https://api.openai.com/v1/responses",
    ],
)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact(text) == text
    assert not has_secret(text)


def test_configured_keys_without_a_shape_are_redacted_whole_or_in_part() -> None:
    key = "tgp_v1_0f3c9e1d2b7a6c5d4e3f2a1b0c9d8e7f"
    add_secrets([key, None, "short"])
    assert redact(f"rejected {key}!") == f"rejected {REDACTED}!"
    assert redact(f"Key starts {key[:20]}****") == f"Key starts {REDACTED}****"
    assert "short" in redact("a short word")
    assert has_secret(f"x {key[:12]} y")


def test_several_secrets_in_one_string() -> None:
    text = "a ak_live_AAAAAAAAAAAAAAAAAAAA b sk-ant-BBBBBBBBBBBBBBBBBB c Bearer CCCCCCCCCCCCCCCCCC"
    out = redact(text)
    assert "AAAAAAAA" not in out and "BBBBBBBB" not in out and "CCCCCCCC" not in out
    assert out.count(REDACTED) == 3
