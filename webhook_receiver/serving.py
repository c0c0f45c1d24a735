"""Serve the app under waitress (a production WSGI server) with a clean shutdown on SIGTERM/SIGINT,
sized so that it cannot be starved of connections.

Why a small subclass of waitress's server (`ReceiverServer`): waitress stops accepting once
`connection_limit` sockets are open, and closes an idle keep-alive connection only after
`channel_timeout` (120 s by default). Three clustered Alertmanagers (Go's HTTP client keeps up to
100 idle connections per host) filled the default 100 and the receiver went deaf, `/healthz`
included, with every worker idle. A bigger limit only moves the cliff, so at the limit we do what
nginx does with reusable connections: close the longest-idle keep-alive connections that have no
request in flight (and no bytes waiting to be read), then accept. When there are none, the
connections with the oldest unfinished request (slow or stalled clients) go first; a request must
also arrive completely within `request_timeout`. This is safe for Alertmanager: Go's client retries
a request on a new connection when the server closed an idle one before the request was written.

Sizing (environment, see `settings`): RECEIVER_THREADS (8 workers; requests are short and storage
failures answer at once, see `store.breaker`), RECEIVER_CONNECTION_LIMIT (200 open sockets, raised
within the process's file limit), RECEIVER_IDLE_TIMEOUT_SECONDS (30 s keep-alive; Go's clients keep
idle connections for 90 s and simply reconnect), RECEIVER_REQUEST_TIMEOUT_SECONDS (30 s to send one
request), RECEIVER_BACKLOG (1024 pending connections in the kernel while every slot is busy).
waitress is kept (pinned 3.0.2): pure Python, no C build, already the project's server; the
subclass overrides two hooks (`readable`, `maintenance`) and one channel method (`received`).
"""
from __future__ import annotations

import logging
import resource
import signal
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

from .app import close_app

__all__ = ["serve", "parse_listen", "make_server", "ServingOptions", "ReceiverServer"]

log = logging.getLogger("webhook_receiver.serving")

_RESERVED_FDS = 64  # database pool, log files, outbound HTTP clients
_MIN_PARTIAL_AGE_S = 1.0  # a request younger than this is never evicted at the limit


class _Stop(SystemExit):
    """Raised by the signal handler inside the asyncore loop. A SystemExit, because waitress's loop
    re-raises only SystemExit/KeyboardInterrupt: an Exception raised while a channel is handling
    I/O is caught as "uncaptured python exception, closing channel" and the server keeps running."""


@dataclass(frozen=True)
class ServingOptions:
    threads: int = 8
    connection_limit: int = 200
    idle_timeout: float = 30.0
    request_timeout: float = 30.0
    backlog: int = 1024
    max_body_bytes: int | None = None

    @classmethod
    def from_settings(cls, settings: Any, threads: int | None = None) -> ServingOptions:
        return cls(
            threads=threads or settings.threads, connection_limit=settings.connection_limit,
            idle_timeout=settings.idle_timeout, request_timeout=settings.request_timeout,
            backlog=settings.backlog, max_body_bytes=settings.max_body_bytes,
        )


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen: expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


class _Channel(HTTPChannel):
    """waitress's channel, remembering since when a request has been arriving (`partial_since`)."""

    partial_since: float | None = None

    def received(self, data: bytes) -> bool:
        before = self.request
        result = super().received(data)
        if self.request is None:
            self.partial_since = None
        elif self.request is not before:
            self.partial_since = time.time()
        return result

    def closing(self) -> bool:
        return bool(self.will_close or self.close_when_flushed)

    def idle_keepalive(self) -> bool:
        """Between requests: nothing in flight, nothing half-received, nothing left to send."""
        return not (self.requests or self.request is not None or self.total_outbufs_len or self.closing())

    def bytes_waiting(self) -> bool:
        """A request may be on its way (bytes not read yet): do not evict. Nothing pending
        (BlockingIOError), EOF or an error: evict."""
        try:
            return bool(self.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False


class ReceiverServer(TcpWSGIServer):
    """TcpWSGIServer that evicts idle keep-alive (then stalled) connections instead of going deaf
    at `connection_limit`, and bounds how long one request may take to arrive."""

    channel_class = _Channel
    # set by waitress (which carries no type hints)
    next_channel_cleanup: float
    in_connection_overflow: bool

    def __init__(self, application: Any, *, request_timeout: float = 30.0, **kw: Any) -> None:
        self.request_timeout = request_timeout
        self.evicted_total = 0
        self.timed_out_total = 0
        self._evict_log_at = 0.0
        self._evicted_since_log = 0
        super().__init__(application, **kw)

    def _channels(self) -> Iterable[_Channel]:
        return list(self.active_channels.values())

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle longer than channel_timeout -> close
        cutoff = now - self.request_timeout
        for ch in self._channels():
            if not ch.requests and ch.partial_since is not None and ch.partial_since < cutoff and not ch.closing():
                ch.will_close = True
                self.timed_out_total += 1

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        if len(self._map) < self.adj.connection_limit:
            if self.in_connection_overflow:
                self.in_connection_overflow = False
                log.info("accepting connections again", extra={"fields": {"open": len(self._map)}})
            return True
        if not self._make_room(now) and not self.in_connection_overflow:
            self.in_connection_overflow = True
            log.warning("connection limit reached with every connection busy; new ones wait in the backlog",
                        extra={"fields": {"limit": self.adj.connection_limit}})
        return False  # the evicted close on this loop turn; we accept on the next

    def _make_room(self, now: float) -> bool:
        """Mark enough connections to close to get a few free slots. False if none can go."""
        channels = self._channels()
        closing = sum(1 for ch in channels if ch.closing())
        headroom = max(1, min(32, self.adj.connection_limit // 16))
        need = len(self._map) - self.adj.connection_limit + headroom - closing
        if need <= 0:
            return closing > 0
        victims: list[_Channel] = []
        idle = sorted((ch for ch in channels if ch.idle_keepalive()), key=lambda ch: ch.last_activity)
        for ch in idle:
            if len(victims) >= need:
                break
            if not ch.bytes_waiting():
                victims.append(ch)
        if len(victims) < need:
            stalled = sorted(
                (ch for ch in channels if not ch.requests and not ch.closing() and ch.partial_since is not None
                 and ch.partial_since < now - _MIN_PARTIAL_AGE_S),
                key=lambda ch: ch.partial_since or now,
            )
            victims.extend(stalled[: need - len(victims)])
        for ch in victims:
            ch.will_close = True
        self.evicted_total += len(victims)
        self._evicted_since_log += len(victims)
        if self._evicted_since_log and now - self._evict_log_at >= 10.0:
            log.warning(
                "connection limit reached: closed idle keep-alive or stalled connections to accept new ones",
                extra={"fields": {"limit": self.adj.connection_limit, "closed": self._evicted_since_log,
                                  "closed_total": self.evicted_total}},
            )
            self._evict_log_at = now
            self._evicted_since_log = 0
        return bool(victims) or closing > 0


def _fit_file_limit(connection_limit: int) -> int:
    """Raise the soft open-files limit if the connection limit needs it; else lower the limit."""
    need = connection_limit + _RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < need:
        fitted = max(8, soft - _RESERVED_FDS)
        log.warning("RECEIVER_CONNECTION_LIMIT lowered to fit the open-files limit",
                    extra={"fields": {"asked": connection_limit, "using": fitted, "nofile": soft}})
        return fitted
    return connection_limit


def make_server(app: Any, listen: str, options: ServingOptions | None = None) -> ReceiverServer:
    """Bind `listen` and return the (not yet running) server; `server.run()` serves."""
    o = options or ServingOptions()
    host, port = parse_listen(listen)
    limit = _fit_file_limit(o.connection_limit)
    adj: dict[str, Any] = {
        "host": host, "port": port, "threads": o.threads, "ident": "d76-receiver",
        "connection_limit": limit, "channel_timeout": o.idle_timeout, "backlog": o.backlog,
        # maintenance (idle and request timeouts) runs this often
        "cleanup_interval": max(0.5, min(30.0, min(o.idle_timeout, o.request_timeout) / 4)),
        "asyncore_use_poll": True,  # select() cannot watch file descriptors above 1023
    }
    if o.max_body_bytes:
        adj["max_request_body_size"] = o.max_body_bytes + 1024  # Flask answers 413 itself, with JSON
    return ReceiverServer(app, adj=Adjustments(**adj), request_timeout=o.request_timeout)


def serve(app: Flask, listen: str, options: ServingOptions | None = None) -> None:
    """Block serving `app` on `listen` until SIGTERM or SIGINT; then stop accepting, let in-flight
    requests finish, and close the store. When `listen` cannot be bound (OSError), the app is
    closed too before the error propagates."""
    o = options or ServingOptions()
    try:
        server = make_server(app, listen, o)
    except OSError:
        close_app(app)
        raise

    log.info("receiver listening", extra={"fields": {
        "listen": f"{server.effective_host}:{server.effective_port}", "threads": o.threads,
        "connection_limit": server.adj.connection_limit, "idle_timeout_s": o.idle_timeout,
        "request_timeout_s": o.request_timeout, "backlog": o.backlog}})
    stopped_by: list[str] = []

    def _on_signal(signum: int, frame: Any) -> None:
        stopped_by.append(signal.Signals(signum).name)
        raise _Stop(stopped_by[-1])

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    try:
        server.run()  # returns (after shutting the task dispatcher down) on _Stop
    finally:
        log.info("receiver stopping", extra={"fields": {"signal": stopped_by[0] if stopped_by else None}})
        server.close()
        server.task_dispatcher.shutdown(timeout=10)
        close_app(app)
        log.info("receiver stopped", extra={"fields": {"evicted_connections": server.evicted_total,
                                                       "timed_out_requests": server.timed_out_total}})
