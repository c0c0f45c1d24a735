"""`GET /alerts/<id>` and `GET /alerts?...`: small server-rendered HTML pages for a phone.

They are what the links in messages point at (`<RECEIVER_EXTERNAL_URL>/alerts/<id>`, and the
"+N more" list `<external>/alerts?alertname=...&status=firing`): one alert with its labels,
annotations, deliveries and acknowledgement / silence state, and a filtered list. The alert's page
also shows what `page_actions` adds: Ack / Unack / Silence forms and the alert's timeline.

Access (the pages show the same data as the history API, so they are guarded like it):

- without RECEIVER_TOKEN (a local demo) they are open, like the API;
- with it, a request is let in by `Authorization: Bearer <token>` (scripts) or by the `d76_pages`
  cookie. A phone following a link from a chat has neither the first time: the page answers 401 with
  a one-field form; the operator pastes the token once and the answer sets the cookie (HttpOnly,
  SameSite=Lax so a link tapped in Telegram sends it, Secure over https or when RECEIVER_EXTERNAL_URL
  is https, 30 days). The cookie holds an HMAC of the token, not the token: it opens these read-only
  pages and nothing else (not the API, not the webhook), and changing RECEIVER_TOKEN signs every
  phone out.

Everything shown is escaped (Jinja autoescape); links are relative, so the pages work behind a
reverse proxy under a path prefix; responses are `no-store` with a strict Content-Security-Policy.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, make_response, redirect, render_template_string, request
from werkzeug.wrappers import Response as AnyResponse  # what redirect() answers (flask's Response is one)

from vocabulary import IDENTIFYING_LABELS, AlertStatus

from .api import parse_alert_query  # the API's own filters and their checks
from .errors import QueryError
from .state import runtime

__all__ = ["bp", "COOKIE", "cookie_value"]

log = logging.getLogger("webhook_receiver.pages")
bp = Blueprint("pages", __name__)

COOKIE = "d76_pages"
COOKIE_MAX_AGE = 30 * 24 * 3600
_LIST_PARAMS = ("alertname", "status", "severity", "source", "acknowledged", "since", "until", "limit")
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'")
_WHERE_LABELS = (*IDENTIFYING_LABELS, "category", "state")


def cookie_value(token: str) -> str:
    """What the cookie holds for `token`: an HMAC of it (never the token itself)."""
    return hmac.new(token.encode("utf-8"), b"d76 read-only pages v1", hashlib.sha256).hexdigest()


def _allowed() -> bool:
    token = runtime().settings.receiver_token
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), cookie_value(token).encode())


def _secure_cookie() -> bool:
    external = str(runtime().settings.raw.get("RECEIVER_EXTERNAL_URL") or "")
    return request.is_secure or external.lower().startswith("https://")


def _page(body: str, status: int = 200, **context: Any) -> Response:
    resp = make_response(render_template_string(_LAYOUT.replace("{# body #}", body), **context), status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = _CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _login(error: str = "") -> Response:
    return _page(_LOGIN, 401, title="Sign in", error=error)


def _login_post(self_url: str) -> AnyResponse:
    """The token pasted into the form: right -> cookie and back to the same page (303)."""
    token = runtime().settings.receiver_token
    given = request.form.get("token", "").strip()
    if not token:
        return redirect(self_url, 303)
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        log.warning("pages: wrong token in the sign-in form", extra={"fields": {"remote": request.remote_addr}})
        return _login("That is not the receiver's token.")
    resp = redirect(self_url, 303)
    resp.set_cookie(COOKIE, cookie_value(token), max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                    secure=_secure_cookie(), path="/")
    return resp


def _fmt(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if dt else ""


def _age(start: datetime | None, end: datetime | None = None) -> str:
    if start is None:
        return ""
    seconds = int(((end or datetime.now(UTC)) - start).total_seconds())
    if seconds < 0:
        return ""
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    parts = [f"{d}d"] * bool(d) + [f"{h}h"] * bool(h) + [f"{m}m"] * bool(m and not d)
    return " ".join(parts) or f"{s}s"


def _http_url(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) and not any(c.isspace() for c in text) else None


def _where(labels: dict[str, Any]) -> str:
    return " · ".join(f"{k}={labels[k]}" for k in _WHERE_LABELS if labels.get(k))


def _silence(alert: dict[str, Any]) -> str:
    until = alert.get("silenced_until")
    if not alert.get("silence_id") or until is None:
        return ""
    state = "silenced until" if until > datetime.now(UTC) else "silence ended"
    return f"{state} {_fmt(until)} (silence {alert['silence_id']})"


@bp.route("/alerts/<alert_id>", methods=["GET", "POST"])
def alert_page(alert_id: str) -> Any:
    self_url = f"./{alert_id}"  # relative: right behind a proxy's path prefix too
    if request.method == "POST":
        return _login_post(self_url)
    if not _allowed():
        return _login()
    if not alert_id.isdigit() or len(alert_id) > 18 or int(alert_id) < 1:
        return _page(_MISSING, 404, title="No such alert", what=f"{alert_id!r} is not an alert id", home="../alerts")
    from .page_actions import actions_html  # Ack / Unack / Silence and the timeline

    alert = runtime().store.get_alert(int(alert_id))
    if alert is None:
        return _page(_MISSING, 404, title="No such alert", what=f"no alert #{alert_id} in the history",
                     home="../alerts")
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    deliveries = runtime().outbox.deliveries(int(alert_id))
    return _page(
        _ALERT, title=f"#{alert['id']} {alert['alertname']}", a=alert, labels=sorted(labels.items()),
        annotations=[(k, v, _http_url(v) if k.endswith("_url") else None) for k, v in sorted(annotations.items())],
        deliveries=[{"channel": d.get("channel"), "destination": d.get("destination") or d.get("chat_id") or "",
                     "kind": d.get("kind"), "status": d.get("status"), "attempts": d.get("attempts"),
                     "sent_at": _fmt(d.get("sent_at")), "error": str(d.get("last_error") or "")[:300]}
                    for d in deliveries],
        where=_where(labels), started=_fmt(alert.get("starts_at")), ended=_fmt(alert.get("ends_at")),
        last=_fmt(alert.get("last_received_at")), acked_at=_fmt(alert.get("acknowledged_at")),
        duration=_age(alert.get("starts_at"), alert.get("ends_at")), silence=_silence(alert),
        runbook=_http_url(annotations.get("runbook_url")), actions=actions_html(alert),
        same=("../alerts?" + urlencode({"alertname": alert["alertname"], "status": AlertStatus.FIRING.value})))


@bp.route("/alerts", methods=["GET", "POST"])
def alert_list() -> Any:
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k in _LIST_PARAMS])
    self_url = "./alerts" + (f"?{query}" if query else "")
    if request.method == "POST":
        return _login_post(self_url)
    if not _allowed():
        return _login()
    args = request.args.copy()
    for name in set(args) - set(_LIST_PARAMS):
        args.poplist(name)
    try:
        q = parse_alert_query(args)
    except QueryError as exc:
        return _page(_MISSING, 400, title="Bad filter", what=str(exc), home="alerts")
    rows = runtime().store.list_alerts(q)
    shown = [(k, v) for k, v in request.args.items(multi=True) if k in _LIST_PARAMS and v]
    return _page(_LIST, title="Alerts", filters=shown, rows=[{
        "id": r["id"], "severity": r["severity"], "alertname": r["alertname"], "status": r["status"],
        "where": _where(r.get("labels") or {}), "started": _fmt(r.get("starts_at")),
        "age": _age(r.get("starts_at"), r.get("ends_at")), "acked_by": r.get("acknowledged_by") or "",
        "title": r.get("title") or ""} for r in rows], limit=q.limit)


_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }} · D76</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;padding:.8em;max-width:52em;line-height:1.4;color:#222}
h1{font-size:1.25em;margin:.2em 0 .6em}h2{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;width:100%;font-size:.92em}td,th{text-align:left;padding:.3em .4em;
border-bottom:1px solid #ddd;vertical-align:top;overflow-wrap:anywhere}th{background:#f4f4f4}
code{font-size:.95em}.sev{font-weight:bold}.firing{color:#b00}.resolved{color:#070}.muted{color:#666}
.P0{color:#b00}.P1{color:#c60}input{font-size:1em;padding:.4em;width:100%;box-sizing:border-box}
button{font-size:1em;padding:.4em 1em;margin-top:.5em}.err{color:#b00}
</style></head><body>{# body #}</body></html>"""

_LOGIN = """<h1>D76 alerts: sign in</h1>
<p>These pages show the alert history. Paste the receiver's token (RECEIVER_TOKEN; in a local stack
the file <code>alertmanager/receiver_token</code> in its state folder) once; this browser then keeps
a cookie for 30 days that opens these read-only pages only.</p>
{% if error %}<p class="err">{{ error }}</p>{% endif %}
<form method="post"><input type="password" name="token" autocomplete="current-password"
 aria-label="receiver token" placeholder="receiver token" required autofocus>
<button type="submit">Open</button></form>"""

_MISSING = """<h1>{{ title }}</h1><p>{{ what }}</p><p><a href="{{ home }}">all alerts</a></p>"""

_ALERT = """<h1><span class="sev {{ a.severity }}">[{{ a.severity or 'none' }}]</span> {{ a.title or a.alertname }}</h1>
<p><span class="{{ a.status }}"><b>{{ a.status }}</b></span> · #{{ a.id }} · <code>{{ a.alertname }}</code>
{% if a.source %} · {{ a.source }}{% endif %}{% if where %} · {{ where }}{% endif %}</p>
{% if a.message %}<p>{{ a.message }}</p>{% endif %}
<table>
<tr><th>started</th><td>{{ started }}{% if duration %} ({{ duration }}{% if a.status == 'firing' %} so far{% endif %}){% endif %}</td></tr>
{% if ended %}<tr><th>ended</th><td>{{ ended }}</td></tr>{% endif %}
<tr><th>last received</th><td>{{ last }} ({{ a.receive_count }} notification(s) from Alertmanager)</td></tr>
<tr><th>acknowledged</th><td>{% if a.acknowledged %}by {{ a.acknowledged_by }} at {{ acked_at }}{% if a.ack_comment %}: {{ a.ack_comment }}{% endif %}{% else %}<span class="muted">not yet</span>{% endif %}</td></tr>
<tr><th>silence</th><td>{% if silence %}{{ silence }}{% else %}<span class="muted">none recorded</span>{% endif %}</td></tr>
</table>
{% if runbook %}<p><a href="{{ runbook }}" rel="noreferrer">📖 Runbook</a></p>{% endif %}
<h2>Labels</h2><table>{% for k, v in labels %}<tr><th>{{ k }}</th><td><code>{{ v }}</code></td></tr>{% endfor %}</table>
<h2>Annotations</h2><table>{% for k, v, url in annotations %}<tr><th>{{ k }}</th><td>{% if url %}<a href="{{ url }}" rel="noreferrer">{{ v }}</a>{% else %}{{ v }}{% endif %}</td></tr>{% endfor %}</table>
<h2>Deliveries</h2>
{% if deliveries %}<table><tr><th>channel</th><th>kind</th><th>status</th><th>sent</th></tr>
{% for d in deliveries %}<tr><td>{{ d.channel }}{% if d.destination %} <span class="muted">{{ d.destination }}</span>{% endif %}</td>
<td>{{ d.kind }}</td><td>{{ d.status }}{% if d.attempts and d.attempts > 1 %} ({{ d.attempts }} attempts){% endif %}{% if d.error %}<br><span class="err">{{ d.error }}</span>{% endif %}</td><td>{{ d.sent_at }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">none (notifications off, or not yet queued)</p>{% endif %}
{{ actions }}
<p><a href="{{ same }}">every firing {{ a.alertname }}</a> · <a href="../alerts">all alerts</a></p>"""

_LIST = """<h1>Alerts{% for k, v in filters %} · {{ k }}={{ v }}{% endfor %}</h1>
<p class="muted">{{ rows|length }} shown, newest first{% if rows|length == limit %} (the first {{ limit }}; add limit=... for more){% endif %}</p>
{% if rows %}<table><tr><th>#</th><th>alert</th><th>status</th><th>started</th></tr>
{% for r in rows %}<tr><td><a href="alerts/{{ r.id }}">{{ r.id }}</a></td>
<td><span class="sev {{ r.severity }}">{{ r.severity }}</span> <a href="alerts/{{ r.id }}">{{ r.alertname }}</a>{% if r.where %}<br><span class="muted">{{ r.where }}</span>{% endif %}</td>
<td class="{{ r.status }}">{{ r.status }}{% if r.acked_by %}<br><span class="muted">ack: {{ r.acked_by }}</span>{% endif %}</td>
<td>{{ r.started }}<br><span class="muted">{{ r.age }}</span></td></tr>{% endfor %}</table>
{% else %}<p>No alert matches.</p>{% endif %}"""
