"""Deterministic text, JSON documents and tool arguments for the simulator.

Everything here is a pure function of a seed and the request's text, so the same prompt gets the same reply on
every run and from every protocol. One simulated "token" is one word of text (with its leading space) or one
four-character fragment of JSON; streams send one delta per token, and usage counts the same tokens.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "FRAGMENT_CHARS",
    "VOCABULARY",
    "count_input_tokens",
    "encode_json",
    "generate_words",
    "json_from_schema",
    "rng_for",
    "split_fragments",
    "split_words",
]

VOCABULARY: tuple[str, ...] = (
    "the", "a", "signal", "router", "gateway", "model", "token", "stream", "reply", "request",
    "quick", "steady", "bright", "quiet", "simple", "careful", "latency", "budget", "fallback", "provider",
    "answer", "question", "river", "mountain", "harbor", "lantern", "garden", "window", "paper", "orbit",
    "travels", "returns", "settles", "carries", "measures", "follows", "builds", "keeps", "finds", "shows",
    "and", "with", "through", "over", "under", "near", "before", "after", "while", "because",
    "clear", "fast", "warm", "calm", "brief", "exact", "fair", "open", "plain", "sound",
    "today", "again", "often", "here",
)  # fmt: skip

FRAGMENT_CHARS = 4
_WORD_RE = re.compile(r"\S+\s*|\s+")

_CITIES = ("San Francisco", "Paris", "Tokyo", "Lisbon", "Nairobi", "Toronto")
_NAMES = ("Ada", "Grace", "Linus", "Barbara", "Alan", "Katherine")
_MAX_DEPTH = 8


def rng_for(seed: int, text: str, salt: str) -> random.Random:
    """A `random.Random` keyed by seed, salt and a stable hash of `text` (Python's `hash` is salted per run)."""
    digest = hashlib.blake2b(f"{seed}\x00{salt}\x00{text}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


@functools.lru_cache(maxsize=4096)
def generate_words(seed: int, text: str, salt: str, count: int | None, low: int, high: int) -> tuple[str, ...]:
    """Return `count` word tokens (or a hash-chosen count in low..high) forming one sentence.

    The first token has no leading space and a capital letter; every later token starts with a space; the last
    one ends with a full stop, so joining the tokens gives readable text.
    """
    rng = rng_for(seed, text, salt)
    n = rng.randint(low, high) if count is None else count
    if n <= 0:
        return ()
    words = [rng.choice(VOCABULARY) for _ in range(n)]
    words[0] = words[0].capitalize()
    words[-1] += "."
    return (words[0], *(" " + word for word in words[1:]))


def split_words(text: str) -> list[str]:
    """Split `text` into word tokens that join back to exactly `text` (whitespace stays with its word)."""
    return _WORD_RE.findall(text)


def split_fragments(text: str, size: int = FRAGMENT_CHARS) -> tuple[str, ...]:
    """Split `text` into fragments of `size` characters; an empty text is one empty fragment."""
    if not text:
        return ("",)
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def count_input_tokens(chars: int) -> int:
    """The simulator's input token count: a quarter of the request's text characters, at least 1."""
    return max(1, chars // 4)


def json_from_schema(schema: Mapping[str, Any] | None, rng: random.Random, *, only_required: bool = False) -> Any:
    """Return a JSON value valid for `schema` (JSON Schema or Gemini's OpenAPI subset), with plausible values.

    `only_required` fills only the required properties of objects that declare `required` (tool arguments);
    objects without a `required` list get every property. `$ref` into `$defs`/`definitions`, `anyOf`/`oneOf`
    (first non-null branch), `allOf` (merged), `enum`, `const`, `nullable` and type lists are understood.
    """
    if schema is None:
        return {}
    return _value(schema, rng, root=schema, name="", depth=0, only_required=only_required)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    for _ in range(_MAX_DEPTH):
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        if not isinstance(target, Mapping):
            return {}
        schema = target
        ref = schema.get("$ref")
    return schema


def _merge_all_of(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[str] = list(merged.get("required") or [])
    for part in schema.get("allOf") or []:
        if not isinstance(part, Mapping):
            continue
        part = _resolve(part, root)
        properties.update(part.get("properties") or {})
        required.extend(r for r in part.get("required") or [] if r not in required)
        merged.setdefault("type", part.get("type"))
    if properties:
        merged["properties"] = properties
        merged.setdefault("type", "object")
    if required:
        merged["required"] = required
    return merged


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, list):
        non_null = [t for t in declared if isinstance(t, str) and t.lower() != "null"]
        declared = non_null[0] if non_null else "null"
    if isinstance(declared, str):
        return declared.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _value(
    schema: Mapping[str, Any],
    rng: random.Random,
    *,
    root: Mapping[str, Any],
    name: str,
    depth: int,
    only_required: bool,
) -> Any:
    schema = _resolve(schema, root)
    if "allOf" in schema:
        schema = _merge_all_of(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return rng.choice(enum)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            chosen = next(
                (b for b in branches if isinstance(b, Mapping) and _schema_type(_resolve(b, root)) != "null"),
                branches[0],
            )
            return _value(chosen, rng, root=root, name=name, depth=depth, only_required=only_required)
    kind = _schema_type(schema)
    if depth >= _MAX_DEPTH:
        return {"object": {}, "array": []}.get(kind or "")
    if kind == "object":
        return _object(schema, rng, root=root, depth=depth, only_required=only_required)
    if kind == "array":
        return _array(schema, rng, root=root, name=name, depth=depth, only_required=only_required)
    if kind == "integer":
        low, high = _bounds(schema, 1, 100)
        return rng.randint(int(low), int(max(low, high)))
    if kind == "number":
        low, high = _bounds(schema, 1.0, 100.0)
        high = max(low, high)
        return min(max(round(rng.uniform(low, high), 1), low), high)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng, name)


def _object(
    schema: Mapping[str, Any], rng: random.Random, *, root: Mapping[str, Any], depth: int, only_required: bool
) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    required = schema.get("required")
    names: list[str] = list(properties)
    if only_required and isinstance(required, list):
        names = [n for n in names if n in required]
    return {
        key: _value(
            sub if isinstance(sub, Mapping) else {},
            rng,
            root=root,
            name=key,
            depth=depth + 1,
            only_required=only_required,
        )
        for key in names
        for sub in (properties[key],)
    }


def _array(
    schema: Mapping[str, Any],
    rng: random.Random,
    *,
    root: Mapping[str, Any],
    name: str,
    depth: int,
    only_required: bool,
) -> list[Any]:
    low = int(schema.get("minItems", 1))
    high = int(schema.get("maxItems", max(low, 2)))
    count = min(max(low, 2), high) if high >= low else low
    items = schema.get("items")
    prefix = schema.get("prefixItems")
    values: list[Any] = []
    for index in range(count):
        sub = prefix[index] if isinstance(prefix, list) and index < len(prefix) else items
        values.append(
            _value(
                sub if isinstance(sub, Mapping) else {"type": "string"},
                rng,
                root=root,
                name=name.rstrip("s"),
                depth=depth + 1,
                only_required=only_required,
            )
        )
    return values


def _bounds(schema: Mapping[str, Any], low: float, high: float) -> tuple[float, float]:
    lo = schema.get("minimum", schema.get("exclusiveMinimum", low))
    hi = schema.get("maximum", schema.get("exclusiveMaximum", max(high, lo if isinstance(lo, int | float) else 0)))
    lo = float(lo) if isinstance(lo, int | float) and not isinstance(lo, bool) else low
    hi = float(hi) if isinstance(hi, int | float) and not isinstance(hi, bool) else high
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        lo += 1
    if "exclusiveMaximum" in schema and "maximum" not in schema:
        hi -= 1
    return lo, hi


def _string(schema: Mapping[str, Any], rng: random.Random, name: str) -> str:
    fmt = schema.get("format")
    key = name.lower()
    if fmt == "date-time":
        value = f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:00:00Z"
    elif fmt == "date" or key.endswith("date"):
        value = f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    elif fmt == "uuid" or key in ("uuid", "guid"):
        value = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    elif fmt == "email" or "email" in key:
        value = f"{rng.choice(_NAMES).lower()}@example.com"
    elif fmt in ("uri", "url") or key in ("url", "uri", "link", "href", "website"):
        value = f"https://example.com/{rng.choice(VOCABULARY)}"
    elif key in ("location", "city", "place", "address", "destination", "origin"):
        value = rng.choice(_CITIES)
    elif key in ("name", "first_name", "author", "user", "username", "person"):
        value = rng.choice(_NAMES)
    elif key in ("unit", "units"):
        value = "celsius"
    elif key in ("language", "lang", "locale"):
        value = "en"
    elif key in ("country",):
        value = "France"
    elif key == "id" or key.endswith("_id"):
        value = f"id_{rng.randint(100, 999)}"
    else:
        value = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 3)))
    min_len = schema.get("minLength")
    max_len = schema.get("maxLength")
    if isinstance(min_len, int) and len(value) < min_len:
        value = value + "x" * (min_len - len(value))
    if isinstance(max_len, int) and len(value) > max_len:
        value = value[:max_len]
    return value


def encode_json(value: Any) -> str:
    """Compact JSON text for `value` (what a model would emit)."""
    return msgspec.json.encode(value).decode()
