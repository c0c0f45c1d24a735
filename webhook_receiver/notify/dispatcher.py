"""The dispatcher: delivers the outbox, lane by lane, within each service's limits.

One thread per lane this process holds (`notify.lanes`), plus a supervisor that finds lanes with
work. A lane step: read the lane's due rows, let `scheduling.plan_slot` decide what the next slot
carries (one alert, a packed message, an edit), wait for the slot (`pacing.LanePacer`; a P0
arriving meanwhile re-plans at once), render it through the channel, send, record.

- 429 / `retry_after`: the lane holds for that long; the rows wait without counting a failure.
- 5xx, timeouts, connection errors: the lane backs off (1 s doubling to 30 s by default) and the
  rows count a failure; after `max_failures` real failures a row is given up (`failed`).
- Permanent errors (400, 403): a packed message is retried one alert at a time; a single one fails.
- Restart-safe: everything that matters is in the database (rows, messages, leases).

Forum topics and quiet severities travel with each row (`payload.thread_id`, `payload.quiet`) and
reach the channel in `Part.thread_id` and `Part.quiet`. What only some channels do is asked of their
abilities (`channels.base`), never of their names: a command's answer (`reply`, `RendersReplies`) is
sent as a reply to the command (or edits an earlier answer: a page of /alerts); when a P0/P1 page
went out alone on a channel that `SendsPhotos`, a `graph` row is queued for the renderer thread
(`notify.graphs`), and the lane sends its PNG as a reply to the page once it is ready, never waiting
for it; the P0 reserve of a lane is its channel's `limits.p0_reserve_per_minute`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from vocabulary import MessageShape, NotificationKind, NotificationStatus, Severity

from ..background import process_owner_id
from ..errors import StorageUnavailable
from ..store.base import AlertStore
from .channel_map import ChannelMap
from .channels.base import (
    Channel,
    DeliveryError,
    Pager,
    Part,
    RendersReplies,
    SendsPhotos,
    TailCount,
    TakesDigest,
)
from .graphs import expr_from_generator_url
from .lanes import LaneLeases
from .metrics import NotifyMetrics
from .model import AlertView, Notice
from .outbox import Lane, Outbox
from .pacing import WINDOW_SECONDS, GlobalLimiter, LanePacer, Shares
from .scheduling import Item, SlotPlan, plan_slot
from .settings import NotifySettings

__all__ = ["Dispatcher", "LaneRunner", "Step"]

log = logging.getLogger("d76.notify.dispatcher")

IDLE_EXIT_SECONDS = 30.0
Row = dict[str, Any]
Step = Literal["sent", "wait", "idle", "busy", "error"]
R = TypeVar("R")
K = NotificationKind


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Stop(Exception):
    pass


class _Quiet:
    """Logs a storage outage once per `every` seconds, without a traceback: while the database is
    down every step fails the same way, and the circuit breaker answers at once."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._last = float("-inf")
        self._lock = threading.Lock()

    def storage_down(self, where: str, exc: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.every:
                return
            self._last = now
        log.warning("storage unavailable; delivery waits", extra={"fields": {"where": where, "error": str(exc)[:200]}})


_quiet = _Quiet()


class LaneRunner:
    """Delivers one lane. `step()` does at most one slot's work and says what to do next."""

    def __init__(self, d: Dispatcher, lane: Lane, channel: Channel) -> None:
        self.d = d
        self.lane = lane
        self.channel = channel
        self.pacer = LanePacer(channel.limits, clock=d.clock)
        self.shares = Shares(d.channel_map.shares, clock=d.clock)
        self.failures_in_row = 0
        self.holding = False
        self._renewed_at = float("-inf")
        self.wake = threading.Event()

    # leases -------------------------------------------------------------------------------------
    def _lease(self) -> bool:
        """Hold the lane. A lease we hold is renewed when a third of it has passed, not at every step
        (a lane steps several times a second while it waits for a slot)."""
        now = self.d.clock()
        if self.holding and now - self._renewed_at < self.d.settings.lane_lease_seconds / 3:
            return True
        had = self.holding
        self.holding = self.d.leases.acquire(self.lane)
        self._renewed_at = now
        if self.holding and not had:
            since = _utcnow() - timedelta(seconds=WINDOW_SECONDS)
            now_wall, now_mono = _utcnow(), self.d.clock()
            self.pacer.seed(
                now_mono - (now_wall - t).total_seconds() for t in self.d.outbox.recent_sends(self.lane, since)
            )
            log.info("lane taken", extra={"fields": {"lane": str(self.lane), "worker": self.d.worker_id}})
        return self.holding

    def release(self) -> None:
        if self.holding:
            self.d.leases.release(self.lane)
            self.holding = False

    # one step -----------------------------------------------------------------------------------
    def step(self) -> tuple[Step, float]:
        """("sent", n) after a slot's work; ("wait", clock time) when the next slot is later;
        ("idle", 0) when nothing is due; ("busy", 0) when another process holds the lane."""
        if not self._lease():
            return "busy", 0.0
        rows = self.d.outbox.due(self.lane)
        if not rows:
            return "idle", 0.0
        items = self._items(rows)
        # told in full while the lane could send every firing alert waiting within the horizon (0: never
        # more than one in full)
        horizon = self.d.settings.full_within_seconds
        plan, settled = plan_slot(items, can_edit=self.channel.can_edit, shares=self.shares,
                                  name_bound=self.d.settings.name_bound,
                                  full_slots=self.pacer.slots_within(horizon, urgent=False) if horizon > 0 else 1,
                                  full_slots_p0=self.pacer.slots_within(horizon, urgent=True) if horizon > 0 else 1)
        for s in settled:
            self.d.outbox.complete([int(r["id"]) for r in s.rows], NotificationStatus.FOLDED, note=s.note)
        if plan is None:
            return ("sent", float(sum(len(s.rows) for s in settled))) if settled else ("idle", 0.0)
        at = self.pacer.next_slot(plan.urgent)
        if at > self.d.clock() + 0.001:
            return "wait", at
        wait = self.d.global_limiter(self.lane.channel).reserve()
        if wait > 0 and self.d.stop_event.wait(wait):
            return "idle", 0.0
        return "sent", float(self._execute(plan))

    def _items(self, rows: list[Row]) -> list[Item]:
        alert_ids = [int(r["alert_id"]) for r in rows if r.get("alert_id") is not None]
        raw = self.d.store.get_alerts(alert_ids)
        views = {aid: AlertView.from_row(r) for aid, r in raw.items()}
        needs_original = [int(r["alert_id"]) for r in rows
                          if r["kind"] in (K.RESOLVED, K.ACK, K.REMINDER, K.ESCALATION) and r.get("alert_id")]
        originals = self.d.outbox.originals(self.lane, needs_original) if needs_original else {}
        items: list[Item] = []
        gone: list[int] = []
        for r in rows:
            aid = r.get("alert_id")
            if aid is not None and int(aid) not in views:
                gone.append(int(r["id"]))
                continue
            items.append(Item(r, views.get(int(aid)) if aid is not None else None,
                              originals.get(int(aid)) if aid is not None else None))
        if gone:
            self.d.outbox.fail(gone, "the alert is no longer in the history")
        return items

    # executing a plan ---------------------------------------------------------------------------
    def _notice(self, item: Item) -> Notice:
        if item.kind == K.DIGEST:
            return Notice(K.DIGEST, payload={"content": self.d.build_digest(item.row.get("payload") or {})})
        return Notice(item.kind, item.alert, item.row.get("payload") or {})

    def _execute(self, plan: SlotPlan) -> int:
        try:
            if plan.shape == MessageShape.SINGLE and plan.items[0].kind == K.REPLY:
                return self._reply(plan)
            if plan.shape == MessageShape.SINGLE and plan.items[0].kind == K.GRAPH:
                return self._graph(plan)
            if plan.shape == MessageShape.SINGLE:
                return self._single(plan)
            if plan.shape == MessageShape.PACKED:
                return self._packed(plan)
            return self._edit(plan)
        except _Stop:
            return 0

    def _all_rows(self, items: list[Item]) -> list[Row]:
        return [r for i in items for r in (i.row, *i.companions)]

    def _call(self, fn: Callable[[], R]) -> R:
        """One call to the service, accounted in the lane's budget whatever its outcome."""
        try:
            return fn()
        finally:
            self.pacer.record()

    def _send_once(self, plan: SlotPlan, rows: list[Row], shape: MessageShape, call: Callable[[], str | None], *,
                   failed_rows: list[Row] | None = None, ref: int | None = None) -> tuple[int, str | None] | None:
        """Reserve the message (its id goes into buttons), take the rows into it, make the one call.
        `ref`: a message reserved earlier (a packed message's buttons carry its id).
        Returns (message ref, what the call answered); None when it failed (the message row is
        dropped and the rows are retried or failed by `_failed`, with `failed_rows` when more rows
        than `rows` were taken for it)."""
        if ref is None:
            ref = self.d.outbox.reserve_message(self.lane, shape)
        self.d.outbox.take([int(r["id"]) for r in rows], self.d.worker_id, self.d.settings.lane_lease_seconds,
                           message_ref=ref)
        try:
            return ref, self._call(call)
        except DeliveryError as exc:
            self.d.outbox.drop_message(ref)
            self._failed(plan, failed_rows if failed_rows is not None else rows, exc)
            return None

    @staticmethod
    def _extras(part: Part, items: Sequence[Item], *, quiet: bool | None = None) -> Part:
        """The forum topic of the items (all of one thread: `plan_slot` sees to it) and whether the
        message is sent without a sound (only when every item asks for quiet)."""
        thread = items[0].thread if items else None
        silent = quiet if quiet is not None else (bool(items) and all(i.quiet for i in items))
        return replace(part, thread_id=thread, quiet=silent)

    def _single(self, plan: SlotPlan) -> int:
        item = plan.items[0]
        try:
            notice = self._notice(item)
            parts = self.channel.render_single(notice, self.lane.destination)
            parts = [self._extras(p, [item], quiet=None if n == 0 else True) for n, p in enumerate(parts)]
        except DeliveryError as exc:
            self.d.outbox.fail([int(r["id"]) for r in self._all_rows([item])], str(exc))
            self.d.metrics.failed.labels(self.lane.channel, item.kind).inc()
            return 1
        rows = self._all_rows([item])
        shape = MessageShape(item.kind) if item.kind in (K.DEADMAN, K.DIGEST) else MessageShape.SINGLE
        # a reminder (or an escalation step in the page's own chat) replies to the page
        to = self._page_of(item) if item.kind in (K.REMINDER, K.ESCALATION) else None
        sent = self._send_once(plan, rows, shape,
                               lambda: self.channel.send(self.lane.destination, parts[0], reply_to=to))
        if sent is None:
            return len(rows)
        ref, first = sent
        remote = [first or ""]
        for part in parts[1:]:
            remote.append(self._send_continuation(part, first) or "")
        self._told(rows, ref, first, MessageShape.SINGLE, remote)
        if len(parts) > 1:
            self.d.metrics.messages.labels(self.lane.channel, MessageShape.PART).inc(len(parts) - 1)
        if item.kind == K.FIRING and first:
            self._queue_graph(item, first)
        return len(rows)

    def _page_of(self, item: Item) -> str | None:
        """The service's id of the message that told this alert in this lane (alone or packed)."""
        ref = item.original_ref()
        msg = self.d.outbox.message(ref) if ref else None
        ids = msg["remote_ids"] if msg else []
        return str(ids[0]) if ids and ids[0] else None

    def _queue_graph(self, item: Item, page_id: str) -> None:
        """A P0/P1 page went out alone: its graph follows, rendered off this thread."""
        s = self.d.settings
        a = item.alert
        if (not s.graphs_enabled or a is None or a.resolved or a.id is None or item.severity not in s.graph_severities
                or not isinstance(self.channel, SendsPhotos) or not expr_from_generator_url(a.generator_url)):
            return
        try:
            n = self.d.outbox.enqueue_now([{
                "alert_id": a.id, "channel": self.lane.channel, "destination": self.lane.destination, "kind": K.GRAPH,
                "severity": item.severity, "status": NotificationStatus.RENDERING,
                "dedupe_key": f"{a.id}:{self.lane.channel}:{self.lane.destination}:graph",
                "payload": {"alertname": a.alertname, "reply_to": page_id,
                            **({"thread_id": item.thread} if item.thread is not None else {})}}])
        except StorageUnavailable:
            return  # the page went out; its graph is a nicety
        if n:
            self.d.graph_queued()

    def _reply(self, plan: SlotPlan) -> int:
        """A command's answer: a reply to the command, or an edit of an earlier answer (a page)."""
        item = plan.items[0]
        p = item.row.get("payload") or {}
        if not isinstance(self.channel, RendersReplies):
            self.d.outbox.fail([item.id], f"{self.lane.channel}: this channel does not answer commands")
            return 1
        part = self._extras(self.channel.render_reply(p), [item], quiet=False)
        edit_id, to = p.get("edit_message_id"), p.get("reply_to")

        def call() -> str | None:
            if edit_id:
                self.channel.edit(self.lane.destination, str(edit_id), part)
                return str(edit_id)
            return self.channel.send(self.lane.destination, part, reply_to=str(to) if to else None)

        sent = self._send_once(plan, [item.row], MessageShape.REPLY, call)
        if sent is not None:
            ref, remote = sent
            self._told([item.row], ref, remote, MessageShape.REPLY, [remote or ""])
        return 1

    def _graph(self, plan: SlotPlan) -> int:
        """A ready PNG, as a reply to its page (in the page's topic, without a sound)."""
        item = plan.items[0]
        p = item.row.get("payload") or {}
        rows = [item.row]
        png = self.d.outbox.graph_png(item.id)
        channel = self.channel
        if not png or not isinstance(channel, SendsPhotos):
            self.d.outbox.fail([item.id], "graph: no image")
            self.d.metrics.graph_failures.labels("missing").inc()
            return 1
        to = p.get("reply_to")

        def call() -> str | None:
            try:
                return channel.send_photo(self.lane.destination, png, str(p.get("caption") or ""),
                                          reply_to=str(to) if to else None, thread_id=item.thread, quiet=True)
            except DeliveryError as exc:
                if exc.permanent:
                    self.d.metrics.graph_failures.labels("send").inc()
                raise

        sent = self._send_once(plan, rows, MessageShape.PHOTO, call)
        if sent is not None:
            ref, remote = sent
            self._told(rows, ref, remote, MessageShape.PHOTO, [remote or ""])
            self.d.outbox.drop_payload_keys([item.id], ["png"])
        return 1

    def _send_continuation(self, part: Part, first: str | None) -> str | None:
        """Later parts of a long message, each in its own slot, replying to the first."""
        for attempt in range(4):
            self._sleep_until(self.pacer.next_slot(True))
            try:
                return self._call(lambda: self.channel.send(self.lane.destination, part, reply_to=first))
            except DeliveryError as exc:
                if exc.permanent or attempt == 3:
                    log.warning("message part not delivered", extra={"fields": {
                        "lane": str(self.lane), "error": str(exc)}})
                    return None
                self.pacer.hold(exc.retry_after if exc.retry_after is not None
                                else self.d.settings.backoff_base_seconds * 2 ** attempt)
        return None

    def _packed(self, plan: SlotPlan) -> int:
        ref = self.d.outbox.reserve_message(self.lane, MessageShape.PACKED)
        notices = [self._notice(i) for i in plan.items]
        first_names: dict[tuple[K, str], list[str]] = {}
        for i in plan.items:
            if i.alert is not None:
                first_names.setdefault((i.told_as, i.alertname), []).append(i.alert.identity(40))
        tail: dict[tuple[K, str, str], int] = {}
        for i in plan.tail:
            k = (i.told_as, i.alertname, i.severity)
            tail[k] = tail.get(k, 0) + 1
        tail_counts = [TailCount(sev, name, kind, n, tuple(first_names.get((kind, name), ())[:5]))
                       for (kind, name, sev), n in tail.items()]
        part, n = self.channel.render_packed(notices, self.lane.destination, tail=tail_counts, message_ref=ref)
        taken = plan.items[:n]
        part = self._extras(part, taken)
        rows = self._all_rows(taken)
        tail_rows = [i.row for i in plan.tail]
        ids = [int(r["id"]) for r in rows + tail_rows]
        # the counted rows are taken too, but not into the message: Ack all acts on the named ones
        self.d.outbox.take([int(r["id"]) for r in tail_rows], self.d.worker_id, self.d.settings.lane_lease_seconds)
        sent = self._send_once(plan, rows, MessageShape.PACKED, lambda: self.channel.send(self.lane.destination, part),
                               failed_rows=rows + tail_rows, ref=ref)
        if sent is None:
            return len(ids)
        _, remote = sent
        self._told(rows, ref, remote, MessageShape.PACKED, [remote or ""])
        if tail_rows:
            self.d.outbox.complete([int(r["id"]) for r in tail_rows], NotificationStatus.FOLDED, message_ref=ref,
                                   destination=self.lane.destination, note="counted in a packed message")
            for r in tail_rows:
                self.d.metrics.folded.labels(r.get("severity") or "").inc()
        self.shares.record(plan.lead)
        refs = sorted({ref_ for i in taken if i.kind == K.RESOLVED for ref_ in [i.original_ref()] if ref_})
        if refs and self.channel.can_edit:
            stamp = _utcnow().isoformat()
            self.d.outbox.enqueue_now([{
                "channel": self.lane.channel, "destination": self.lane.destination, "kind": K.REFRESH,
                "message_ref": r, "payload": {"message_ref": r}, "dedupe_key": f"refresh:{r}:{stamp}"} for r in refs])
        self.d.metrics.packed_alerts.labels(self.lane.channel).inc(len(taken))
        log.info("packed message sent", extra={"fields": {
            "lane": str(self.lane), "named": len(taken), "counted": len(tail_rows), "waiting": len(plan.items) - n,
            "lead": plan.lead, "message_ref": ref}})
        return len(ids)

    def _edit(self, plan: SlotPlan) -> int:
        rows = [i.row for i in plan.items]
        ids = [int(r["id"]) for r in rows]
        msg = self.d.outbox.message(plan.message_ref) if plan.message_ref else None
        if msg is None or not msg["remote_ids"] or not msg["remote_ids"][0]:
            self._edit_impossible(plan, "the message to edit is unknown")
            return len(ids)
        alert_ids = self.d.outbox.message_alert_ids(int(msg["id"]))
        alerts = self.d.store.get_alerts(alert_ids)
        views = [AlertView.from_row(alerts[a]) for a in alert_ids if a in alerts]
        if not views:
            self._edit_impossible(plan, "the alerts of that message are gone")
            return len(ids)
        if msg["shape"] == MessageShape.PACKED:
            notices = [Notice(K.RESOLVED if v.resolved else K.FIRING, v) for v in views]
            part, _ = self.channel.render_packed(notices, self.lane.destination, fit=False, message_ref=int(msg["id"]))
        else:
            part = self.channel.render_single(Notice(K.FIRING, views[0]), self.lane.destination)[0]
        self.d.outbox.take(ids, self.d.worker_id, self.d.settings.lane_lease_seconds)
        remote_id = str(msg["remote_ids"][0])
        try:
            self._call(lambda: self.channel.edit(self.lane.destination, remote_id, part))
        except DeliveryError as exc:
            if exc.permanent:
                self._edit_impossible(plan, str(exc))
            else:
                self._failed(plan, rows, exc)
            return len(ids)
        self._told(rows, int(msg["id"]), remote_id, MessageShape.EDIT)
        return len(ids)

    def _edit_impossible(self, plan: SlotPlan, why: str) -> None:
        """A resolve whose message cannot be edited is told as a new message; an acknowledgement
        or refresh is given up (the alert's state is in the history)."""
        resolves = [i.row for i in plan.items if i.kind == K.RESOLVED]
        others = [int(i.row["id"]) for i in plan.items if i.kind != K.RESOLVED]
        if resolves:
            self.d.outbox.retry(resolves, why, 0.0, count_failure=False, max_failures=self.d.settings.max_failures,
                                extra={"no_edit": True})
        if others:
            self.d.outbox.complete(others, NotificationStatus.FOLDED, note=f"not edited: {why}")
        log.info("edit not possible", extra={"fields": {"lane": str(self.lane), "why": why}})

    # outcomes -----------------------------------------------------------------------------------
    def _told(self, rows: list[Row], ref: int, remote: str | None, shape: MessageShape,
              remote_ids: list[str] | None = None) -> None:
        self.d.outbox.complete([int(r["id"]) for r in rows], NotificationStatus.SENT, message_ref=ref, remote_id=remote,
                               destination=self.lane.destination, worker=self.d.worker_id, remote_ids=remote_ids)
        self.failures_in_row = 0
        self.d.metrics.messages.labels(self.lane.channel, shape).inc()
        now = _utcnow()
        for r in rows:
            self.d.metrics.sent.labels(self.lane.channel, r["kind"]).inc()
            created = r.get("created_at")
            if isinstance(created, datetime) and r["kind"] == K.FIRING:
                self.d.metrics.delivery_seconds.labels(self.lane.channel, r.get("severity") or "").observe(
                    max(0.0, (now - created).total_seconds()))
        log.info("notification sent", extra={"fields": {
            "lane": str(self.lane), "shape": shape, "rows": len(rows), "message_ref": ref,
            "alert_ids": sorted({int(r["alert_id"]) for r in rows if r.get("alert_id") is not None})[:20]}})

    def _failed(self, plan: SlotPlan, rows: list[Row], exc: DeliveryError) -> None:
        s = self.d.settings
        ch = self.lane.channel
        if exc.rate_limited:
            self.pacer.hold(float(exc.retry_after or 1.0))
            self.d.outbox.retry(rows, str(exc), float(exc.retry_after or 1.0), count_failure=False,
                                max_failures=s.max_failures)
            self.d.metrics.rate_limited.labels(ch).inc()
            log.warning("rate limited", extra={"fields": {"lane": str(self.lane), "retry_after_s": exc.retry_after}})
            return
        if exc.permanent:
            if plan.shape == MessageShape.PACKED and len(rows) > 1:
                self.d.outbox.retry(rows, str(exc), 0.0, count_failure=False, max_failures=s.max_failures,
                                    extra={"no_pack": True})
                log.warning("packed message refused; retrying one by one", extra={"fields": {
                    "lane": str(self.lane), "error": str(exc)}})
                return
            self.d.outbox.fail([int(r["id"]) for r in rows], str(exc))
            for r in rows:
                self.d.metrics.failed.labels(ch, r["kind"]).inc()
            log.warning("notification failed", extra={"fields": {"lane": str(self.lane), "error": str(exc)}})
            return
        self.failures_in_row += 1
        delay = min(s.backoff_cap_seconds, s.backoff_base_seconds * 2 ** (self.failures_in_row - 1))
        self.pacer.hold(delay)
        failed = self.d.outbox.retry(rows, str(exc), delay, count_failure=True, max_failures=s.max_failures)
        self.d.metrics.retries.labels(ch).inc(len(rows) - len(failed))
        for r in rows:
            if int(r["id"]) in failed:
                self.d.metrics.failed.labels(ch, r["kind"]).inc()
        log.info("notification retry", extra={"fields": {
            "lane": str(self.lane), "retry_in_s": delay, "rows": len(rows), "gave_up": len(failed), "error": str(exc)}})

    def _sleep_until(self, at: float) -> None:
        delay = at - self.d.clock()
        if delay > 0 and self.d.stop_event.wait(delay):
            raise _Stop()

    # the thread ---------------------------------------------------------------------------------
    def run(self) -> None:
        idle_since: float | None = None
        while not self.d.stop_event.is_set():
            self.wake.clear()
            what: Step
            try:
                what, value = self.step()
            except StorageUnavailable as exc:
                _quiet.storage_down(f"lane {self.lane}", exc)
                what, value = "error", 0.0
            except Exception:  # a bug: log, back off, keep going
                log.exception("lane step failed", extra={"fields": {"lane": str(self.lane)}})
                what, value = "error", 0.0
            now = self.d.clock()
            if what == "sent":
                idle_since = None
                continue
            if what == "wait":
                idle_since = None
                self.wake.wait(min(max(0.0, value - now), self.d.settings.dispatcher_poll_seconds * 8))
                continue
            if what == "idle":
                idle_since = idle_since or now
                if now - idle_since > IDLE_EXIT_SECONDS:
                    break
            self.wake.wait(self.d.settings.dispatcher_poll_seconds if what != "error" else 1.0)
        self.release()


class Dispatcher:
    """Delivery for one receiver process: a supervisor thread and one `LaneRunner` thread per lane."""

    def __init__(self, store: AlertStore, outbox: Outbox, channels: Mapping[str, Channel], settings: NotifySettings,
                 channel_map: ChannelMap, *, metrics: NotifyMetrics | None = None, worker_id: str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 digest_builder: Callable[[Mapping[str, Any]], object] | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.channels = dict(channels)
        self.settings = settings
        self.channel_map = channel_map
        self.metrics = metrics or NotifyMetrics()
        self.worker_id = worker_id or process_owner_id()
        self.clock = clock
        self._digest_builder = digest_builder
        self.leases = LaneLeases(store, self.worker_id, settings.lane_lease_seconds)
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._runners: dict[Lane, LaneRunner] = {}
        self._threads: dict[Lane, threading.Thread] = {}
        self._globals: dict[str, GlobalLimiter] = {}
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._adopted = False
        self.on_graph_queued: Callable[[], None] | None = None  # wakes the graph renderer

    def graph_queued(self) -> None:
        if self.on_graph_queued is not None:
            self.on_graph_queued()

    def build_digest(self, payload: Mapping[str, Any]) -> object:
        if self._digest_builder is None:
            raise DeliveryError("email: the digest is not configured (SMTP_HOST, ALERT_EMAIL_FROM/TO)", permanent=True)
        return self._digest_builder(payload)

    def global_limiter(self, channel: str) -> GlobalLimiter:
        with self._lock:
            if channel not in self._globals:
                ch = self.channels.get(channel)
                self._globals[channel] = GlobalLimiter(ch.limits.global_per_second if ch else 0.0, self.clock)
            return self._globals[channel]

    def runner(self, lane: Lane) -> LaneRunner | None:
        with self._lock:
            r = self._runners.get(lane)
            if r is None:
                channel = self.channels.get(lane.channel)
                if channel is None:
                    return None
                r = self._runners[lane] = LaneRunner(self, lane, channel)
            return r

    @staticmethod
    def _default_destination(ch: Channel) -> str | None:
        if isinstance(ch, Pager):  # its own chat (a routed P0 may go elsewhere)
            return ch.home()
        if isinstance(ch, TakesDigest):
            return ch.digest_destination()
        if not ch.per_alert:
            return None
        dests = ch.destinations(Severity.P0, {})
        return dests[0].chat if dests else None

    def _adopt(self) -> None:
        """Rows queued before lanes existed (destination '') go to each channel's default lane."""
        if self._adopted:
            return
        for name, ch in self.channels.items():
            dest = self._default_destination(ch)
            if dest:
                self.outbox.adopt(name, dest)
        self._adopted = True

    # synchronous use (tests, tools) ------------------------------------------------------------------
    def run_once(self) -> int:
        """One pass over every lane with work, without waiting for a slot: returns rows handled."""
        self._adopt()
        handled = 0
        for lane in self.outbox.lanes_with_work():
            r = self.runner(lane)
            if r is None:
                continue
            for _ in range(1000):
                what, value = r.step()
                if what != "sent":
                    break
                handled += int(value)
        return handled

    # threads ------------------------------------------------------------------------------------
    def start(self) -> Dispatcher:
        if self._supervisor is None or not self._supervisor.is_alive():
            self.stop_event.clear()
            self._supervisor = threading.Thread(target=self._supervise, name="d76-dispatcher", daemon=True)
            self._supervisor.start()
            log.info("dispatcher started", extra={"fields": {
                "worker": self.worker_id, "channels": sorted(self.channels)}})
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.wake()
        deadline = time.monotonic() + timeout
        # the supervisor first: it starts lane threads, so they are all known once it has ended
        if self._supervisor is not None:
            self._supervisor.join(max(0.1, deadline - time.monotonic()))
        for t in list(self._threads.values()):
            t.join(max(0.1, deadline - time.monotonic()))
        self._supervisor = None
        self._threads.clear()

    def wake(self) -> None:
        """After an ingest (or an ack) queued rows: look now, not at the next poll."""
        self._wake.set()
        with self._lock:
            for r in self._runners.values():
                r.wake.set()

    def _supervise(self) -> None:
        while not self.stop_event.is_set():
            self._wake.clear()
            try:
                self._adopt()
                for lane in self.outbox.lanes_with_work():
                    self._ensure_thread(lane)
            except StorageUnavailable as exc:
                _quiet.storage_down("supervisor", exc)
            except Exception:
                log.exception("dispatcher supervisor pass failed")
            self._wake.wait(self.settings.dispatcher_poll_seconds)

    def _ensure_thread(self, lane: Lane) -> None:
        t = self._threads.get(lane)
        if (t is not None and t.is_alive()) or self.stop_event.is_set():
            return
        r = self.runner(lane)
        if r is None:
            return
        t = threading.Thread(target=r.run, name=f"d76-lane-{lane.channel}", daemon=True)
        self._threads[lane] = t
        t.start()
