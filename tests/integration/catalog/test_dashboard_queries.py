"""Every dashboard query runs against real data: PromQL against a real Prometheus scraping the
simulator, the receiver, Alertmanager and itself (the local stack); SQL against a real PostgreSQL
with the receiver's schema and sample history."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import requests

from catalog import load_catalog
from catalog.dashboards import build_dashboards
from local_stack.runner import Stack, StackConfig
from tests.support.fakes.payloads import am_alert, am_payload
from webhook_receiver.payload import parse_alertmanager_payload
from webhook_receiver.store import open_store

DASHBOARDS = build_dashboards(load_catalog())


def _targets(ds_type: str) -> list[tuple[str, str, dict]]:
    return [(name, p["title"], t) for name, d in DASHBOARDS.items() for p in d["panels"]
            for t in p["targets"] if t["datasource"]["type"] == ds_type]


PROM_TARGETS = _targets("prometheus")
SQL_TARGETS = _targets("grafana-postgresql-datasource")


def test_every_query_is_run_here():
    every = [t for d in DASHBOARDS.values() for p in d["panels"] for t in p["targets"]]
    assert len(PROM_TARGETS) + len(SQL_TARGETS) == len(every) and SQL_TARGETS and PROM_TARGETS


def _promql(expr: str) -> str:
    """What Grafana sends: template variables set to All (`.*`)."""
    return re.sub(r"\$(exchange|route|symbol)", ".*", expr)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("dash")
    cfg = StackConfig.with_free_ports(tmp / "stack", simulator_args=["--tick", "0.1"], scenario="exchange-frozen",
                                      receiver_env={"DEADMAN_TIMEOUT_SECONDS": "600"})
    with Stack(cfg) as stack:
        url = stack.url("prometheus")
        # wait until the frozen exchange's notification went out and the receiver was scraped after it
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            r = requests.get(url + "/api/v1/query", timeout=5, params={
                "query": 'd76_notifications_sent_total{job="receiver",channel="telegram",kind="firing"} > 0'})
            if r.ok and r.json()["data"]["result"]:
                break
            time.sleep(1)
        else:
            raise AssertionError("the receiver's notification metrics never reached Prometheus")
        # every job scraped at least three times, so every rate()/increase() window holds two samples
        while time.monotonic() < deadline:
            r = requests.get(url + "/api/v1/query", timeout=5, params={"query": "min(count_over_time(up[5m])) >= 3"})
            if r.ok and r.json()["data"]["result"]:
                break
            time.sleep(1)
        else:
            raise AssertionError("not every job was scraped three times")
        yield url


@pytest.mark.parametrize("dash,title,target", PROM_TARGETS, ids=[f"{d}:{t}:{x['refId']}" for d, t, x in PROM_TARGETS])
def test_prometheus_panel_query_returns_data(prometheus, dash, title, target):
    r = requests.get(prometheus + "/api/v1/query", params={"query": _promql(target["expr"])}, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", body
    assert body["data"]["result"], f"{dash} / {title}: no data for {target['expr']}"


@pytest.mark.parametrize("var", DASHBOARDS["overview"]["templating"]["list"], ids=lambda v: v["name"])
def test_template_variables_have_values(prometheus, var):
    metric, label = re.match(r"label_values\((\w+), (\w+)\)", var["query"]["query"]).groups()
    r = requests.get(f"{prometheus}/api/v1/label/{label}/values", params={"match[]": metric}, timeout=10)
    assert r.ok and r.json()["data"], var["name"]


# -- SQL -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def history_db(pg_cluster) -> Iterator[str]:
    url = pg_cluster.url.rsplit("/", 1)[0] + "/dashboards"
    with psycopg.connect(pg_cluster.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS dashboards")
        c.execute("CREATE DATABASE dashboards")
    store = open_store(url)
    store.migrate()
    now = datetime.now(UTC)
    iso = lambda dt: dt.isoformat().replace("+00:00", "Z")  # noqa: E731
    samples = [
        am_alert("ExchangeFrozen", "P0", starts_at=iso(now - timedelta(hours=3)), labels={"exchange": "upbit"}),
        am_alert("RateLimitHttp429", "P1", status="resolved", starts_at=iso(now - timedelta(days=2)),
                 ends_at=iso(now - timedelta(days=2) + timedelta(minutes=4)), source="rate_limiter",
                 labels={"exchange": "okx", "category": "order"}),
        am_alert("RouteScoreLow", "P2", status="resolved", starts_at=iso(now - timedelta(hours=5)),
                 ends_at=iso(now - timedelta(hours=4)), source="arb_route", labels={"route": "upbit-okx-BTC"}),
        am_alert("DailyLossWarning", "P3", starts_at=iso(now - timedelta(minutes=30)), source="risk_guard",
                 labels={"exchange": "kraken"}),
    ]
    for a in samples:
        store.ingest(parse_alertmanager_payload(am_payload(a)))
    with psycopg.connect(url) as c:
        first = c.execute("SELECT id FROM alerts WHERE alertname = 'ExchangeFrozen'").fetchone()[0]
    store.ack_alert(first, "kim", "on it", at=now - timedelta(hours=2, minutes=50))
    # one silenced and one inhibited episode, as the history reconciler records them
    from webhook_receiver.store.episodes import EpisodeCause, HistoryTables

    tables = HistoryTables(store)
    with psycopg.connect(url) as c:
        down = c.execute("SELECT id FROM alerts WHERE alertname = 'RateLimitHttp429'").fetchone()[0]
    with store.transaction() as tx:
        tx.now = now - timedelta(hours=3)
        tables.open_episode(tx, first, EpisodeCause("silenced", "5e1e7b0c-0000-4000-8000-000000000001",
                                                    silence_created_by="kim", silence_comment="upbit maintenance",
                                                    silence_ends_at=now + timedelta(hours=1)))
        tx.now = now - timedelta(days=2)
        tables.open_episode(tx, down, EpisodeCause("inhibited", "5736a2a5a28818c5", inhibiting_alert_id=first,
                                                   inhibiting_alertname="ExchangeFrozen",
                                                   inhibiting_labels={"exchange": "okx"}))
    store.close()
    yield url


def _sql(raw: str) -> str:
    """Grafana's macros, expanded the way its PostgreSQL datasource does for a 7-day range."""
    return re.sub(r"\$__timeFilter\(([\w.]+)\)",
                  r"\1 BETWEEN now() - interval '7 days' AND now() + interval '1 minute'", raw)


@pytest.mark.parametrize("dash,title,target", SQL_TARGETS, ids=[f"{d}:{t}" for d, t, _ in SQL_TARGETS])
def test_sql_panel_query_runs_on_the_receiver_schema(history_db, dash, title, target):
    assert "$__" not in _sql(target["rawSql"]).replace("$__timeFilter", "")
    with psycopg.connect(history_db) as c:
        rows = c.execute(_sql(target["rawSql"])).fetchall()
    assert rows, f"{dash} / {title}: no rows"
    assert all(v is not None for v in rows[0][:3]), f"{dash} / {title}: {rows[0]}"
