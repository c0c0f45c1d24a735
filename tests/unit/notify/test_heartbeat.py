"""The external heartbeat (webhook_receiver/notify/heartbeat.py): its settings, the URLs it calls
(healthchecks.io's `/fail`, Uptime Kuma's `msg`), who calls (the lease holder among receivers on one
database), what it counts, and that its logs never hold the URL (the UUID in it is the credential)."""
from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from webhook_receiver.notify.chain_health import ChainHealth, Verdict
from webhook_receiver.notify.heartbeat import Heartbeat, HeartbeatSettings, build_heartbeat, fail_url_of, with_message
from webhook_receiver.setting_parsers import SettingsError, load
from webhook_receiver.store import AlertStore

URL = "https://hc-ping.com/5f0c1d8e-2b7a-4c1e-9f3a-6d2b8e7c4a10"


def test_settings_and_the_urls_it_calls():
    s = load(HeartbeatSettings, {"HEARTBEAT_URL": URL + "/"})
    assert s.url == URL and s.fail_url == URL + "/fail" and s.interval_seconds == 60
    assert s.lease_seconds == 150 and s.timeout == (3.05, 10.0)
    assert "5f0c1d8e" not in repr(s)  # secrets stay out of repr
    kuma = load(HeartbeatSettings, {"HEARTBEAT_URL": "https://kuma.lan/api/push/Ab12?status=up&msg=OK&ping=",
                                    "HEARTBEAT_FAIL_URL": "https://kuma.lan/api/push/Ab12?status=down",
                                    "HEARTBEAT_INTERVAL_SECONDS": "2"})
    assert kuma.fail_url == "https://kuma.lan/api/push/Ab12?status=down" and kuma.timeout == (1.0, 1.0)
    assert fail_url_of("https://x.io/p/k?a=1") == "https://x.io/p/k/fail?a=1" and fail_url_of(None) is None
    assert with_message(kuma.url or "", "no Watchdog for 312 s") == \
        "https://kuma.lan/api/push/Ab12?status=up&ping=&msg=no+Watchdog+for+312+s"
    assert len(with_message(URL, "x" * 5000)) < len(URL) + 220
    assert load(HeartbeatSettings, {}).url is None
    for bad, key in (({"HEARTBEAT_URL": "hc-ping.com/x"}, "HEARTBEAT_URL"),
                     ({"HEARTBEAT_URL": URL, "HEARTBEAT_INTERVAL_SECONDS": "0"}, "HEARTBEAT_INTERVAL_SECONDS")):
        with pytest.raises(SettingsError, match=key):
            load(HeartbeatSettings, bad)


class Session:
    """Records the calls; answers `status` or raises `error`."""

    def __init__(self, status: int = 200, error: Exception | None = None) -> None:
        self.status, self.error = status, error
        self.calls: list[tuple[str, bytes, dict[str, Any]]] = []

    def post(self, url: str, data: bytes, **kw: Any) -> Any:
        self.calls.append((url, data, kw))
        if self.error is not None:
            raise self.error

        class R:
            status_code = self.status
        return R()

    def close(self) -> None:
        return None


class Chain:
    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.reported: list[str] = []

    def report_local(self, owner: str) -> None:
        self.reported.append(owner)

    def check(self) -> Verdict:
        return self.verdict


def beat(store: AlertStore, chain: Chain, session: Session, owner: str, registry: CollectorRegistry) -> Heartbeat:
    s = load(HeartbeatSettings, {"HEARTBEAT_URL": URL, "HEARTBEAT_INTERVAL_SECONDS": "2"})
    return Heartbeat(store, s, chain, registry=registry, owner=owner, session=session)  # type: ignore[arg-type]


def _count(registry: CollectorRegistry, result: str) -> float:
    return registry.get_sample_value("d76_heartbeat_pings_total", {"result": result}) or 0.0


def test_the_lease_holder_pings_while_healthy_and_calls_the_fail_url_with_the_reason(store, caplog):
    caplog.set_level(logging.DEBUG)
    ok = Chain(Verdict(True, facts={"Watchdog": "3 s ago"}))
    ra, rb = CollectorRegistry(), CollectorRegistry()
    sa, sb = Session(), Session()
    a, b = beat(store, ok, sa, "a", ra), beat(store, ok, sb, "b", rb)
    assert a.step() == "ok" and b.step() is None  # b is a replica: it reports its channels, tells nothing
    assert ok.reported == ["a", "b"]
    url, body, kw = sa.calls[0]
    assert url == URL + "?msg=ok%3A+Watchdog+3+s+ago" and body == b"ok: Watchdog 3 s ago"
    assert kw["headers"]["Content-Type"].startswith("text/plain") and kw["timeout"] == (1.0, 1.0)
    ok.verdict = Verdict(False, ("no Watchdog for 312 s (DEADMAN_TIMEOUT_SECONDS=300)", "storage slow"))
    assert a.step() == "fail"
    url, body, _ = sa.calls[-1]
    assert url.startswith(URL + "/fail?msg=no+Watchdog+for+312+s")
    assert body == b"no Watchdog for 312 s (DEADMAN_TIMEOUT_SECONDS=300); storage slow"
    assert (_count(ra, "ok"), _count(ra, "fail"), _count(ra, "error"), _count(rb, "ok")) == (1, 1, 0, 0)
    # the service does not answer 2xx, or cannot be reached: counted, logged without the URL
    sa.status = 503
    assert a.step() == "error"
    sa.error = requests.ConnectionError(f"HTTPSConnectionPool: Max retries exceeded with url: {URL}")
    assert a.step() == "error" and _count(ra, "error") == 2
    logged = caplog.text + " ".join(str(getattr(r, "fields", "")) for r in caplog.records)
    assert "5f0c1d8e" not in logged and "hc-ping" not in logged
    assert "the chain is broken" in logged and "no Watchdog for 312 s" in logged and "ConnectionError" in logged
    # a holder that stops hands over at once
    a.stop()
    assert b.step() == "fail" and len(sb.calls) == 1


def test_while_the_database_is_down_the_last_holder_goes_on_telling_the_failure(store):
    chain = Chain(Verdict(False, ("storage unavailable (sqlite)",)))
    s = Session()
    hb = beat(store, chain, s, "a", CollectorRegistry())
    assert hb.step() == "fail"

    def down(*a: Any, **k: Any) -> bool:
        raise RuntimeError("database is locked")

    hb.leases.acquire_lease = down  # type: ignore[method-assign]
    assert hb.step() == "fail" and s.calls[-1][1] == b"storage unavailable (sqlite)"
    fresh = beat(store, chain, Session(), "b", CollectorRegistry())
    fresh.leases.acquire_lease = down  # type: ignore[method-assign]
    assert fresh.step() is None  # never held it: says nothing


def test_ticks_keep_to_the_interval(store):
    hb = beat(store, Chain(Verdict(True)), Session(), "a", CollectorRegistry())
    now = time.monotonic()
    hb._next = now
    assert hb._delay() == 0.0
    hb.step()
    assert 1.9 < hb._delay() <= 2.0  # the next tick one interval after the last was due
    hb._next = now - 10  # far behind (the process was paused): start again from now
    assert hb._delay() == 0.0


def test_build_heartbeat_only_with_a_url(store):
    assert build_heartbeat(store, {}, deadman_timeout=300, channels={}) is None
    hb = build_heartbeat(store, {"HEARTBEAT_URL": URL}, deadman_timeout=300, channels={}, registry=CollectorRegistry())
    assert isinstance(hb, Heartbeat) and isinstance(hb.chain, ChainHealth)
    assert hb.chain.deadman_timeout == 300 and hb.chain.report_fresh == 180


@settings(max_examples=200, deadline=None)
@given(message=st.text(max_size=400), query=st.lists(st.tuples(st.sampled_from(["status", "msg", "ping", "x"]),
                                                               st.text(max_size=10)), max_size=4))
def test_the_message_rides_in_the_query_whatever_it_says(message: str, query: list[tuple[str, str]]) -> None:
    target = "https://kuma.lan/api/push/Ab12" + ("?" + urlencode(query) if query else "")
    out = urlsplit(with_message(target, message))
    pairs = parse_qsl(out.query, keep_blank_values=True)
    assert out.path == "/api/push/Ab12" and [v for k, v in pairs if k == "msg"] == [message[:200]]
    assert [(k, v) for k, v in pairs if k != "msg"] == [(k, v) for k, v in query if k != "msg"]
