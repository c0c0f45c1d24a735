"""Serving ``/metrics``: a WSGI app, mountable in the bot's own app, or run on its own in a thread.

The app is prometheus-client's ``make_wsgi_app``: it answers the text format (or OpenMetrics when
asked) and gzips the body when the client sends ``Accept-Encoding: gzip`` (Prometheus does).

Mounting in an existing Flask (or any WSGI) app of the bot::

    from flask import Flask
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from exporter import D75Metrics, make_metrics_app

    metrics = D75Metrics()
    app = Flask(__name__)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": make_metrics_app(metrics.registry)})

Running it alone (e.g. in the bot's process, next to its trading loop)::

    server = serve_in_thread(make_metrics_app(metrics.registry), "127.0.0.1", 9876)
    ...
    server.stop()

``serve_in_thread`` uses a threaded stdlib ``wsgiref`` server by default (no extra dependency, a
clean ``shutdown()``), or waitress with ``server="waitress"``.
"""
from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.registry import Collector

from vocabulary import HOST

__all__ = ["make_metrics_app", "serve_in_thread", "RunningServer", "WSGIApp"]

log = logging.getLogger("exporter.serve")

WSGIApp = Callable[..., Any]


def make_metrics_app(registry: Collector, *, disable_compression: bool = False) -> WSGIApp:
    """The ``/metrics`` WSGI app for ``registry`` (gzip when the client accepts it)."""
    return make_wsgi_app(registry, disable_compression=disable_compression)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """No access log lines on stderr (a 1-second scrape interval would flood it)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None


@dataclass
class RunningServer:
    """A WSGI server running in a daemon thread; ``stop()`` is idempotent."""

    host: str
    port: int
    _stop: Callable[[], None]
    _thread: threading.Thread
    _stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stop()
        self._thread.join(timeout)


def serve_in_thread(app: WSGIApp, host: str = HOST, port: int = 0,
                    server: Literal["wsgiref", "waitress"] = "wsgiref") -> RunningServer:
    """Serve ``app`` on ``host:port`` (port 0 picks a free one) in a daemon thread.

    The socket is bound before this returns, so the caller may print the address and connect
    at once. Bind errors (port in use) are raised here, not lost in the thread.
    """
    if server == "wsgiref":
        httpd = make_server(host, port, app, server_class=_ThreadingWSGIServer,
                            handler_class=_QuietHandler)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="metrics-http", daemon=True)
        thread.start()

        def stop() -> None:
            httpd.shutdown()
            httpd.server_close()

        return RunningServer(host, httpd.server_address[1], stop, thread)
    if server == "waitress":
        from waitress.server import create_server

        wserver = create_server(app, host=host, port=port, threads=2, clear_untrusted_proxy_headers=True)
        thread = threading.Thread(target=wserver.run, name="metrics-http", daemon=True)
        thread.start()

        def close_all() -> None:  # runs inside the server's loop (its trigger), never beside it
            for dispatcher in list(wserver._map.values()):
                try:
                    dispatcher.handle_close()
                except Exception:  # noqa: BLE001
                    pass

        def stop_waitress() -> None:
            # waitress has no public "stop a server running in a thread": its trigger runs a callable
            # inside the loop thread, which closes every dispatcher of the socket map, so run()'s loop
            # ends; closing them from this thread instead raced the loop's select() (EBADF)
            wserver.trigger.pull_trigger(close_all)
            thread.join(timeout=5)
            if thread.is_alive():  # the loop did not wake: close from here, as the last resort
                close_all()
            wserver.task_dispatcher.shutdown()

        return RunningServer(host, int(wserver.effective_port), stop_waitress, thread)
    raise ValueError(f"unknown server {server!r}; use 'wsgiref' or 'waitress'")
