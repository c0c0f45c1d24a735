"""Text that every storage backend accepts, the same way on each.

Two kinds of character reach us in valid JSON and are refused by a backend:

- U+0000 (NUL): PostgreSQL `text` refuses it and `jsonb` refuses the `\\u0000` escape; SQLite
  would keep it, so the backends would disagree.
- lone UTF-16 surrogates (U+D800..U+DFFF), from escapes such as `"\\ud800"` that are not part of a
  pair: they cannot be encoded as UTF-8, so neither psycopg nor sqlite3 can bind them (and Flask
  cannot even put them in a JSON answer).

`clean_text` replaces each with U+FFFD (the Unicode replacement character), visibly, one for one,
so lengths and positions stay the same and cleaning is idempotent and deterministic: the same input
always gives the same output (a dedup key built from it stays stable). Everything else, control
characters included, is stored as received; escaping for a channel is the formatter's job.
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["REPLACEMENT", "clean_text", "clean_tree", "is_storable"]

REPLACEMENT = "\ufffd"
# Valid surrogate pairs never survive as two code points in a Python str built by json.loads (they
# are combined), so any surrogate code point left in a str is a lone one.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def clean_text(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD (the same object when clean)."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def clean_tree(value: Any) -> Any:
    """`clean_text` applied to every string (keys included) in a JSON-like tree."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_tree(v) for v in value]
    return value
