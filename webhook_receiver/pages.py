"""`GET /alerts/<id>` and `GET /alerts?...`: the operator's screen, small server-rendered HTML pages
for a phone (and a laptop).

They are what the links in messages point at (`<RECEIVER_EXTERNAL_URL>/alerts/<id>`, and the
"+N more" list `<external>/alerts?alertname=...&status=firing`); `/` redirects to the list.

- The list: one row per alert, newest first, each with its severity's colour, its age first, its
  summary, where it is (exchange / route / symbol ...) and its state now (firing, silenced, muted,
  inhibited, acked, resolved: `history.alert_state`, the same answer `d76 history` and `/alerts`
  give). A table on a wide screen, one card per alert on a phone. Watchdog (the heartbeat, always
  firing) is hidden unless asked for (`watchdog=show`, or `alertname=Watchdog`). The footer says when
  the page was made; `refresh=SECONDS` reloads it (a `<meta>` refresh: no script).
- One alert: summary, state (the silence with its author, end and reason; what inhibits or mutes
  it), where, description and action once, value and threshold, times, acknowledgement, the
  runbook's first checks and a link to the runbook filled with the alert's values, labels, other
  annotations and deliveries; then `actions` (HTML: the forms that act on the alert and its timeline,
  from the module that adds them; empty here).

Nothing here changes anything. Access, the sign-in form and the headers: `screens`.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, redirect, request
from werkzeug.datastructures import MultiDict

from vocabulary import SEVERITIES, WATCHDOG, AlertStatus

from .api import parse_alert_query  # the API's own filters and their checks
from .errors import QueryError
from .history.alert_state import AlertState, alert_states, where
from .runbooks import first_checks, slug_of
from .screens import (
    COOKIE,
    allowed,
    cookie_value,
    html_page,
    html_page_string,
    keep_words,
    login,
    login_post,
    page_zone,
    secure_cookie,
)
from .state import runtime
from .timefmt import age_seconds, fmt_age, fmt_time

__all__ = ["bp", "COOKIE", "cookie_value"]

log = logging.getLogger("webhook_receiver.pages")
bp = Blueprint("pages", __name__, template_folder="templates")
bp.add_app_template_filter(keep_words, "keep")

_QUERY_PARAMS = ("alertname", "status", "severity", "source", "acknowledged", "since", "until", "limit")
_PAGE_PARAMS = ("refresh", "watchdog")
_LIST_PARAMS = _QUERY_PARAMS + _PAGE_PARAMS
REFRESH_CHOICES = (15, 30, 60, 300)
# shown elsewhere on the alert page, or machinery (the graph annotation is the page's graph spec)
_SHOWN_ANNOTATIONS = frozenset({"summary", "description", "action", "runbook_url", "value", "threshold", "graph"})

# for the modules that extend the pages (their own routes, guarded and laid out like these):
# `_page(body_template_string, status, **context)` renders a body in the pages' layout
_allowed = allowed
_page = html_page_string
_login = login
_login_post = login_post
_secure_cookie = secure_cookie


def _sev(severity: str | None) -> str:
    return severity if severity in SEVERITIES else "none"


def _http_url(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) and not any(c.isspace() for c in text) else None


def _served_here(url: Any) -> bool:
    """Whether a runbook_url points at this receiver's own pages (the catalog's default, on loopback,
    or under RECEIVER_EXTERNAL_URL): then the link opens them filled with the alert's values. A
    runbook elsewhere (a wiki) is linked as it is."""
    text = str(url or "")
    host = (urlsplit(text).hostname or "").lower()
    external = str(runtime().settings.raw.get("RECEIVER_EXTERNAL_URL") or "").rstrip("/")
    return (host in ("127.0.0.1", "localhost", "::1") or (bool(external) and text.startswith(external + "/"))
            or text.startswith(request.host_url))


def _state_note(state: AlertState, row: dict[str, Any]) -> str:
    """The short line under a list row's state: who acknowledged, the silence's author and end."""
    bits = []
    s = state.suppressions[0] if state.suppressions else None
    if s is not None and s.kind != "inhibited":
        if s.window:
            bits.append(s.window)
        else:
            bits.append(" ".join(x for x in (f"by {s.by}" if s.by else "",
                                             f"until {fmt_time(s.until, page_zone())}" if s.until else "") if x))
    elif s is not None and s.inhibiting_alertname:
        bits.append(f"by {s.inhibiting_alertname}")
    if row.get("acknowledged") and row.get("acknowledged_by"):
        bits.append(f"by {row['acknowledged_by']}" if state.name == "acked" else f"acked by {row['acknowledged_by']}")
    return " · ".join(b for b in bits if b)


def _updated() -> str:
    return fmt_time(datetime.now(UTC), page_zone())


@bp.get("/")
def root() -> Any:
    """The receiver's root (what `d76 stack status` prints) is the operator's list."""
    return redirect("alerts", 302)


@bp.route("/alerts/<alert_id>", methods=["GET", "POST"])
def alert_page(alert_id: str) -> Any:
    self_url = f"./{alert_id}"  # relative: right behind a proxy's path prefix too
    if request.method == "POST":
        return login_post(self_url, home="../alerts")
    if not allowed():
        return login(home="../alerts")
    if not alert_id.isdigit() or len(alert_id) > 18 or int(alert_id) < 1:
        return html_page("missing.html", 404, title="No such alert", what=f"{alert_id!r} is not an alert id",
                         home="../alerts")
    rt = runtime()
    alert = rt.store.get_alert(int(alert_id))
    if alert is None:
        return html_page("missing.html", 404, title="No such alert", what=f"no alert #{alert_id} in the history",
                         home="../alerts")
    tz = page_zone()
    state = alert_states(rt.store, [alert])[int(alert["id"])]
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    values = {str(k): str(v) for k, v in labels.items()}
    slug = slug_of(annotations.get("runbook_url"))
    runbook = (f"../runbooks/{slug}?alert={alert['id']}" if slug and _served_here(annotations.get("runbook_url"))
               else _http_url(annotations.get("runbook_url")))
    deliveries = rt.outbox.deliveries(int(alert_id))
    ended = alert.get("ends_at") if alert.get("status") == AlertStatus.RESOLVED else None
    from .page_actions import actions_html  # (page_actions imports this module's sign-in helpers)

    return html_page(
        "alert.html", title=f"#{alert['id']} {alert['title'] or alert['alertname']}", home="../alerts",
        a=alert, sev=_sev(alert.get("severity")), state=state,
        suppressions=[(s.kind, s.describe(tz), f"./{s.inhibiting_alert_id}" if s.inhibiting_alert_id else None)
                      for s in state.suppressions],
        where=where(labels, most=6), action=annotations.get("action") or "",
        value=annotations.get("value") or "", threshold=annotations.get("threshold") or "",
        labels=sorted((str(k), str(v)) for k, v in labels.items()),
        annotations=[(k, v, _http_url(v) if k.endswith("_url") else None) for k, v in sorted(annotations.items())
                     if k not in _SHOWN_ANNOTATIONS],
        deliveries=[{"channel": d.get("channel"), "destination": d.get("destination") or d.get("chat_id") or "",
                     "kind": d.get("kind"), "status": d.get("status"), "attempts": d.get("attempts"),
                     "sent_at": fmt_time(d.get("sent_at"), tz), "error": str(d.get("last_error") or "")[:300]}
                    for d in deliveries],
        started=fmt_time(alert.get("starts_at"), tz), ended=fmt_time(ended, tz),
        last=fmt_time(alert.get("last_received_at"), tz), acked_at=fmt_time(alert.get("acknowledged_at"), tz),
        duration=fmt_age(age_seconds(alert.get("starts_at"), ended)),
        checks=first_checks(slug, values), runbook=runbook,
        runbook_text="" if runbook else str(annotations.get("runbook_url") or ""),  # not a link: shown as text
        same=("../alerts?" + urlencode({"alertname": alert["alertname"], "status": AlertStatus.FIRING.value})),
        actions=actions_html(alert),  # Ack / Unack / Comment / Silence forms and the timeline (page_actions)
        updated=_updated())


def _refresh(value: str | None) -> int | None:
    if value in (None, "", "off", "0"):
        return None
    if not value.isdigit() or not 10 <= int(value) <= 3600:
        raise QueryError("refresh", "expected seconds between 10 and 3600, or off")
    return int(value)


def _with(args: MultiDict[str, str], **changes: str | None) -> str:
    """This list's URL with some of its parameters changed (None drops one)."""
    pairs = [(k, v) for k, v in args.items(multi=True) if k in _LIST_PARAMS and k not in changes and v]
    pairs += [(k, v) for k, v in changes.items() if v]
    return "alerts" + (f"?{urlencode(pairs)}" if pairs else "")


@bp.route("/alerts", methods=["GET", "POST"])
def alert_list() -> Any:
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k in _LIST_PARAMS])
    self_url = "./alerts" + (f"?{query}" if query else "")
    if request.method == "POST":
        return login_post(self_url)
    if not allowed():
        return login()
    args = request.args.copy()
    for name in set(args) - set(_QUERY_PARAMS):
        args.poplist(name)
    try:
        q = parse_alert_query(args)
        refresh = _refresh(request.args.get("refresh"))
    except QueryError as exc:
        return html_page("missing.html", 400, title="Bad filter", what=str(exc), home="alerts")
    rt = runtime()
    rows = rt.store.list_alerts(q)
    show_watchdog = request.args.get("watchdog") == "show" or q.alertname == WATCHDOG
    hidden = 0 if show_watchdog else sum(1 for r in rows if r["alertname"] == WATCHDOG)
    listed = [r for r in rows if show_watchdog or r["alertname"] != WATCHDOG]
    states = alert_states(rt.store, listed)
    tz = page_zone()
    shown = [(k, v) for k, v in request.args.items(multi=True) if k in _QUERY_PARAMS and v]
    out = []
    for r in listed:
        st = states[int(r["id"])]
        ended = r.get("ends_at") if r.get("status") == AlertStatus.RESOLVED else None
        out.append({
            "id": r["id"], "sev": _sev(r.get("severity")), "severity": r.get("severity") or "none",
            "alertname": r["alertname"], "summary": r.get("title") or r["alertname"],
            "where": where(r.get("labels") or {}), "state": st.name, "note": _state_note(st, r),
            "age": fmt_age(age_seconds(r.get("starts_at"), ended)), "started": fmt_time(r.get("starts_at"), tz)})
    return html_page(
        "list.html", title="Alerts", home="alerts", filters=shown, rows=out, limit=q.limit, full=len(rows) == q.limit,
        hidden_watchdog=hidden, show_watchdog=_with(request.args, watchdog="show"), refresh=refresh,
        refresh_links=[(f"{s} s" if s < 60 else f"{s // 60} min", _with(request.args, refresh=str(s)))
                       for s in REFRESH_CHOICES if s != refresh],
        refresh_off=_with(request.args, refresh=None), firing=_with(MultiDict(), status="firing"),
        everything="alerts", updated=_updated())
