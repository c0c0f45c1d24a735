"""Acknowledge and silence: one path for the HTTP API and the Telegram buttons.

Each action records itself in the history and queues the edits of the messages that told the alert
IN THE SAME TRANSACTION (an `ack` row per lane that told it; a `refresh` of each sent message for a
silence), then wakes the dispatcher. The edits go through the outbox like everything else, so they
are paced, retried and survive a restart; nothing reads HTTP responses back to find out what happened.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from ..alertmanager_api import AlertmanagerClient, AlertmanagerError
from ..errors import NotFoundError
from ..store.base import AlertStore, Transaction
from .model import AlertView
from .outbox import Outbox

__all__ = ["AlertActions", "ActionError", "SILENCE_DURATIONS"]

log = logging.getLogger("d76.notify.actions")
SILENCE_DURATIONS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}


class ActionError(Exception):
    """An action could not be done (Alertmanager refused or unreachable); the text is for the user."""


@dataclass(frozen=True)
class AckResult:
    changed: bool
    alert: dict[str, Any]


class AlertActions:
    def __init__(self, store: AlertStore, outbox: Outbox, channels: Mapping[str, Any] | None = None,
                 alertmanager: AlertmanagerClient | None = None,
                 on_queued: Callable[[], None] | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.channels = dict(channels or {})
        self.alertmanager = alertmanager
        self.on_queued = on_queued

    def _wake(self) -> None:
        if self.on_queued is not None:
            self.on_queued()

    # acknowledgements ---------------------------------------------------------------------------
    def _queue_ack(self, tx: Transaction, alert_id: int) -> int:
        lanes = tx.fetchall("SELECT DISTINCT channel, destination FROM notifications WHERE alert_id = %s "
                            "AND kind = 'firing' AND status <> 'failed'", (alert_id,))
        rows = [{"alert_id": alert_id, "channel": r["channel"], "destination": r["destination"], "kind": "ack",
                 "dedupe_key": f"{alert_id}:{r['channel']}:{r['destination']}:ack"}
                for r in lanes if r["channel"] in self.channels]
        if not rows:
            return 0
        sev = tx.fetchone("SELECT severity FROM alerts WHERE id = %s", (alert_id,))
        for r in rows:
            r["severity"] = sev["severity"] if sev else None
        return self.outbox.enqueue(tx, rows)

    def acknowledge(self, alert_id: int, by: str, comment: str | None = None, at: datetime | None = None) -> AckResult:
        """First acknowledgement wins. Raises NotFoundError for an unknown id."""
        with self.store.transaction() as tx:
            changed = self.store.ack_alert(alert_id, by, comment, at, tx=tx)
            queued = self._queue_ack(tx, alert_id) if changed else 0
            alert = self.store.get_alert(alert_id, tx)
        if queued:
            self._wake()
        log.info("alert acknowledged", extra={"fields": {"alert_id": alert_id, "by": by, "changed": changed,
                                                         "edits_queued": queued}})
        assert alert is not None
        return AckResult(changed, alert)

    def acknowledge_message(self, message_ref: int, by: str) -> int:
        """Ack every open alert named in one (packed) message; returns how many changed."""
        changed = 0
        queued = 0
        with self.store.transaction() as tx:
            for alert_id in self.outbox.message_alert_ids(message_ref):
                alert = self.store.get_alert(alert_id, tx)
                if alert is None or alert["status"] == "resolved":
                    continue
                if self.store.ack_alert(alert_id, by, None, tx=tx):
                    changed += 1
                    queued += self._queue_ack(tx, alert_id)
        if queued:
            self._wake()
        log.info("message acknowledged", extra={"fields": {"message_ref": message_ref, "by": by, "alerts": changed}})
        return changed

    # silences -------------------------------------------------------------------------------------
    def _queue_refresh(self, tx: Transaction, alert_id: int, tag: str) -> int:
        refs = tx.fetchall("SELECT DISTINCT channel, destination, message_ref FROM notifications WHERE alert_id = %s "
                           "AND kind = 'firing' AND status = 'sent' AND message_ref IS NOT NULL", (alert_id,))
        rows = [{"channel": r["channel"], "destination": r["destination"], "kind": "refresh",
                 "message_ref": int(r["message_ref"]), "payload": {"message_ref": int(r["message_ref"])},
                 "dedupe_key": f"refresh:{r['message_ref']}:{tag}"}
                for r in refs if getattr(self.channels.get(r["channel"]), "can_edit", False)]
        return self.outbox.enqueue(tx, rows) if rows else 0

    def silence(self, alert_id: int, duration: timedelta, by: str, comment: str | None = None) -> str:
        """An Alertmanager silence matching the alert's identifying labels; recorded in the history.
        Raises NotFoundError, or ActionError when Alertmanager refuses or cannot be reached."""
        raw = self.store.get_alert(alert_id)
        if raw is None:
            raise NotFoundError(f"alert {alert_id} not found")
        if self.alertmanager is None:
            raise ActionError("no Alertmanager configured (ALERTMANAGER_URL)")
        alert = AlertView.from_row(raw)
        now = datetime.now(timezone.utc)
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
        n = 0
        for alert_id in self.outbox.message_alert_ids(message_ref):
            raw = self.store.get_alert(alert_id)
            if raw is None or raw["status"] == "resolved":
                continue
            self.silence(alert_id, duration, by)
            n += 1
        return n


def _human(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours:g}h"
