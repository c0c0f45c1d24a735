"""Alertmanager's /api/v2/alerts parsed and merged over replicas (pure)."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_receiver.history.amview import (
    ParsedAlerts,
    decode_am_alerts,
    end_times,
    merge_replicas,
    parse_am_alerts,
    signatures,
)


def _a(fp: str, starts: str = "2026-11-23T01:00:00.123Z", silenced=(), inhibited=(), ends="2026-11-23T02:00:00Z",
       state: str = "active") -> dict:
    return {"fingerprint": fp, "startsAt": starts, "endsAt": ends, "labels": {"alertname": "X", "exchange": "upbit"},
            "annotations": {"summary": "s"}, "receivers": [{"name": "d76-p1"}],
            "status": {"state": state, "silencedBy": list(silenced), "inhibitedBy": list(inhibited)}}


def test_malformed_entries_are_skipped_and_counted() -> None:
    alerts, bad = parse_am_alerts([_a("1"), "x", {"fingerprint": "2"}, _a("3", starts="yesterday"),
                                   {**_a("4"), "labels": ["a"]}, _a("5", ends="0001-01-01T00:00:00Z")])
    assert [a.fingerprint for a in alerts] == ["1", "5"] and bad == 4
    assert alerts[0].starts_at == datetime(2026, 11, 23, 1, 0, 0, 123000, tzinfo=UTC)
    assert alerts[1].ends_at is None and alerts[0].receivers == ("d76-p1",)
    assert parse_am_alerts({"not": "a list"}) == ([], 1)


def test_union_over_replicas_keeps_every_cause_and_the_latest_end() -> None:
    a, _ = parse_am_alerts([_a("1", silenced=["s1"], ends="2026-11-23T02:00:00Z")])
    b, _ = parse_am_alerts([_a("1", inhibited=["f9"], ends="2026-11-23T03:00:00Z", state="suppressed"),
                            _a("2")])
    merged = merge_replicas([a, b])
    assert len(merged) == 2
    one = next(x for x in merged.values() if x.fingerprint == "1")
    assert one.silenced_by == ("s1",) and one.inhibited_by == ("f9",) and one.state == "suppressed"
    assert one.ends_at == datetime(2026, 11, 23, 3, tzinfo=UTC) and one.suppressed


# ---- the cheap reading (signatures) and the reading by signature (ParsedAlerts) ------------------------

def _raw(items: list) -> bytes:
    return json.dumps(items).encode()


def test_signatures_leave_out_what_every_resend_moves() -> None:
    one = _raw([_a("1", ends="2026-11-23T02:00:00Z"), _a("2")])
    later = json.loads(one)
    later[0]["endsAt"], later[0]["updatedAt"] = "2026-11-23T02:00:05Z", "2026-11-23T01:00:05Z"
    later[1]["annotations"] = {"summary": "a new value"}
    assert signatures(one) == signatures(_raw(later))
    for change in ({"status": {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}},
                   {"startsAt": "2026-11-23T01:00:01.000Z"}, {"receivers": [{"name": "d76-p0"}]}):
        assert signatures(_raw([{**_a("1"), **change}, _a("2")])) != signatures(one), change


def test_an_answer_of_another_shape_has_no_signatures_and_is_read_leniently() -> None:
    odd = _raw([_a("1"), {**_a("2"), "status": {"state": "active", "silencedBy": [7]}}, "x"])
    assert signatures(odd) is None
    got = decode_am_alerts(odd)
    assert got is not None and [a.fingerprint for a in got[0]] == ["1", "2"] and got[1] == 1
    assert got[0][1].silenced_by == ("7",)
    assert decode_am_alerts(b'{"not": "a list"}') is None and decode_am_alerts(b"<html>") is None
    assert decode_am_alerts(b"") == ([], 0)


def test_end_times_of_the_alerts_asked_for() -> None:
    raw = _raw([_a("1", ends="2026-11-23T02:00:00Z"), _a("2", ends="0001-01-01T00:00:00Z"), _a("3")])
    start = datetime(2026, 11, 23, 1, 0, 0, 123000, tzinfo=UTC)
    assert end_times(raw) == {("1", start): datetime(2026, 11, 23, 2, tzinfo=UTC),
                              ("3", start): datetime(2026, 11, 23, 2, tzinfo=UTC)}
    assert end_times(raw, {"3", "9"}) == {("3", start): datetime(2026, 11, 23, 2, tzinfo=UTC)}


_names = st.text(st.characters(codec="utf-8", exclude_characters='"\\'), min_size=1, max_size=6)
_FPS = ["a1", "b2", "c3", "d4", "e5"]
_entry = st.fixed_dictionaries({
    "fingerprint": st.sampled_from(_FPS),
    "startsAt": st.sampled_from(["2026-11-23T01:00:00.123Z", "2026-11-23T01:00:00.124Z", "yesterday"]),
    "endsAt": st.sampled_from(["2026-11-23T02:00:00Z", "0001-01-01T00:00:00Z"]),
    "annotations": st.dictionaries(_names, _names, max_size=2),
    "receivers": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["d76-p1", "d76-p0", ""])}), max_size=2),
    "status": st.fixed_dictionaries({"state": st.sampled_from(["active", "suppressed", "unprocessed"]),
                                     "silencedBy": st.lists(st.sampled_from(["s1", "s2"]), max_size=2, unique=True),
                                     "inhibitedBy": st.lists(st.sampled_from(["f1", "f2"]), max_size=1)}),
})


# a fingerprint is Alertmanager's hash of the labels: one label set per fingerprint (some malformed)
_label_sets = st.fixed_dictionaries({fp: st.one_of(st.dictionaries(_names, _names, max_size=3),
                                                   st.just(["not", "a map"])) for fp in _FPS})


@settings(max_examples=150, deadline=None)
@given(_label_sets, st.lists(st.lists(_entry, max_size=6), min_size=1, max_size=4))
def test_reading_by_signature_equals_reading_everything(labels: dict, answers: list[list[dict]]) -> None:
    """However the listing changes from one reading to the next, the alerts read by signature (only
    new signatures parsed) are those a full reading gives, as far as the reconciler uses them: the
    same alerts with the same labels, causes and receivers, and the same count of malformed ones."""
    kept = ParsedAlerts()
    for items in answers:
        raw = _raw([{**it, "labels": labels[it["fingerprint"]]} for it in items])
        sigs = signatures(raw)
        assert sigs is not None
        got, bad = kept.read(raw, sigs)
        want, want_bad = parse_am_alerts(json.loads(raw))
        assert bad == want_bad

        def facts(alerts: list) -> list:
            return [(a.key, a.labels, a.state, a.silenced_by, a.inhibited_by, a.receivers) for a in alerts]

        assert facts(got) == facts(want)
