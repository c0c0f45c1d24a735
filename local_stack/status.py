"""How a running stack is doing, for `d76 stack status`, `d76 stack up` and the demo.

Each recorded piece is asked what it says about itself (`local_stack.probes`): Alertmanager its
cluster, Prometheus its replica label and Alertmanagers, the receiver its storage, a PostgreSQL
member of the HA shape its role (primary, sync standby) through Patroni, etcd its health. The bot's targets
(`--target`, not started by the stack) are reported as Prometheus sees their scrapes
(`/api/v1/targets`: up or down, last error, last scrape), or from their `/metrics` when no Prometheus
answers. `notes` says once, at start, where the links in messages point.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vocabulary
from catalog.render_prometheus import SCRAPE_JOB

from .lifecycle import alive, postgres_running
from .manifest import Piece
from .probes import (
    Probe,
    alertmanager_has_ui,
    describe_scrape,
    probe_alertmanager,
    probe_etcd,
    probe_http,
    probe_patroni,
    probe_prometheus,
    probe_receiver,
    probe_targets,
    prometheus_alerts_page,
    scraped,
)

__all__ = ["PieceStatus", "probe_pieces", "wait_first_scrape", "status_lines", "notes"]


@dataclass
class PieceStatus:
    name: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str = ""


def probe_pieces(recorded: Sequence[Piece]) -> list[PieceStatus]:
    """Each recorded piece: running (its process lives), healthy (it answers as it should), detail."""
    scrapes = _scrape_health(recorded)
    out = []
    for piece in recorded:
        if piece.kind == "postgres" and piece.pid is None:  # the throwaway single cluster
            running = postgres_running(piece)
            out.append(PieceStatus(piece.name, piece.url, None, running, running))
            continue
        if piece.kind == "target" or (piece.kind == "exporter" and piece.pid is None):
            out.append(_target_status(piece, scrapes))
            continue
        running = alive(piece.pid)
        probe = Probe(False, "not running")
        if running:
            if piece.kind == "alertmanager":
                probe = probe_alertmanager(piece.url, piece.expected_peers)
            elif piece.kind == "prometheus":
                probe = probe_prometheus(piece.url)
            elif piece.kind == "receiver":
                probe = probe_receiver(piece.url)
            elif piece.kind == "postgres":  # a Patroni member
                probe = probe_patroni(piece.api_url)
            elif piece.kind == "etcd":
                probe = probe_etcd(piece.url)
            else:
                probe = probe_http(piece.health_url)
                if scrapes is not None:  # the simulator: also how Prometheus fares scraping it
                    seen = describe_scrape(scrapes.get(_address(piece.url)))
                    probe = Probe(probe.healthy, f"simulator, {probe.detail}; {seen.detail}")
        out.append(PieceStatus(piece.name, piece.url, piece.pid, running, probe.healthy, probe.detail))
    return out


def _scrape_health(recorded: Sequence[Piece]) -> dict[str, dict[str, Any]] | None:
    """The d75 job's targets as the first Prometheus that answers sees them (None: none answers)."""
    for piece in recorded:
        if piece.kind == "prometheus" and alive(piece.pid):
            found = probe_targets(piece.url, SCRAPE_JOB)
            if found is not None:
                return found
    return None


def _target_status(piece: Piece, scrapes: dict[str, dict[str, Any]] | None) -> PieceStatus:
    """A bot's exporter (not started by the stack): healthy when Prometheus's last scrape of it
    succeeded. With no Prometheus answering, its /metrics is asked directly."""
    if scrapes is not None:
        probe = describe_scrape(scrapes.get(_address(piece.url)))
    else:
        direct = probe_http(piece.health_url)
        probe = Probe(direct.healthy, f"Prometheus not answering; /metrics: {direct.detail}")
    return PieceStatus(piece.name, piece.url, None, probe.healthy, probe.healthy,
                       "the bot (not started by the stack); " + probe.detail)


def _address(url: str) -> str:
    """`http://host:port` -> `host:port` (a scrape target's address)."""
    return url.split("://", 1)[-1].rstrip("/")


def wait_first_scrape(prometheus_url: str, targets: Sequence[str], timeout: float = 10.0) -> bool:
    """Wait until Prometheus has scraped each target once (its discovery reports every 5 s), so
    a status printed right after `up` says up or down, with the error, rather than "not scraped
    yet". A bot that is not running is not an error here: its target shows down until it starts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = probe_targets(prometheus_url, SCRAPE_JOB)
        if health is not None and all(scraped(health.get(t)) for t in targets):
            return True
        time.sleep(0.2)
    return False


def status_lines(statuses: Sequence[PieceStatus], *, ha: bool, database: str | None) -> Iterator[str]:
    """Lines for `d76 stack status`: the HA summary, one line a piece, the database (password masked)."""
    st = statuses
    if ha:
        n = {kind: sum(1 for s in st if s.name.startswith(kind + "-"))
             for kind in ("prometheus", "alertmanager", "receiver")}
        yield (f"HA: {n['prometheus']} Prometheus replicas, {n['alertmanager']} clustered "
               f"Alertmanagers, {n['receiver']} receivers on one database")
        members = [s for s in st if s.name.startswith("postgres-")]
        if members:
            primary = [s.name for s in members if s.detail.startswith("primary")]
            yield (f"PostgreSQL: Patroni cluster of {len(members)} members, primary "
                   f"{', '.join(primary) if primary else 'none (failing over?)'}; the receivers follow it "
                   "(multi-host URL, target_session_attrs=read-write)")
    width = max([len(s.name) for s in st] + [12]) + 1
    for s in st:
        state = "healthy" if s.healthy else ("running" if s.running else
                                             "down" if s.name.startswith("target") else "stopped")
        yield f"{s.name:<{width}} {state:<8} {s.url}  {s.detail}".rstrip()
    if database:
        yield f"{'database':<{width}} {'':<8} {database}"


def look_lines(receiver_url: str | None, token_file: Path | None, prometheus_url: str | None,
               alertmanager_url: str | None) -> list[str]:
    """Where to look: the receiver's pages (and the token that opens them), Prometheus' page of
    alerts and Alertmanager's (Debian's packages have no web UI: the classic pages, `amtool`)."""
    out = []
    if receiver_url:
        token = f" (sign in once with the token in {token_file})" if token_file and token_file.exists() else ""
        out.append(f"{'pages':<13} {receiver_url}/alerts{token}")
    if prometheus_url:
        page, classic = prometheus_alerts_page(prometheus_url)
        out.append(f"{'Prometheus':<13} {page}" + ("  (Debian's package has no new web UI: the classic pages)"
                                                      if classic else ""))
    if alertmanager_url:
        if alertmanager_has_ui(alertmanager_url):
            out.append(f"{'Alertmanager':<13} {alertmanager_url}/#/alerts")
        else:
            out.append(f"{'Alertmanager':<13} amtool --alertmanager.url={alertmanager_url} alert query  "
                       "(Debian's package has no web UI)")
    return out


def notes(manifest: Mapping[str, Any]) -> list[str]:
    """What an operator should know once, at start: where links in messages point, and where the
    pipeline's own alerts go when the receiver is dead."""
    return _link_notes(manifest) + _road_notes(manifest)


def _road_notes(m: Mapping[str, Any]) -> list[str]:
    road = m.get("direct_road")
    if road is None:  # a manifest from before the native road
        return []
    if road:
        return [f"pipeline alerts (receiver down, ...) also go from Alertmanager directly to {', '.join(road)}"]
    return ["no direct road: a dead receiver is reported only by its own dead man's switch's absence; set "
            "TELEGRAM_BOT_TOKEN and a numeric TELEGRAM_CHAT_ID so Alertmanager tells it to Telegram itself"]


def _link_notes(m: Mapping[str, Any]) -> list[str]:
    if m.get("external_url"):
        return [f"links: messages link to {m['external_url']} (policy.external_url; runbooks at "
                f"{m.get('runbook_base_url')})"]
    base = m.get("runbook_base_url") or ""
    if base.startswith(f"http://{vocabulary.HOST}:"):
        return [f"links are local-only: runbook links in messages point at {base} (this machine; a phone "
                "cannot open them) and messages carry no history links. For links that work on a phone, "
                "make the receiver reachable at a public URL and set `policy: {external_url: "
                "https://alerts.example.com}` in the --config override file."]
    return [f"links: runbooks at {base}; no history links in messages (set policy.external_url)"] if base else []
