"""The external heartbeat: the one road to a phone that survives the host dying.

An outside service (healthchecks.io, Better Stack, Cronitor, a self-hosted Uptime Kuma push
monitor) expects a ping every HEARTBEAT_INTERVAL_SECONDS at HEARTBEAT_URL and pages by its own means
(email, SMS, its app) when the pings stop. The receiver pings only while the whole chain is healthy
(`chain_health.ChainHealth`: storage, the Watchdog, the outbox, the channels' calls); otherwise it
calls HEARTBEAT_FAIL_URL (default `<HEARTBEAT_URL>/fail`, healthchecks.io's convention) with the
reason, so the outside service pages at once rather than after its grace time.

Several receivers on one database: the holder of the `heartbeat` lease (`history_leases`, taken
with the history jobs' lease code) pings; the lease is 2.5 intervals long, so a dead holder's
replica takes over within that. While the database is down nobody can take the lease: the last
holder keeps the role and calls the fail URL ("storage unavailable"). Every receiver reports its
channels' call health each interval (`chain_health.ChannelHealthReports`).

Each call is a POST with the verdict as a text body (healthchecks.io, Better Stack and Cronitor keep
it) and in the `msg` query parameter (Uptime Kuma and Cronitor show it), on its own thread, with a
short timeout. The URLs are secrets (the UUID or token in them is the whole credential): they are
never logged. `d76_heartbeat_pings_total{result}` counts the calls: `ok` (told healthy), `fail`
(told broken), `error` (the service did not answer 2xx).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from prometheus_client import CollectorRegistry, Counter

from ..background import Periodic, process_owner_id
from ..setting_parsers import Raw, load, number, parse_url, setting
from ..setting_parsers import url as url_reader
from ..store.base import AlertStore
from ..store.episodes import HistoryTables
from .chain_health import ChainHealth, Verdict
from .channels.base import Channel

__all__ = ["HeartbeatSettings", "Heartbeat", "build_heartbeat", "fail_url_of", "with_message"]

log = logging.getLogger("d76.notify.heartbeat")
LEASE = "heartbeat"
RESULTS = ("ok", "fail", "error")
MSG_CHARS = 200  # of the verdict, in the URL's `msg` (the body carries all of it)


def fail_url_of(ping_url: str | None) -> str | None:
    """healthchecks.io's convention: `<ping URL>/fail` (a query string stays at the end)."""
    if not ping_url:
        return None
    parts = urlsplit(ping_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def with_message(target: str, message: str) -> str:
    """`target` with its `msg` query parameter set to `message` (Uptime Kuma, Cronitor)."""
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "msg"]
    query.append(("msg", message[:MSG_CHARS]))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _fail_url_default(raw: Raw) -> str | None:
    return fail_url_of(parse_url(raw, "HEARTBEAT_URL"))


@dataclass(frozen=True)
class HeartbeatSettings:
    url: str | None = setting("HEARTBEAT_URL", None, "ping URL of the outside service (healthchecks.io, Better Stack, "
                              "Cronitor, Uptime Kuma push) that pages when the pings stop; unset: no heartbeat",
                              url_reader, secret=True)
    fail_url: str | None = setting("HEARTBEAT_FAIL_URL", None, "called with the reason when the chain is broken "
                                   "(Uptime Kuma: the push URL with ?status=down)", url_reader,
                                   derive=_fail_url_default, show="<HEARTBEAT_URL>/fail", secret=True)
    interval_seconds: float = setting("HEARTBEAT_INTERVAL_SECONDS", 60.0, "seconds between two pings (or fail "
                                      "calls)", number(1.0, 3600.0))
    p0_wait_seconds: float = setting("HEARTBEAT_P0_WAIT_SECONDS", 60.0, "a due P0 waiting longer than this in the "
                                     "outbox breaks the chain", number(1.0, 86400.0))
    channel_failing_seconds: float = setting("HEARTBEAT_CHANNEL_FAILING_SECONDS", 120.0, "a channel's calls "
                                             "(Telegram's) failing everywhere for longer than this break the chain",
                                             number(1.0, 86400.0))

    @property
    def lease_seconds(self) -> float:
        return self.interval_seconds * 2.5

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) of one call: well within an interval."""
        t = max(0.5, min(10.0, self.interval_seconds / 2))
        return (min(3.05, t), t)


class Heartbeat:
    """The heartbeat's thread: every interval, report this receiver's channel health, take or renew
    the lease, and (holding it) judge the chain and call the outside service."""

    def __init__(self, store: AlertStore, settings: HeartbeatSettings, chain: ChainHealth, *,
                 registry: CollectorRegistry | None = None, owner: str | None = None,
                 session: requests.Session | None = None) -> None:
        if not settings.url or not settings.fail_url:
            raise ValueError("the heartbeat needs HEARTBEAT_URL")
        self.settings = settings
        self.chain = chain
        self.leases = HistoryTables(store)
        self.owner = owner or process_owner_id(8)
        self.session = session or requests.Session()
        self.pings = Counter("d76_heartbeat_pings_total", "Calls to the outside heartbeat service: ok (the chain "
                             "is healthy), fail (it is not; the reason in the body), error (no 2xx answer)",
                             ["result"], registry=registry)
        for result in RESULTS:
            self.pings.labels(result)
        self.leading = False
        self.last_verdict: Verdict | None = None
        self._next = 0.0
        self._worker: Periodic | None = None
        self._lock = threading.Lock()

    # the loop -------------------------------------------------------------------------------------------
    def start(self) -> Heartbeat:
        self._next = time.monotonic()
        self._worker = Periodic("heartbeat", self.step, self._delay, log).start()
        return self

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self.leading:
            self.leading = False
            try:  # a replica takes over at once
                self.leases.release_lease(LEASE, self.owner)
            except Exception as exc:
                log.warning("heartbeat lease not released", extra={"fields": {"error": type(exc).__name__}})
        self.session.close()

    def _delay(self) -> float:
        """Until the next tick: ticks keep to the interval whatever a call took."""
        now = time.monotonic()
        if self._next < now - self.settings.interval_seconds:
            self._next = now  # far behind (a long pause): start again from now
        return max(0.0, self._next - now)

    def step(self) -> str | None:
        """One tick: returns what was told ("ok", "fail", "error") or None when another receiver leads."""
        self._next += self.settings.interval_seconds
        try:
            self.chain.report_local(self.owner)
        except Exception as exc:  # storage down: the verdict says so
            log.debug("channel health not reported", extra={"fields": {"error": type(exc).__name__}})
        if not self._lead():
            return None
        verdict = self.chain.check()
        self._log_change(verdict)
        return self.tell(verdict)

    def _lead(self) -> bool:
        try:
            self.leading = bool(self.leases.acquire_lease(LEASE, self.owner, self.settings.lease_seconds))
        except Exception as exc:
            # the database is down: nobody can take the lease; the last holder goes on (telling the failure)
            log.debug("heartbeat lease unavailable", extra={"fields": {"error": type(exc).__name__}})
        return self.leading

    def _log_change(self, verdict: Verdict) -> None:
        last = self.last_verdict
        self.last_verdict = verdict
        if last is not None and last.healthy == verdict.healthy and last.reasons == verdict.reasons:
            return
        if verdict.healthy:
            log.info("heartbeat: the chain is healthy", extra={"fields": {"facts": dict(verdict.facts)}})
        else:
            log.warning("heartbeat: the chain is broken", extra={"fields": {"reasons": list(verdict.reasons)}})

    # the outside service --------------------------------------------------------------------------------
    def tell(self, verdict: Verdict) -> str:
        s = self.settings
        target = s.url if verdict.healthy else s.fail_url
        assert target is not None
        result = "ok" if verdict.healthy else "fail"
        try:
            resp = self.session.post(with_message(target, verdict.text), data=verdict.text.encode("utf-8"),
                                     headers={"Content-Type": "text/plain; charset=utf-8",
                                              "User-Agent": "d76-receiver heartbeat"},
                                     timeout=s.timeout)
            if not 200 <= resp.status_code < 300:
                log.warning("heartbeat call refused", extra={"fields": {"status": resp.status_code, "told": result}})
                result = "error"
        except requests.RequestException as exc:  # never str(exc): it names the URL
            log.warning("heartbeat call failed", extra={"fields": {"error": type(exc).__name__, "told": result}})
            result = "error"
        self.pings.labels(result).inc()
        return result


def build_heartbeat(store: AlertStore, raw: Raw, *, deadman_timeout: float, channels: Mapping[str, Channel],
                    registry: CollectorRegistry | None = None, **options: Any) -> Heartbeat | None:
    """The heartbeat HEARTBEAT_URL configures, or None when it is unset."""
    s = load(HeartbeatSettings, raw)
    if not s.url:
        return None
    chain = ChainHealth(store, deadman_timeout=deadman_timeout, channels=channels, p0_wait=s.p0_wait_seconds,
                        channel_failing=s.channel_failing_seconds,
                        report_fresh=max(3 * s.interval_seconds, 30.0))
    hb = Heartbeat(store, s, chain, registry=registry, **options)
    log.info("heartbeat on", extra={"fields": {
        "service": urlsplit(s.url).hostname, "interval_s": s.interval_seconds, "lease_s": s.lease_seconds,
        "deadman_timeout_s": deadman_timeout, "p0_wait_s": s.p0_wait_seconds,
        "channel_failing_s": s.channel_failing_seconds, "channels_watched": sorted(chain.reporting())}})
    return hb
