"""Two Prometheus replicas stamp the same alert with different starts (each its own evaluation time);
Alertmanager keeps the earliest it has seen, so one occurrence can reach us with either start. It
must stay ONE stored alert, told once, on both backends, even when the two arrive at once."""
from __future__ import annotations

import threading

from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.payload import parse_alertmanager_payload

FROZEN = dict(labels={"exchange": "upbit"})


def ingest(store, **kw):
    res = store.ingest(parse_alertmanager_payload(am_payload(am_alert("ExchangeFrozen", "P0", **FROZEN, **kw))))
    return [(c.alert_id, c.kind) for c in res.changes]


def test_a_replicas_other_start_is_the_same_occurrence(store) -> None:
    [(aid, kind)] = ingest(store, starts_at="2026-11-23T01:00:02.100Z")  # replica b's evaluation first
    assert kind == "new"
    assert ingest(store, starts_at="2026-11-23T01:00:01.600Z") == [(aid, "unchanged")]  # then a's, earlier
    assert ingest(store, starts_at="2026-11-23T01:00:02.100Z") == [(aid, "unchanged")]
    assert ingest(store, starts_at="2026-11-23T01:00:01.600Z", status="resolved",
                  ends_at="2026-11-23T01:05:00Z") == [(aid, "resolved")]
    assert store.count("alerts") == 1
    # once resolved, a later start is a new occurrence
    [(again, kind)] = ingest(store, starts_at="2026-11-23T01:06:00Z")
    assert kind == "new" and again != aid and store.count("alerts") == 2
    # and a late resolve of the first occurrence does not touch the new one
    assert ingest(store, starts_at="2026-11-23T01:00:01.600Z", status="resolved",
                  ends_at="2026-11-23T01:05:00Z") == [(aid, "unchanged")]
    assert store.get_alert(again)["status"] == "firing"


def test_far_apart_starts_are_different_occurrences(store) -> None:
    [(first, _)] = ingest(store, starts_at="2026-11-23T01:00:00Z")
    [(second, kind)] = ingest(store, starts_at="2026-11-23T01:30:00Z")  # beyond the window: a lost resolve
    assert kind == "new" and second != first


def test_two_replicas_starts_arriving_at_once_store_one_alert(store) -> None:
    starts = ["2026-11-23T02:00:00.250Z", "2026-11-23T02:00:00.700Z"] * 4
    barrier = threading.Barrier(len(starts))
    kinds: list[str] = []

    def post(start: str) -> None:
        barrier.wait()
        kinds.extend(k for _, k in ingest(store, starts_at=start))

    threads = [threading.Thread(target=post, args=(s,)) for s in starts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count("alerts") == 1 and kinds.count("new") == 1


def test_both_replicas_starts_in_one_payload_are_one_alert(store) -> None:
    [(aid, _)] = ingest(store, starts_at="2026-11-23T03:00:02.100Z")
    both = am_payload(am_alert("ExchangeFrozen", "P0", **FROZEN, starts_at="2026-11-23T03:00:01.600Z"),
                      am_alert("ExchangeFrozen", "P0", **FROZEN, starts_at="2026-11-23T03:00:01.700Z"))
    res = store.ingest(parse_alertmanager_payload(both))
    assert [(c.alert_id, c.kind) for c in res.changes] == [(aid, "unchanged")]
    assert store.count("alerts") == 1
