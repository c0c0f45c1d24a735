"""Serve the app under waitress (a production WSGI server) with a clean shutdown on SIGTERM/SIGINT."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from flask import Flask
from waitress.server import create_server

__all__ = ["serve", "parse_listen"]

log = logging.getLogger("webhook_receiver.serving")


class _Stop(Exception):
    pass


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen: expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def serve(app: Flask, listen: str, threads: int = 8, max_body_bytes: int | None = None) -> None:
    """Block serving `app` on `listen` until SIGTERM or SIGINT; then stop accepting, let in-flight
    requests finish, and close the store."""
    host, port = parse_listen(listen)
    kwargs: dict[str, Any] = {"host": host, "port": port, "threads": threads, "ident": "d76-receiver"}
    if max_body_bytes:
        kwargs["max_request_body_size"] = max_body_bytes + 1024  # Flask answers 413 itself, with JSON
    server = create_server(app, **kwargs)

    def _on_signal(signum: int, frame: Any) -> None:
        raise _Stop(signal.Signals(signum).name)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    log.info("receiver listening", extra={"fields": {"listen": f"{host}:{server.effective_port}", "threads": threads}})
    try:
        server.run()
    except _Stop as stop:
        log.info("receiver stopping", extra={"fields": {"signal": str(stop)}})
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=10)
        notifications = app.extensions.get("d76_notifications")
        if notifications is not None:  # background senders first, then the store they use
            notifications.stop()
        state = app.extensions.get("d76_receiver")
        if state is not None:
            state.store.close()
        log.info("receiver stopped")
