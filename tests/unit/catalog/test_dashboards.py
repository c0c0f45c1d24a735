"""Generated Grafana dashboards carry what Grafana needs to import them, and follow the catalog."""
from __future__ import annotations

import json

import pytest
import yaml

from catalog import build_catalog, load_catalog
from catalog.dashboards import build_dashboards, render_dashboards
from tests.support import paths

REPO = paths.REPO
DASHBOARDS = build_dashboards(load_catalog())
PROVISIONED_UIDS = {d["uid"] for d in yaml.safe_load(
    (REPO / "grafana/provisioning/datasources/datasources.yml").read_text())["datasources"]}


def test_committed_json_is_what_the_catalog_renders():
    for rel, text in render_dashboards(load_catalog()).items():
        assert (REPO / rel).read_text() == text, f"{rel} is stale: run d76 generate"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_importable(name):
    d = DASHBOARDS[name]
    assert d["uid"].startswith("d76-") and len(d["uid"]) <= 40 and d["title"]
    assert d["schemaVersion"] >= 36
    ids, cells = set(), set()
    for p in d["panels"]:
        assert p["id"] not in ids
        ids.add(p["id"])
        g = p["gridPos"]
        assert {"x", "y", "w", "h"} <= set(g) and 0 <= g["x"] and g["x"] + g["w"] <= 24
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']} overlaps another"
                cells.add((x, y))
        assert p["datasource"]["uid"] in PROVISIONED_UIDS, "datasources by provisioned uid, not numeric id"
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == p["datasource"]["uid"] and t["refId"]
            assert t.get("expr") or t.get("rawSql")


def test_overview_has_the_variables():
    names = {v["name"] for v in DASHBOARDS["overview"]["templating"]["list"]}
    assert names == {"exchange", "route", "symbol"}


def _panel(d, title):
    return next(p for p in d["panels"] if p["title"] == title)


def test_threshold_lines_follow_the_catalog():
    steps = _panel(DASHBOARDS["overview"], "REST latency")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.3, 0.5, 2.0]
    assert [s["color"] for s in steps] == ["green", "blue", "yellow", "red"]
    low = _panel(DASHBOARDS["overview"], "Rate limit remaining")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in low] == [("yellow", None), ("blue", 0.2), ("green", 0.4)]
    moved = build_dashboards(build_catalog({"alerts": {"ExchangeLatencyHigh": {"threshold": 0.8, "severity": "P1"}}}))
    steps = _panel(moved["overview"], "REST latency")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert (0.8, "orange") in [(s["value"], s["color"]) for s in steps]


def test_provisioning_points_at_the_compose_mounts():
    prov = yaml.safe_load((REPO / "grafana/provisioning/dashboards/d76.yml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    ds = yaml.safe_load((REPO / "grafana/provisioning/datasources/datasources.yml").read_text())["datasources"]
    pg = next(d for d in ds if d["uid"] == "d76-postgres")
    assert pg["secureJsonData"]["password"] == "${POSTGRES_PASSWORD}"
    json.loads((REPO / "grafana/dashboards/d76-overview.json").read_text())
