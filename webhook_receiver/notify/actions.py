"""Acknowledge, silence, mute: one path for the HTTP API, the Telegram buttons and commands.

An acknowledgement is ownership: it records who, when and an optional comment (an event in
`alert_ack_events`), cancels the alert's due reminders and escalation steps, and holds until the
alert resolves or someone unacknowledges it (`unacknowledge`: the alert is nobody's again and its
reminders and escalation chain are armed again, in the same transaction). A comment on an alert
already acknowledged is kept (an event) and shown by its messages (the latest comment).

Each action records itself in the history and queues the edits of the messages that told the alert
IN THE SAME TRANSACTION (an `ack` row per lane that told it; a `refresh` of each sent message for a
silence), then wakes the dispatcher. The edits go through the outbox like everything else, so they
are paced, retried and survive a restart; nothing reads HTTP responses back to find out what happened.

A maintenance window (`/mute exchange=upbit 2h reason`) is an Alertmanager silence with the given
matchers, recorded in `maintenance_windows` with who opened it and why, and who ended it (`unmute`,
or `unsilence` of its silence).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vocabulary import AlertStatus, NotificationKind

from ..alertmanager_api import AlertmanagerClient, AlertmanagerError
from ..errors import NotFoundError
from ..store.base import AlertStore, Transaction
from ..store.ownership import ACK, COMMENT, UNACK, OwnershipTables
from ..timefmt import as_utc
from .channels.base import Channel
from .commands import Matcher
from .followups import FollowupPlanner, nudge_refreshes
from .model import AlertView
from .outbox import Outbox

__all__ = ["AlertActions", "ActionError", "Mute"]

log = logging.getLogger("d76.notify.actions")
K = NotificationKind


class ActionError(Exception):
    """An action could not be done (Alertmanager refused or unreachable); the text is for the user."""


@dataclass(frozen=True)
class Mute:
    """One maintenance window as recorded in the history."""

    id: int
    silence_id: str
    matchers: list[dict[str, Any]]
    created_by: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None = None
    ended_by: str | None = None

    def active(self, now: datetime | None = None) -> bool:
        return self.ended_at is None and self.ends_at > (now or datetime.now(UTC))

    def scope(self) -> str:
        return " ".join(str(Matcher.from_am(m)) for m in self.matchers)


@dataclass(frozen=True)
class AckResult:
    """`changed`: this call acknowledged (or unacknowledged) it; `comment_added`: its comment was kept
    on an alert someone already owned."""

    changed: bool
    alert: dict[str, Any]
    comment_added: bool = False


class AlertActions:
    def __init__(self, store: AlertStore, outbox: Outbox, channels: Mapping[str, Channel] | None = None,
                 alertmanager: AlertmanagerClient | None = None,
                 on_queued: Callable[[], None] | None = None, followups: FollowupPlanner | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.channels = dict(channels or {})
        self.alertmanager = alertmanager
        self.on_queued = on_queued
        self.followups = followups  # re-arms reminders and escalation on unack
        self.ownership = OwnershipTables(store)

    def _wake(self) -> None:
        if self.on_queued is not None:
            self.on_queued()

    # acknowledgements ---------------------------------------------------------------------------
    def _queue_ack(self, tx: Transaction, alert_id: int, severity: str | None, tag: str) -> int:
        """An edit of each message that told the alert (`tag`: the event, so each is queued once)."""
        lanes = tx.fetchall("SELECT DISTINCT channel, destination FROM notifications WHERE alert_id = %s "
                            "AND kind = 'firing' AND status <> 'failed'", (alert_id,))
        rows = [{"alert_id": alert_id, "channel": r["channel"], "destination": r["destination"], "kind": K.ACK,
                 "severity": severity, "dedupe_key": f"{alert_id}:{r['channel']}:{r['destination']}:ack:{tag}"}
                for r in lanes if r["channel"] in self.channels]
        rows += nudge_refreshes(tx, [alert_id], self.channels, f"ack:{tag}")  # reminders and escalations too
        return self.outbox.enqueue(tx, rows) if rows else 0

    def _own(self, tx: Transaction, alert_id: int, by: str, comment: str | None, at: datetime | None) -> AckResult:
        """Acknowledge inside `tx`: the follow-ups first (the follow-up worker locks them before the
        alert rows too), then the alert, the event and the edits."""
        cancelled = self.ownership.cancel(tx, alert_id, f"acknowledged by {by}")
        changed = self.store.ack_alert(alert_id, by, comment, at, tx=tx)
        alert = self.store.get_alert(alert_id, tx)
        assert alert is not None
        if changed:
            event = self.ownership.add_event(tx, alert_id, ACK, by, comment, at)
            if comment:
                self.ownership.set_comment(tx, alert_id, by, comment)
            self._queue_ack(tx, alert_id, alert["severity"], str(event))
            return AckResult(True, self.store.get_alert(alert_id, tx) or alert)
        if cancelled:  # owned already: nothing was due (kept for a row armed by a racing ingest)
            log.info("follow-ups of an acknowledged alert cancelled", extra={"fields": {"alert_id": alert_id}})
        if comment:
            event = self.ownership.add_event(tx, alert_id, COMMENT, by, comment, at)
            self.ownership.set_comment(tx, alert_id, by, comment)
            self._queue_ack(tx, alert_id, alert["severity"], str(event))
            return AckResult(False, self.store.get_alert(alert_id, tx) or alert, comment_added=True)
        return AckResult(False, alert)

    def acknowledge(self, alert_id: int, by: str, comment: str | None = None, at: datetime | None = None) -> AckResult:
        """First acknowledgement wins; a later one with a comment adds the comment. Raises
        NotFoundError for an unknown id."""
        with self.store.transaction() as tx:
            if self.store.get_alert(alert_id, tx) is None:
                raise NotFoundError(f"alert {alert_id} not found")
            result = self._own(tx, alert_id, by, comment, at)
        if result.changed or result.comment_added:
            self._wake()
        log.info("alert acknowledged", extra={"fields": {"alert_id": alert_id, "by": by, "changed": result.changed,
                                                         "comment_added": result.comment_added}})
        return result

    def unacknowledge(self, alert_id: int, by: str, comment: str | None = None) -> AckResult:
        """Give the alert back: nobody owns it; its reminders and escalation chain start again (a
        firing alert). Raises NotFoundError for an unknown id; `changed` is False when it was not
        acknowledged."""
        with self.store.transaction() as tx:
            alert = self.store.get_alert(alert_id, tx)
            if alert is None:
                raise NotFoundError(f"alert {alert_id} not found")
            if not alert["acknowledged"]:
                return AckResult(False, alert)
            event = self.ownership.add_event(tx, alert_id, UNACK, by, comment)
            if self.followups is not None:
                self.followups.rearm(tx, alert)
            self.ownership.unacknowledge(tx, alert_id)
            if comment:
                self.ownership.set_comment(tx, alert_id, by, comment)
            self._queue_ack(tx, alert_id, alert["severity"], str(event))
            out = self.store.get_alert(alert_id, tx) or alert
        self._wake()
        log.info("alert unacknowledged", extra={"fields": {"alert_id": alert_id, "by": by}})
        return AckResult(True, out)

    def acknowledge_message(self, message_ref: int, by: str) -> int:
        """Ack every open alert named in one (packed) message; returns how many changed."""
        changed = 0
        ids = self.outbox.message_alert_ids(message_ref)
        with self.store.transaction() as tx:
            alerts = self.store.get_alerts(ids, tx)
            for alert_id in ids:
                alert = alerts.get(alert_id)
                if alert is None or alert["status"] == AlertStatus.RESOLVED or alert["acknowledged"]:
                    continue
                if self._own(tx, alert_id, by, None, None).changed:
                    changed += 1
        if changed:
            self._wake()
        log.info("message acknowledged", extra={"fields": {"message_ref": message_ref, "by": by, "alerts": changed}})
        return changed

    # silences -------------------------------------------------------------------------------------
    def _queue_refresh(self, tx: Transaction, alert_id: int, tag: str) -> int:
        refs = tx.fetchall("SELECT DISTINCT channel, destination, message_ref FROM notifications WHERE alert_id = %s "
                           "AND kind = 'firing' AND status = 'sent' AND message_ref IS NOT NULL", (alert_id,))
        rows = [{"channel": r["channel"], "destination": r["destination"], "kind": K.REFRESH,
                 "message_ref": int(r["message_ref"]), "payload": {"message_ref": int(r["message_ref"])},
                 "dedupe_key": f"refresh:{r['message_ref']}:{tag}"}
                for r in refs if _can_edit(self.channels.get(r["channel"]))]
        return self.outbox.enqueue(tx, rows) if rows else 0

    def silence(self, alert_id: int, duration: timedelta, by: str, comment: str | None = None) -> str:
        """An Alertmanager silence matching the alert's identifying labels; recorded in the history.
        Raises NotFoundError, or ActionError when Alertmanager refuses or cannot be reached."""
        raw = self.store.get_alert(alert_id)
        if raw is None:
            raise NotFoundError(f"alert {alert_id} not found")
        return self._silence(raw, duration, by, comment)

    def _silence(self, raw: Mapping[str, Any], duration: timedelta, by: str, comment: str | None) -> str:
        if self.alertmanager is None:
            raise ActionError("no Alertmanager configured (ALERTMANAGER_URL)")
        alert = AlertView.from_row(raw)
        alert_id = int(raw["id"])
        now = datetime.now(UTC)
        until = now + duration
        try:
            silence_id = self.alertmanager.create_silence(
                alert.silence_matchers(), now, until, by,
                comment or f"silenced from the receiver for {_human(duration)} (alert {alert_id})")
        except AlertmanagerError as exc:
            raise ActionError(str(exc)) from None
        with self.store.transaction() as tx:
            self.store.set_silence(alert_id, silence_id, until, tx)
            queued = self._queue_refresh(tx, alert_id, f"sil:{silence_id}")
        if queued:
            self._wake()
        log.info("silence created", extra={"fields": {"alert_id": alert_id, "silence_id": silence_id,
                                                     "until": until.isoformat(), "by": by}})
        return silence_id

    def silence_message(self, message_ref: int, duration: timedelta, by: str) -> int:
        """Silence every open alert of one (packed) message; returns how many silences were created."""
        ids = self.outbox.message_alert_ids(message_ref)
        alerts = self.store.get_alerts(ids)
        n = 0
        for alert_id in ids:
            raw = alerts.get(alert_id)
            if raw is None or raw["status"] == AlertStatus.RESOLVED:
                continue
            self._silence(raw, duration, by, None)
            n += 1
        return n

    # maintenance windows and silences -------------------------------------------------------------------
    def _am(self) -> AlertmanagerClient:
        if self.alertmanager is None:
            raise ActionError("no Alertmanager configured (ALERTMANAGER_URL)")
        return self.alertmanager

    def _mute_out(self, row: Mapping[str, Any]) -> Mute:
        d = self.store.dialect
        matchers = d.json_out(row["matchers"])
        return Mute(id=int(row["id"]), silence_id=str(row["silence_id"]),
                    matchers=matchers if isinstance(matchers, list) else [], created_by=str(row["created_by"]),
                    reason=str(row["reason"] or ""), starts_at=_aware(d.time_out(row["starts_at"])),
                    ends_at=_aware(d.time_out(row["ends_at"])),
                    ended_at=_aware(d.time_out(row["ended_at"])) if row["ended_at"] is not None else None,
                    ended_by=row["ended_by"])

    def mute(self, matchers: list[dict[str, Any]], duration: timedelta, by: str, reason: str | None = None) -> Mute:
        """Open a maintenance window: an Alertmanager silence with exactly these matchers (any
        label), recorded with who and why. Raises ActionError when Alertmanager refuses or is down."""
        if not matchers:
            raise ActionError("a maintenance window needs at least one matcher")
        now = datetime.now(UTC)
        until = now + duration
        why = (reason or "").strip()
        try:
            silence_id = self._am().create_silence(matchers, now, until, by,
                                                   f"maintenance window: {why}" if why else "maintenance window")
        except AlertmanagerError as exc:
            raise ActionError(str(exc)) from None
        d = self.store.dialect
        with self.store.transaction() as tx:
            row = tx.fetchone(
                "INSERT INTO maintenance_windows (silence_id, matchers, created_by, reason, starts_at, ends_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (silence_id, d.json_in(matchers), by, why, d.time_in(now), d.time_in(until)))
        assert row is not None
        mute = self._mute_out(row)
        log.info("maintenance window opened", extra={"fields": {
            "mute_id": mute.id, "silence_id": silence_id, "scope": mute.scope(), "until": until.isoformat(), "by": by}})
        return mute

    def mutes(self, active_only: bool = True, limit: int = 50) -> list[Mute]:
        d = self.store.dialect
        now = datetime.now(UTC)
        with self.store.transaction(write=False) as tx:
            if active_only:
                rows = tx.fetchall("SELECT * FROM maintenance_windows WHERE ended_at IS NULL AND ends_at > %s "
                                   "ORDER BY ends_at LIMIT %s", (d.time_in(now), limit))
            else:
                rows = tx.fetchall("SELECT * FROM maintenance_windows ORDER BY id DESC LIMIT %s", (limit,))
        return [self._mute_out(r) for r in rows]

    def get_mute(self, mute_id: int) -> Mute | None:
        with self.store.transaction(write=False) as tx:
            row = tx.fetchone("SELECT * FROM maintenance_windows WHERE id = %s", (mute_id,))
        return self._mute_out(row) if row else None

    def _expire(self, silence_id: str) -> None:
        """Expire a silence; one that already ended counts as done."""
        am = self._am()
        try:
            am.expire_silence(silence_id)
        except AlertmanagerError as exc:
            try:
                state = ((am.silence(silence_id) or {}).get("status") or {}).get("state")
            except AlertmanagerError:
                state = None
            if state != "expired":
                raise ActionError(str(exc)) from None

    def _ended(self, silence_id: str, by: str) -> tuple[Mute | None, int]:
        """Record the end of a silence: its maintenance window (if it is one) and the alerts it
        covered (their messages are refreshed: no more 'silenced until')."""
        d = self.store.dialect
        with self.store.transaction() as tx:
            now = d.time_in(tx.now)
            row = tx.fetchone("UPDATE maintenance_windows SET ended_at = %s, ended_by = %s "
                              "WHERE silence_id = %s AND ended_at IS NULL RETURNING *", (now, by, silence_id))
            ids = [int(r["id"]) for r in tx.fetchall(
                "UPDATE alerts SET silenced_until = %s WHERE silence_id = %s AND silenced_until > %s RETURNING id",
                (now, silence_id, now))]
            queued = sum(self._queue_refresh(tx, i, f"unsil:{silence_id}") for i in ids)
        if queued:
            self._wake()
        return (self._mute_out(row) if row else None), len(ids)

    def unmute(self, mute_id: int | None, by: str) -> Mute:
        """End a maintenance window (the only active one when `mute_id` is None). Raises
        NotFoundError when there is no such window, ActionError when it is ambiguous or Alertmanager fails."""
        if mute_id is None:
            active = self.mutes()
            if not active:
                raise NotFoundError("no maintenance window is open")
            if len(active) > 1:
                raise ActionError(f"{len(active)} maintenance windows are open: say which (/unmute ID)")
            mute = active[0]
        else:
            found = self.get_mute(mute_id)
            if found is None:
                raise NotFoundError(f"no maintenance window #{mute_id}")
            mute = found
        if not mute.active():
            raise ActionError(f"maintenance window #{mute.id} already ended")
        self._expire(mute.silence_id)
        ended, _ = self._ended(mute.silence_id, by)
        log.info("maintenance window ended", extra={"fields": {"mute_id": mute.id, "silence_id": mute.silence_id,
                                                                "by": by}})
        return ended or mute

    def unsilence(self, silence_id: str, by: str) -> tuple[dict[str, Any], Mute | None]:
        """End a silence given its id or a unique prefix of it (as /silences shows them). Raises
        NotFoundError for no match, ActionError when ambiguous or Alertmanager fails."""
        try:
            active = self._am().active_silences()
        except AlertmanagerError as exc:
            raise ActionError(str(exc)) from None
        want = silence_id.lower()
        hits = [s for s in active if str(s.get("id", "")).lower() == want] or \
            [s for s in active if str(s.get("id", "")).lower().startswith(want)]
        if not hits:
            raise NotFoundError(f"no active silence {silence_id}")
        if len(hits) > 1:
            raise ActionError(f"{len(hits)} silences start with {silence_id}: give more of the id")
        sil = hits[0]
        self._expire(str(sil["id"]))
        mute, n = self._ended(str(sil["id"]), by)
        log.info("silence ended", extra={"fields": {"silence_id": sil["id"], "by": by, "alerts": n,
                                                     "mute_id": mute.id if mute else None}})
        return sil, mute


def _can_edit(channel: Channel | None) -> bool:
    return channel is not None and channel.can_edit


def _aware(v: datetime | str | None) -> datetime:
    t = as_utc(v)
    if t is None:
        raise ValueError("a maintenance window without its times")
    return t


def _human(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours:g}h"
