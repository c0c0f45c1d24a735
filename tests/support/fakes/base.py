"""A small threaded HTTP server on 127.0.0.1 that records requests and injects faults.

Every fake in this package (Telegram Bot API, Slack and Discord webhooks) builds on `FakeHTTPServer`:
start it on a free port, point the code under test at `server.url`, read what it received from
`server.requests`, queue faults with `server.inject(...)`, and `stop()` it (or use it as a context
manager). Waiting is done with `wait_for(predicate, timeout)` (condition variable, no sleeps).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["Fault", "FakeHTTPServer", "RecordedRequest"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it (before any fault was applied)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, Any]
    at: float  # time.monotonic() when it arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    """A fault applied to the next matching request(s).

    kind: ``"status"`` answers `status` with `body` (JSON if a dict) and `headers`;
    ``"timeout"`` holds the request for `delay` seconds before answering normally (the client's
    read timeout should fire first); ``"close"`` drops the connection without an answer.
    `path_contains` restricts which requests it applies to; `times` how many it consumes.
    """

    kind: str = "status"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 5.0
    times: int = 1
    path_contains: str | None = None


class _CloseConnection(Exception):
    pass


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        pass


class FakeHTTPServer:
    """Base class: subclasses implement `handle(request, recorded) -> Response`."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._stopping = threading.Event()
        self._server = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeHTTPServer:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # recording -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until `predicate()` is truthy (re-checked on every request); return its value."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{type(self).__name__}: condition not met within {timeout}s")
                self._lock.wait(min(left, 0.2))

    def _notify(self) -> None:
        with self._lock:
            self._lock.notify_all()

    # faults ----------------------------------------------------------------------------------
    def inject(self, fault: Fault | None = None, **kwargs: Any) -> None:
        """Queue a fault (or build one from keyword arguments)."""
        with self._lock:
            self._faults.append(fault or Fault(**kwargs))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.path_contains is None or f.path_contains in path:
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    # WSGI ------------------------------------------------------------------------------------
    def _wsgi(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        body = request.get_data()
        params: dict[str, Any] = {}
        ctype = request.mimetype
        if ctype == "application/json" and body:
            try:
                loaded = json.loads(body)
                params = loaded if isinstance(loaded, dict) else {"_": loaded}
            except ValueError:
                params = {}
        else:
            params = {k: v for k, v in request.values.items()}
        rec = RecordedRequest(
            method=request.method, path=request.path, headers=dict(request.headers),
            body=body, params=params, at=time.monotonic(),
        )
        with self._lock:
            self._requests.append(rec)
            self._lock.notify_all()
        fault = self._take_fault(request.path)
        if fault is not None:
            if fault.kind == "close":
                # Werkzeug closes the connection when the app raises before start_response.
                raise _CloseConnection("fault: close")
            if fault.kind == "timeout":
                self._stopping.wait(fault.delay)
            else:
                payload = fault.body
                if isinstance(payload, (dict, list)):
                    resp = Response(json.dumps(payload), status=fault.status, mimetype="application/json")
                else:
                    resp = Response(payload or "", status=fault.status)
                for k, v in fault.headers.items():
                    resp.headers[k] = v
                return resp(environ, start_response)
        response = self.handle(request, rec)
        self._notify()
        return response(environ, start_response)

    def handle(self, request: Request, recorded: RecordedRequest) -> Response:  # pragma: no cover
        raise NotImplementedError
