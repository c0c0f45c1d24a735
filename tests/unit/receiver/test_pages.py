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


def test_the_root_redirects_to_the_list(client):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"] == "alerts"


def _tr_texts(page: str) -> list[str]:
    """The text of each list row (`<tr class="alert ...">`), tags dropped."""
    rows = re.findall(r'<tr class="alert[^"]*">(.*?)</tr>', page, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip() for r in rows]


def test_a_list_row_has_age_severity_summary_where_and_state(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = client.get("/alerts?severity=P0", headers=auth).text
    rows = _tr_texts(page)
    frozen = next(r for r in rows if "upbit FROZEN" in r)
    row = r"^\d+[smhd]( \d+[smhd])? P0 upbit FROZEN ExchangeFrozen · #1 exchange=upbit firing$"  # age first
    assert re.match(row, frozen), frozen
    assert 'class="alert edge-P0"' in page and 'class="sev sev-P0"' in page  # the severity's colour
    assert "updated 20" in page and " UTC" in page  # when the page was made


def test_watchdog_is_hidden_unless_asked_for(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post("/webhook/alertmanager", headers=auth, json=am_payload(
        am_alert("Watchdog", "none", labels={}, source="pipeline", annotations={"summary": "alive"})))
    assert r.status_code == 200
    page = client.get("/alerts", headers=auth).text
    assert "Watchdog hidden" in page and not any("Watchdog" in row for row in _tr_texts(page))
    assert any("Watchdog" in row for row in _tr_texts(client.get("/alerts?watchdog=show", headers=auth).text))
    assert any("Watchdog" in row for row in _tr_texts(client.get("/alerts?alertname=Watchdog", headers=auth).text))


def test_auto_refresh_is_a_meta_refresh_no_script(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = client.get("/alerts?status=firing&refresh=30", headers=auth).text
    assert '<meta http-equiv="refresh" content="30">' in page and "reloads every 30 s" in page
    assert "script" not in _parse(page).tags
    assert 'href="alerts?status=firing"' in page  # stop: the same filters without refresh
    assert '<meta http-equiv="refresh"' not in client.get("/alerts", headers=auth).text
    r = client.get("/alerts?refresh=1", headers=auth)
    assert r.status_code == 400 and "refresh: expected seconds between 10 and 3600" in r.text


def test_a_silence_alertmanager_reports_is_shown_with_its_author_and_end(client, tmp_path):
    from datetime import UTC, datetime, timedelta

    from webhook_receiver.store.episodes import EpisodeCause, HistoryTables

    store = client.application.extensions["d76_receiver"].store
    ends = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    with store.transaction() as tx:  # what the reconciler records from Alertmanager's API
        HistoryTables(store).open_episode(tx, 1, EpisodeCause("silenced", "0b6c1b2e-1234", "kim@cli", "upbit work",
                                                              datetime.now(UTC) - timedelta(minutes=1), ends))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = client.get("/alerts/1", headers=auth).text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))
    assert "silenced by kim@cli until 2031-01-02 03:04:05 UTC: upbit work (silence 0b6c1b2e)" in text
    assert "not silenced" not in text and 'class="state st-silenced"' in page
    row = next(r for r in _tr_texts(client.get("/alerts", headers=auth).text) if "upbit FROZEN" in r)
    assert "silenced by kim@cli until 2031-01-02 03:04:05 UTC" in row
    assert store.get_alert(1)["silence_id"] is None  # the row's own record stays empty: the episode is the truth


def test_times_in_the_operators_zone(tmp_path):
    app = create_app(load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path}/h.db", "D76_TZ": "Asia/Seoul"}))
    try:
        c = app.test_client()
        c.post("/webhook/alertmanager", json=am_payload(am_alert("ExchangeFrozen", "P0", labels={"exchange": "upbit"},
                                                                 starts_at="2026-11-23T01:00:00Z")))
        assert "2026-11-23 10:00:00 KST" in re.sub(r"<[^>]+>", "", c.get("/alerts/1").text)
    finally:
        app.extensions["d76_receiver"].close()


def test_hyphenated_words_are_kept_on_one_line_and_escaped():
    from webhook_receiver.screens import keep_words

    out = str(keep_words("route upbit-binance-BTC until 2026-12-05 <b>"))
    assert out == ('route <span class="nw">upbit-binance-BTC</span> until <span class="nw">2026-12-05</span> '
                   "&lt;b&gt;")
    long_url = "https://example.com/" + "a-" * 40
    assert "nw" not in str(keep_words(long_url))  # a long word may wrap rather than stick out of the screen
    assert str(keep_words('a-<script>')) == '<span class="nw">a-&lt;script&gt;</span>'


def test_a_module_extending_the_pages_renders_in_their_layout(client):
    from webhook_receiver.pages import _page

    with client.application.test_request_context("/alerts/1"):
        r = _page("<h1>{{ title }}</h1><p>{{ what }}</p>", 409, title="Not done", what="<b>", home="../alerts")
    page = r.get_data(as_text=True)
    assert r.status_code == 409 and "<h1>Not done</h1><p>&lt;b&gt;</p>" in page and "<style>" in page
    assert r.headers["Cache-Control"] == "no-store" and "default-src 'none'" in r.headers["Content-Security-Policy"]
