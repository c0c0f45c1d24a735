"""Hostile webhook bodies: `parse_alertmanager_payload` raises `PayloadError` and nothing else, and
what it accepts is storable on every backend (no NUL, no lone surrogate), deterministically."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fakes.mutations import load_seed_bodies, mutate_body
from webhook_receiver.errors import PayloadError
from webhook_receiver.payload import WebhookPayload, parse_alertmanager_payload
from webhook_receiver.storable import REPLACEMENT, clean_text, is_storable

SEEDS = load_seed_bodies()
FUZZ = settings(max_examples=400, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ANY_CHAR = st.characters(exclude_categories=())  # NUL and lone surrogates included


def _parse_or_payload_error(body: Any) -> WebhookPayload | None:
    try:
        return parse_alertmanager_payload(body)
    except PayloadError as exc:
        assert str(exc) and is_storable(str(exc))  # the message can go into a JSON answer and a log
        return None


def _assert_storable(p: WebhookPayload) -> None:
    texts = [p.receiver, p.group_key, p.external_url, p.raw]
    for m in (p.group_labels, p.common_labels):
        texts += [*m.keys(), *m.values()]
    for a in p.alerts:
        texts += [a.fingerprint, a.generator_url, *a.labels.keys(), *a.labels.values(),
                  *a.annotations.keys(), *a.annotations.values()]
        assert a.starts_at.tzinfo is not None and a.starts_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    for t in texts:
        assert is_storable(t), repr(t)[:80]
        t.encode("utf-8")  # what both drivers do


@FUZZ
@given(body=st.builds(mutate_body, st.sampled_from(SEEDS), st.randoms(use_true_random=False)))
def test_mutated_bodies_raise_only_payload_error(body: bytes) -> None:
    p = _parse_or_payload_error(body)
    if p is not None:
        _assert_storable(p)
        again = parse_alertmanager_payload(body)  # the dedup key is stable
        assert [(a.fingerprint, a.starts_at) for a in again.alerts] == [(a.fingerprint, a.starts_at) for a in p.alerts]


@FUZZ
@given(body=st.binary(max_size=3000))
def test_arbitrary_bytes_raise_only_payload_error(body: bytes) -> None:
    _parse_or_payload_error(body)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(ANY_CHAR, max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(ANY_CHAR, max_size=8), inner, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(doc=_json, as_dict=st.booleans())
def test_arbitrary_json_raises_only_payload_error(doc: Any, as_dict: bool) -> None:
    if as_dict and isinstance(doc, dict):
        _parse_or_payload_error(doc)
    else:
        _parse_or_payload_error(json.dumps(doc, allow_nan=True).encode())


_FIELDS = ["alertname", "label_value", "label_key", "annotation", "fingerprint", "receiver", "groupKey",
           "generatorURL", "externalURL", "commonLabels"]


@FUZZ
@given(field=st.sampled_from(_FIELDS), text=st.text(ANY_CHAR, min_size=1, max_size=40),
       ascii_only=st.booleans())
def test_any_text_in_any_string_field_is_kept_and_cleaned(field: str, text: str, ascii_only: bool) -> None:
    doc = json.loads(json.dumps(SEEDS[0]))
    a = doc["alerts"][0]
    target = {"alertname": (a["labels"], "alertname"), "label_value": (a["labels"], "exchange"),
              "annotation": (a["annotations"], "summary"), "fingerprint": (a, "fingerprint"),
              "receiver": (doc, "receiver"), "groupKey": (doc, "groupKey"), "generatorURL": (a, "generatorURL"),
              "externalURL": (doc, "externalURL"), "commonLabels": (doc["commonLabels"], "alertname")}
    if field == "label_key":
        a["labels"][text] = "v"
    else:
        obj, key = target[field]
        obj[key] = text
    body = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    p = _parse_or_payload_error(body)
    if not ascii_only and not is_storable(text) and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert p is None  # raw surrogates are not UTF-8: refused before parsing
        return
    assert p is not None, "an odd character must never cost the alert"
    _assert_storable(p)
    got = p.alerts[0]
    expected = clean_text(text)
    seen = {"alertname": got.labels.get("alertname"), "label_value": got.labels.get("exchange"),
            "label_key": "v" if got.labels.get(expected) == "v" else None, "annotation": got.annotations.get("summary"),
            "fingerprint": got.fingerprint, "receiver": p.receiver, "groupKey": p.group_key,
            "generatorURL": got.generator_url, "externalURL": p.external_url,
            "commonLabels": p.common_labels.get("alertname")}[field]
    assert seen == ("v" if field == "label_key" else expected)
    assert json.loads(p.raw) == json.loads(body)  # the audit copy is the body as received


def _body(**alert: Any) -> bytes:
    doc = json.loads(json.dumps(SEEDS[0]))
    doc["alerts"][0].update(alert)
    return json.dumps(doc).encode()


def test_nul_in_alertname_is_replaced_visibly() -> None:
    doc = json.loads(json.dumps(SEEDS[0]))
    doc["alerts"][0]["labels"]["alertname"] = "A\u0000B"
    doc["alerts"][0]["fingerprint"] = "ab\u0000\ud800"
    p = parse_alertmanager_payload(json.dumps(doc).encode())
    assert p.alerts[0].alertname == f"A{REPLACEMENT}B"
    assert p.alerts[0].fingerprint == f"ab{REPLACEMENT}{REPLACEMENT}"
    assert "\\u0000" in p.raw  # verbatim escape in the stored body


@pytest.mark.parametrize("body, fragment", [
    (b'{"version":"4","status":"firing","alerts":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested 5001 levels"),
    (b'{"version":"4","status":"firing","alerts":' + b"[" * 100_000, "nested"),
    (b'{"version":"4","status":"firing","alerts":[],"truncatedAlerts":' + b"9" * 5000 + b"}", "too many digits"),
    (b'{"version":"4","status":"firing","alerts":[],"truncatedAlerts":NaN}', "NaN"),
    (b'{"version":"4","status":"firing","alerts":[],"truncatedAlerts":Infinity}', "Infinity"),
    (b'{"version":"4","status":"firing","alerts":[],"truncatedAlerts":1e300}', "truncatedAlerts"),
    (_body(startsAt="0001-01-01T00:00:00+01:00"), "out of range"),
    (_body(startsAt="9999-12-31T23:59:59-01:00"), "out of range"),
    (_body(endsAt="0001-01-01T00:00:00+01:00", status="resolved"), "endsAt"),
    (_body(fingerprint="f" * 129), "fingerprint"),
    (b'{"version":"4","status":"firing","alerts":[[[]]]}', "alerts[0]"),
    (b'\xef\xbb\xbf\xef\xbb\xbf{"version":"4","status":"firing","alerts":[]}', "not valid JSON"),
    (b'{"version":"4","status":"firing","alerts":[], "x": "\xed\xa0\x80"}', "not UTF-8"),
    (b'{"version":' + b"1" * 5000 + b"}", "digits"),
])
def test_edge_cases_are_payload_errors(body: bytes, fragment: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse_alertmanager_payload(body)
    assert fragment in str(err.value)


def test_accepted_edge_cases() -> None:
    seed = json.dumps(SEEDS[0]).encode()
    assert parse_alertmanager_payload(b"\xef\xbb\xbf" + seed).alerts[0].fingerprint == "799840b667ae99f5"  # one BOM
    empty = parse_alertmanager_payload(b'{"version":"4","status":"firing","alerts":[]}')
    assert empty.alerts == []
    dup = parse_alertmanager_payload(
        seed.replace(b'"status": "firing"', b'"status": "resolved", "status": "firing"', 1)
    )
    assert dup.status == "firing"  # duplicate keys: the last one wins
    zero = parse_alertmanager_payload(_body(startsAt="0001-01-01T00:00:00Z"))
    assert zero.alerts[0].starts_at == datetime(1, 1, 1, tzinfo=UTC)


def test_dict_argument_with_raw_nul_and_surrogates_is_cleaned() -> None:
    doc = json.loads(json.dumps(SEEDS[0]))
    doc["alerts"][0]["annotations"]["description"] = "bad \ud800 and \x00"
    p = parse_alertmanager_payload(doc)
    assert p.alerts[0].message == f"bad {REPLACEMENT} and {REPLACEMENT}"
    assert is_storable(p.raw)
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    doc["alerts"] = deep
    with pytest.raises(PayloadError):
        parse_alertmanager_payload(doc)
