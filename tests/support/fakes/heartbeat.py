"""A fake heartbeat service on loopback: healthchecks.io's ping API and Uptime Kuma's push API.

healthchecks.io (`hc_url(check)`, what its dashboard shows as the ping URL):
    HEAD/GET/POST /ping/<uuid>            success
    ... /ping/<uuid>/start                the job started
    ... /ping/<uuid>/fail                 failure (the body is kept as the log of the failure)
    ... /ping/<uuid>/log                  a message, no state change
    ... /ping/<uuid>/<exit status>        0 success, 1..255 failure
answers `200 OK` (text), `404 not found` for a UUID it does not know, `400 invalid url format` for
an exit status outside 0..255; a POST body is kept up to 100 kB (healthchecks.io's limit).

Uptime Kuma (`kuma_url(token)`, its push monitor's URL):
    GET/POST /api/push/<token>?status=up|down&msg=...&ping=...
answers `{"ok": true}`, or 404 `{"ok": false, "msg": "Monitor not found or not active."}`; a status
other than `up` is down; `msg` defaults to "OK" (Kuma reads only the query, never the body).

Every call is recorded as a `Ping` (check, kind success/fail/start/log, body, msg, monotonic time):
`pings(check)`, `successes(check)`, `failures(check)`, `wait_ping(check, kind, after=...)`. Faults
come from `FakeHTTPServer.inject` (an outage: `inject(status=503, times=...)`, a hang:
`Fault(kind="timeout")`).
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from .base import FakeHTTPServer, RecordedRequest

__all__ = ["FakeHeartbeat", "Ping"]

BODY_LIMIT = 100_000
_HC = re.compile(r"^/ping/(?P<check>[0-9a-fA-F-]{36})(?:/(?P<what>start|fail|log|\d+))?/?$")
_KUMA = re.compile(r"^/api/push/(?P<token>[A-Za-z0-9]+)/?$")


@dataclass(frozen=True)
class Ping:
    check: str        # the healthchecks.io UUID or the Kuma push token
    kind: str         # success | fail | start | log
    body: str
    msg: str | None   # the `msg` query parameter (what Kuma shows)
    method: str
    at: float         # time.monotonic() when it arrived


class FakeHeartbeat(FakeHTTPServer):
    def __init__(self) -> None:
        super().__init__()
        self.checks: set[str] = set()
        self.kuma_tokens: set[str] = set()
        self.received: list[Ping] = []

    # checks ---------------------------------------------------------------------------------------------
    def hc_check(self) -> str:
        """A new healthchecks.io check; returns its UUID."""
        check = str(uuid.uuid4())
        with self._lock:
            self.checks.add(check)
        return check

    def hc_url(self, check: str) -> str:
        return f"{self.url}/ping/{check}"

    def kuma_monitor(self) -> str:
        """A new Uptime Kuma push monitor; returns its token."""
        token = uuid.uuid4().hex[:10]
        with self._lock:
            self.kuma_tokens.add(token)
        return token

    def kuma_url(self, token: str, status: str = "up") -> str:
        return f"{self.url}/api/push/{token}?status={status}&msg=OK&ping="

    # reading --------------------------------------------------------------------------------------------
    def pings(self, check: str | None = None, kind: str | None = None, after: float = 0.0) -> list[Ping]:
        with self._lock:
            return [p for p in self.received if (check is None or p.check == check)
                    and (kind is None or p.kind == kind) and p.at >= after]

    def successes(self, check: str, after: float = 0.0) -> list[Ping]:
        return self.pings(check, "success", after)

    def failures(self, check: str, after: float = 0.0) -> list[Ping]:
        return self.pings(check, "fail", after)

    def wait_ping(self, check: str, kind: str, *, after: float = 0.0, timeout: float = 30.0) -> Ping:
        """The first `kind` ping of `check` that arrives at or after `after` (monotonic)."""
        return self.wait_for(lambda: (self.pings(check, kind, after) or [None])[0], timeout)

    # protocol -------------------------------------------------------------------------------------------
    def handle(self, request: Request, recorded: RecordedRequest) -> Response:
        if request.method not in ("GET", "HEAD", "POST"):
            return Response("method not allowed", status=405)
        hc = _HC.match(request.path)
        if hc:
            return self._healthchecks(hc.group("check"), hc.group("what"), request, recorded)
        kuma = _KUMA.match(request.path)
        if kuma:
            return self._kuma(kuma.group("token"), request, recorded)
        return Response("not found", status=404)

    def _record(self, check: str, kind: str, request: Request, recorded: RecordedRequest) -> None:
        body = recorded.body[:BODY_LIMIT].decode("utf-8", errors="replace") if request.method == "POST" else ""
        with self._lock:
            self.received.append(Ping(check, kind, body, request.args.get("msg"), request.method, recorded.at))
            self._lock.notify_all()

    def _healthchecks(self, check: str, what: str | None, request: Request, recorded: RecordedRequest) -> Response:
        if check.lower() not in self.checks:
            return Response("not found", status=404, mimetype="text/plain")
        kind = "success"
        if what in ("start", "fail", "log"):
            kind = what
        elif what is not None:
            status = int(what)
            if status > 255:
                return Response("invalid url format", status=400, mimetype="text/plain")
            kind = "success" if status == 0 else "fail"
        self._record(check.lower(), kind, request, recorded)
        return Response("OK", mimetype="text/plain")

    def _kuma(self, token: str, request: Request, recorded: RecordedRequest) -> Response:
        if token not in self.kuma_tokens:
            return _json({"ok": False, "msg": "Monitor not found or not active."}, 404)
        status = request.args.get("status") or "up"
        with self._lock:
            self.received.append(Ping(token, "success" if status == "up" else "fail",
                                      recorded.body[:BODY_LIMIT].decode("utf-8", errors="replace"),
                                      request.args.get("msg") or "OK", request.method, recorded.at))
            self._lock.notify_all()
        return _json({"ok": True})

    def gaps(self, check: str, kind: str = "success", after: float = 0.0) -> list[float]:
        """Seconds between consecutive `kind` pings of `check`."""
        times = [p.at for p in self.pings(check, kind, after)]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def last(self, check: str) -> Ping | None:
        found = self.pings(check)
        return found[-1] if found else None


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, mimetype="application/json")
