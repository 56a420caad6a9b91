"""HMAC signatures and sealed tokens."""

from __future__ import annotations

from interlock.sim._signing import Signer


def test_sign_verify_round_trip_and_domain_separation() -> None:
    signer = Signer(b"secret")
    signature = signer.sign("d", "thinking text")
    assert signer.verify("d", "thinking text", signature)
    assert not signer.verify("d", "thinking text!", signature)
    assert not signer.verify("other", "thinking text", signature)
    assert not Signer(b"other secret").verify("d", "thinking text", signature)
    assert not signer.verify("d", "thinking text", "not base64 !!")
    assert not signer.verify("d", "thinking text", None)


def test_seal_unseal() -> None:
    signer = Signer(b"k")
    token = signer.seal("r", "reasoning ✓")
    assert signer.unseal("r", token) == "reasoning ✓"
    assert signer.unseal("x", token) is None
    assert Signer(b"j").unseal("r", token) is None
    assert signer.unseal("r", token[:-4] + "AAAA") is None
    assert signer.unseal("r", "%%%") is None
    assert signer.unseal("r", 5) is None
