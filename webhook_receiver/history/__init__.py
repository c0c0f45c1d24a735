"""History an incident review can rely on: reconciliation with Alertmanager (no alert left `firing`
after its condition ended; every silenced or inhibited episode), a timeline per alert, retention,
export.

    settings.py   HISTORY_* and PAYLOAD_RETENTION_DAYS, parsed once
    amview.py     Alertmanager's /api/v2/alerts, parsed and merged over replicas (pure)
    reconcile.py  the reconciler (and why an Alertmanager restart cannot resolve everything)
    retention.py  the pruner (small batches) and its background thread
    timeline.py   one alert's story: fired, told, acknowledged, silenced, suppressed, resolved
    alert_state.py  an alert's state now (firing, silenced, muted, inhibited, acked, resolved) and
                  where it is: the one answer of the pages, `d76 history` and `/alerts`
    export.py     CSV / JSON export of the history (and reading the CSV back)
    service.py    the reconciler's and the pruner's threads, started and stopped with the runtime

The tables are the store's (`webhook_receiver.store.episodes`, `store.prune_queries`); nothing here
imports the HTTP layer.
"""
from __future__ import annotations
