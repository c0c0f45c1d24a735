"""Retention on SQLite and PostgreSQL: exactly what is older goes (alerts with their notifications,
messages and episodes; raw payloads on their own shorter retention), nothing still firing or still
waiting for delivery, in small batches; the dry run counts what the real run deletes; the receiver
prunes in the background; `d76 db prune`."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from click.testing import CliRunner

from tests.support.fakes.payloads import am_alert, am_payload
from tests.support.history import iso, now, wait_for
from webhook_receiver.history.retention import Pruner
from webhook_receiver.notify.outbox import Lane, Outbox
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store.episodes import EpisodeCause, HistoryTables


def _ingest(store, name: str, starts: datetime, ends: datetime | None, received: datetime) -> int:
    a = am_alert(name, "P2", status="resolved" if ends else "firing", starts_at=iso(starts),
                 ends_at=iso(ends) if ends else None, labels={"exchange": name.lower()})
    return store.ingest(parse_alertmanager_payload(am_payload(a)), now=received).changes[0].alert_id


def _notify(store, outbox: Outbox, alert_id: int | None, status: str, at: datetime, key: str,
            message_ref: int | None = None, kind: str = "firing") -> None:
    with store.transaction() as tx:
        tx.now = at
        outbox.enqueue(tx, [{"alert_id": alert_id, "channel": "telegram", "destination": "-100", "kind": kind,
                             "dedupe_key": key, "status": status, "message_ref": message_ref}])


def _message(store, outbox: Outbox, at: datetime, shape: str = "single") -> int:
    ref = outbox.reserve_message(Lane("telegram", "-100"), shape)
    with store.transaction() as tx:
        tx.execute("UPDATE messages SET sent_at = %s WHERE id = %s", (store.dialect.time_in(at), ref))
    return ref


def seed(store) -> dict[str, Any]:
    """Old (100 days) and recent history, with every kind of row retention touches."""
    outbox, tables = Outbox(store), HistoryTables(store)
    t_old, t_new = now() - timedelta(days=100), now() - timedelta(days=1)
    ids: dict[str, Any] = {}
    ids["old"] = [_ingest(store, f"Old{i}", t_old, t_old + timedelta(minutes=5), t_old) for i in range(5)]
    ids["old_pending"] = _ingest(store, "OldPending", t_old, t_old + timedelta(minutes=5), t_old)
    ids["old_firing"] = _ingest(store, "OldFiring", t_old, None, t_old)
    ids["long"] = _ingest(store, "Long", t_old, t_new, t_old)  # started long ago, ended yesterday
    ids["recent"] = _ingest(store, "Recent", t_new, t_new + timedelta(minutes=3), t_new)
    # each old alert told in a message of its own; one packed message named Old0 and Recent
    for i, aid in enumerate(ids["old"]):
        ref = _message(store, outbox, t_old)
        _notify(store, outbox, aid, "sent", t_old, f"o{i}", ref)
    ids["packed"] = _message(store, outbox, t_old, "packed")
    _notify(store, outbox, ids["old"][0], "sent", t_old, "p-old", ids["packed"], kind="resolved")
    _notify(store, outbox, ids["recent"], "sent", t_old, "p-new", ids["packed"])
    _notify(store, outbox, ids["old_pending"], "pending", t_old, "pending")
    # dead man's switch rows: old and sent (goes), old and still pending (stays)
    _notify(store, outbox, None, "sent", t_old, "dm-old", kind="deadman")
    _notify(store, outbox, None, "pending", t_old, "dm-pending", kind="deadman")
    ids["lone_message"] = _message(store, outbox, t_old)  # reserved, never used
    with store.transaction() as tx:
        tx.now = t_old
        tables.open_episode(tx, ids["old"][1], EpisodeCause("silenced", "s-1", silence_created_by="kim"))
        tables.open_episode(tx, ids["recent"], EpisodeCause("inhibited", "fp", inhibiting_alert_id=ids["old"][2]))
    # payload audit: 20 days old (beyond the 14 days) and fresh
    store.ingest(parse_alertmanager_payload(am_payload(am_alert("Audit", "P3"))), now=now() - timedelta(days=20))
    return ids


def _ids(store, table: str) -> set[int]:
    with store.transaction(write=False) as tx:
        return {int(r["id"]) for r in tx.fetchall(f"SELECT id FROM {table}")}


def test_prune_removes_exactly_what_is_older(store) -> None:
    ids = seed(store)
    before_payloads = store.count("webhook_payloads")
    pruner = Pruner(store, batch=2, pause_seconds=0)  # small batches: every loop runs several times
    cut = Pruner.cutoffs(90, 14)
    dry = pruner.dry_run(cut)
    assert _ids(store, "alerts") >= set(ids["old"])  # the dry run deleted nothing
    done = pruner.run(cut)
    assert done.rows == dry.rows, (done.rows, dry.rows)
    kept = {ids["old_pending"], ids["old_firing"], ids["long"], ids["recent"]}
    alerts = _ids(store, "alerts")
    assert alerts & kept == kept and not alerts & set(ids["old"])
    assert done.rows["alerts"] == 5 and done.rows["suppressed_episodes"] == 1
    # notifications: 5 single + 1 in the packed message + the old sent deadman row
    assert done.rows["notifications"] == 7
    outbox = Outbox(store)
    left = {r["dedupe_key"] for r in outbox.list()}
    assert left == {"p-new", "pending", "dm-pending"}
    # messages: the five singles and the unused one go; the packed one stays (it named Recent too)
    assert done.rows["messages"] == 6 and _ids(store, "messages") == {ids["packed"]}
    # the inhibited episode of Recent stays, its link to the pruned inhibitor cleared
    [ep] = HistoryTables(store).episodes_for([ids["recent"]])[ids["recent"]]
    assert ep["inhibiting_alert_id"] is None
    # payloads: those of the old alerts (100 days) and the 20-day-old audit row
    assert done.rows["webhook_payloads"] == 9 and store.count("webhook_payloads") == before_payloads - 9
    assert pruner.run(cut).total == 0  # idempotent


def test_cli_prune_dry_run_then_for_real(store, database_url) -> None:
    from d76_cli.main import cli

    ids = seed(store)
    env = {"DATABASE_URL": database_url}
    r = CliRunner().invoke(cli, ["db", "prune", "--older-than", "30d", "--dry-run"], env=env)
    assert r.exit_code == 0, r.output
    assert "alerts               would delete 5" in r.output and "webhook_payloads     would delete 9" in r.output
    assert set(ids["old"]) <= _ids(store, "alerts")
    r = CliRunner().invoke(cli, ["db", "prune", "--older-than", "30d", "--batch", "3"], env=env)
    assert r.exit_code == 0, r.output
    assert "alerts               deleted 5" in r.output and not set(ids["old"]) & _ids(store, "alerts")
    # a shorter horizon reaches yesterday's alerts too (payload retention follows when shorter)
    r = CliRunner().invoke(cli, ["db", "prune", "--older-than", "12h", "--dry-run"], env=env)
    assert "alerts               would delete 2" in r.output, r.output  # Long and Recent
    r = CliRunner().invoke(cli, ["db", "prune", "--older-than", "soon"], env=env)
    assert r.exit_code == 2 and "expected an age like 30d" in r.output


def test_the_receiver_prunes_in_the_background(make_app, database_url) -> None:
    app = make_app({"DATABASE_URL": database_url, "HISTORY_PRUNE_INTERVAL_SECONDS": "0.3",
                    "HISTORY_PRUNE_BATCH": "2", "HISTORY_PRUNE_PAUSE_SECONDS": "0.01"})
    store = app.extensions["d76_receiver"].store
    ids = seed(store)
    wait_for(lambda: not set(ids["old"]) & _ids(store, "alerts"), 15, "the background prune")
    assert {ids["old_pending"], ids["old_firing"], ids["recent"]} <= _ids(store, "alerts")
    # the counter is raised once the prune's transaction has committed, a moment after the rows are gone
    wait_for(lambda: 'd76_history_pruned_rows_total{table="alerts"} 5.0'
             in app.test_client().get("/metrics").get_data(as_text=True), 5, "the pruned rows counted")


def test_a_batch_larger_than_one_statement_can_bind(pg_url) -> None:
    """HISTORY_PRUNE_BATCH goes up to 100,000; PostgreSQL binds at most 65,535 parameters a statement."""
    from webhook_receiver.store import open_store

    store = open_store(pg_url)
    store.migrate()
    old = now() - timedelta(days=100)
    try:
        with store.transaction() as tx:
            tx.execute('INSERT INTO alerts (fingerprint, starts_at, alertname, status, "timestamp", last_received_at, '
                       "ends_at) SELECT 'fp' || g, %s, 'Old', 'resolved', %s, %s, %s FROM generate_series(1, 70000) g",
                       (old, old, old, old + timedelta(minutes=1)))
        counts = Pruner(store, batch=100_000, pause_seconds=0).run(Pruner.cutoffs(90, 14))
        assert counts.rows["alerts"] == 70_000 and store.count("alerts") == 0
    finally:
        store.close()
