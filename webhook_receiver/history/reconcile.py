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

What a poll costs at rest. A poll reads each replica's answer as bytes and decodes only what decides
a change (`amview.signatures`: fingerprint, start, state, silencedBy, inhibitedBy, receivers; msgspec
into frozen structs). When every replica's signatures and start time equal the last poll's, the last
full poll left nothing pending (every stored firing alert listed, nothing missing), the stored
firing alerts are the same (`HistoryTables.firing_digest`: count, sum and largest id, one indexed
read), the maintenance windows in force are the same (`window_state`) and no silence's author,
comment or times changed (each still refreshed every 30 s), the poll is *unchanged*: nothing else is
parsed, read or compared, and the worker waits two intervals before the next one (a change is still
seen within two intervals). Anything else takes the full poll described above. What an unchanged
poll skips is caught up by the next full one: an alert that left the listing was last seen at the
last poll that listed it, with the `endsAt` that poll's bytes reported (kept for that), and
`am_last_seen_at` is still written every 30 s for the alerts listed.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from vocabulary import SEVERITIES, AlertStatus

from ..alertmanager_api import AlertmanagerClient, AlertmanagerError
from ..background import Periodic
from ..errors import StorageUnavailable
from ..payload import WebhookPayload
from ..store.base import AlertStore, Transaction, ms_floor, utcnow
from ..store.changes import AlertChange, IngestHook
from ..store.episodes import EpisodeCause, HistoryTables, PolledAlert
from .amview import AmSignature, ParsedAlerts, decode_am_alerts, end_times, merge_replicas, parse_am_time, signatures
from .metrics import HistoryMetrics
from .settings import HistorySettings

__all__ = ["Reconciler", "PollResult", "ReconcileWorker"]

log = logging.getLogger("d76.history.reconcile")

Key = tuple[str, datetime]
# which recurring maintenance windows mute an alert with these labels at that time (their names)
MutedBy = Callable[[Mapping[str, str], datetime], Sequence[str]]
# the names of the windows in force at a time (empty: none, so nothing is muted): it changes whenever
# a window opens or closes. Without it, a reconciler given windows compares every poll in full.
WindowState = Callable[[datetime], tuple[str, ...]]
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
    parsed: ParsedAlerts = field(default_factory=ParsedAlerts)  # its alerts fully read, by signature


@dataclass
class _Answer:
    replica: _Replica
    raw: bytes | None = None  # the answer to /api/v2/alerts (None: no answer)
    signatures: tuple[AmSignature, ...] | None = None  # None: not the usual shape, compare in full
    started_at: datetime | None = None
    error: str | None = None
    parsed: list[PolledAlert] | None = None

    @property
    def listed(self) -> bool:
        return self.raw is not None

    @property
    def alerts(self) -> list[PolledAlert] | None:
        """The full reading, made when a poll compares in full (not on an unchanged poll)."""
        if self.raw is None:
            return None
        if self.parsed is None:
            if self.signatures is not None:
                self.parsed, bad = self.replica.parsed.read(self.raw, self.signatures)
            else:
                got = decode_am_alerts(self.raw)
                self.parsed, bad = got if got is not None else ([], 1)
            if bad:
                log.warning("alertmanager listed malformed alerts; skipped",
                            extra={"fields": {"replica": self.replica.index, "skipped": bad}})
        return self.parsed

    @property
    def authoritative_capable(self) -> bool:
        return self.raw is not None and self.started_at is not None


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
    unchanged: bool = False  # nothing changed since the last poll: nothing compared beyond the signatures


_RECONCILE_PAYLOAD = WebhookPayload(status="resolved", receiver="d76-history-reconciler", group_key="",
                                    external_url="", truncated_alerts=0, alerts=[])


class Reconciler:
    """One poll at a time (`poll()`); the in-memory state (what each replica listed, missing counts)
    belongs to the process holding the reconcile lease."""

    def __init__(self, store: AlertStore, settings: HistorySettings, *, client: AlertmanagerClient | None = None,
                 hook: Callable[[], IngestHook] | None = None, metrics: HistoryMetrics | None = None,
                 now: Callable[[], datetime] = utcnow, windows: MutedBy | None = None,
                 window_state: WindowState | None = None) -> None:
        self.store = store
        self.settings = settings
        self.tables = HistoryTables(store)
        client = client or AlertmanagerClient(settings.alertmanager_urls, timeout=settings.reconcile_timeout_seconds)
        self.replicas = [_Replica(c.base_url, i, c) for i, c in enumerate(client.replicas())]
        self.hook: Callable[[], IngestHook | None] = hook or (lambda: None)
        self.metrics = metrics or HistoryMetrics()
        self.now = now
        self.windows = windows
        self.window_state = window_state
        self.missing: dict[Key, int] = {}
        self._next_missing: dict[Key, int] = {}
        self.last_seen: dict[Key, datetime] = {}
        self.reported_ends: dict[Key, datetime] = {}
        self._silences: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._stored: dict[Key, dict[str, Any]] = {}
        self._rows: dict[int, dict[str, Any]] | None = None  # the stored firing alerts kept, by id (None: read all)
        self._seen_now: list[int] = []  # whose `am_last_seen_at` the poll in progress writes
        self._dropped = False  # the poll in progress found stored alerts no longer firing
        # what the last poll saw, to tell an unchanged poll (see the module docstring)
        self._view: tuple[Hashable, ...] | None = None  # per replica: answered, start time, signatures
        self._view_at: datetime | None = None  # the last poll that saw that view
        self._view_raw: list[bytes] = []  # its answers' bytes (the end times of alerts that leave)
        self._union_keys: set[Key] = set()
        self._digest: tuple[int, int, int] | None = None
        self._windows_in_force: tuple[str, ...] | None = None
        self._settled = False  # the last full poll left nothing pending
        self._in_force: tuple[str, ...] | None = None  # the windows in force during the poll in progress
        self._seen_written: datetime | None = None  # the oldest `am_last_seen_at` of those

    # ---- asking Alertmanager -------------------------------------------------------------------------
    def _ask(self, r: _Replica) -> _Answer:
        ans = _Answer(r)
        try:
            raw = r.client.alerts_raw()
        except AlertmanagerError as exc:
            ans.error = str(exc)
            return ans
        sigs = signatures(raw)
        if sigs is None:  # not the usual shape: read it in full now (not a list at all is no answer)
            got = decode_am_alerts(raw)
            if got is None:
                ans.error = "alertmanager: /api/v2/alerts did not answer a JSON list"
                return ans
            ans.parsed = got[0]
            if got[1]:
                log.warning("alertmanager listed malformed alerts; skipped",
                            extra={"fields": {"replica": r.index, "skipped": got[1]}})
        ans.raw, ans.signatures = raw, sigs
        try:
            ans.started_at = parse_am_time(r.client.status().get("uptime"))
        except AlertmanagerError as exc:
            ans.error = f"status: {exc}"
        return ans

    def _silence(self, silence_id: str, answers: list[_Answer], refresh: bool = False) -> dict[str, Any] | None:
        """The silence's details (author, comment, times) from the first replica that knows it, cached
        for SILENCE_REFRESH_SECONDS (silences gossip: every replica has the same)."""
        cached = self._silences.get(silence_id)
        if cached is not None and not refresh and time.monotonic() - cached[0] < SILENCE_REFRESH_SECONDS:
            return cached[1]
        found: dict[str, Any] | None = None
        for a in answers:
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

    def _silences_changed(self, answers: list[_Answer]) -> bool:
        """Refresh the cached silences that are due; True when one's author, comment or times changed
        (an extended silence), which an unchanged listing does not show."""
        changed = False
        for sid, (at, old) in list(self._silences.items()):
            if time.monotonic() - at < SILENCE_REFRESH_SECONDS:
                continue
            if _silence_facts(self._silence(sid, answers, refresh=True)) != _silence_facts(old):
                changed = True
        return changed

    def _muted(self, a: PolledAlert, at: datetime) -> Sequence[str]:
        if self.windows is None or self._in_force == ():
            return ()  # no window configured, or none in force now
        return self.windows(a.labels, at)

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
        view = tuple((a.listed, a.started_at, a.signatures) for a in answers)
        now = self.now()
        if self._unchanged(view, listed, now):
            res.unchanged = True
            self.metrics.unchanged_polls.inc()
            self._view_at, self._view_raw = now, [a.raw for a in listed if a.raw is not None]
            self._write_seen(now)
            return res
        self._full(res, started, now, answers, listed, view)
        return res

    def forget_view(self) -> None:
        """Compare the next poll in full and read every stored firing alert again (this process has
        just taken the lease: another may have reconciled meanwhile)."""
        self._settled = False
        self._rows = None

    def _unchanged(self, view: tuple[Hashable, ...], listed: list[_Answer], now: datetime) -> bool:
        if not self._settled or view != self._view or any(a.signatures is None for a in listed):
            return False
        if self.windows is not None and (self.window_state is None or self.window_state(now) != self._windows_in_force):
            return False
        with self.store.transaction(write=False) as tx:
            if self.tables.firing_digest(tx) != self._digest:
                return False
        return not self._silences_changed(listed)

    def _write_seen(self, now: datetime) -> None:
        """`am_last_seen_at` of the alerts still listed, every SEEN_PERSIST_SECONDS (one statement)."""
        if self._seen_written is not None and (now - self._seen_written).total_seconds() < SEEN_PERSIST_SECONDS:
            return
        ids = self._listed_ids(self._stored.keys() & self._union_keys)
        if ids:
            with self.store.transaction() as tx:
                tx.now = now
                self.tables.mark_seen(tx, ids)
        self._seen_written = now
        if self._rows is not None:
            for alert_id in ids:
                if alert_id in self._rows:
                    self._rows[alert_id]["am_last_seen_at"] = now

    def _listed_ids(self, keys: set[Key]) -> list[int]:
        return [int(self._stored[k]["id"]) for k in keys]

    def _full(self, res: PollResult, started: datetime, now: datetime, answers: list[_Answer],
              listed: list[_Answer], view: tuple[Hashable, ...]) -> None:
        self._settled = False
        for a in listed:
            r = a.replica
            if a.started_at is not None and a.started_at != r.started_at:
                r.started_at, r.seen = a.started_at, set()  # (re)started: what it had listed is gone
            r.seen.update(_keys(a.alerts or ()))
        union = _union(listed)
        gone = self._union_keys - union.keys()
        ends_seen: dict[Key, datetime] = {}
        if gone and self._view_at is not None:
            # the last poll that listed these was the last one: when they were last seen, with the end
            # its bytes reported (the latest over the replicas)
            fps = {fp for fp, _ in gone}
            for raw in self._view_raw:
                for key, end in end_times(raw, fps).items():
                    if key in gone and (key not in ends_seen or end > ends_seen[key]):
                        ends_seen[key] = end
            for key in gone:
                self.last_seen[key] = self._view_at
            self.reported_ends.update(ends_seen)
        suppressed = [a for a in union.values() if a.silenced_by or a.inhibited_by]
        silences = {sid: self._silence(sid, listed) for sid in {s for x in suppressed for s in x.silenced_by}}
        self._next_missing = dict(self.missing)
        windows_in_force = self._in_force = self.window_state(now) if self.window_state is not None else None
        try:
            with self.store.transaction() as tx:
                tx.now = now
                digest = self.tables.firing_digest(tx)
                pending = self._reconcile(tx, res, started, now, listed, union)
                self._episodes(tx, res, now, union, suppressed, silences)
        except BaseException:
            self._rows = None  # what was kept may hold this poll's rolled-back writes: read all next time
            raise
        if self._rows is not None:
            for alert_id in self._seen_now:
                if alert_id in self._rows:
                    self._rows[alert_id]["am_last_seen_at"] = now
        self.missing = self._next_missing  # counted only once the poll's writes committed
        self._forget(union, silences, everything=bool(gone) or self._dropped)
        self._view, self._view_at = view, now
        self._view_raw = [a.raw for a in listed if a.raw is not None]
        self._union_keys = set(union)
        self._digest, self._windows_in_force = digest, windows_in_force
        self._settled = not pending and not self.missing
        if res.resolved or res.reopened or res.stored or res.episodes_opened or res.episodes_closed:
            log.info("history reconciled", extra={"fields": {
                "resolved": res.resolved, "reopened": res.reopened, "stored_suppressed": res.stored,
                "episodes_opened": res.episodes_opened, "episodes_closed": res.episodes_closed,
                "replicas": res.reachable, "unreachable": res.unreachable}})

    def _read_firing(self, tx: Transaction) -> tuple[list[dict[str, Any]], bool]:
        """`_stored`: the stored firing alerts by key, read in full once, then by what changed (the ids
        firing now against those kept: the rows of new ones read, the ended ones dropped). Returns the
        rows read and whether that was all of them."""
        if self._rows is None:
            rows = self.tables.firing_alerts(tx)
            self._dropped = True
            self._rows = {int(r["id"]): r for r in rows}
            self._stored = {_row_key(r): r for r in rows}
            return rows, True
        ids = self.tables.firing_ids(tx)
        self._dropped = bool(self._rows.keys() - ids)
        for alert_id in self._rows.keys() - ids:
            row = self._rows.pop(alert_id)
            if self._stored.get(_row_key(row)) is row:
                del self._stored[_row_key(row)]
        if len(self._stored) != len(self._rows):  # what the last poll stored or reopened itself: read below
            for key in [k for k, r in self._stored.items() if int(r["id"]) not in self._rows]:
                del self._stored[key]
        added = sorted(ids - self._rows.keys())
        rows = self.tables.firing_alerts(tx, added) if added else []
        for row in rows:
            self._rows[int(row["id"])] = row
            self._stored[_row_key(row)] = row
        return rows, False

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
                   listed: list[_Answer], union: dict[Key, PolledAlert]) -> bool:
        """Returns whether something is pending: a stored firing alert that no replica lists and that
        is still firing after this poll (missing, or not yet counted as missing)."""
        read, everything = self._read_firing(tx)
        stored = self._stored
        pending = False
        changes: list[AlertChange] = []
        missing = self._next_missing
        for key in missing.keys() & union.keys():
            del missing[key]
        listed_keys = stored.keys() & union.keys()
        # `am_last_seen_at` of the listed alerts: those read now whose mark is missing or older than
        # SEEN_PERSIST_SECONDS, and every one of them once the oldest mark is that old
        due = self._seen_written is not None and (now - self._seen_written).total_seconds() >= SEEN_PERSIST_SECONDS
        stale_seen: list[int] = []
        oldest = now
        for row in (stored[k] for k in listed_keys) if everything else read:
            if not everything and _row_key(row) not in union:
                continue
            seen_at = row.get("am_last_seen_at")
            if due or seen_at is None or (now - seen_at).total_seconds() >= SEEN_PERSIST_SECONDS:
                stale_seen.append(int(row["id"]))
            elif everything:
                oldest = min(oldest, seen_at)
        if due:
            stale_seen = self._listed_ids(listed_keys)
        if everything or due:
            self._seen_written = oldest
        unlisted: list[tuple[Key, int]] = []
        for key in stored.keys() - listed_keys:
            pending = True
            if self._authoritative(key, listed, now):
                unlisted.append((key, int(stored[key]["id"])))
        # what decides a resolve is read afresh (a webhook may have renewed them since they were kept)
        fresh = {int(r["id"]): r for r in self.tables.firing_alerts(tx, [i for _, i in unlisted])} if unlisted else {}
        for key, alert_id in unlisted:
            cur = fresh.get(alert_id)
            if cur is None or cur["last_received_at"] >= started:
                continue  # resolved meanwhile, or a webhook racing this poll
            n = missing[key] = missing.get(key, 0) + 1
            if n < self.settings.reconcile_missing_polls:
                continue
            last = max(x for x in (self.last_seen.get(key), cur.get("am_last_seen_at"), cur["last_received_at"],
                                   cur["starts_at"]) if x is not None)
            ends = min(last, self.reported_ends[key]) if key in self.reported_ends else last
            ends = max(ends, cur["starts_at"])
            done = self.tables.resolve_reconciled(tx, alert_id, ends, self.last_seen.get(key))
            missing.pop(key, None)
            if done is None:
                continue
            res.resolved.append(alert_id)
            self.metrics.reconciled.inc()
            if int(done.get("receive_count") or 0) > 0 and done["severity"] in NOTIFIED_SEVERITIES:
                # told by a webhook: tell its end the same way (not a heartbeat such as Watchdog,
                # severity "none": its end must not feed the dead man's switch)
                changes.append(_resolved_change(done))
        if stale_seen:
            self.tables.mark_seen(tx, stale_seen)
        self._seen_now = stale_seen
        if changes:
            hook = self.hook()
            if hook is not None:
                hook(tx, changes, _RECONCILE_PAYLOAD)
        # alerts Alertmanager has that are not firing in history: reconciled too early (reopen), or
        # suppressed from the start (store them)
        unknown = {k: union[k] for k in union.keys() - self._stored.keys() if self._ours(union[k])}
        if not unknown:
            return pending
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
        return pending

    def _episodes(self, tx: Transaction, res: PollResult, now: datetime, union: dict[Key, PolledAlert],
                  suppressed: list[PolledAlert], silences: dict[str, dict[str, Any] | None]) -> None:
        by_alert: dict[int, list[dict[str, Any]]] = {}
        for e in self.tables.open_episodes(tx):
            if e["alert_status"] != AlertStatus.FIRING:
                self.tables.close_episode(tx, int(e["id"]), e["alert_ends_at"] or now)
                res.episodes_closed += 1
            else:
                by_alert.setdefault(int(e["alert_id"]), []).append(e)
        # which listed alerts may have an episode to open or close: the suppressed ones, those with one
        # open, and every one while a maintenance window is in force (the others have nothing to write)
        if self.windows is not None and self._in_force != ():
            candidates: list[tuple[Key, PolledAlert]] = list(union.items())
        else:
            keys = {a.key for a in suppressed}
            candidates = [(a.key, a) for a in suppressed]
            candidates += [(k, union[k]) for k in self._open_keys(by_alert) - keys if k in union]
        inhibitors = {fp for _, a in candidates for fp in a.inhibited_by}
        firing_by_fp: dict[str, dict[str, Any]] = {}
        union_by_fp: dict[str, PolledAlert] = {}
        if inhibitors:
            for stored in self._stored.values():
                if stored["fingerprint"] not in inhibitors:
                    continue
                prev = firing_by_fp.get(stored["fingerprint"])
                if prev is None or stored["starts_at"] > prev["starts_at"]:
                    firing_by_fp[stored["fingerprint"]] = stored
            union_by_fp = {a.fingerprint: a for a in union.values() if a.fingerprint in inhibitors}
        for key, a in candidates:
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

    def _open_keys(self, by_alert: Mapping[int, list[dict[str, Any]]]) -> set[Key]:
        """The keys of the stored firing alerts that have an open episode."""
        rows = self._rows or {}
        out = {_row_key(rows[i]) for i in by_alert if i in rows}
        if len(out) < len(by_alert):  # rows not kept (stored or reopened by this poll): look them up
            wanted = set(by_alert) - rows.keys()
            out.update(k for k, r in self._stored.items() if int(r["id"]) in wanted)
        return out

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

    def _forget(self, union: dict[Key, PolledAlert], silences: Mapping[str, Any], everything: bool) -> None:
        """Keep memory bounded: only keys still firing in history or listed now (when an alert left the
        listing or history's firing ones: else there is nothing to drop), and the silences in use."""
        for sid in [s for s in self._silences if s not in silences]:
            del self._silences[sid]
        if not everything:
            return
        keep = self._stored.keys() | union.keys()
        for d in (self.missing, self.last_seen, self.reported_ends):
            for k in [k for k in d if k not in keep]:
                del d[k]
        for r in self.replicas:
            r.seen &= keep


def _row_key(row: Mapping[str, Any]) -> Key:
    return (row["fingerprint"], ms_floor(row["starts_at"]))


_KEY = attrgetter("key")


def _keys(alerts: Sequence[PolledAlert]) -> Iterator[Key]:
    return map(_KEY, alerts)


def _union(listed: list[_Answer]) -> dict[Key, PolledAlert]:
    """`merge_replicas` over the answers; when every replica listed the same signatures (a settled
    cluster), the first one's alerts are the union (what merging adds is in the signatures)."""
    first = listed[0]
    if len(listed) == 1 or (first.signatures is not None and all(a.signatures == first.signatures for a in listed)):
        alerts = first.alerts or []
        return dict(zip(_keys(alerts), alerts))
    return merge_replicas(a.alerts or [] for a in listed)


def _silence_facts(sil: dict[str, Any] | None) -> tuple[Any, ...]:
    """What an episode records of a silence (`Reconciler._silence_cause`)."""
    if not sil:
        return ()
    return tuple(sil.get(k) for k in ("createdBy", "comment", "startsAt", "endsAt"))


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
    lease, the first poll at once; after an unchanged poll it waits two intervals (a change is still
    seen within two intervals of happening)."""

    LEASE = "reconcile"

    def __init__(self, reconciler: Reconciler, owner: str) -> None:
        self.reconciler = reconciler
        self.owner = owner
        self._worker: Periodic | None = None
        self._holding = False
        self._last_step: float | None = None
        self._last_error = 0.0
        self._backoff = False

    def start(self) -> ReconcileWorker:
        self._worker = Periodic("history-reconcile", self._step, self._delay, log).start()
        return self

    def _delay(self) -> float:
        if self._last_step is None:
            return 0.0
        interval = self.reconciler.settings.reconcile_interval_seconds * (2 if self._backoff else 1)
        return interval - (time.monotonic() - self._last_step)

    def _step(self) -> None:
        self._last_step = time.monotonic()
        self._backoff = False
        try:
            held = self._holding
            self._holding = self.reconciler.tables.acquire_lease(self.LEASE, self.owner,
                                                                 self.reconciler.settings.lease_seconds)
            if self._holding:
                if not held:
                    self.reconciler.forget_view()
                self._backoff = self.reconciler.poll().unchanged
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
