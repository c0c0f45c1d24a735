"""Reminders and escalation steps: armed with the alert, told when due unless someone owns it.

Arming (`FollowupPlanner`, part of the ingest hook, so in the ingest transaction): a NEW firing alert
gets its first reminder (due `remind_every` of its severity after it was stored: the page goes out
then) and every step of the first escalation chain that matches it (due `after` since the alert
started, never before now). An unacknowledgement arms them again (`rearm`, in the action's
transaction): the next reminder `remind_every` later, and the chain starts over from the unack.

Telling (`FollowupWorker`, a thread in every receiver): one transaction claims what is due
(`OwnershipTables.claim_due`: locked rows, so two receivers on one PostgreSQL never claim the same
one), looks at each alert as it is now, and
- resolved, gone, or acknowledged: the follow-up is cancelled (reminders stop on ack and resolve;
  an acknowledgement also cancels them at once, `actions`);
- silenced (from the receiver, or by a silence Alertmanager reports as a suppressed episode) or
  muted (`/mute`, a maintenance window matching its labels): it waits until that ends (checked again
  at least every `RECHECK_SECONDS`), then reminds: reminders stop while silenced, and resume if the
  silence ends with nobody owning the alert;
- otherwise it queues outbox rows in that same transaction, so they go through the same lanes,
  pacing and packing as everything else (P0 first, Telegram's limits): a `reminder` row for each
  lane that told the page (a new, loud message replying to it; several due at once are packed), and
  an edit of the page (it shows how many reminders went out); an `escalation` row for each target of
  the step (a Telegram chat with its mentions, another channel, a generic webhook). The next
  reminder is scheduled in the same transaction.
A receiver that dies mid-way loses nothing: its transaction rolls back and the rows stay due.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from vocabulary import AlertStatus, NotificationKind

from ..errors import StorageUnavailable
from ..store.base import AlertStore, Transaction, in_lists
from ..store.ownership import CANCELLED, DONE, ESCALATION, REMINDER, Followup, OwnershipTables
from .channel_map import ChannelMap
from .channels.base import Channel, Pager, TakesDigest
from .commands import Matcher
from .escalation import ONCALL
from .model import AlertView
from .outbox import Outbox

if TYPE_CHECKING:
    from ..store import AlertChange

__all__ = ["FollowupPlanner", "FollowupWorker", "Person", "OncallResolver", "RECHECK_SECONDS", "nudge_refreshes"]

log = logging.getLogger("d76.notify.followups")
K = NotificationKind
RECHECK_SECONDS = 30.0
BATCH = 500


class Person(Protocol):
    """Who is on call (`webhook_receiver.notify.oncall`): a name, a Telegram user id, an e-mail."""

    @property
    def name(self) -> str: ...
    @property
    def telegram_user_id(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...


OncallResolver = Callable[[datetime], "Person | None"]


class FollowupPlanner:
    """Arms follow-ups in the ingest transaction (called by the `NotifyPlanner`) and on unack."""

    def __init__(self, store: AlertStore, channel_map: ChannelMap) -> None:
        self.tables = OwnershipTables(store)
        self.channel_map = channel_map

    def arm(self, tx: Transaction, changes: Sequence[AlertChange]) -> int:
        rows: list[dict[str, Any]] = []
        for c in changes:
            if c.kind != "new" or c.status != AlertStatus.FIRING:
                continue
            rows += self._rows(c.alert_id, c.severity, c.labels, c.starts_at, tx.now, round_=0, first_reminder=1)
        return self.tables.schedule(tx, rows) if rows else 0

    def rearm(self, tx: Transaction, alert: Mapping[str, Any]) -> int:
        """After an unacknowledgement: nobody owns it again (a new round of the chain)."""
        if alert.get("status") != AlertStatus.FIRING:
            return 0
        aid = int(alert["id"])
        round_ = self.tables.unack_count(tx, aid)
        nxt = self.tables.last_step(tx, aid, REMINDER) + 1
        rows = self._rows(aid, str(alert.get("severity") or ""), dict(alert.get("labels") or {}), tx.now, tx.now,
                          round_=round_, first_reminder=nxt)
        return self.tables.schedule(tx, rows) if rows else 0

    def _rows(self, alert_id: int, severity: str, labels: Mapping[str, str], start: datetime, now: datetime, *,
              round_: int, first_reminder: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        every = self.channel_map.remind_every.get(severity)
        if every:
            rows.append({"alert_id": alert_id, "kind": REMINDER, "step": first_reminder, "round": round_,
                         "due_at": now + timedelta(seconds=every)})
        found = self.channel_map.escalation.chain_for(severity, labels)
        if found is not None:
            n, chain = found
            for j, step in enumerate(chain.steps):
                due = max(start + timedelta(seconds=step.after), now)
                rows.append({"alert_id": alert_id, "kind": ESCALATION, "chain": n, "step": j, "round": round_,
                             "due_at": due, "detail": step.detail()})
        return rows


@dataclass
class _Context:
    """What the worker knows about the alerts of one batch, read in its transaction."""

    alerts: dict[int, dict[str, Any]]
    suppressed: dict[int, list[str]]  # open suppressed episodes: "silenced by ...", "inhibited by ..."
    mutes: list[tuple[list[Matcher], datetime, int]]  # active /mute windows: matchers, end, id
    firing_rows: dict[int, list[dict[str, Any]]]  # the notification rows that told each alert's page


class FollowupWorker:
    """The thread that tells what is due. `run_once()` settles one batch (tests, tools)."""

    def __init__(self, store: AlertStore, outbox: Outbox, channels: Mapping[str, Channel], channel_map: ChannelMap,
                 *, oncall: OncallResolver | None = None, on_queued: Callable[[], None] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), max_sleep: float = 1.0) -> None:
        self.store = store
        self.outbox = outbox
        self.channels = dict(channels)
        self.channel_map = channel_map
        self.tables = OwnershipTables(store)
        self.oncall = oncall  # set by whoever knows the rotation; None: nobody is on call
        self.on_queued = on_queued
        self.now = now
        self.max_sleep = max_sleep
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the thread ------------------------------------------------------------------------------
    def start(self) -> FollowupWorker:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="d76-followups", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            wait = self.max_sleep
            try:
                while self.run_once() >= BATCH and not self._stop.is_set():
                    pass  # a backlog: the next batch at once
                nxt = self.tables.next_due()
                if nxt is not None:
                    wait = min(wait, max(0.0, (nxt - self.now()).total_seconds()))
            except StorageUnavailable as exc:
                log.warning("storage unavailable; follow-ups wait", extra={"fields": {"error": str(exc)[:200]}})
                wait = 2.0
            except Exception:  # a bug: log and go on
                log.exception("follow-up pass failed")
                wait = 2.0
            self._wake.wait(wait)

    # ---- one batch ---------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim and settle what is due now; returns how many follow-ups were settled or moved."""
        queued = 0
        if not self.tables.any_due(self.now()):
            return 0
        with self.store.transaction() as tx:
            now = self.now()
            due = self.tables.claim_due(tx, now, BATCH)
            if not due:
                return 0
            ids = sorted({f.alert_id for f in due})
            self.tables.lock_alerts(tx, ids)
            ctx = self._context(tx, ids, now)
            for f in due:
                queued += self._settle(tx, f, ctx, now)
        if queued and self.on_queued is not None:
            self.on_queued()
        return len(due)

    def _context(self, tx: Transaction, ids: list[int], now: datetime) -> _Context:
        d = self.store.dialect
        alerts = self.store.get_alerts(ids, tx)
        suppressed: dict[int, list[str]] = {}
        firing: dict[int, list[dict[str, Any]]] = {}
        for chunk, marks in in_lists(ids):
            for r in tx.fetchall(f"SELECT alert_id, kind, cause FROM suppressed_episodes WHERE alert_id IN ({marks}) "
                                 "AND ended_at IS NULL", chunk):
                suppressed.setdefault(int(r["alert_id"]), []).append(f"{r['kind']} by {str(r['cause'])[:12]}")
            for r in tx.fetchall(f"SELECT id, alert_id, channel, destination, status, message_ref, payload "
                                 f"FROM notifications WHERE alert_id IN ({marks}) AND kind = 'firing' ORDER BY id",
                                 chunk):
                payload = d.json_out(r["payload"])
                firing.setdefault(int(r["alert_id"]), []).append({**r, "payload": payload if isinstance(payload, dict)
                                                                  else {}})
        mutes = []
        for r in tx.fetchall("SELECT id, matchers, ends_at FROM maintenance_windows WHERE ended_at IS NULL "
                             "AND starts_at <= %s AND ends_at > %s", (d.time_in(now), d.time_in(now))):
            matchers = d.json_out(r["matchers"])
            if isinstance(matchers, list) and matchers:
                end = d.time_out(r["ends_at"])
                if end is not None:
                    mutes.append(([Matcher.from_am(m) for m in matchers if isinstance(m, dict)],
                                  end if end.tzinfo else end.replace(tzinfo=UTC), int(r["id"])))
        return _Context(alerts, suppressed, mutes, firing)

    def _held(self, a: AlertView, ctx: _Context, now: datetime) -> tuple[str, datetime] | None:
        """Why the alert is held back now and when to look again, or None when it is not."""
        recheck = now + timedelta(seconds=RECHECK_SECONDS)
        if a.silenced_until is not None and a.silenced_until > now:
            return f"silenced until {a.silenced_until.isoformat()}", min(a.silenced_until, recheck)
        labels = {**a.labels, "alertname": a.alertname}
        for matchers, end, mute_id in ctx.mutes:
            if matchers and all(m.matches(labels) for m in matchers):
                return f"muted by maintenance window #{mute_id}", min(end, recheck)
        if a.id is not None and ctx.suppressed.get(a.id):
            return "suppressed in Alertmanager (" + ", ".join(ctx.suppressed[a.id][:3]) + ")", recheck
        return None

    def _settle(self, tx: Transaction, f: Followup, ctx: _Context, now: datetime) -> int:
        raw = ctx.alerts.get(f.alert_id)
        if raw is None:
            self.tables.settle(tx, f.id, CANCELLED, "the alert is no longer in the history")
            return 0
        a = AlertView.from_row(raw)
        if a.resolved:
            self.tables.settle(tx, f.id, CANCELLED, "resolved")
            return 0
        if raw.get("acknowledged"):
            self.tables.settle(tx, f.id, CANCELLED, f"acknowledged by {a.acknowledged_by}")
            return 0
        held = self._held(a, ctx, now)
        if held is not None:
            why, until = held
            self.tables.postpone(tx, f.id, max(until, now + timedelta(seconds=1)), f"waiting: {why}")
            return 0
        if f.kind == REMINDER:
            return self._remind(tx, f, a, raw, ctx, now)
        return self._escalate(tx, f, a, now)

    # ---- reminders ---------------------------------------------------------------------------------
    def _remind(self, tx: Transaction, f: Followup, a: AlertView, raw: Mapping[str, Any], ctx: _Context,
                now: datetime) -> int:
        every = self.channel_map.remind_every.get(a.severity)
        told = [r for r in ctx.firing_rows.get(f.alert_id, []) if r["channel"] in self.channels]
        sent = [r for r in told if r["status"] in ("sent", "folded")]
        if not sent:
            if any(r["status"] in ("pending", "sending") for r in told) and every:
                # the page itself has not gone out yet (a backlog): this reminder waits a round
                self.tables.postpone(tx, f.id, now + timedelta(seconds=every), "waiting: the page has not gone out")
            else:
                self.tables.settle(tx, f.id, CANCELLED, "the alert was not paged anywhere")
            return 0
        n = int(raw.get("reminders_sent") or 0) + 1
        firing_for = a.firing_seconds(now)
        rows = []
        refresh = []
        lanes = []
        for r in sent:
            lanes.append(f"{r['channel']}:{r['destination']}")
            thread = (r.get("payload") or {}).get("thread_id")
            rows.append({"alert_id": f.alert_id, "channel": r["channel"], "destination": r["destination"],
                         "kind": K.REMINDER, "severity": a.severity,
                         "dedupe_key": f"{f.alert_id}:{r['channel']}:{r['destination']}:reminder:{n}",
                         "payload": {"alertname": a.alertname, "reminder": n, "firing_seconds": firing_for,
                                     **({"thread_id": thread} if thread is not None else {})}})
            ch = self.channels.get(str(r["channel"]))
            ref = r.get("message_ref")
            if ch is not None and ch.can_edit and ref and r["status"] == "sent":
                refresh.append({"channel": r["channel"], "destination": r["destination"], "kind": K.REFRESH,
                                "message_ref": int(ref), "payload": {"message_ref": int(ref)},
                                "dedupe_key": f"refresh:{int(ref)}:reminder:{f.alert_id}:{n}"})
        queued = self.outbox.enqueue(tx, rows + refresh)
        self.tables.count_sent(tx, f.alert_id, REMINDER)
        self.tables.settle(tx, f.id, DONE, f"reminder {n} to " + ", ".join(dict.fromkeys(lanes)),
                           {**f.detail, "reminder": n, "lanes": list(dict.fromkeys(lanes))})
        if every:
            nxt = f.due_at + timedelta(seconds=every)
            if nxt <= now:  # far behind (the receivers were down): the next one a full interval from now
                nxt = now + timedelta(seconds=every)
            self.tables.schedule(tx, [{"alert_id": f.alert_id, "kind": REMINDER, "step": f.step + 1,
                                       "round": f.round, "due_at": nxt}])
        log.info("reminder queued", extra={"fields": {"alert_id": f.alert_id, "reminder": n, "lanes": lanes}})
        return queued

    # ---- escalation ----------------------------------------------------------------------------------
    def _mentions(self, wanted: Sequence[str], now: datetime) -> tuple[list[dict[str, str]], list[str]]:
        """Mentions as the message renders them ({"id", "name"} or {"username"}), and notes."""
        out: list[dict[str, str]] = []
        notes: list[str] = []
        for m in wanted:
            if m == ONCALL:
                person = None
                if self.oncall is not None:
                    try:
                        person = self.oncall(now)
                    except Exception:  # the rotation is someone else's: a failure drops the mention
                        log.exception("on-call lookup failed")
                if person is None:
                    notes.append("nobody on call: the oncall mention was dropped")
                elif person.telegram_user_id:
                    out.append({"id": str(person.telegram_user_id), "name": person.name})
                else:
                    notes.append(f"on call: {person.name} has no Telegram user id: not mentioned")
            elif m.startswith("@"):
                out.append({"username": m[1:]})
            else:
                out.append({"id": m, "name": m})
        return out, notes

    def _escalate(self, tx: Transaction, f: Followup, a: AlertView, now: datetime) -> int:
        detail = dict(f.detail)
        base = {"alertname": a.alertname, "step": f.step + 1, "chain": f.chain, "after": detail.get("after"),
                "firing_seconds": a.firing_seconds(now)}
        key = f"{f.alert_id}:{{channel}}:{{destination}}:escalation:{f.chain}:{f.step}:{f.round}"
        rows: list[dict[str, Any]] = []
        told: list[str] = []
        notes: list[str] = []

        def add(channel: str, destination: str, payload: Mapping[str, Any]) -> None:
            rows.append({"alert_id": f.alert_id, "channel": channel, "destination": destination,
                         "kind": K.ESCALATION, "severity": a.severity, "payload": {**base, **payload},
                         "dedupe_key": key.format(channel=channel, destination=destination)})

        tg = detail.get("telegram")
        if isinstance(tg, dict):
            ch = self.channels.get("telegram")
            if ch is None:
                notes.append("telegram is not configured")
            else:
                chat = str(tg.get("chat") or (ch.home() if isinstance(ch, Pager) else ""))
                mentions, why = self._mentions([str(m) for m in tg.get("mention") or []], now)
                notes += why
                add("telegram", chat, {"mentions": mentions,
                                       **({"thread_id": int(tg["thread"])} if tg.get("thread") else {})})
                named = [("@" + m["username"]) if "username" in m else m["id"] for m in mentions]
                told.append(f"{chat}" + (f" ({', '.join(named)})" if named else ""))
        if detail.get("webhook"):
            if "webhook" not in self.channels:
                notes.append("the webhook channel is not loaded")
            else:
                person = None
                if self.oncall is not None:
                    try:
                        person = self.oncall(now)
                    except Exception:
                        log.exception("on-call lookup failed")
                add("webhook", str(detail["webhook"]), {"oncall": _person(person)})
                told.append(f"webhook {detail['webhook']}")
        for name, opts in sorted((detail.get("channels") or {}).items()):  # (JSONB keeps no order)
            ch = self.channels.get(name)
            if ch is None:
                notes.append(f"{name} is not configured")
                continue
            dests = ch.destinations(a.severity, a.labels)
            dest = dests[0].chat if dests else (ch.digest_destination() if isinstance(ch, TakesDigest) else None)
            if dest is None:
                notes.append(f"{name} has no destination for {a.severity}")
                continue
            add(name, dest, {"to": list(opts.get("to") or [])} if isinstance(opts, dict) and opts.get("to") else {})
            told.append(f"{name} {dest}" if name != "email" else f"email {', '.join(opts.get('to') or []) or dest}")
        queued = self.outbox.enqueue(tx, rows) if rows else 0
        if rows:
            self.tables.count_sent(tx, f.alert_id, ESCALATION)
        outcome = ("escalated to " + "; ".join(told)) if told else "escalation step with nowhere to tell"
        if notes:
            outcome += " — " + "; ".join(notes)
        self.tables.settle(tx, f.id, DONE, outcome, {**detail, "told": told, "notes": notes})
        log.info("escalation queued", extra={"fields": {"alert_id": f.alert_id, "step": f.step + 1, "to": told,
                                                          "notes": notes}})
        return queued


def nudge_refreshes(tx: Transaction, alert_ids: Sequence[int], channels: Mapping[str, Channel],
                    tag: str) -> list[dict[str, Any]]:
    """Edits of the reminder and escalation messages that told these alerts (so a resolve or an
    acknowledgement shows there too, and their Ack buttons go): refresh rows to queue, once per `tag`."""
    out: dict[int, dict[str, Any]] = {}
    for chunk, marks in in_lists(sorted(set(alert_ids))):
        for r in tx.fetchall(f"SELECT DISTINCT channel, destination, message_ref FROM notifications "
                             f"WHERE alert_id IN ({marks}) AND kind IN ('reminder', 'escalation') AND status = 'sent' "
                             f"AND message_ref IS NOT NULL", chunk):
            ch = channels.get(str(r["channel"]))
            if ch is not None and ch.can_edit:
                ref = int(r["message_ref"])
                out[ref] = {"channel": r["channel"], "destination": r["destination"], "kind": K.REFRESH,
                            "message_ref": ref, "payload": {"message_ref": ref}, "dedupe_key": f"refresh:{ref}:{tag}"}
    return list(out.values())


def _person(p: Person | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"name": p.name, "telegram_user_id": p.telegram_user_id, "email": p.email}

