"""A one-off mute (an Alertmanager silence: `/mute`, `d76 silence create`, a Silence button, the
Alertmanager UI) that runs out while alerts it covered still fire is told once: "mute on
exchange=upbit expired; 3 alerts still firing". Alertmanager says nothing then: an alert that was
notified before the silence is not notified again until its repeat interval (and the receiver never
retells a repeat), so without this the end of a maintenance nobody finished goes unnoticed.

Every `MUTE_EXPIRY_CHECK_SECONDS` the lease holder (`history_leases`, name `silence-watch`) lists the
silences and:

- records each silence in force it has not seen (`silence_watch`: id, matchers, who, why, its end);
- for each recorded silence Alertmanager now reports expired (or no longer knows): if it ran its
  course (its end is the one recorded, not moved earlier by someone ending it), counts the firing
  alerts it matches that no other silence holds, and in ONE transaction claims the row (`UPDATE ...
  WHERE state = 'active' RETURNING`) and queues the notice to the pager's chat (kind `reply`: a
  message of its own, paced like every other; `dedupe_key` `mute-expired:<id>`). Two receivers on one
  database therefore tell it once, and a restart in between neither loses nor repeats it.

States: `active` (watched), `told` (ran out, alerts still fired, told), `quiet` (ran out, nothing
left firing), `ended` (ended early by someone: they know). Settled rows go after 30 days.
"""
from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from vocabulary import NotificationKind

from ..alertmanager_api import AlertmanagerClient, AlertmanagerError
from ..background import Periodic
from ..errors import StorageUnavailable
from ..history.amview import parse_am_time
from ..store.base import AlertStore, Transaction, utcnow
from ..store.episodes import HistoryTables
from .channels.telegram.format import SEVERITY_EMOJI
from .commands import Matcher
from .maintenance import HEARTBEATS
from .model import AlertView, severity_rank
from .outbox import Lane, Outbox

__all__ = ["SilenceWatch", "expiry_text"]

log = logging.getLogger("d76.notify.silence_watch")

LEASE = "silence-watch"
KEEP = timedelta(days=30)
EARLY = timedelta(seconds=1)  # an end moved earlier than recorded by more than this: someone ended it
NAMED = 10  # alerts named in the notice


def expiry_text(matchers: Sequence[Mapping[str, Any]], firing: Sequence[Mapping[str, Any]], *,
                created_by: str | None, comment: str | None, mute_id: int | None) -> str:
    """The notice (Telegram HTML): the scope, how many alerts still fire, the most severe named."""
    scope = " ".join(str(Matcher.from_am(m)) for m in matchers)
    n = len(firing)
    lines = [f"🔔 <b>mute on <code>{html.escape(scope[:200])}</code> expired; {n} alert{'s' if n != 1 else ''} "
             f"still firing</b>"]
    views = sorted((AlertView.from_row({"labels": a.get("labels") or {}, "annotations": a.get("annotations") or {},
                                        "starts_at": a.get("startsAt")}) for a in firing),
                   key=lambda v: (severity_rank(v.severity), v.alertname, v.identity()))
    for v in views[:NAMED]:
        lines.append(f"{SEVERITY_EMOJI.get(v.severity, '🔔')} [{html.escape(v.severity or '?')}] "
                     f"<code>{html.escape(v.alertname[:80])}</code> {html.escape(v.identity(60))}")
    if n > NAMED:
        lines.append(f"<i>… and {n - NAMED} more: /alerts</i>")
    what = f"maintenance window #{mute_id}" if mute_id is not None else "silence"
    lines.append(f"<i>{what} by {html.escape((created_by or '?')[:64])}"
                 + (f" — {html.escape(comment[:200])}" if comment else "")
                 + ". Alertmanager does not page these again until their repeat interval: /ack or /mute them.</i>")
    return "\n".join(lines)


class SilenceWatch:
    def __init__(self, store: AlertStore, outbox: Outbox, alertmanager: AlertmanagerClient, lane: Lane,
                 owner: str, *, interval: float = 10.0, lease_seconds: float = 30.0,
                 on_queued: Callable[[], None] | None = None, now: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.outbox = outbox
        self.alertmanager = alertmanager
        self.lane = lane
        self.owner = owner
        self.interval = interval
        self.lease_seconds = max(lease_seconds, 3 * interval)
        self.on_queued = on_queued
        self.now = now
        self.tables = HistoryTables(store)
        self._worker: Periodic | None = None
        self._last: float | None = None
        self._last_error = 0.0

    # the job ------------------------------------------------------------------------------------------
    def start(self) -> SilenceWatch:
        self._worker = Periodic("silence-watch", self._step, self._delay, log).start()
        return self

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop(5)
            self._worker = None
        try:
            self.tables.release_lease(LEASE, self.owner)
        except Exception:
            pass

    def _delay(self) -> float:
        return 0.0 if self._last is None else self.interval - (time.monotonic() - self._last)

    def _step(self) -> None:
        self._last = time.monotonic()
        try:
            if self.tables.acquire_lease(LEASE, self.owner, self.lease_seconds):
                self.check()
        except (AlertmanagerError, StorageUnavailable) as exc:
            if time.monotonic() - self._last_error > 60:
                self._last_error = time.monotonic()
                log.warning("silence watch skipped", extra={"fields": {"error": str(exc)[:200]}})

    # one look -----------------------------------------------------------------------------------------
    def check(self) -> int:
        """Record new silences, settle the ones that ended; returns how many notices were queued."""
        silences = {str(s.get("id")): s for s in self.alertmanager.silences() if s.get("id")}
        now = self.now()
        d = self.store.dialect
        with self.store.transaction() as tx:
            watched = {str(r["silence_id"]): r for r in tx.fetchall(
                "SELECT silence_id, ends_at, matchers, created_by, comment FROM silence_watch WHERE state = 'active'")}
            for sid, s in silences.items():
                if (s.get("status") or {}).get("state") == "active" and sid not in watched:
                    self._record(tx, sid, s, now)
            tx.execute("DELETE FROM silence_watch WHERE state <> 'active' AND settled_at < %s",
                       (d.time_in(now - KEEP),))
        ended: dict[str, tuple[dict[str, Any], Mapping[str, Any] | None]] = {}
        for sid, row in watched.items():
            found = silences.get(sid)
            state = (found or {}).get("status", {}).get("state")
            if state == "active" or state == "pending":
                end = parse_am_time((found or {}).get("endsAt"))
                if end is not None and end != d.time_out(row["ends_at"]):  # extended (or shortened) in place
                    with self.store.transaction() as tx:
                        tx.execute("UPDATE silence_watch SET ends_at = %s WHERE silence_id = %s",
                                   (d.time_in(end), sid))
                continue
            ended[sid] = (row, found)
        if not ended:
            return 0
        alerts = self.alertmanager.alerts()
        told = 0
        for sid, (row, gone) in ended.items():
            told += self._settle(sid, row, gone, alerts, now)
        if told and self.on_queued is not None:
            self.on_queued()
        return told

    def _record(self, tx: Transaction, sid: str, s: Mapping[str, Any], now: datetime) -> None:
        d = self.store.dialect
        end = parse_am_time(s.get("endsAt"))
        if end is None:
            return
        tx.execute("INSERT INTO silence_watch (silence_id, matchers, created_by, comment, ends_at, first_seen_at) "
                   "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (silence_id) DO NOTHING",
                   (sid, d.json_in(s.get("matchers") or []), str(s.get("createdBy") or "")[:200] or None,
                    str(s.get("comment") or "")[:2000] or None, d.time_in(end), d.time_in(now)))

    def _settle(self, sid: str, row: Mapping[str, Any], s: Mapping[str, Any] | None,
                alerts: Sequence[Mapping[str, Any]], now: datetime) -> int:
        d = self.store.dialect
        recorded = d.time_out(row["ends_at"])
        assert recorded is not None
        end = parse_am_time((s or {}).get("endsAt")) if s is not None else None
        # ran its course: Alertmanager's end is the one we recorded (not moved earlier by an expire),
        # or Alertmanager forgot it after its end had passed
        natural = (end is not None and end >= recorded - EARLY) or (s is None and recorded <= now + EARLY)
        matchers = d.json_out(row["matchers"]) or []
        firing = self._still_firing(matchers, alerts) if natural else []
        state = "told" if firing else ("quiet" if natural else "ended")
        with self.store.transaction() as tx:
            claimed = tx.fetchone("UPDATE silence_watch SET state = %s, settled_at = %s, still_firing = %s "
                                  "WHERE silence_id = %s AND state = 'active' RETURNING silence_id",
                                  (state, d.time_in(now), len(firing), sid))
            if claimed is None or not firing:
                return 0
            mute = tx.fetchone("SELECT id FROM maintenance_windows WHERE silence_id = %s ORDER BY id DESC LIMIT 1",
                               (sid,))
            text = expiry_text(matchers, firing, created_by=row["created_by"], comment=row["comment"],
                               mute_id=int(mute["id"]) if mute else None)
            n = self.outbox.enqueue(tx, [{"channel": self.lane.channel, "destination": self.lane.destination,
                                          "kind": NotificationKind.REPLY, "dedupe_key": f"mute-expired:{sid}",
                                          "payload": {"text": text}}])
        log.info("silence ran out while its alerts fire", extra={"fields": {
            "silence_id": sid, "still_firing": len(firing), "told": bool(n)}})
        return n

    @staticmethod
    def _still_firing(matchers: Sequence[Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]]
                      ) -> list[Mapping[str, Any]]:
        """The alerts Alertmanager holds that the silence matched and no other silence holds now."""
        ms = [Matcher.from_am(m) for m in matchers if isinstance(m, Mapping)]
        out = []
        for a in alerts:
            labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
            status = a.get("status") or {}
            if not ms or labels.get("alertname") in HEARTBEATS or status.get("silencedBy"):
                continue
            if all(m.matches(labels) for m in ms):
                out.append(a)
        return out
