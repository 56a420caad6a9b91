"""Deterministic text, JSON-from-schema and token helpers."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock.sim.textgen import (
    VOCABULARY,
    count_input_tokens,
    encode_json,
    generate_words,
    json_from_schema,
    rng_for,
    split_fragments,
    split_words,
)


def test_generate_words_is_deterministic_and_seed_sensitive() -> None:
    first = generate_words(1, "hello", "text", None, 20, 40)
    assert first == generate_words(1, "hello", "text", None, 20, 40)
    assert first != generate_words(2, "hello", "text", None, 20, 40)
    assert first != generate_words(1, "hello!", "text", None, 20, 40)
    assert 20 <= len(first) <= 40


def test_generate_words_forms_one_sentence() -> None:
    tokens = generate_words(0, "x", "text", 5, 0, 0)
    assert len(tokens) == 5
    assert tokens[0][0].isupper() and not tokens[0].startswith(" ")
    assert all(token.startswith(" ") for token in tokens[1:])
    assert tokens[-1].endswith(".")
    assert all(token.strip(" .").lower() in VOCABULARY for token in tokens)
    assert generate_words(0, "x", "text", 0, 20, 40) == ()


@given(st.text())
def test_split_words_joins_back(text: str) -> None:
    assert "".join(split_words(text)) == text


@given(st.text(min_size=1), st.integers(min_value=1, max_value=9))
def test_split_fragments_joins_back(text: str, size: int) -> None:
    fragments = split_fragments(text, size)
    assert "".join(fragments) == text
    assert all(0 < len(fragment) <= size for fragment in fragments)


def test_split_fragments_of_empty_text_is_one_empty_fragment() -> None:
    assert split_fragments("") == ("",)


@pytest.mark.parametrize(("chars", "tokens"), [(0, 1), (3, 1), (8, 2), (401, 100)])
def test_count_input_tokens(chars: int, tokens: int) -> None:
    assert count_input_tokens(chars) == tokens


def test_rng_for_is_stable_across_processes() -> None:
    # blake2b, not hash(): the same inputs give the same stream in every interpreter run.
    assert rng_for(7, "abc", "s").random() == rng_for(7, "abc", "s").random()
    assert rng_for(7, "abc", "s").random() != rng_for(7, "abc", "t").random()


WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "detailed": {"type": "boolean"},
    },
    "required": ["location", "unit"],
    "additionalProperties": False,
}


def test_tool_arguments_fill_required_properties_only() -> None:
    args = json_from_schema(WEATHER, random.Random(1), only_required=True)
    assert set(args) == {"location", "unit"}
    assert args["unit"] in ("celsius", "fahrenheit")
    assert isinstance(args["location"], str) and args["location"]


def test_documents_fill_every_property_within_bounds() -> None:
    for seed in range(20):
        doc = json_from_schema(WEATHER, random.Random(seed))
        assert set(doc) == set(WEATHER["properties"])
        assert 1 <= doc["days"] <= 7
        assert isinstance(doc["detailed"], bool)


def test_objects_without_required_get_all_properties() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "null"}}}
    doc = json_from_schema(schema, random.Random(0), only_required=True)
    assert set(doc) == {"a", "b"} and doc["b"] is None and isinstance(doc["a"], float)


def test_refs_anyof_allof_const_and_type_lists() -> None:
    schema = {
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
        "type": "object",
        "properties": {
            "point": {"$ref": "#/$defs/Point"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "string", "format": "email"}]},
            "merged": {"allOf": [{"properties": {"a": {"const": 3}}}, {"properties": {"b": {"type": "boolean"}}}]},
            "nullable": {"type": ["integer", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 3},
            "when": {"type": "string", "format": "date-time"},
        },
        "required": ["point", "maybe", "merged", "nullable", "tags", "when"],
    }
    doc = json_from_schema(schema, random.Random(3))
    assert isinstance(doc["point"]["x"], int)
    assert doc["maybe"].endswith("@example.com")
    assert doc["merged"]["a"] == 3 and isinstance(doc["merged"]["b"], bool)
    assert isinstance(doc["nullable"], int)
    assert len(doc["tags"]) == 3 and all(isinstance(tag, str) for tag in doc["tags"])
    assert doc["when"].endswith("Z")


def test_gemini_schema_types_are_case_insensitive() -> None:
    schema = {"type": "OBJECT", "properties": {"n": {"type": "NUMBER"}, "s": {"type": "STRING"}}, "required": ["n"]}
    doc = json_from_schema(schema, random.Random(0))
    assert isinstance(doc["n"], float) and isinstance(doc["s"], str)


def test_recursive_schema_terminates() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}, "required": ["child"]}},
        "$ref": "#/$defs/Node",
    }
    assert isinstance(json_from_schema(schema, random.Random(0)), dict)


def test_string_length_bounds_and_missing_schema() -> None:
    doc = json_from_schema({"type": "string", "minLength": 40, "maxLength": 41}, random.Random(0))
    assert 40 <= len(doc) <= 41
    assert json_from_schema(None, random.Random(0)) == {}
    assert encode_json({"a": [1, "b"]}) == '{"a":[1,"b"]}'


@given(st.floats(-1e6, 1e6), st.floats(0, 10), st.integers(0, 2**32))
def test_numbers_stay_within_bounds(low: float, span: float, seed: int) -> None:
    value = json_from_schema({"type": "number", "minimum": low, "maximum": low + span}, random.Random(seed))
    assert low <= value <= low + span
