"""What every HTML page of the receiver shares: who may see it, the sign-in form, and the answer's
headers.

Access (the pages show the same data as the history API, so they are guarded like it):

- without RECEIVER_TOKEN (a local demo) they are open, like the API;
- with it, a request is let in by `Authorization: Bearer <token>` (scripts) or by the `d76_pages`
  cookie. A phone following a link from a chat has neither the first time: the page answers 401 with
  a one-field form; the operator pastes the token once and the answer sets the cookie (HttpOnly,
  SameSite=Lax so a link tapped in Telegram sends it, Secure over https or when RECEIVER_EXTERNAL_URL
  is https, 30 days). The cookie holds an HMAC of the token, not the token: it opens these read-only
  pages and nothing else (not the API, not the webhook), and changing RECEIVER_TOKEN signs every
  phone out. Wrong tokens are throttled per client (`signin_throttle`): past
  RECEIVER_SIGNIN_TRIES_PER_MINUTE the form answers 429 with Retry-After.

Pages are Jinja templates (`templates/`, autoescaped; `base.html` holds the layout and `pages.css`);
links are relative, so the pages work behind a reverse proxy under a path prefix; answers are
`no-store` with a strict Content-Security-Policy: no script at all, inline styles only. The optional
auto-refresh of the list is a `<meta http-equiv="refresh">`, which the policy does not need to allow.
Times are written by `timefmt` in UTC, or in D76_TZ.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import tzinfo
from typing import Any

from flask import Response, current_app, make_response, redirect, render_template, render_template_string, request
from markupsafe import Markup, escape
from werkzeug.wrappers import Response as AnyResponse  # what redirect() answers (flask's Response is one)

from .signin_throttle import SignInThrottle
from .state import runtime
from .timefmt import zone

__all__ = ["keep_words", "COOKIE", "COOKIE_MAX_AGE", "CSP", "cookie_value", "allowed", "html_page", "login",
           "html_page_string", "secure_cookie", "login_post",
           "page_zone"]

log = logging.getLogger("webhook_receiver.pages")

COOKIE = "d76_pages"
COOKIE_MAX_AGE = 30 * 24 * 3600
# no script, no images, no frames: styles inline (the pages' one stylesheet), forms to this origin
CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
_THROTTLE = "d76_signin_throttle"


_HYPHENATED = re.compile(r"(\S*-\S*)")
KEEP_MAX = 32


def keep_words(value: Any) -> Markup:
    """Text with each short hyphenated word (a date, `upbit-binance-BTC`) kept on one line: a browser
    may break a line after any hyphen, which cuts a label value or a date in two on a phone. Longer
    words (a URL) may still wrap, or they would stick out of the screen. Escaped."""
    out = []
    for i, part in enumerate(_HYPHENATED.split(str(value if value is not None else ""))):
        if i % 2 and len(part) <= KEEP_MAX:
            out.append(Markup('<span class="nw">{}</span>').format(part))
        else:
            out.append(escape(part))
    return Markup("").join(out)


def cookie_value(token: str) -> str:
    """What the cookie holds for `token`: an HMAC of it (never the token itself)."""
    return hmac.new(token.encode("utf-8"), b"d76 read-only pages v1", hashlib.sha256).hexdigest()


def allowed() -> bool:
    """Whether this request may see the pages (bearer token, the sign-in cookie, or no token set)."""
    token = runtime().settings.receiver_token
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), cookie_value(token).encode())


def page_zone() -> tzinfo:
    """The zone the pages write times in (D76_TZ; UTC by default)."""
    return zone(runtime().settings.timezone)


def secure_cookie() -> bool:
    external = str(runtime().settings.raw.get("RECEIVER_EXTERNAL_URL") or "")
    return request.is_secure or external.lower().startswith("https://")


def _with_headers(resp: Response) -> Response:
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def html_page(template: str, status: int = 200, **context: Any) -> Response:
    """Render a page with the pages' headers (no-store, the CSP, nosniff, no referrer)."""
    return _with_headers(make_response(render_template(template, **context), status))


def html_page_string(body: str, status: int = 200, **context: Any) -> Response:
    """A page whose body is a template string, in the pages' layout (for a module that extends the
    pages with its own small templates)."""
    source = '{% extends "base.html" %}{% block body %}' + body + "{% endblock %}"
    return _with_headers(make_response(render_template_string(source, **context), status))


def login(error: str = "", status: int = 401, home: str = "alerts") -> Response:
    return html_page("signin.html", status, title="Sign in", error=error, home=home)


def _throttle() -> SignInThrottle:
    found = current_app.extensions.get(_THROTTLE)
    if not isinstance(found, SignInThrottle):
        found = SignInThrottle(runtime().settings.signin_tries_per_minute)
        current_app.extensions[_THROTTLE] = found
    return found


def login_post(self_url: str, home: str = "alerts") -> AnyResponse:
    """The token pasted into the form: right -> cookie and back to the same page (303); wrong -> the
    form again (401); too many wrong ones from this client within a minute -> 429 with Retry-After."""
    token = runtime().settings.receiver_token
    if not token:
        return redirect(self_url, 303)
    client = request.remote_addr or "?"
    throttle = _throttle()
    wait = throttle.retry_after(client)
    if wait is not None:
        log.warning("pages: sign-in throttled", extra={"fields": {"remote": client, "retry_after": wait}})
        resp = login(f"Too many wrong tokens from this address; try again in {wait} s.", 429, home)
        resp.headers["Retry-After"] = str(wait)
        return resp
    given = request.form.get("token", "").strip()
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        throttle.failed(client)
        log.warning("pages: wrong token in the sign-in form", extra={"fields": {"remote": client}})
        return login("That is not the receiver's token.", home=home)
    done = redirect(self_url, 303)
    done.set_cookie(COOKIE, cookie_value(token), max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                    secure=secure_cookie(), path="/")
    return done
