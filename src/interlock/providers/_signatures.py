"""The gateway's opaque reasoning envelope: provider signatures carried in a reasoning item's ``encrypted_content``.

Theory of operation
-------------------
Anthropic and Gemini hand back opaque data that must come back verbatim on the next turn (protocols.md 5.6,
5.12 #10 and #11): Anthropic ``thinking`` blocks with their ``signature`` and ``redacted_thinking`` blocks with
their ``data``; Gemini ``thoughtSignature`` values attached to a ``functionCall`` or text part. The Response API
has exactly one slot for such data: a ``reasoning`` item's ``encrypted_content`` (returned when the client asks
for ``include: ["reasoning.encrypted_content"]`` and sent back by stateless clients as part of the item).

Adapters pack one native block into one :class:`Envelope` and emit it as a ``ReasoningSignature`` event; the
builder attaches it to a reasoning item. When a later request carries that item, :func:`open_for` returns the
envelope only when the target speaks the *same protocol* the envelope was issued by (and, when the caller
asks, the same upstream model); every other target sees the reasoning item stripped. Foreign
``encrypted_content`` (OpenAI's own) is never mistaken for ours thanks to the ``ilk1:`` prefix.

Wire form: ``ilk1:`` + unpadded base64url of zlib-compressed compact JSON::

    {"p": protocol, "v": provider, "m": model, "b": [{"k": kind, "d": data, "t": text, "a": at}]}

``kind`` is ``thinking`` (``d`` = signature, ``t`` = the thinking text, which Anthropic verifies together with
the signature), ``redacted_thinking`` (``d`` = the redacted data) or ``thought_signature`` (Gemini; ``a`` says
where the signature sat: ``call`` = on the functionCall part that follows the reasoning item, ``part`` = on a
text/thought part, restored on the closest text part of the same model turn). The envelope is encoded, not
encrypted: it holds nothing the client could not already see, and the upstream verifies it.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

PREFIX = "ilk1:"

BlockKind = Literal["thinking", "redacted_thinking", "thought_signature"]
Anchor = Literal["", "call", "part"]
_KINDS: frozenset[str] = frozenset({"thinking", "redacted_thinking", "thought_signature"})
_ANCHORS: frozenset[str] = frozenset({"", "call", "part"})
_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
MAX_ENVELOPE = 4 * 1024 * 1024  # decompressed bytes; a bound so a hostile client cannot zip-bomb us


@dataclass(frozen=True, slots=True)
class SignedBlock:
    """One native block that must be replayed verbatim."""

    kind: BlockKind
    data: str
    text: str = ""
    at: Anchor = ""


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who issued the blocks (protocol, provider id, upstream model) and the blocks themselves."""

    protocol: str
    provider: str
    model: str
    blocks: tuple[SignedBlock, ...]


def encode(envelope: Envelope) -> str:
    """The ``encrypted_content`` string for ``envelope``."""
    blocks: list[dict[str, str]] = []
    for b in envelope.blocks:
        row = {"k": b.kind, "d": b.data}
        if b.text:
            row["t"] = b.text
        if b.at:
            row["a"] = b.at
        blocks.append(row)
    raw = _ENCODER.encode({"p": envelope.protocol, "v": envelope.provider, "m": envelope.model, "b": blocks})
    packed = base64.urlsafe_b64encode(zlib.compress(raw, 6)).rstrip(b"=").decode("ascii")
    return PREFIX + packed


def is_envelope(value: object) -> bool:
    """True for a string carrying our prefix (it may still fail to decode)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def decode(value: object) -> Envelope | None:
    """The envelope in ``value``, or None when it is not ours or is damaged (never raises)."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    body = value[len(PREFIX) :]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_ENVELOPE)
        if inflater.unconsumed_tail or not inflater.eof:  # too large, or truncated
            return None
        data: Any = _DECODER.decode(raw)
    except (binascii.Error, ValueError, zlib.error, msgspec.DecodeError):
        return None
    return _from_builtins(data)


def _from_builtins(data: Any) -> Envelope | None:
    if not isinstance(data, dict):
        return None
    protocol, provider, model, rows = data.get("p"), data.get("v", ""), data.get("m", ""), data.get("b")
    if not isinstance(protocol, str) or not isinstance(provider, str) or not isinstance(model, str):
        return None
    if not isinstance(rows, list):
        return None
    blocks: list[SignedBlock] = []
    for row in rows:
        if not isinstance(row, dict):
            return None
        kind, payload, text, at = row.get("k"), row.get("d"), row.get("t", ""), row.get("a", "")
        if kind not in _KINDS or not isinstance(payload, str) or not isinstance(text, str) or at not in _ANCHORS:
            return None
        blocks.append(SignedBlock(kind=kind, data=payload, text=text, at=at))
    return Envelope(protocol=protocol, provider=provider, model=model, blocks=tuple(blocks))


def open_for(value: object, protocol: str, *, model: str | None = None) -> Envelope | None:
    """The envelope when it was issued by ``protocol`` (and ``model``, if given); None means strip it."""
    envelope = decode(value)
    if envelope is None or envelope.protocol != protocol:
        return None
    if model is not None and envelope.model != model:
        return None
    return envelope


__all__ = [
    "MAX_ENVELOPE",
    "PREFIX",
    "Anchor",
    "BlockKind",
    "Envelope",
    "SignedBlock",
    "decode",
    "encode",
    "is_envelope",
    "open_for",
]
