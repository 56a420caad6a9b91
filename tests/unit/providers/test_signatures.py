"""_signatures: the gateway's reasoning envelope round-trips, is recognised only by its issuer, and never raises."""

from __future__ import annotations

import base64
import zlib

from hypothesis import given
from hypothesis import strategies as st

from interlock.providers import _signatures as sig

blocks = st.builds(
    sig.SignedBlock,
    kind=st.sampled_from(["thinking", "redacted_thinking", "thought_signature"]),
    data=st.text(min_size=1, max_size=200),
    text=st.text(max_size=200),
    at=st.sampled_from(["", "call", "part"]),
)
envelopes = st.builds(
    sig.Envelope,
    protocol=st.sampled_from(["anthropic", "gemini", "openai-responses"]),
    provider=st.text(max_size=20),
    model=st.text(max_size=40),
    blocks=st.lists(blocks, max_size=4).map(tuple),
)


@given(envelopes)
def test_encode_decode_round_trip(envelope: sig.Envelope) -> None:
    encoded = sig.encode(envelope)
    assert encoded.startswith(sig.PREFIX)
    assert sig.is_envelope(encoded)
    assert encoded.isascii() and "=" not in encoded  # unpadded base64url, safe in any JSON or header
    assert sig.decode(encoded) == envelope


@given(st.text(max_size=300))
def test_decode_never_raises(value: str) -> None:
    assert sig.decode(value) is None or value.startswith(sig.PREFIX)
    assert sig.decode(sig.PREFIX + value) is None or isinstance(sig.decode(sig.PREFIX + value), sig.Envelope)


def test_foreign_and_damaged_content_is_not_ours() -> None:
    openai_blob = "gAAAAABo3V2wX..."  # OpenAI's own encrypted_content
    assert sig.decode(openai_blob) is None and not sig.is_envelope(openai_blob)
    assert sig.decode(None) is None and sig.decode(42) is None
    good = sig.encode(sig.Envelope("anthropic", "a", "m", (sig.SignedBlock("thinking", "S", "t"),)))
    assert sig.decode(good[:-5]) is None  # truncated
    assert sig.decode(sig.PREFIX + "!!!") is None
    not_json = sig.PREFIX + base64.urlsafe_b64encode(zlib.compress(b"[1,2")).decode()
    assert sig.decode(not_json) is None
    wrong_shape = sig.PREFIX + base64.urlsafe_b64encode(zlib.compress(b'{"p":"anthropic","b":[{"k":"x"}]}')).decode()
    assert sig.decode(wrong_shape) is None


def test_zip_bomb_is_refused() -> None:
    bomb = zlib.compress(b'{"p":"anthropic","b":[],"v":"' + b"a" * (sig.MAX_ENVELOPE + 10) + b'"}')
    assert sig.decode(sig.PREFIX + base64.urlsafe_b64encode(bomb).decode()) is None


def test_open_for_only_the_issuing_protocol_and_model() -> None:
    envelope = sig.Envelope("gemini", "google", "gemini-3-pro", (sig.SignedBlock("thought_signature", "X", at="call"),))
    encoded = sig.encode(envelope)
    assert sig.open_for(encoded, "gemini") == envelope
    assert sig.open_for(encoded, "gemini", model="gemini-3-pro") == envelope
    assert sig.open_for(encoded, "gemini", model="gemini-2.5-flash") is None  # Gemini signatures are model-bound
    assert sig.open_for(encoded, "anthropic") is None
    assert sig.open_for("plain", "gemini") is None
