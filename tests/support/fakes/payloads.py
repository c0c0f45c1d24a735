"""Build Alertmanager webhook v4 bodies (the shape Alertmanager 0.25 posts) for tests and benchmarks."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

__all__ = ["am_alert", "am_payload"]


def am_alert(alertname: str, severity: str | None = "P1", *, status: str = "firing",
             starts_at: str = "2026-11-23T01:00:00Z", ends_at: str | None = None,
             labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
             source: str = "exchange_health") -> dict[str, Any]:
    lab = {"alertname": alertname, "job": "d75", "instance": "127.0.0.1:9876", "source": source,
           **({"severity": severity} if severity else {}), **(labels or {})}
    fp = hashlib.sha256(repr(sorted(lab.items())).encode()).hexdigest()[:16]
    ann = {"summary": f"{alertname} fired", "description": f"{alertname}: value 42",
           "runbook_url": f"https://example.invalid/runbooks/{alertname.lower()}", **(annotations or {})}
    return {"status": status, "labels": lab, "annotations": ann, "startsAt": starts_at,
            "endsAt": ends_at or ("0001-01-01T00:00:00Z" if status == "firing" else
                                  datetime.now(UTC).isoformat().replace("+00:00", "Z")),
            "generatorURL": f"http://127.0.0.1:9090/graph?g0.expr={alertname}", "fingerprint": fp}


def am_payload(*alerts: dict[str, Any], receiver: str = "d76-p1") -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = alerts[0]["labels"] if len(alerts) == 1 else {}
    return {"receiver": receiver, "status": status, "alerts": list(alerts), "groupLabels": {},
            "commonLabels": common, "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
            "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0}
