"""What each running piece says about itself, for `d76 stack status` and the runner's waits.

Alertmanager: its cluster (`GET /api/v2/status`: status and peers). Prometheus: the Alertmanagers
its notifier has discovered (`GET /api/v1/alertmanagers`) and its `replica` external label.
Receiver: readiness and storage backend (`GET /readyz`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
import yaml

from .defaults import HA_REPLICA_LABEL as REPLICA_LABEL

__all__ = ["Probe", "probe_alertmanager", "probe_prometheus", "probe_receiver", "probe_http",
           "alertmanager_cluster"]

TIMEOUT = 2.0


@dataclass(frozen=True)
class Probe:
    healthy: bool
    detail: str


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT)


def probe_http(health_url: str) -> Probe:
    try:
        r = _get(health_url)
    except requests.RequestException as exc:
        return Probe(False, type(exc).__name__)
    return Probe(r.ok, f"HTTP {r.status_code}")


def alertmanager_cluster(base_url: str) -> dict[str, Any]:
    """`{"status": "ready"|"settling"|"disabled", "peers": [{"name", "address"}, ...]}`."""
    r = _get(base_url + "/api/v2/status")
    r.raise_for_status()
    cluster = r.json().get("cluster") or {}
    return {"status": cluster.get("status", "disabled"), "peers": cluster.get("peers") or []}


def probe_alertmanager(base_url: str, expected_peers: int = 0) -> Probe:
    """Healthy when ready and, in a cluster, settled with every expected member in view."""
    ready = probe_http(base_url + "/-/ready")
    if not ready.healthy:
        return ready
    try:
        cluster = alertmanager_cluster(base_url)
    except (requests.RequestException, ValueError) as exc:
        return Probe(False, f"status unavailable ({type(exc).__name__})")
    if cluster["status"] == "disabled":
        return Probe(True, "no cluster")
    peers = sorted(p.get("address", "?") for p in cluster["peers"])
    complete = not expected_peers or len(peers) >= expected_peers
    want = f"/{expected_peers}" if expected_peers else ""
    return Probe(cluster["status"] == "ready" and complete,
                 f"cluster {cluster['status']}, {len(peers)}{want} peers: {', '.join(peers)}")


def probe_prometheus(base_url: str) -> Probe:
    """Healthy when ready; the detail names its replica label and the Alertmanagers it sends to."""
    ready = probe_http(base_url + "/-/ready")
    if not ready.healthy:
        return ready
    parts = []
    try:
        config = yaml.safe_load(_get(base_url + "/api/v1/status/config").json()["data"]["yaml"])
        replica = ((config.get("global") or {}).get("external_labels") or {}).get(REPLICA_LABEL)
        if replica:
            parts.append(f"replica {replica}")
        ams = _get(base_url + "/api/v1/alertmanagers").json()["data"]["activeAlertmanagers"]
        parts.append(f"sends to {len(ams)} alertmanager(s)")
    except (requests.RequestException, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        parts.append(f"status unavailable ({type(exc).__name__})")
    return Probe(True, ", ".join(parts))


def probe_receiver(base_url: str) -> Probe:
    try:
        r = _get(base_url + "/readyz")
    except requests.RequestException as exc:
        return Probe(False, type(exc).__name__)
    try:
        backend = r.json().get("backend", "")
    except ValueError:
        backend = ""
    return Probe(r.ok, f"HTTP {r.status_code}" + (f", {backend}" if backend else ""))
