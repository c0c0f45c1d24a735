"""A database of schema version 5 holding an alert and its episode, upgraded by version 6 (on-call
overrides, watched silences, `muted` episodes); shared by the SQLite unit test and the PostgreSQL
integration test."""
from __future__ import annotations

from datetime import UTC, datetime

from webhook_receiver.store.migrations import MIGRATIONS


def make_v5(store) -> None:
    store._applied_versions()
    for m in MIGRATIONS[:5]:
        store._apply(m.version, m.name, getattr(m, store.dialect.name))
    d = store.dialect
    t = d.time_in(datetime(2026, 11, 20, tzinfo=UTC))
    with store.transaction() as tx:
        tx.execute("INSERT INTO alerts (fingerprint, starts_at, alertname, status, severity, labels, annotations, "
                   "metadata, \"timestamp\", last_received_at) VALUES ('fp', %s, 'ExchangeDown', 'firing', 'P1', "
                   "'{\"exchange\":\"upbit\"}', '{}', '{}', %s, %s)", (t, t, t))
        tx.execute("INSERT INTO suppressed_episodes (alert_id, kind, cause, silence_created_by, started_at) "
                   "VALUES (1, 'silenced', 'sil-1', 'kim', %s)", (t,))


def check_upgraded(store) -> None:
    from webhook_receiver.store.episodes import EpisodeCause, HistoryTables

    assert store.current_version() == 5
    assert 6 in store.migrate()
    tables = HistoryTables(store)
    with store.transaction() as tx:
        assert not tables.open_episode(tx, 1, EpisodeCause("silenced", "sil-1"))  # the old one is still open
        assert tables.open_episode(tx, 1, EpisodeCause("muted", "upbit-weekly"))
        assert not tables.open_episode(tx, 1, EpisodeCause("muted", "upbit-weekly"))  # one open per cause
        t = store.dialect.time_in(datetime(2026, 11, 21, tzinfo=UTC))
        tx.execute("INSERT INTO oncall_overrides (person, starts_at, ends_at, created_by, created_at) "
                   "VALUES ('bob', %s, %s, 'telegram:bob', %s)", (t, t, t))
        tx.execute("INSERT INTO silence_watch (silence_id, ends_at, first_seen_at) VALUES ('s', %s, %s)", (t, t))
    episodes = tables.episodes_for([1])[1]
    assert [(e["kind"], e["cause"], e["silence_created_by"]) for e in episodes] == [
        ("silenced", "sil-1", "kim"), ("muted", "upbit-weekly", None)]
