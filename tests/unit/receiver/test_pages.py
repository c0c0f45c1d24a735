"""`GET /alerts/<id>` and `GET /alerts`: the HTML pages the links in messages open.

Guarded like the history API (bearer token) plus a cookie a phone gets by pasting the token once;
everything escaped; links relative; the "+N more" list filters like the API."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.app import create_app
from webhook_receiver.pages import COOKIE, cookie_value
from webhook_receiver.settings import load_settings

TOKEN = "s3cret-token-for-pages"
HOSTILE = '<script>alert("x")</script>&"\''


class _Collect(HTMLParser):
    """Every tag and attribute of a page: a script tag or a javascript: link would show here."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        self.hrefs += [v for k, v in attrs if k == "href" and v is not None]


def _parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


@pytest.fixture
def client(tmp_path):
    app = create_app(load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path}/h.db", "RECEIVER_TOKEN": TOKEN}))
    c = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = am_payload(
        am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"},
                 annotations={"summary": "upbit FROZEN", "description": HOSTILE,
                              "runbook_url": "http://127.0.0.1:9099/runbooks/exchange-frozen"}),
        am_alert("ExchangeFrozen", "P0", labels={"exchange": HOSTILE}),
        am_alert("RouteScoreLow", "P2", labels={"route": "upbit-binance-BTC"}, source="arb_route",
                 annotations={"runbook_url": "javascript:alert(1)"}))
    r = c.post("/webhook/alertmanager", data=json.dumps(body), headers=auth, content_type="application/json")
    assert r.status_code == 200, r.text
    yield c
    app.extensions["d76_receiver"].close()


def test_without_the_token_a_phone_gets_the_sign_in_form_then_a_cookie(client):
    r = client.get("/alerts/1")
    assert r.status_code == 401 and 'type="password"' in r.text and "upbit" not in r.text
    assert client.get("/alerts?alertname=ExchangeFrozen&status=firing").status_code == 401
    # a wrong token: the form again, no cookie
    r = client.post("/alerts/1", data={"token": "guess"})
    assert r.status_code == 401 and "That is not the receiver" in r.text and "set-cookie" not in r.headers
    # the right one: a cookie that is not the token, and back to the same page (relative: proxy prefixes work)
    r = client.post("/alerts/1", data={"token": TOKEN})
    assert r.status_code == 303 and r.headers["Location"] == "./1"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={cookie_value(TOKEN)};") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=2592000" in cookie
    r = client.get("/alerts/1")
    assert r.status_code == 200 and "upbit FROZEN" in r.text
    # the list keeps its filters through the sign-in
    client.delete_cookie(COOKIE)
    r = client.post("/alerts?alertname=ExchangeFrozen&status=firing&junk=1", data={"token": TOKEN})
    assert r.headers["Location"] == "./alerts?alertname=ExchangeFrozen&status=firing"


def test_the_cookie_opens_only_the_pages_and_a_forged_one_nothing(client):
    client.set_cookie(COOKIE, cookie_value(TOKEN))
    assert client.get("/alerts/1").status_code == 200
    assert client.get("/api/alerts").status_code == 401  # not the API
    client.set_cookie(COOKIE, cookie_value("another-token"))
    assert client.get("/alerts/1").status_code == 401
    client.set_cookie(COOKIE, TOKEN)  # the raw token is not the cookie either
    assert client.get("/alerts/1").status_code == 401


def test_secure_cookie_behind_an_https_external_url(tmp_path):
    app = create_app(load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path}/h.db", "RECEIVER_TOKEN": TOKEN,
                                        "RECEIVER_EXTERNAL_URL": "https://alerts.example.com"}))
    try:
        r = app.test_client().post("/alerts/1", data={"token": TOKEN})
        assert "Secure" in r.headers["Set-Cookie"]
    finally:
        app.extensions["d76_receiver"].close()


def test_one_alert_page_shows_labels_annotations_state_escaped(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post("/api/alerts/1/ack", json={"by": "kim <b>", "comment": "failing over"}, headers=auth)
    assert r.status_code == 200
    r = client.get("/alerts/1", headers=auth)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert r.headers["Cache-Control"] == "no-store" and "default-src 'none'" in r.headers["Content-Security-Policy"]
    page = r.text
    for text in ('<span class="sev sev-P0">P0</span>', "upbit FROZEN", "firing", "exchange=upbit", "exchange_health",
                 "by kim &lt;b&gt;", "failing over", "not silenced"):
        assert text in page, text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#34;&#39;" in page  # the description, escaped
    parsed = _parse(page)
    assert "script" not in parsed.tags
    # the runbook served here, opened with this alert's values (a wiki's runbook_url is linked as it is)
    assert "../runbooks/exchange-frozen?alert=1" in parsed.hrefs
    assert "../alerts?alertname=ExchangeFrozen&status=firing" in parsed.hrefs

    hostile = _parse(client.get("/alerts/2", headers=auth).text)
    assert "script" not in hostile.tags
    # a runbook_url that is not http(s) is shown as text, never a link
    page3 = client.get("/alerts/3", headers=auth).text
    assert "javascript:alert(1)" in page3 and not any(h.startswith("javascript") for h in _parse(page3).hrefs)


def test_missing_and_malformed_ids_are_404_pages(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/alerts/999", "/alerts/0", "/alerts/abc", "/alerts/" + "9" * 30):
        r = client.get(path, headers=auth)
        assert r.status_code == 404 and r.mimetype == "text/html", path


def test_the_list_filters_like_the_api(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.get("/alerts?alertname=ExchangeFrozen&status=firing", headers=auth)
    assert r.status_code == 200
    parsed = _parse(r.text)
    ids = sorted({h for h in parsed.hrefs if re.fullmatch(r"alerts/\d+", h)})
    assert ids == ["alerts/1", "alerts/2"] and "script" not in parsed.tags
    assert "RouteScoreLow" not in r.text
    r = client.get("/alerts?severity=P2", headers=auth)
    assert "RouteScoreLow" in r.text and "ExchangeFrozen" not in r.text
    r = client.get("/alerts?status=nonsense", headers=auth)
    assert r.status_code == 400 and "status: expected firing or resolved" in r.text
    assert client.get("/alerts?alertname=Nope", headers=auth).text.count("No alert matches") == 1


def test_without_a_receiver_token_the_pages_are_open_like_the_api(tmp_path):
    app = create_app(load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path}/h.db"}))
    try:
        c = app.test_client()
        assert c.get("/alerts").status_code == 200 and c.get("/alerts/1").status_code == 404
    finally:
        app.extensions["d76_receiver"].close()
