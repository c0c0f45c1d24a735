"""Reconciliation with Alertmanager: history never keeps an alert `firing` after Alertmanager let go
of it, and records every silenced or inhibited episode.

Alertmanager sends no resolve for an alert that is silenced or inhibited when it ends, and a resolve
webhook can be lost. Every few seconds (HISTORY_RECONCILE_INTERVAL_SECONDS) the reconciler asks every
replica of ALERTMANAGER_URL for `GET /api/v2/alerts` and `GET /api/v2/status` and:

1. resolves stored `firing` alerts that Alertmanager no longer has (`reconciled_at` set; the end
   time is the last moment Alertmanager was seen holding the alert: the last poll that listed it,
   else its last webhook, capped by the endsAt it reported), queuing the same "resolved"
   notifications a resolve webhook would (never for an alert that was never told);
2. records each silenced or inhibited episode once (`suppressed_episodes`): the silence with who
   created it and why (`GET /api/v2/silence/{id}`), or the inhibiting alert, linked to its stored
   occurrence; an episode ends when Alertmanager stops reporting that cause, or with its alert;
3. stores alerts suppressed from the start (so never sent to us) as history rows of origin
   `alertmanager`; if they are later told by a webhook, that webhook counts as their first telling;
4. records each episode of an alert muted by a recurring maintenance window (`muted`, cause: the
   window's name). Alertmanager 0.25 lists such an alert as `active` and says nothing of the mute
   (its API has no `mutedBy`), so the windows are given (`windows`: the channel map's, rendered
   from the same catalog as Alertmanager's `time_intervals`) and evaluated here at each poll, by
   Alertmanager's own rule (`notify.maintenance`).

Why an Alertmanager restart (or outage) cannot resolve everything at once. An alert is resolved only
after it was missing for HISTORY_RECONCILE_MISSING_POLLS consecutive polls (default 2), and a poll
counts as "missing" only when all of these hold:

- some replica answered both calls (a poll where none answered changes nothing, not even counters);
- no replica that answered lists it (the union over replicas: one lagging or restarted replica
  cannot hide an alert another one has);
- at least one replica that answered is *authoritative* for it: that replica has listed this alert
  since it (the replica) started, so it knew it and let go of it; or it has been up for longer than
  HISTORY_RECONCILE_STARTUP_GRACE_SECONDS (default 150 s, above Prometheus' 1 min resend interval:
  by then everything still firing has been sent to it again). Alertmanager keeps alerts in memory
  only, so a restarted replica is empty; its `uptime` (its start time) tells us not to trust its
  emptiness until the grace has passed;
- the alert was received before the poll began (a webhook racing the poll is not "missing").

A replica restart is noticed by its start time changing, which forgets what it had listed. If the
reconciler ever resolves an alert that Alertmanager lists again later with the same start, the alert
is reopened (`reconcileReopened` in its metadata, `d76_history_reopened_total`).

Several receivers on one database: one process reconciles at a time (a lease in `history_leases`);
every write is idempotent anyway (guarded updates, one open episode per alert and cause).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vocabulary import SEVERITIES, AlertStatus

from ..alertmanager_api import AlertmanagerClient, AlertmanagerError
from ..background import Periodic
from ..errors import StorageUnavailable
from ..payload import WebhookPayload
from ..store.base import AlertStore, Transaction, ms_floor, utcnow
from ..store.changes import AlertChange, IngestHook
from ..store.episodes import EpisodeCause, HistoryTables, PolledAlert
from .amview import merge_replicas, parse_am_alerts, parse_am_time
from .metrics import HistoryMetrics
from .settings import HistorySettings

__all__ = ["Reconciler", "PollResult", "ReconcileWorker"]

log = logging.getLogger("d76.history.reconcile")

Key = tuple[str, datetime]
# which recurring maintenance windows mute an alert with these labels at that time (their names)
MutedBy = Callable[[Mapping[str, str], datetime], Sequence[str]]
SEEN_PERSIST_SECONDS = 30.0  # how often `am_last_seen_at` is written for an alert Alertmanager still lists
SILENCE_REFRESH_SECONDS = 30.0
NOTIFIED_SEVERITIES = SEVERITIES


@dataclass
class _Replica:
    url: str
    index: int
    client: AlertmanagerClient
    started_at: datetime | None = None
    seen: set[Key] = field(default_factory=set)  # listed by this replica since it started


@dataclass
class _Answer:
    replica: _Replica
    alerts: list[PolledAlert] | None = None
    started_at: datetime | None = None
    error: str | None = None

    @property
    def listed(self) -> bool:
        return self.alerts is not None

    @property
    def authoritative_capable(self) -> bool:
        return self.alerts is not None and self.started_at is not None


@dataclass
class PollResult:
    at: datetime
    reachable: int = 0
    unreachable: int = 0
    resolved: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)  # alerts first stored from the poll
    episodes_opened: int = 0
    episodes_closed: int = 0
    skipped: str | None = None


_RECONCILE_PAYLOAD = WebhookPayload(status="resolved", receiver="d76-history-reconciler", group_key="",
                                    external_url="", truncated_alerts=0, alerts=[])


class Reconciler:
    """One poll at a time (`poll()`); the in-memory state (what each replica listed, missing counts)
    belongs to the process holding the reconcile lease."""

    def __init__(self, store: AlertStore, settings: HistorySettings, *, client: AlertmanagerClient | None = None,
                 hook: Callable[[], IngestHook] | None = None, metrics: HistoryMetrics | None = None,
                 now: Callable[[], datetime] = utcnow, windows: MutedBy | None = None) -> None:
        self.store = store
        self.settings = settings
        self.tables = HistoryTables(store)
        client = client or AlertmanagerClient(settings.alertmanager_urls, timeout=settings.reconcile_timeout_seconds)
        self.replicas = [_Replica(c.base_url, i, c) for i, c in enumerate(client.replicas())]
        self.hook: Callable[[], IngestHook | None] = hook or (lambda: None)
        self.metrics = metrics or HistoryMetrics()
        self.now = now
        self.windows = windows
        self.missing: dict[Key, int] = {}
        self._next_missing: dict[Key, int] = {}
        self.last_seen: dict[Key, datetime] = {}
        self.reported_ends: dict[Key, datetime] = {}
        self._silences: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._stored: dict[Key, dict[str, Any]] = {}

    # ---- asking Alertmanager -------------------------------------------------------------------------
    def _ask(self, r: _Replica) -> _Answer:
        ans = _Answer(r)
        try:
            raw = r.client.alerts()
        except AlertmanagerError as exc:
            ans.error = str(exc)
            return ans
        ans.alerts, bad = parse_am_alerts(raw)
        if bad:
            log.warning(
                "alertmanager listed malformed alerts; skipped", extra={"fields": {"replica": r.index, "skipped": bad}}
            )
        try:
            ans.started_at = parse_am_time(r.client.status().get("uptime"))
        except AlertmanagerError as exc:
            ans.error = f"status: {exc}"
        return ans

    def _silence(self, silence_id: str, answers: list[_Answer]) -> dict[str, Any] | None:
        cached = self._silences.get(silence_id)
        if cached is not None and time.monotonic() - cached[0] < SILENCE_REFRESH_SECONDS:
            return cached[1]
        found: dict[str, Any] | None = None
        for a in answers:
            if a.alerts is None or not any(silence_id in x.silenced_by for x in a.alerts):
                continue
            try:
                found = a.replica.client.silence(silence_id)
            except AlertmanagerError:
                continue
            if found is not None:
                break
        if found is None and cached is not None:
            return cached[1]  # keep what we knew while no replica answers
        self._silences[silence_id] = (time.monotonic(), found)
        return found

    def _muted(self, a: PolledAlert, at: datetime) -> Sequence[str]:
        return self.windows(a.labels, at) if self.windows is not None else ()

    def _ours(self, a: PolledAlert) -> bool:
        prefixes = self.settings.receiver_prefixes
        return "*" in prefixes or any(r.startswith(p) for r in a.receivers for p in prefixes)

    # ---- one poll --------------------------------------------------------------------------------------
    def poll(self) -> PollResult:
        started = self.now()
        answers = [self._ask(r) for r in self.replicas]
        listed = [a for a in answers if a.listed]
        res = PollResult(at=started, reachable=len(listed), unreachable=len(answers) - len(listed))
        for a in answers:
            self.metrics.replica_up.labels(str(a.replica.index)).set(1 if a.listed and a.error is None else 0)
        if not listed:
            res.skipped = "no Alertmanager replica answered"
            self.metrics.polls.labels("unreachable").inc()
            return res
        self.metrics.polls.labels("ok" if all(a.authoritative_capable for a in answers) else "partial").inc()
        for a in listed:
            r = a.replica
            if a.started_at is not None and a.started_at != r.started_at:
                r.started_at, r.seen = a.started_at, set()  # (re)started: what it had listed is gone
            r.seen.update(x.key for x in a.alerts or ())
        union = merge_replicas(a.alerts or [] for a in listed)
        silences = {sid: self._silence(sid, listed) for sid in {s for x in union.values() for s in x.silenced_by}}
        now = self.now()
        for key, polled in union.items():
            self.last_seen[key] = now
            if polled.ends_at is not None:
                self.reported_ends[key] = polled.ends_at
        self._next_missing = dict(self.missing)
        with self.store.transaction() as tx:
            tx.now = now
            self._reconcile(tx, res, started, now, listed, union)
            self._episodes(tx, res, now, union, silences)
        self.missing = self._next_missing  # counted only once the poll's writes committed
        self._forget(union)
        if res.resolved or res.reopened or res.stored or res.episodes_opened or res.episodes_closed:
            log.info("history reconciled", extra={"fields": {
                "resolved": res.resolved, "reopened": res.reopened, "stored_suppressed": res.stored,
                "episodes_opened": res.episodes_opened, "episodes_closed": res.episodes_closed,
                "replicas": res.reachable, "unreachable": res.unreachable}})
        return res

    def _authoritative(self, key: Key, listed: list[_Answer], now: datetime) -> bool:
        grace = timedelta(seconds=self.settings.reconcile_startup_grace_seconds)
        for a in listed:
            if not a.authoritative_capable:
                continue
            assert a.started_at is not None
            if now - a.started_at >= grace or key in a.replica.seen:
                return True
        return False

    def _reconcile(self, tx: Transaction, res: PollResult, started: datetime, now: datetime,
                   listed: list[_Answer], union: dict[Key, PolledAlert]) -> None:
        firing = self.tables.firing_alerts(tx)
        self._stored = {(r["fingerprint"], ms_floor(r["starts_at"])): r for r in firing}
        stale_seen: list[int] = []
        changes: list[AlertChange] = []
        missing = self._next_missing
        for key, row in self._stored.items():
            if key in union:
                missing.pop(key, None)
                seen_at = row.get("am_last_seen_at")
                if seen_at is None or (now - seen_at).total_seconds() >= SEEN_PERSIST_SECONDS:
                    stale_seen.append(int(row["id"]))
                continue
            if row["last_received_at"] >= started or not self._authoritative(key, listed, now):
                continue  # a webhook racing this poll, or nobody who would know
            n = missing[key] = missing.get(key, 0) + 1
            if n < self.settings.reconcile_missing_polls:
                continue
            last = max(x for x in (self.last_seen.get(key), row.get("am_last_seen_at"), row["last_received_at"],
                                   row["starts_at"]) if x is not None)
            ends = min(last, self.reported_ends[key]) if key in self.reported_ends else last
            ends = max(ends, row["starts_at"])
            done = self.tables.resolve_reconciled(tx, int(row["id"]), ends, self.last_seen.get(key))
            missing.pop(key, None)
            if done is None:
                continue
            res.resolved.append(int(row["id"]))
            self.metrics.reconciled.inc()
            if int(done.get("receive_count") or 0) > 0 and done["severity"] in NOTIFIED_SEVERITIES:
                # told by a webhook: tell its end the same way (not a heartbeat such as Watchdog,
                # severity "none": its end must not feed the dead man's switch)
                changes.append(_resolved_change(done))
        if stale_seen:
            self.tables.mark_seen(tx, stale_seen)
        if changes:
            hook = self.hook()
            if hook is not None:
                hook(tx, changes, _RECONCILE_PAYLOAD)
        # alerts Alertmanager has that are not firing in history: reconciled too early (reopen), or
        # suppressed from the start (store them)
        unknown = {k: a for k, a in union.items() if k not in self._stored and self._ours(a)}
        if not unknown:
            return
        known = self.tables.alerts_for(tx, unknown)
        for key, a in unknown.items():
            had = known.get(key)
            if had is not None:
                if had["status"] == AlertStatus.RESOLVED and had.get("reconciled_at") is not None:
                    if self.tables.reopen(tx, int(had["id"])):
                        res.reopened.append(int(had["id"]))
                        self.metrics.reopened.inc()
                        log.warning("alertmanager lists a reconciled alert again; reopened",
                                    extra={"fields": {"alert_id": had["id"], "alertname": had["alertname"]}})
                        self._stored[key] = had
                continue
            if not a.suppressed and not self._muted(a, now):
                continue  # its webhook is on the way (group_wait)
            new_id = self.tables.insert_polled(tx, a)
            if new_id is not None:
                res.stored.append(new_id)
                self.metrics.polled_alerts.inc()
                self._stored[key] = {"id": new_id, "fingerprint": a.fingerprint, "starts_at": ms_floor(a.starts_at)}

    def _episodes(self, tx: Transaction, res: PollResult, now: datetime, union: dict[Key, PolledAlert],
                  silences: dict[str, dict[str, Any] | None]) -> None:
        by_alert: dict[int, list[dict[str, Any]]] = {}
        for e in self.tables.open_episodes(tx):
            if e["alert_status"] != AlertStatus.FIRING:
                self.tables.close_episode(tx, int(e["id"]), e["alert_ends_at"] or now)
                res.episodes_closed += 1
            else:
                by_alert.setdefault(int(e["alert_id"]), []).append(e)
        firing_by_fp: dict[str, dict[str, Any]] = {}
        for stored in self._stored.values():
            prev = firing_by_fp.get(stored["fingerprint"])
            if prev is None or stored["starts_at"] > prev["starts_at"]:
                firing_by_fp[stored["fingerprint"]] = stored
        union_by_fp = {a.fingerprint: a for a in union.values()}
        for key, a in union.items():
            row = self._stored.get(key)
            if row is None:
                continue
            alert_id = int(row["id"])
            causes = [self._silence_cause(sid, silences.get(sid)) for sid in a.silenced_by]
            causes += [self._inhibit_cause(fp, firing_by_fp.get(fp), union_by_fp.get(fp)) for fp in a.inhibited_by]
            causes += [EpisodeCause("muted", name) for name in self._muted(a, now)]
            current = {(c.kind, c.cause) for c in causes}
            already: dict[tuple[str, str], dict[str, Any]] = {}
            for e in by_alert.get(alert_id, []):
                if (e["kind"], e["cause"]) not in current:
                    self.tables.close_episode(tx, int(e["id"]), now)
                    res.episodes_closed += 1
                else:
                    already[(e["kind"], e["cause"])] = e
            for c in causes:
                open_now = already.get((c.kind, c.cause))
                if open_now is not None and self.tables.episode_current(open_now, c):
                    continue  # open and up to date: no statement per suppressed alert per poll
                if self.tables.open_episode(tx, alert_id, c):
                    res.episodes_opened += 1
                    self.metrics.episodes.labels(c.kind).inc()

    @staticmethod
    def _silence_cause(silence_id: str, sil: dict[str, Any] | None) -> EpisodeCause:
        if not sil:
            return EpisodeCause("silenced", silence_id)
        return EpisodeCause("silenced", silence_id, silence_created_by=_text(sil.get("createdBy")),
                            silence_comment=_text(sil.get("comment"), 2000),
                            silence_starts_at=parse_am_time(sil.get("startsAt")),
                            silence_ends_at=parse_am_time(sil.get("endsAt")))

    @staticmethod
    def _inhibit_cause(fp: str, stored: dict[str, Any] | None, polled: PolledAlert | None) -> EpisodeCause:
        return EpisodeCause("inhibited", fp, inhibiting_alert_id=int(stored["id"]) if stored else None,
                            inhibiting_alertname=polled.alertname if polled else (stored or {}).get("alertname"),
                            inhibiting_labels=dict(polled.labels) if polled else None)

    def _forget(self, union: dict[Key, PolledAlert]) -> None:
        """Keep memory bounded: only keys still firing in history or listed now."""
        keep = set(self._stored) | set(union)
        for d in (self.missing, self.last_seen, self.reported_ends):
            for k in [k for k in d if k not in keep]:
                del d[k]
        for r in self.replicas:
            r.seen &= keep
        live = {s for a in union.values() for s in a.silenced_by}
        for sid in [s for s in self._silences if s not in live]:
            del self._silences[sid]


def _text(v: Any, limit: int = 200) -> str | None:
    from ..storable import clean_text

    return clean_text(str(v))[:limit] if v not in (None, "") else None


def _resolved_change(row: dict[str, Any]) -> AlertChange:
    meta = row.get("metadata") or {}
    return AlertChange(alert_id=int(row["id"]), kind="resolved", fingerprint=row["fingerprint"],
                       starts_at=row["starts_at"], status="resolved", alertname=row["alertname"],
                       severity=row["severity"], source=row["source"], labels=dict(row.get("labels") or {}),
                       annotations=dict(row.get("annotations") or {}), ends_at=row["ends_at"],
                       generator_url=str(meta.get("generatorURL") or ""))


class ReconcileWorker:
    """The background job (`background.Periodic`): polls every interval while holding the reconcile
    lease, the first poll at once."""

    LEASE = "reconcile"

    def __init__(self, reconciler: Reconciler, owner: str) -> None:
        self.reconciler = reconciler
        self.owner = owner
        self._worker: Periodic | None = None
        self._holding = False
        self._last_step: float | None = None
        self._last_error = 0.0

    def start(self) -> ReconcileWorker:
        self._worker = Periodic("history-reconcile", self._step, self._delay, log).start()
        return self

    def _delay(self) -> float:
        if self._last_step is None:
            return 0.0
        return self.reconciler.settings.reconcile_interval_seconds - (time.monotonic() - self._last_step)

    def _step(self) -> None:
        self._last_step = time.monotonic()
        try:
            self._holding = self.reconciler.tables.acquire_lease(self.LEASE, self.owner,
                                                                 self.reconciler.settings.lease_seconds)
            if self._holding:
                self.reconciler.poll()
        except StorageUnavailable as exc:
            self._quiet("storage unavailable; reconciliation waits", exc)
        except Exception as exc:  # one bad poll must not end reconciliation
            self._quiet("reconcile poll failed", exc, trace=True)

    def _quiet(self, what: str, exc: BaseException, trace: bool = False) -> None:
        now = time.monotonic()
        if now - self._last_error < 30:
            return
        self._last_error = now
        log.warning(what, exc_info=trace, extra={"fields": {"error": str(exc)[:200]}})

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop(10)
            self._worker = None
        if self._holding:
            try:
                self.reconciler.tables.release_lease(self.LEASE, self.owner)
            except Exception:
                pass
