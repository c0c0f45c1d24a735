"""ALERTMANAGER_URL is parsed in one place (the receiver's settings) and notifications take it from
there; the HISTORY_* knobs; reconciliation is on by default only with an explicit ALERTMANAGER_URL."""
from __future__ import annotations

import pytest

from webhook_receiver.history.settings import load_history_settings
from webhook_receiver.notify.settings import load_notify_settings
from webhook_receiver.settings import SettingsError, load_settings


def test_alertmanager_urls_parsed_once_and_shared() -> None:
    env = {"ALERTMANAGER_URL": "http://127.0.0.1:9093/, http://127.0.0.1:9193,http://127.0.0.1:9093"}
    s = load_settings(env)
    assert s.alertmanager_urls == ("http://127.0.0.1:9093", "http://127.0.0.1:9193") and s.alertmanager_url_set
    assert load_notify_settings(s.raw).alertmanager_urls == s.alertmanager_urls
    assert load_history_settings(s).alertmanager_urls == s.alertmanager_urls
    d = load_settings({})
    assert d.alertmanager_urls == ("http://127.0.0.1:9093",) and not d.alertmanager_url_set
    assert load_notify_settings({}).alertmanager_url == "http://127.0.0.1:9093"
    for bad in ("am:9093", "http://", "ftp://x"):
        with pytest.raises(SettingsError, match="ALERTMANAGER_URL"):
            load_settings({"ALERTMANAGER_URL": bad})


def test_history_knobs_and_defaults() -> None:
    h = load_history_settings(load_settings({}))
    assert not h.reconcile_enabled  # nobody said an Alertmanager runs at the default address
    assert (h.retention_days, h.payload_retention_days, h.reconcile_missing_polls) == (90, 14, 2)
    h = load_history_settings(load_settings({"ALERTMANAGER_URL": "http://am:9093", "HISTORY_RETENTION_DAYS": "30",
                                             "PAYLOAD_RETENTION_DAYS": "7", "HISTORY_RECONCILE_INTERVAL_SECONDS": "1",
                                             "HISTORY_RECEIVER_PREFIXES": "d76-,team-"}))
    assert h.reconcile_enabled and h.retention_days == 30 and h.payload_retention_days == 7
    assert h.reconcile_interval_seconds == 1 and h.receiver_prefixes == ("d76-", "team-")
    assert not load_history_settings(load_settings({"ALERTMANAGER_URL": "http://am:9093",
                                                    "HISTORY_RECONCILE": "false"})).reconcile_enabled


@pytest.mark.parametrize("key,value", [("HISTORY_RETENTION_DAYS", "0"), ("PAYLOAD_RETENTION_DAYS", "x"),
                                       ("HISTORY_RECONCILE_MISSING_POLLS", "0"), ("HISTORY_PRUNE_BATCH", "0"),
                                       ("HISTORY_RECONCILE", "maybe")])
def test_bad_history_values_name_the_variable(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key):
        load_history_settings(load_settings({key: value}))
