"""Flask app factory (flaskr style): `create_app(settings, store=None, hook=None)`.

Domain errors become HTTP answers in ONE place (`_register_error_handlers`): bad input 400,
auth 401, unknown id 404, too large 413, storage unavailable 503 with Retry-After. Bad input is
never a 500.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import PayloadError, ReceiverError, StorageUnavailable
from .metrics import ReceiverMetrics, StorageUpCollector
from .notify.actions import AlertActions
from .notify.outbox import Outbox
from .safejson import BoundedJSONProvider
from .settings import Settings, load_settings
from .state import EXTENSION, ReceiverState, get_metrics
from .store import AlertStore, IngestHook, open_store

__all__ = ["create_app"]

log = logging.getLogger("webhook_receiver")

RETRY_AFTER_SECONDS = 5


def create_app(settings: Settings | None = None, store: AlertStore | None = None,
               hook: IngestHook | None = None, **notify_kwargs: Any) -> Flask:
    """Build the receiver. Opens the store and applies pending migrations (unless
    RECEIVER_APPLY_MIGRATIONS=false), then wires notifications (`webhook_receiver.notify`) when they
    are enabled. `hook` replaces the ingest hook (tests); `notify_kwargs` go to the notification
    service (e.g. `channels={...}` to replace a channel, `start=False`)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.json = BoundedJSONProvider(app)  # request.get_json() anywhere: bad nesting is a 400, never a 500
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    store = store or open_store(settings.database_url, settings)
    if settings.apply_migrations:
        applied = store.migrate()
        if applied:
            log.info("migrations applied", extra={"fields": {"versions": applied, "backend": store.dialect.name}})
    outbox = Outbox(store)
    state = ReceiverState(settings, store, ReceiverMetrics(), outbox, AlertActions(store, outbox))
    state.metrics.registry.register(StorageUpCollector(store))  # d76_receiver_storage_up
    app.extensions[EXTENSION] = state

    if not settings.auth_enabled:
        log.warning("RECEIVER_TOKEN is not set: no auth (local demo only)")

    from .api import bp
    from .pages import bp as pages_bp
    from .runbooks import bp as runbooks_bp

    app.register_blueprint(bp)
    app.config["D76_RUNBOOKS_DIR"] = settings.raw.get("RUNBOOKS_DIR")
    app.register_blueprint(runbooks_bp)
    app.register_blueprint(pages_bp)  # /alerts/<id>, /alerts: the HTML pages links in messages open
    _register_request_metrics(app)
    _register_error_handlers(app)

    from .notify import init_app as init_notifications

    service = init_notifications(app, store, settings.raw, **notify_kwargs)
    if hook is not None:
        state.ingest_hook = hook
    from .history import init_app as init_history

    history = init_history(app, store, settings)  # reconciler and pruner (webhook_receiver.history)
    store_close = store.close

    def close() -> None:  # whoever closes the store must not leave our threads using it
        history.stop()
        if service is not None:
            service.stop()
        store_close()

    store.close = close  # type: ignore[method-assign]
    return app


def _register_request_metrics(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.d76_t0 = time.perf_counter()

    @app.after_request
    def _count(resp: Any) -> Any:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        m = get_metrics()
        m.requests.labels(endpoint, request.method, str(resp.status_code)).inc()
        t0 = g.get("d76_t0")
        if t0 is not None:
            m.request_seconds.labels(endpoint).observe(time.perf_counter() - t0)
        return resp


def _error(status: int, message: str, **extra: Any) -> Any:
    resp = jsonify({"error": message, **extra})
    resp.status_code = status
    return resp


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(StorageUnavailable)
    def _storage(exc: StorageUnavailable) -> Any:
        op = request.url_rule.rule if request.url_rule is not None else "unknown"
        get_metrics().storage_errors.labels(op).inc()
        log.error("storage unavailable", extra={"fields": {"endpoint": op, "error": str(exc)}})
        resp = _error(503, "storage unavailable, retry later")
        resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return resp

    @app.errorhandler(PayloadError)
    def _payload(exc: PayloadError) -> Any:
        get_metrics().payload_errors.inc()
        log.warning("bad webhook payload", extra={"fields": {"error": str(exc)}})
        return _error(400, str(exc))

    @app.errorhandler(ReceiverError)
    def _domain(exc: ReceiverError) -> Any:
        resp = _error(exc.status, str(exc), **({"param": exc.param} if hasattr(exc, "param") else {}))
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="d76-receiver"'
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        if status == 413:
            msg = f"request body larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        else:
            msg = exc.description or exc.name
        return _error(status, msg)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error", extra={"fields": {"exc_type": type(exc).__name__}})
        return _error(500, "internal error")
