"""The receiver's per-app state and its request-scoped getters (flaskr style).

`create_app` puts one `ReceiverState` in `app.extensions`; views and error handlers reach the store,
settings, metrics, the ingest hook and the alert actions through these getters, never through the
app module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

from .metrics import ReceiverMetrics
from .settings import Settings
from .store import AlertStore, IngestHook, no_hook

if TYPE_CHECKING:
    from .notify.actions import AlertActions
    from .notify.outbox import Outbox

__all__ = ["ReceiverState", "get_state", "get_store", "get_settings", "get_metrics", "get_ingest_hook",
           "get_actions", "get_outbox", "EXTENSION"]

EXTENSION = "d76_receiver"


@dataclass
class ReceiverState:
    settings: Settings
    store: AlertStore
    metrics: ReceiverMetrics
    outbox: Outbox
    actions: AlertActions
    ingest_hook: IngestHook = no_hook


def get_state() -> ReceiverState:
    return current_app.extensions[EXTENSION]


def get_store() -> AlertStore:
    return get_state().store


def get_settings() -> Settings:
    return get_state().settings


def get_metrics() -> ReceiverMetrics:
    return get_state().metrics


def get_ingest_hook() -> IngestHook:
    return get_state().ingest_hook


def get_actions() -> AlertActions:
    return get_state().actions


def get_outbox() -> Outbox:
    return get_state().outbox
