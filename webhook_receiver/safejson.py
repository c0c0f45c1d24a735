"""JSON parsing that cannot blow up on hostile input: nesting bounded before parsing, no NaN.

`json.loads` recurses once per nesting level (a body of `[[[[...` raises RecursionError, which
would escape as a 500), turns a 5,000-digit number into a ValueError that is not a
JSONDecodeError, and accepts the non-standard `NaN`/`Infinity`. `loads` checks the nesting depth
with a linear scan first, then parses strictly, and raises only `JSONError` (a ValueError).

Alertmanager bodies are 4 levels deep (payload, alerts, alert, labels); `MAX_DEPTH` leaves room for
fields a future version may add.
"""
from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from flask.json.provider import DefaultJSONProvider

__all__ = ["MAX_DEPTH", "JSONError", "nesting_depth", "loads", "BoundedJSONProvider"]

MAX_DEPTH = 32

# One JSON string: every character inside is consumed (a backslash with the next character, or
# alone at the very end), and an unterminated string runs to the end of the text, so the scan is
# linear even for hostile input (no backtracking restarts).
_STRING = re.compile(r'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*(?:"|\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONError(ValueError):
    """Not acceptable JSON; the message says why (never the whole input)."""


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of `text`, strings ignored. Cheap: two regex passes, then a
    running sum over the brackets alone. For malformed text it is an estimate (unbalanced
    brackets still count), which is all a bound needs."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, max(accumulate(map(_DELTA.__getitem__, brackets))))


def _no_constants(name: str) -> Any:
    raise JSONError(f"{name} is not valid JSON")


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `text` (bytes must be UTF-8; one leading BOM is ignored). Raises only `JSONError`."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONError("body is not UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JSONError(f"JSON nested {depth} levels deep; at most {max_depth} allowed")
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise JSONError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except JSONError:
        raise
    except RecursionError:  # cannot happen below MAX_DEPTH; kept so it never escapes
        raise JSONError("JSON nested too deeply") from None
    except ValueError:  # the only other ValueError: an integer longer than Python's digit limit
        raise JSONError("not acceptable JSON: a number has too many digits") from None


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with `loads` above, so `request.get_json()` in any endpoint (the
    Telegram webhook, the ack body) fails as bad JSON (400, or None with silent=True) instead of
    raising RecursionError."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
