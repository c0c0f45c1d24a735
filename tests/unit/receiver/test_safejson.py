"""Bounded JSON parsing (`safejson`) and storable text (`storable`)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_receiver.safejson import MAX_DEPTH, JSONError, loads, nesting_depth
from webhook_receiver.storable import REPLACEMENT, clean_text, clean_tree, is_storable

ANY_CHAR = st.characters(exclude_categories=())


@pytest.mark.parametrize("text, depth", [
    ("", 0), ("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4),
    ('{"a": "[[[[[[["}', 1),                # brackets inside strings do not count
    ('["\\"[[[", "\\\\", [[]]]', 3),       # escaped quote and escaped backslash
    ('["unterminated [[[[', 1),             # an unterminated string runs to the end
    ("[" * 50, 50), ("]]]", 0),
])
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


_json = st.recursive(
    st.none() | st.integers() | st.text(ANY_CHAR, max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=40,
)


def _depth(v: object) -> int:
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_json, st.booleans())
def test_nesting_depth_matches_the_structure(doc: object, ascii_only: bool) -> None:
    assert nesting_depth(json.dumps(doc, ensure_ascii=ascii_only)) == _depth(doc)


def test_hostile_inputs_scan_linearly_and_fail_cleanly() -> None:
    # many escaped quotes inside one unterminated string: a naive string regex goes quadratic
    for text in ['"' + '\\"' * 300_000, '"\\' * 300_000, "[" * 1_000_000, '["' * 300_000]:
        with pytest.raises(JSONError):
            loads(text)


@pytest.mark.parametrize("text, fragment", [
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested"),
    ("NaN", "NaN"), ("[-Infinity]", "Infinity"), ("1" * 5000, "digits"),
    (b"\xff", "UTF-8"), ("{", "not valid JSON"),
])
def test_loads_refuses(text: str | bytes, fragment: str) -> None:
    with pytest.raises(JSONError, match=fragment):
        loads(text)


def test_loads_accepts() -> None:
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(nested) is not None
    assert loads(b'\xef\xbb\xbf{"a": "\\u0000"}') == {"a": "\x00"}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(ANY_CHAR, max_size=50))
def test_clean_text_is_storable_idempotent_and_length_preserving(text: str) -> None:
    out = clean_text(text)
    assert is_storable(out) and "\x00" not in out
    out.encode("utf-8")
    assert len(out) == len(text) and clean_text(out) == out
    assert all(a == b or b == REPLACEMENT for a, b in zip(text, out))


def test_clean_tree_keys_and_values() -> None:
    assert clean_tree({"k\x00": ["\ud800", 1, None, {"x": "ok"}]}) == {
        f"k{REPLACEMENT}": [REPLACEMENT, 1, None, {"x": "ok"}]
    }
