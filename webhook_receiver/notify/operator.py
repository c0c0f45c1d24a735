"""What each operator command does, and its answer as Telegram HTML.

`OperatorConsole.run(command, who)` returns an `Answer` (text, inline keyboard, and for a paged
`/alerts` the query, kept with the answer so its page buttons can show the next page). It reads the
history, the outbox and Alertmanager, and acts through `AlertActions` (acknowledge, mute, unmute,
unsilence), so a command does exactly what the HTTP API and the buttons do. It never raises for a
component being down: the answer says so (`/status` exists for the night everything is on fire).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from vocabulary import SEVERITIES, AlertStatus, Severity

from ..alertmanager_api import AlertmanagerClient, AlertmanagerError
from ..errors import NotFoundError
from ..history.alert_state import AlertState, alert_states
from ..store.base import AlertQuery, AlertStore
from . import schedules_text as schedules
from .actions import AckResult, ActionError, AlertActions, Mute
from .channels.telegram.format import SEVERITY_EMOJI, _e  # the same escaping and cut as the alert messages
from .commands import COMMANDS, Command, Matcher
from .maintenance import MaintenanceSchedule
from .model import IDENTIFYING_LABELS, AlertView, severity_rank
from .oncall_board import OncallBoard
from .outbox import Outbox
from .planner import HEARTBEAT_ALERTNAMES

__all__ = ["OperatorConsole", "Answer", "PAGE_SIZE", "help_text"]

log = logging.getLogger("d76.notify.operator")

PAGE_SIZE = 10
MAX_FIRING = 5000        # firing alerts read for /alerts (a storm's worth)
MAX_SILENCES = 15
EMOJI = SEVERITY_EMOJI  # the alert messages' emoji


def _age(seconds: float) -> str:
    """As `schedules.span`, but in seconds under a minute."""
    s = max(0, int(seconds))
    return f"{s}s" if s < 60 else schedules.span(s)


def _state_names(state: AlertState | None) -> list[str]:
    """An alert's suppressions as /alerts names them (`mute #3`, `silence 0b6c1b2e`, `window nightly`,
    `inhibited by ExchangeFrozen`)."""
    out = []
    for s in state.suppressions if state else ():
        if s.kind == "inhibited":
            out.append(f"inhibited by {s.inhibiting_alertname or 'a more severe alert'}")
        elif s.window:
            out.append(f"window {s.window}")
        else:
            out.append(f"mute #{s.mute_id}" if s.mute_id else f"silence {s.cause[:8]}")
    return out


def _hm(dt: datetime) -> str:
    now = datetime.now(UTC)
    fmt = "%H:%M UTC" if abs((dt - now).total_seconds()) < 20 * 3600 else "%Y-%m-%d %H:%M UTC"
    return dt.astimezone(UTC).strftime(fmt)


@dataclass(frozen=True)
class Answer:
    text: str
    reply_markup: dict[str, Any] | None = None
    query: dict[str, Any] | None = None


@dataclass
class _Listed:
    """One line of /alerts: a stored alert, or one Alertmanager holds back (muted) that the history
    does not have."""

    severity: str
    alertname: str
    identity: str
    starts_at: datetime | None
    alert_id: int | None = None
    acked_by: str | None = None
    silenced_until: datetime | None = None
    muted_by: list[str] = field(default_factory=list)  # "mute #3" or a silence id prefix
    labels: dict[str, str] = field(default_factory=dict)


def help_text(identifying: tuple[str, ...] = IDENTIFYING_LABELS) -> str:
    lines = ["🤖 <b>D76 alerting bot</b>", ""]
    usage = {
        "status": "/status — pipeline health and firing alerts by severity",
        "alerts": "/alerts [P0|P1|P2|P3] [exchange=upbit] — firing alerts, most severe first",
        "ack": "/ack ID [comment] — acknowledge alert #ID (it is yours until it resolves; again: add a comment); "
               "/unack ID [comment] gives it back (reminders and escalation start again)",
        "silences": "/silences — silences and maintenance windows in force",
        "unsilence": "/unsilence ID — end a silence (the first characters of its id are enough)",
        "mute": "/mute exchange=upbit 2h [reason] — maintenance window (an Alertmanager silence)",
        "unmute": "/unmute [ID] — end a maintenance window (/mute alone lists the recurring ones)",
        "oncall": "/oncall — who is on call now and next; /oncall take 4h — you are, for 4h",
        "help": "/help — this list",
    }
    lines += [_e(usage[c]) for c, _ in COMMANDS]
    lines += ["", "<i>Labels to mute or filter by: " + _e(", ".join((*identifying, "alertname", "source"))) + "</i>"]
    return "\n".join(lines)


class OperatorConsole:
    def __init__(self, store: AlertStore, outbox: Outbox, actions: AlertActions,
                 alertmanager: AlertmanagerClient | None, *, prometheus_url: str | None = None,
                 last_watchdog: Callable[[], datetime | None] | None = None, watchdog_timeout: float = 300.0,
                 started_at: float | None = None, probe_timeout: float = 2.0,
                 session: requests.Session | None = None, oncall: OncallBoard | None = None,
                 maintenance: MaintenanceSchedule | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.actions = actions
        self.alertmanager = alertmanager
        self.prometheus_url = prometheus_url.rstrip("/") if prometheus_url else None
        self.last_watchdog = last_watchdog
        self.watchdog_timeout = watchdog_timeout
        self.started_at = started_at if started_at is not None else time.monotonic()
        self.probe_timeout = probe_timeout
        self._session = session or requests.Session()
        self.oncall = oncall
        self.maintenance = maintenance or MaintenanceSchedule()

    # dispatch ---------------------------------------------------------------------------------------
    def run(self, cmd: Command, who: str) -> Answer:
        handler: Callable[[Command, str], Answer] = getattr(self, f"_cmd_{cmd.name}")
        return handler(cmd, who)

    def _cmd_help(self, cmd: Command, who: str) -> Answer:
        return Answer(help_text())

    # /status -------------------------------------------------------------------------------------------
    def _prometheus(self) -> str:
        if not self.prometheus_url:
            return "➖ Prometheus: not configured (PROMETHEUS_URL)"
        base = self.prometheus_url
        try:
            r = self._session.get(f"{base}/-/ready", timeout=self.probe_timeout)
            if r.status_code != 200:
                return f"❌ Prometheus: not ready (HTTP {r.status_code})"
            q = self._session.get(f"{base}/api/v1/query", params={"query": "up"}, timeout=self.probe_timeout)
            result = (q.json().get("data") or {}).get("result") or [] if q.status_code == 200 else []
            up = sum(1 for s in result if str((s.get("value") or [0, "0"])[1]) == "1")
            targets = f" · {up}/{len(result)} targets up" if result else ""
            mark = "✅" if up == len(result) else "⚠️"
            return f"{mark} Prometheus: ready{targets}"
        except (requests.RequestException, ValueError, AttributeError) as exc:
            return f"❌ Prometheus: unreachable ({type(exc).__name__})"

    def _alertmanagers(self) -> list[str]:
        if self.alertmanager is None:
            return ["➖ Alertmanager: not configured (ALERTMANAGER_URL)"]
        out = []
        peers = self.alertmanager.peers(timeout=self.probe_timeout)
        many = len(peers) > 1
        for p in peers:
            name = f"Alertmanager {_e(p['url'])}" if many else "Alertmanager"
            if p["ok"]:
                out.append(f"✅ {name}: v{_e(p['version'], 20)} · cluster {_e(p['cluster'], 20)}"
                           + (f" ({p['peers']} peers)" if p.get("peers", 0) > 1 else ""))
            else:
                out.append(f"❌ {name}: unreachable ({_e(p['error'], 40)})")
        return out

    def _watchdog(self) -> str:
        if self.last_watchdog is None:
            return "➖ Watchdog: not tracked"
        try:
            seen = self.last_watchdog()
        except Exception as exc:  # storage down: said in the receiver line
            return f"❌ Watchdog: unknown ({type(exc).__name__})"
        if seen is None:
            return "⚠️ Watchdog: never received (is Alertmanager sending to this receiver?)"
        age = (datetime.now(UTC) - seen).total_seconds()
        mark = "✅" if age <= self.watchdog_timeout else "🚨"
        return f"{mark} Watchdog: last {_age(age)} ago"

    def _firing_counts(self) -> tuple[dict[str, int], int]:
        names = sorted(HEARTBEAT_ALERTNAMES)
        marks = ", ".join(["%s"] * len(names))
        with self.store.transaction(write=False) as tx:
            rows = tx.fetchall(
                f"SELECT severity, acknowledged, count(*) AS n FROM alerts WHERE status = 'firing' "
                f"AND alertname NOT IN ({marks}) GROUP BY severity, acknowledged", names)
        counts: dict[str, int] = {}
        acked = 0
        for r in rows:
            counts[r["severity"]] = counts.get(r["severity"], 0) + int(r["n"])
            if r["acknowledged"]:
                acked += int(r["n"])
        return counts, acked

    def _muted_count(self) -> int | None:
        _, held, am_ok = self._silenced_by()
        return len(held) if am_ok else None

    def _cmd_status(self, cmd: Command, who: str) -> Answer:
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="d76-status") as pool:
            prom = pool.submit(self._prometheus)
            ams = pool.submit(self._alertmanagers)
            muted = pool.submit(self._muted_count)
            lines = [f"📊 <b>Pipeline status</b> · {datetime.now(UTC).strftime('%H:%M:%S UTC')}"]
            storage_ok = True
            try:
                self.store.ping()
                storage = f"storage ok ({self.store.dialect.name})"
            except Exception as exc:
                storage_ok = False
                storage = f"storage DOWN ({type(exc).__name__})"
            uptime = _age(time.monotonic() - self.started_at)
            receiver = f"{'✅' if storage_ok else '❌'} Receiver: up {uptime} · {storage}"
            rest: list[str] = [self._watchdog()]
            counts: dict[str, int] = {}
            acked = 0
            if storage_ok:
                try:
                    depth = self.outbox.depth()
                    waiting = sum(depth.values())
                    rest.append("✅ Outbox: nothing waiting" if not waiting else
                                 ("⏳" if waiting < 50 else "⚠️") + " Outbox: " +
                                 ", ".join(f"{_e(c)} {n}" for c, n in sorted(depth.items()) if n) + " waiting")
                    counts, acked = self._firing_counts()
                    mutes = self.actions.mutes()
                except Exception as exc:
                    rest.append(f"❌ history unreadable ({type(exc).__name__})")
                    mutes = []
            else:
                mutes = []
            lines += [prom.result(), *ams.result(), receiver, *rest]
            total = sum(counts.values())
            by_sev = " · ".join(f"{s} {counts.get(s, 0)}" for s in SEVERITIES)
            firing = f"{'🔥' if counts.get(Severity.P0) else ('🟠' if total else '🟢')} Firing: {total} ({by_sev})"
            extra = []
            if acked:
                extra.append(f"{acked} acknowledged")
            n_muted = muted.result()
            if n_muted:
                extra.append(f"{n_muted} muted")
            if extra:
                firing += " · " + ", ".join(extra)
            lines.append(firing)
            for m in mutes[:5]:
                lines.append(f"🔧 Maintenance #{m.id}: <code>{_e(m.scope(), 120)}</code> until {_hm(m.ends_at)}")
            lines += schedules.window_lines(self.maintenance, datetime.now(UTC), limit=5)
            if self.oncall and storage_ok:
                lines.append(schedules.oncall_line(self.oncall, datetime.now(UTC)))
        return Answer("\n".join(lines))

    # /alerts ------------------------------------------------------------------------------------------------
    def _silenced_by(self) -> tuple[dict[str, list[str]], list[dict[str, Any]], bool]:
        """fingerprint -> silence ids (Alertmanager's suppressed alerts), those alerts, and whether
        Alertmanager answered."""
        if self.alertmanager is None:
            return {}, [], False
        try:
            alerts = self.alertmanager.alerts(active="false", inhibited="false", silenced="true")
        except AlertmanagerError:
            return {}, [], False
        out: dict[str, list[str]] = {}
        held = []
        for a in alerts:
            ids = [str(x) for x in ((a.get("status") or {}).get("silencedBy") or [])]
            if ids and a.get("fingerprint"):
                out[str(a["fingerprint"])] = ids
                held.append(a)
        return out, held, True

    def _windows(self, labels: dict[str, str], now: datetime) -> list[str]:
        """The recurring maintenance windows muting an alert now (Alertmanager does not say)."""
        return [f"window {name}" for name in self.maintenance.muted_by(labels, now)]

    def _mutes_by_silence(self) -> dict[str, Mute]:
        return {m.silence_id: m for m in self.actions.mutes(limit=200)}

    def _listed(self, query: dict[str, Any]) -> tuple[list[_Listed], bool]:
        sevs = tuple(query.get("severities") or ())
        matchers = [Matcher(**m) for m in query.get("matchers") or []]
        rows = self.store.list_alerts(AlertQuery(status=AlertStatus.FIRING, severities=sevs, limit=MAX_FIRING))
        silenced, held, am_ok = self._silenced_by()
        mutes = self._mutes_by_silence() if silenced else {}

        def muted_names(ids: list[str]) -> list[str]:
            return [f"mute #{mutes[i].id}" if i in mutes else f"silence {i[:8]}" for i in ids]

        now = datetime.now(UTC)
        out: list[_Listed] = []
        seen_fp: set[str] = set()
        # what the history knows (the reconciler's episodes, the receiver's own silences): the same
        # answer as the pages and `d76 history`, and still there when Alertmanager does not answer
        states = alert_states(self.store, rows, now=now)
        for raw in rows:
            a = AlertView.from_row(raw)
            if a.alertname in HEARTBEAT_ALERTNAMES:
                continue
            fp = str(raw.get("fingerprint") or "")
            seen_fp.add(fp)
            labels = {**a.labels, "alertname": a.alertname}
            if not all(m.matches(labels) for m in matchers):
                continue
            held_by = muted_names(silenced.get(fp, [])) + self._windows(labels, now)
            held_by += [n for n in _state_names(states.get(int(raw["id"]))) if n not in held_by]
            out.append(_Listed(a.severity, a.alertname, a.identity(60), a.starts_at, a.id, a.acknowledged_by,
                               a.silenced_until if a.silenced_until and a.silenced_until > now else None,
                               held_by, labels))
        for h in held:  # muted in Alertmanager, so never sent here: shown all the same
            if str(h.get("fingerprint")) in seen_fp:
                continue
            labels = {str(k): str(v) for k, v in (h.get("labels") or {}).items()}
            if labels.get("alertname") in HEARTBEAT_ALERTNAMES:
                continue
            sev = labels.get("severity", "")
            if (sevs and sev not in sevs) or not all(m.matches(labels) for m in matchers):
                continue
            view = AlertView.from_row({"labels": labels, "alertname": labels.get("alertname"), "severity": sev,
                                       "starts_at": h.get("startsAt"), "annotations": h.get("annotations") or {}})
            out.append(_Listed(sev, view.alertname, view.identity(60), view.starts_at, None, None, None,
                               muted_names(silenced.get(str(h.get("fingerprint")), [])), labels))
        far = datetime.min.replace(tzinfo=UTC)
        out.sort(key=lambda x: (severity_rank(x.severity), -(x.starts_at or far).timestamp()))
        return out, am_ok

    def alerts_page(self, query: dict[str, Any], page: int) -> Answer:
        """One page of /alerts for a stored query (`{"severities": [...], "matchers": [...]}`)."""
        listed, am_ok = self._listed(query)
        pages = max(1, -(-len(listed) // PAGE_SIZE))
        page = min(max(1, page), pages)
        chunk = listed[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        desc = " ".join([*(query.get("severities") or []), *(str(Matcher(**m)) for m in query.get("matchers") or [])])
        now = datetime.now(UTC)
        counts: dict[str, int] = {}
        for x in listed:
            counts[x.severity] = counts.get(x.severity, 0) + 1
        by_sev = " · ".join(f"{s} {n}" for s, n in sorted(counts.items(), key=lambda kv: severity_rank(kv[0])))
        head = f"🔥 <b>{len(listed)} firing</b>" + (f" ({_e(by_sev)})" if by_sev else "")
        if desc:
            head += f" · filter <code>{_e(desc, 200)}</code>"
        if pages > 1:
            head += f" · page {page}/{pages}"
        lines = [
            head if listed else "🟢 <b>Nothing firing</b>" + (f" for <code>{_e(desc, 200)}</code>" if desc else "")
        ]
        for x in chunk:
            bits = [f"{EMOJI.get(x.severity, '🔔')} <b>{_e(x.severity or '?', 4)}</b>"]
            if x.alert_id is not None:
                bits.append(f"#{x.alert_id}")
            bits.append(f"<code>{_e(x.alertname, 80)}</code>")
            if x.identity and x.identity != x.alertname:
                bits.append(_e(x.identity, 80))
            if x.starts_at:
                bits.append(f"· {_age((now - x.starts_at).total_seconds())}")
            state = []
            if x.acked_by:
                state.append(f"👤 {_e(x.acked_by, 40)}")
            if x.muted_by:
                state.append(f"🔇 muted ({_e(', '.join(x.muted_by), 60)})")
            elif x.silenced_until:
                state.append(f"🔕 until {_hm(x.silenced_until)}")
            if state:
                bits.append("· " + " ".join(state))
            lines.append(" ".join(bits))
        if not am_ok and self.alertmanager is not None:
            lines.append("<i>Alertmanager unreachable: muted alerts are not shown</i>")
        if listed and any(x.alert_id is not None and not x.acked_by for x in chunk):
            lines.append("<i>/ack ID to acknowledge</i>")
        markup = None
        if pages > 1:
            row = []
            if page > 1:
                row.append({"text": f"◀ {page - 1}", "callback_data": f"ap:{page - 1}"})
            if page < pages:
                row.append({"text": f"{page + 1} ▶", "callback_data": f"ap:{page + 1}"})
            markup = {"inline_keyboard": [row]}
        return Answer("\n".join(lines), markup, query)

    def _cmd_alerts(self, cmd: Command, who: str) -> Answer:
        query = {"severities": list(cmd.severities), "matchers": [asdict(m) for m in cmd.matchers]}
        return self.alerts_page(query, 1)

    # /ack -------------------------------------------------------------------------------------------------
    @staticmethod
    def _own(cmd: Command, who: str, do: Callable[[int, str, str | None], AckResult],
             ) -> tuple[AckResult, AlertView, str] | Answer:
        """/ack's or /unack's action on the command's alert: (its result, the alert, the alert as the answer
        names it), or the answer that there is no such alert."""
        assert cmd.alert_id is not None
        try:
            result = do(cmd.alert_id, who, cmd.text)
        except NotFoundError:
            return Answer(f"❓ No alert #{cmd.alert_id} in the history. /alerts lists the firing ones.")
        a = AlertView.from_row(result.alert)
        return result, a, f"#{a.id} <code>{_e(a.alertname, 80)}</code> {_e(a.identity(60))}"

    def _cmd_ack(self, cmd: Command, who: str) -> Answer:
        done = self._own(cmd, who, self.actions.acknowledge)
        if isinstance(done, Answer):
            return done
        result, a, name = done
        if result.comment_added:
            return Answer(f"💬 Comment added to {name} (acknowledged by {_e(a.acknowledged_by or '?', 64)}): "
                          f"{_e(cmd.text or '', 200)}")
        if not result.changed:
            return Answer(f"👤 {name} was already acknowledged by {_e(a.acknowledged_by or '?', 64)}.")
        note = f" — {_e(cmd.text, 200)}" if cmd.text else ""
        state = " (already resolved)" if a.resolved else ""
        return Answer(f"✅ Acknowledged {name}{state}{note}")

    def _cmd_unack(self, cmd: Command, who: str) -> Answer:
        done = self._own(cmd, who, self.actions.unacknowledge)
        if isinstance(done, Answer):
            return done
        result, a, name = done
        if not result.changed:
            return Answer(f"❓ {name} is not acknowledged: nothing to give back.")
        again = "" if a.resolved else " Reminders and escalation start again."
        return Answer(f"↩️ {name} is nobody's now.{again}" + (f" — {_e(cmd.text, 200)}" if cmd.text else ""))

    # silences and maintenance windows -------------------------------------------------------------------
    def _cmd_silences(self, cmd: Command, who: str) -> Answer:
        if self.alertmanager is None:
            return Answer("➖ No Alertmanager configured (ALERTMANAGER_URL).")
        try:
            active = self.alertmanager.active_silences()
        except AlertmanagerError as exc:
            return Answer(f"❌ Alertmanager unreachable: {_e(exc, 200)}")
        if not active:
            return Answer("🔔 No silences in force.")
        mutes = self._mutes_by_silence()
        lines = [f"🔕 <b>{len(active)} silence{'s' if len(active) != 1 else ''} in force</b>"]
        buttons = []
        for s in active[:MAX_SILENCES]:
            sid = str(s.get("id", ""))
            scope = " ".join(str(Matcher.from_am(m)) for m in s.get("matchers") or [])
            try:
                until = _hm(datetime.fromisoformat(str(s.get("endsAt")).replace("Z", "+00:00")))
            except ValueError:
                until = "?"
            mute = mutes.get(sid)
            tag = f"🔧 maintenance #{mute.id}" if mute else "🔕"
            why = mute.reason if mute else str(s.get("comment") or "")
            lines.append(f"{tag} <code>{_e(sid[:8])}</code> <code>{_e(scope, 150)}</code> until {until} · "
                         f"by {_e(s.get('createdBy') or '?', 40)}" + (f" — {_e(why, 100)}" if why else ""))
            buttons.append({"text": f"🔔 End {sid[:8]}", "callback_data": f"us:{sid}"[:64]})
        if len(active) > MAX_SILENCES:
            lines.append(f"<i>… and {len(active) - MAX_SILENCES} more (Alertmanager's UI lists them all)</i>")
        lines.append("<i>/unsilence ID or /unmute ID to end one</i>")
        rows = [buttons[i:i + 2] for i in range(0, min(len(buttons), 6), 2)]
        return Answer("\n".join(lines), {"inline_keyboard": rows})

    def _cmd_unsilence(self, cmd: Command, who: str) -> Answer:
        assert cmd.silence_id is not None
        try:
            sil, mute = self.actions.unsilence(cmd.silence_id, who)
        except NotFoundError as exc:
            return Answer(f"❓ {_e(exc)}. /silences lists them.")
        except ActionError as exc:
            return Answer(f"❌ Could not end it: {_e(exc, 300)}")
        what = f"maintenance window #{mute.id} ({_e(mute.scope(), 120)})" if mute else \
            f"silence <code>{_e(str(sil.get('id'))[:8])}</code>"
        return Answer(f"🔔 Ended {what}. Its alerts notify again.")

    def _cmd_mute(self, cmd: Command, who: str) -> Answer:
        if not cmd.matchers:  # /mute alone: what is muted, and when
            return Answer(schedules.mute_list(self.maintenance, self.actions.mutes(), datetime.now(UTC)))
        assert cmd.duration is not None
        try:
            mute = self.actions.mute([m.am() for m in cmd.matchers], cmd.duration, who, cmd.text)
        except ActionError as exc:
            return Answer(f"❌ Could not mute: {_e(exc, 300)}")
        return Answer(_mute_text(mute, cmd.duration))

    def _cmd_unmute(self, cmd: Command, who: str) -> Answer:
        try:
            mute = self.actions.unmute(cmd.mute_id, who)
        except NotFoundError as exc:
            return Answer(f"❓ {_e(exc)}.")
        except ActionError as exc:
            if cmd.mute_id is None and "open" in str(exc):
                open_ = self.actions.mutes()
                lines = [f"❓ {_e(exc)}:"]
                lines += [f"🔧 #{m.id} <code>{_e(m.scope(), 120)}</code> until {_hm(m.ends_at)}" for m in open_[:10]]
                buttons = [{"text": f"🔔 End #{m.id}", "callback_data": f"um:{m.id}"} for m in open_[:6]]
                return Answer(
                    "\n".join(lines), {"inline_keyboard": [buttons[i : i + 3] for i in range(0, len(buttons), 3)]}
                )
            return Answer(f"❌ Could not unmute: {_e(exc, 300)}")
        return Answer(f"🔔 Maintenance window #{mute.id} (<code>{_e(mute.scope(), 120)}</code>) ended by "
                      f"{_e(who, 64)}. Its alerts notify again.")


    # /oncall -----------------------------------------------------------------------------------------------
    def _cmd_oncall(self, cmd: Command, who: str) -> Answer:
        return Answer(schedules.oncall_answer(self.oncall, cmd, who, datetime.now(UTC)))


def _mute_text(mute: Mute, duration: timedelta) -> str:
    hours = duration.total_seconds() / 3600
    length = f"{hours:g}h" if hours >= 1 else f"{int(duration.total_seconds() // 60)}m"
    lines = [f"🔧 <b>Maintenance window #{mute.id}</b>: <code>{_e(mute.scope(), 200)}</code> muted for {length}, "
             f"until {_hm(mute.ends_at)}",
             f"by {_e(mute.created_by, 64)}" + (f" — {_e(mute.reason, 200)}" if mute.reason else ""),
             f"<i>Alertmanager silence {_e(mute.silence_id[:8])}. Alerts of this scope (a P0 too) do not page; "
             f"/alerts shows them as muted. /unmute {mute.id} ends it.</i>"]
    return "\n".join(lines)
