"""A database of schema version 3 holding rows, upgraded to the current version (shared by the
SQLite unit test and the PostgreSQL integration test)."""
from __future__ import annotations

from webhook_receiver.store.migrations import MIGRATIONS

V3_ROWS = 2


def make_v3(store) -> None:
    store._applied_versions()
    for m in MIGRATIONS[:3]:
        store._apply(m.version, m.name, getattr(m, store.dialect.name))
    with store.transaction() as tx:
        for i in range(V3_ROWS):
            tx.execute(
                "INSERT INTO alerts (fingerprint, starts_at, alertname, status, severity, source, title, message, "
                'labels, annotations, metadata, "timestamp", last_received_at, ends_at, receive_count, acknowledged, '
                "silence_id, silenced_until) VALUES (%s, %s, %s, %s, 'P1', 'exchange_health', 't', 'm', %s, %s, %s, "
                "%s, %s, %s, 3, %s, %s, %s)",
                (
                    f"fp{i}",
                    _t(store, f"2026-11-20T0{i}:00:00.123456Z"),
                    "ExchangeDown",
                    "resolved" if i else "firing",
                    '{"exchange":"upbit"}',
                    "{}",
                    "{}",
                    _t(store, f"2026-11-20T0{i}:00:00.5Z"),
                    _t(store, f"2026-11-20T0{i}:00:00.5Z"),
                    _t(store, "2026-11-21T02:00:00Z") if i else None,
                    False,
                    "sil-1" if i else None,
                    _t(store, "2026-11-21T03:00:00Z") if i else None,
                ),
            )
        tx.execute("INSERT INTO messages (channel, destination, shape, remote_ids, sent_at, updated_at) "
                   "VALUES ('telegram', '-100', 'single', '[\"7\"]', %s, %s)",
                   (_t(store, "2026-11-20T01:00:01Z"), _t(store, "2026-11-20T01:00:01Z")))
        tx.execute("INSERT INTO notifications (alert_id, channel, destination, kind, severity, status, attempts, "
                   "next_attempt_at, payload, dedupe_key, created_at, updated_at, sent_at, message_ref, message_id) "
                   "VALUES (1, 'telegram', '-100', 'firing', 'P1', 'sent', 1, %s, '{}', 'k1', %s, %s, %s, 1, '7')",
                   tuple(_t(store, "2026-11-20T00:00:01Z") for _ in range(4)))


def _t(store, text: str):
    from webhook_receiver.payload import parse_time

    return store.dialect.time_in(parse_time(text, "t"))


def check_upgraded(store) -> None:
    from webhook_receiver.history.timeline import build_timeline
    from webhook_receiver.store import AlertQuery
    from webhook_receiver.store.episodes import EpisodeCause, HistoryTables

    assert store.current_version() == 3
    assert 4 in store.migrate()
    rows = sorted(store.list_alerts(AlertQuery(limit=10)), key=lambda r: r["id"])
    assert len(rows) == V3_ROWS
    assert all(r["origin"] == "webhook" and r["reconciled_at"] is None and r["silenced_at"] is None for r in rows)
    assert rows[0]["receive_count"] == 3 and rows[1]["silence_id"] == "sil-1"
    # the new tables work on the old rows
    tables = HistoryTables(store)
    with store.transaction() as tx:
        assert tables.open_episode(tx, 1, EpisodeCause("silenced", "sil-9", silence_created_by="kim"))
        assert [r["id"] for r in tables.firing_alerts(tx)] == [1]
    assert tables.acquire_lease("reconcile", "me", 5) and not tables.acquire_lease("reconcile", "other", 5)
    t = build_timeline(store, 1)
    assert [e["event"] for e in t["events"]][:3] == ["fired", "stored", "notified"]
    assert t["events"][2]["message_id"] == "7" and t["events"][2]["shape"] == "single"
