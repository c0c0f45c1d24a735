"""Mutated Alertmanager webhook bodies, for fuzz tests (driven by hypothesis' `st.randoms()`) and
the mutation soak (`benchmarks/bench_fuzz.py`, driven by a seeded `random.Random`).

`mutate_body(doc, rng)` starts from a real body (`load_seed_bodies()`: the Alertmanager 0.25
fixtures) and applies one to three mutations: structural (a nasty string, a value of the wrong
type, a key removed or added, nesting, an odd time, many alerts, an empty list), a serialisation
choice (NaN allowed, surrogates as raw bytes), and byte-level damage (truncation, flipped bytes,
a BOM, a 5,000-digit number, a duplicated key, a body over the size limit). Many results are invalid
on purpose; a good share
stays valid so the storage path is exercised too.
"""
from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

from tests.support import paths

__all__ = ["NASTY_STRINGS", "ODD_TIMES", "load_seed_bodies", "mutate_body", "mutate_doc", "serialise"]

FIXTURES = paths.AM_FIXTURES

NASTY_STRINGS = [
    "", " ", "A\u0000B", "\u0000", "\ud800", "\udfff", "x\ud83d", "\ud83d\ude00", "\ufeff", "\uffff", "\ufffe",
    "\u202eevil", "a\tb\nc\rd", "\x01\x02\x7f", "é" * 3, "한국어 ✓", "<b>&amp;</b><script>", "'; DROP TABLE alerts;--",
    "%00%ff", "\\u0000", "\\", '"', "x" * 129, "y" * 10_000, "0001-01-01T00:00:00Z", "NaN", "null",
]
ODD_TIMES = [
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
    "2026-02-30T00:00:00Z", "2026-11-23T01:00:00.123456789123Z", "2026-11-23T01:00:00+14:00",
    "2026-11-23T01:00:00-00:00", "2026-11-23T01:00:00", "2026-11-23", "", "now", "2026-11-23T25:00:00Z",
    "2026-11-23T01:00:00.Z", "+002026-11-23T01:00:00Z", "2026-11-23T01:00:00\u0000Z", "２０２６-11-23T01:00:00Z",
]


def load_seed_bodies() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.glob("*.json"))]


def _nodes(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(path, doc)]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_nodes(v, path + (k,)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_nodes(v, path + (i,)))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return doc


def _random_string(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(NASTY_STRINGS)
    n = rng.randint(0, 20)
    pools = [(0, 0x7F), (0x80, 0x7FF), (0xD800, 0xDFFF), (0x10000, 0x10FFFF), (0, 0x1F)]
    chars = []
    for _ in range(n):
        lo, hi = rng.choice(pools)
        chars.append(chr(rng.randint(lo, hi)))
    return "".join(chars)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30, rng.randint(-10**6, 10**6)])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, 1e-320, float("nan"), float("inf"), float("-inf"), 5.0])
    if kind in (4, 5, 6):
        return _random_string(rng)
    if kind in (7, 8):
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_random_string(rng): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _pick_dict(doc: Any, rng: random.Random) -> dict[str, Any] | None:
    dicts = [n for _, n in _nodes(doc) if isinstance(n, dict)]
    return rng.choice(dicts) if dicts else None


def _m_string(doc: Any, rng: random.Random) -> Any:
    paths = [p for p, n in _nodes(doc) if isinstance(n, str)]
    return _set(doc, rng.choice(paths), _random_string(rng)) if paths else doc


def _m_value(doc: Any, rng: random.Random) -> Any:
    path, _ = rng.choice(_nodes(doc))
    return _set(doc, path, _random_value(rng))


def _m_delete(doc: Any, rng: random.Random) -> Any:
    d = _pick_dict(doc, rng)
    if d:
        d.pop(rng.choice(list(d)))
    return doc


def _m_add(doc: Any, rng: random.Random) -> Any:
    d = _pick_dict(doc, rng)
    if d is not None:
        d[_random_string(rng)] = _random_string(rng) if rng.random() < 0.7 else _random_value(rng)
    return doc


def _m_nest(doc: Any, rng: random.Random) -> Any:
    path, node = rng.choice(_nodes(doc))
    for _ in range(rng.choice([1, 2, 5, 30, 40, 200])):  # deeper: _b_deep (json.dumps stops near 1000)
        node = [node] if rng.random() < 0.5 else {"n": node}
    return _set(doc, path, node)


def _alerts(doc: Any) -> list[Any]:
    a = doc.get("alerts") if isinstance(doc, dict) else None
    return a if isinstance(a, list) else []


def _m_time(doc: Any, rng: random.Random) -> Any:
    alerts = [a for a in _alerts(doc) if isinstance(a, dict)]
    if alerts:
        rng.choice(alerts)[rng.choice(["startsAt", "endsAt"])] = rng.choice(ODD_TIMES)
    return doc


def _m_fingerprint(doc: Any, rng: random.Random) -> Any:
    alerts = [a for a in _alerts(doc) if isinstance(a, dict)]
    if alerts:
        rng.choice(alerts)["fingerprint"] = rng.choice([_random_string(rng), "f" * 128, "f" * 129, "", "\u0000"])
    return doc


def _m_many(doc: Any, rng: random.Random) -> Any:
    alerts = _alerts(doc)
    if alerts:
        first = alerts[0]
        n = rng.choice([2, 10, 60])
        for _ in range(n):
            a = copy.deepcopy(first)
            if isinstance(a, dict) and rng.random() < 0.8:
                a["fingerprint"] = f"{rng.getrandbits(64):016x}"
            alerts.append(a)
    return doc


def _m_empty(doc: Any, rng: random.Random) -> Any:
    if isinstance(doc, dict):
        doc["alerts"] = []
    return doc


def _m_status(doc: Any, rng: random.Random) -> Any:
    targets = [doc] + _alerts(doc)
    t = rng.choice(targets)
    if isinstance(t, dict):
        t["status"] = rng.choice(["firing", "resolved", "FIRING", "", "pending"])
    return doc


_DOC_MUTATIONS: list[tuple[Callable[[Any, random.Random], Any], int]] = [
    (_m_string, 6), (_m_value, 2), (_m_delete, 1), (_m_add, 2), (_m_nest, 1), (_m_time, 2),
    (_m_fingerprint, 2), (_m_many, 1), (_m_empty, 1), (_m_status, 1),
]


def mutate_doc(doc: Any, rng: random.Random) -> Any:
    """One to three structural mutations of a copy of `doc`."""
    doc = copy.deepcopy(doc)
    fns = [f for f, _ in _DOC_MUTATIONS]
    weights = [w for _, w in _DOC_MUTATIONS]
    for fn in rng.choices(fns, weights, k=rng.randint(1, 3)):
        doc = fn(doc, rng)
    return doc


def serialise(doc: Any, rng: random.Random) -> bytes:
    """JSON bytes; sometimes with raw non-ASCII (surrogates then become invalid UTF-8 bytes)."""
    ascii_only = rng.random() < 0.5
    text = json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def _b_truncate(b: bytes, rng: random.Random) -> bytes:
    return b[: rng.randint(0, len(b))]


def _b_flip(b: bytes, rng: random.Random) -> bytes:
    if not b:
        return b
    i = rng.randrange(len(b))
    return b[:i] + bytes([rng.randrange(256)]) + b[i + 1:]


def _b_insert(b: bytes, rng: random.Random) -> bytes:
    i = rng.randint(0, len(b))
    junk = rng.choice([b"\x00", b"\xff\xfe", b"\xed\xa0\x80", b"[", b"{", b"}", b",", b'"', b"\\", b"\\u0000", b"NaN"])
    return b[:i] + junk + b[i:]


def _b_bom(b: bytes, rng: random.Random) -> bytes:
    return b"\xef\xbb\xbf" + b


def _b_bignum(b: bytes, rng: random.Random) -> bytes:
    return b.replace(b'"truncatedAlerts":0', b'"truncatedAlerts":' + b"9" * rng.choice([20, 400, 5000]), 1) \
        .replace(b'"truncatedAlerts": 0', b'"truncatedAlerts": ' + b"1" + b"0" * rng.choice([20, 400, 5000]), 1)


def _b_dupkey(b: bytes, rng: random.Random) -> bytes:
    return b.replace(b'"status": "firing"', b'"status": "firing", "status": "resolved"', 1) \
        .replace(b'"status":"firing"', b'"status":"resolved","status":"firing"', 1)


def _b_deep(b: bytes, rng: random.Random) -> bytes:
    n = rng.choice([33, 1000, 5000, 100_000])
    if rng.random() < 0.5:  # balanced: valid JSON, too deep
        return b'{"version":"4","status":"firing","alerts":' + b"[" * n + b"]" * n + b"}"
    i = rng.randint(0, len(b))  # unbalanced: `"alerts": [[[[...`
    return b[:i] + b"[" * n + b[i:]


def _b_huge(b: bytes, rng: random.Random) -> bytes:
    """Over the receiver's 1 MiB default body limit (413), or just under it: still valid JSON."""
    return b + b" " * rng.choice([1024 * 1024, 1024 * 1024 - len(b) - 10])


_BYTE_MUTATIONS = [_b_truncate, _b_flip, _b_insert, _b_bom, _b_bignum, _b_dupkey, _b_deep, _b_huge]


def mutate_body(seed_doc: dict[str, Any], rng: random.Random) -> bytes:
    """A mutated body: structural mutations, serialisation, and (one time in three) byte damage."""
    body = serialise(mutate_doc(seed_doc, rng) if rng.random() < 0.9 else copy.deepcopy(seed_doc), rng)
    if rng.random() < 0.33:
        body = rng.choice(_BYTE_MUTATIONS)(body, rng)
    return body
