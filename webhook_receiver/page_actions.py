"""Acting from an alert's page: Ack / Unack (with a comment) and Silence, and the alert's timeline.

The page a message links to (`/alerts/<id>`, `pages.py`) shows `actions_html(alert)`: small forms
that POST to `/alerts/<id>/ack`, `/alerts/<id>/unack` and `/alerts/<id>/silence`, and the timeline
(`history.timeline`: fired, told, reminded, escalated, acknowledged, commented, ...). The actions are
the same as the buttons', the commands' and the API's (`notify.actions`): recorded in the history,
and the messages that told the alert edited through the outbox.

Guarded like the page (the `d76_pages` cookie, or `Authorization: Bearer`) and, for a browser, against
cross-site requests: each form carries a token bound to this browser's session (an HMAC, keyed by
the receiver's token, of a random `d76_csrf` cookie and the sign-in cookie), checked on POST; the
cookies are SameSite (Strict for `d76_csrf`), so another site can neither read the token nor make
the browser send the session with a forged form. A request with the bearer token (a script) carries
no ambient credential and needs no form token. Who acted is the name typed into the form (kept in a
`d76_name` cookie for next time), recorded as `page:<name>`.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template_string, request
from markupsafe import Markup
from werkzeug.wrappers import Response as AnyResponse

from .errors import NotFoundError
from .history.timeline import build_timeline
from .pages import COOKIE, _allowed, _page, _secure_cookie
from .state import runtime
from .storable import clean_text
from .timefmt import fmt_time

__all__ = ["bp", "actions_html", "csrf_token", "CSRF_COOKIE", "NAME_COOKIE", "SILENCE_CHOICES"]

log = logging.getLogger("webhook_receiver.pages")
bp = Blueprint("page_actions", __name__)

CSRF_COOKIE = "d76_csrf"
NAME_COOKIE = "d76_name"
SILENCE_CHOICES = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24)}
MAX_NAME = 64
MAX_COMMENT = 500
_PROCESS_KEY = secrets.token_bytes(32)  # without RECEIVER_TOKEN (a local demo): this process's own


def _key() -> bytes:
    token = runtime().settings.receiver_token
    if not token:
        return _PROCESS_KEY
    return hmac.new(token.encode("utf-8"), b"d76 page forms v1", hashlib.sha256).digest()


def _session() -> str:
    """This browser's form session: its `d76_csrf` cookie, or one made now (set on the response)."""
    value = request.cookies.get(CSRF_COOKIE, "")
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    made: str | None = getattr(g, "d76_csrf_new", None)
    if made is None:
        made = g.d76_csrf_new = secrets.token_hex(16)
    return made


def csrf_token(session: str | None = None) -> str:
    """The form token of a session, bound to the sign-in cookie it was made under."""
    bound = f"{session or _session()}|{request.cookies.get(COOKIE, '')}"
    return hmac.new(_key(), bound.encode("utf-8"), hashlib.sha256).hexdigest()


@bp.after_app_request
def _set_session_cookie(resp: Response) -> Response:
    made = getattr(g, "d76_csrf_new", None)
    if made:
        resp.set_cookie(CSRF_COOKIE, made, httponly=True, samesite="Strict", secure=_secure_cookie(), path="/")
    return resp


def _fmt(dt: Any) -> str:
    return fmt_time(dt) if isinstance(dt, datetime) else ""


def _detail(ev: dict[str, Any]) -> str:
    keys = ("by", "comment", "to", "reminder", "step", "channel", "destination", "kind", "status", "until",
            "silence_id", "by_alertname", "note")
    bits = []
    for k in keys:
        v = ev.get(k)
        if v is None or v == "" or isinstance(v, (list, dict)):
            continue
        if k == "silence_id":
            v = str(v)[:8]  # as the state line names it; the whole id is in `d76 history --id`
        bits.append(f"{k}: {_fmt(v) if isinstance(v, datetime) else v}")
    return " · ".join(bits)


def actions_html(alert: dict[str, Any]) -> Markup:
    """The forms (when the alert can still be acted on) and the timeline, for the alert's page."""
    t = build_timeline(runtime().store, int(alert["id"]))
    events = [{"at": _fmt(e["at"]), "event": e["event"], "detail": _detail(e)} for e in (t or {}).get("events", [])]
    html = render_template_string(_ACTIONS, a=alert, csrf=csrf_token(), events=events,
                                  name=request.cookies.get(NAME_COOKIE, "")[:MAX_NAME],
                                  choices=list(SILENCE_CHOICES), firing=alert.get("status") == "firing")
    return Markup(html)


def _refuse(status: int, what: str, alert_id: str) -> Response:
    return _page(_MISSING, status, title="Not done", what=what, home=f"../{alert_id}")


def _form(alert_id: str) -> tuple[int, str, str | None] | Response:
    """(alert id, who, comment) of a POSTed form, or the answer refusing it."""
    if not _allowed():
        return _refuse(401, "Sign in first (open the alert's page and paste the receiver's token).", alert_id)
    if not alert_id.isdigit() or len(alert_id) > 18 or int(alert_id) < 1:
        return _page(_MISSING, 404, title="No such alert", what=f"{alert_id!r} is not an alert id", home="../alerts")
    bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
    given = request.form.get("csrf", "")
    if not bearer and not (given and hmac.compare_digest(given.encode(), csrf_token().encode())):
        log.warning("pages: a form without a valid token", extra={"fields": {"remote": request.remote_addr}})
        return _refuse(403, "This form has expired or did not come from this page: reload the page and try "
                            "again.", alert_id)
    name = clean_text(request.form.get("by", "")).strip()[:MAX_NAME]
    if not name:
        return _refuse(400, "Say who you are (your name), so the others know who owns the alert.", alert_id)
    comment = clean_text(request.form.get("comment", "")).strip()[:MAX_COMMENT] or None
    return int(alert_id), name, comment


def _done(alert_id: int, name: str) -> AnyResponse:
    resp = redirect(f"../{alert_id}", 303)  # relative to /alerts/<id>/<action>: the alert's page
    resp.set_cookie(NAME_COOKIE, name, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
                    secure=_secure_cookie(), path="/")
    return resp


def _act(alert_id: str, do: Callable[[int, str, str | None], Any]) -> Any:
    """A POSTed action: the form checked, then `do(id, who, comment)`; a Response it returns refuses, anything
    else sends the browser back to the alert's page."""
    form = _form(alert_id)
    if isinstance(form, Response):
        return form
    ident, name, comment = form
    try:
        answer = do(ident, f"page:{name}", comment)
    except NotFoundError:
        return _page(_MISSING, 404, title="No such alert", what=f"no alert #{ident} in the history", home="../alerts")
    return answer if isinstance(answer, Response) else _done(ident, name)


@bp.post("/alerts/<alert_id>/ack")
def ack(alert_id: str) -> Any:
    return _act(alert_id, lambda ident, who, comment: runtime().actions.acknowledge(ident, who, comment))


@bp.post("/alerts/<alert_id>/unack")
def unack(alert_id: str) -> Any:
    return _act(alert_id, lambda ident, who, comment: runtime().actions.unacknowledge(ident, who, comment))


@bp.post("/alerts/<alert_id>/silence")
def silence(alert_id: str) -> Any:
    def do(ident: int, who: str, comment: str | None) -> Response | None:
        duration = SILENCE_CHOICES.get(request.form.get("duration", ""))
        if duration is None:
            return _refuse(400, f"Pick a duration: {', '.join(SILENCE_CHOICES)}.", str(ident))
        from .notify.actions import ActionError

        try:
            runtime().actions.silence(ident, duration, who, comment)
        except ActionError as exc:
            return _refuse(503, f"Alertmanager did not take the silence: {exc}", str(ident))
        return None
    return _act(alert_id, do)


_MISSING = """<h1>{{ title }}</h1><p>{{ what }}</p><p><a href="{{ home }}">back</a></p>"""

_ACTIONS = """<h2>Act</h2>
{% if firing %}<form method="post" action="./{{ a.id }}/{{ 'unack' if a.acknowledged else 'ack' }}" id="act">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input name="by" value="{{ name }}" placeholder="your name" aria-label="your name" maxlength="64" required>
<input name="comment" placeholder="comment (optional)" aria-label="comment" maxlength="500">
{% if a.acknowledged %}<button type="submit" id="unack" formaction="./{{ a.id }}/unack">↩️ Unack</button>
<button type="submit" id="comment" formaction="./{{ a.id }}/ack">💬 Comment</button>
{% else %}<button type="submit" id="ack" formaction="./{{ a.id }}/ack">✅ Ack</button>{% endif %}
<select name="duration" aria-label="silence for">
{% for c in choices %}<option value="{{ c }}">{{ c }}</option>{% endfor %}</select>
<button type="submit" id="silence" formaction="./{{ a.id }}/silence">🔕 Silence</button>
</form>
{% else %}<p class="muted">Resolved: nothing to act on.</p>{% endif %}
<h2>Timeline</h2>
<table id="timeline">{% for e in events %}<tr><td><span class="muted">{{ e.at }}</span><br><b>{{ e.event }}</b>
{% if e.detail %}<br><span class="muted">{{ e.detail }}</span>{% endif %}</td></tr>{% endfor %}</table>"""
