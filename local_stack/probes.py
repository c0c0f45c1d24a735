"""What each running piece says about itself, for `d76 stack status` and the runner's waits.

Alertmanager: its cluster (`GET /api/v2/status`: status and peers). Prometheus: the Alertmanagers
its notifier has discovered (`GET /api/v1/alertmanagers`) and its `replica` external label.
Receiver: readiness and storage backend (`GET /readyz`). A Patroni member: its role, state and
timeline, and whom the primary streams to (`GET /patroni`). etcd: `GET /health`. Scrape targets:
health, last error and last scrape of each target of a job (`GET /api/v1/targets`), as Prometheus
sees them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import yaml

from vocabulary import HA_REPLICA_LABEL as REPLICA_LABEL

__all__ = ["Probe", "probe_alertmanager", "active_alertmanagers", "prometheus_alerts_page", "alertmanager_has_ui",
           "probe_prometheus", "probe_receiver", "probe_http", "probe_patroni", "probe_etcd", "patroni_role",
           "alertmanager_cluster", "probe_targets", "describe_scrape", "scraped"]

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


def active_alertmanagers(base_url: str) -> list[str]:
    """The Alertmanagers Prometheus' notifier sends to now (`GET /api/v1/alertmanagers`, active)."""
    ams = _get(base_url + "/api/v1/alertmanagers").json()["data"]["activeAlertmanagers"]
    return [str(a.get("url", "")) for a in ams]


def probe_prometheus(base_url: str) -> Probe:
    """Healthy when ready and sending to at least one Alertmanager (a Prometheus whose notifier has
    found none evaluates rules for nobody); the detail names its replica label and how many."""
    ready = probe_http(base_url + "/-/ready")
    if not ready.healthy:
        return ready
    parts = []
    healthy = True
    try:
        config = yaml.safe_load(_get(base_url + "/api/v1/status/config").json()["data"]["yaml"])
        replica = ((config.get("global") or {}).get("external_labels") or {}).get(REPLICA_LABEL)
        if replica:
            parts.append(f"replica {replica}")
        ams = active_alertmanagers(base_url)
        healthy = bool(ams)
        parts.append(f"sends to {len(ams)} alertmanager(s)" + ("" if ams else ": alerts reach nobody"))
    except (requests.RequestException, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        parts.append(f"status unavailable ({type(exc).__name__})")
    return Probe(healthy, ", ".join(parts))


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


def patroni_role(state: dict[str, Any]) -> str:
    """A member's role in words: `primary`, `sync standby`, `replica` (Patroni 3.0 says `master`)."""
    role = str(state.get("role") or "unknown")
    if role in ("master", "primary"):
        return "primary"
    if role == "replica" and state.get("sync_standby"):
        return "sync standby"
    return role


def probe_patroni(api_url: str) -> Probe:
    """A PostgreSQL member as its Patroni sees it: healthy while PostgreSQL runs; the detail says
    its role, its timeline and, for the primary, whom it streams to (`sync` for the synchronous standby)."""
    try:
        r = _get(api_url + "/patroni")
        state = r.json()
    except (requests.RequestException, ValueError) as exc:
        return Probe(False, f"patroni not answering ({type(exc).__name__})")
    if not isinstance(state, dict):
        return Probe(False, "patroni: unexpected answer")
    parts = [patroni_role(state), str(state.get("state", "unknown"))]
    if state.get("timeline"):
        parts.append(f"timeline {state['timeline']}")
    standbys = [f"{s.get('application_name', '?')} ({s.get('sync_state', '?')}, {s.get('state', '?')})"
                for s in state.get("replication") or [] if isinstance(s, dict)]
    if standbys:
        parts.append("streaming to " + ", ".join(standbys))
    if state.get("cluster_unlocked"):
        parts.append("no primary (leader key free)")
    return Probe(state.get("state") == "running", ", ".join(parts) + f"; patroni {api_url}")


def probe_etcd(url: str) -> Probe:
    """etcd's own `/health` (`{"health": "true"}` once it has a leader)."""
    try:
        r = _get(url + "/health")
        healthy = r.ok and r.json().get("health") == "true"
    except (requests.RequestException, ValueError, AttributeError) as exc:
        return Probe(False, type(exc).__name__)
    return Probe(healthy, "Patroni's consensus store, " + ("healthy" if healthy else f"HTTP {r.status_code}"))


def probe_targets(prometheus_url: str, job: str) -> dict[str, dict[str, Any]] | None:
    """`host:port` -> the target as Prometheus reports it (`health` up/down/unknown, `lastError`,
    `lastScrape`, `scrapeUrl`) for the active targets of `job`; None when Prometheus does not answer."""
    try:
        r = _get(prometheus_url + "/api/v1/targets?state=active")
        r.raise_for_status()
        active = r.json()["data"]["activeTargets"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None
    out: dict[str, dict[str, Any]] = {}
    for t in active:
        if not isinstance(t, dict) or t.get("scrapePool") != job:
            continue
        address = (t.get("discoveredLabels") or {}).get("__address__") or (t.get("labels") or {}).get("instance")
        if address:
            out[str(address)] = t
    return out


def _ago(stamp: str | None, now: float | None = None) -> str | None:
    """Prometheus' RFC 3339 time (nanoseconds) -> "0.4s ago"; None when never (year 1)."""
    if not stamp or stamp.startswith("0001-"):
        return None
    text = stamp.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python parses at most microseconds
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        at = datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
    return f"{max(0.0, (now or time.time()) - at):.1f}s ago"


def scraped(target: dict[str, Any] | None) -> bool:
    """Whether Prometheus has scraped the target (as `probe_targets` reports it) at least once."""
    return (target is not None and str(target.get("health") or "unknown") != "unknown"
            and _ago(target.get("lastScrape")) is not None)


def describe_scrape(target: dict[str, Any] | None) -> Probe:
    """One line on a scrape target: `prometheus: up, last scrape 0.3s ago` or `down ...: <error>`."""
    if target is None:
        return Probe(False, "prometheus: not among its targets yet (discovery reports every 5 s)")
    if not scraped(target):
        return Probe(False, "prometheus: not scraped yet")
    health = str(target["health"])
    ago = _ago(target.get("lastScrape"))
    error = str(target.get("lastError") or "")
    detail = f"prometheus: {health}, last scrape {ago}" + (f": {error}" if error and health != "up" else "")
    return Probe(health == "up", detail)


def prometheus_alerts_page(base_url: str) -> tuple[str, bool]:
    """Prometheus' page of alerts and whether it is the classic one: Debian's `prometheus` package
    ships without the new web UI (`/alerts` is a 404), only `/classic/...` answers."""
    try:
        if _get(base_url + "/alerts").ok:
            return base_url + "/alerts", False
        if _get(base_url + "/classic/alerts").ok:
            return base_url + "/classic/alerts", True
    except requests.RequestException:
        pass
    return base_url + "/alerts", False


def alertmanager_has_ui(base_url: str) -> bool:
    """False for Debian's `prometheus-alertmanager`, whose page says it has no web application."""
    try:
        r = _get(base_url + "/")
    except requests.RequestException:
        return True
    return r.ok and "does not include a web" not in r.text
