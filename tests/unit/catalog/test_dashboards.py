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
    assert d["uid"] == f"d76-{name}" and len(d["uid"]) <= 40 and d["title"]
    assert d["schemaVersion"] >= 36 and d["editable"] is False and d["tags"][0] == "d76"
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
    for v in DASHBOARDS["overview"]["templating"]["list"]:
        assert v["type"] == "query" and v["datasource"]["uid"] in PROVISIONED_UIDS
        assert v["query"]["query"].startswith("label_values(") and v["refresh"] == 2
        assert v["includeAll"] and v["multi"] and v["allValue"] == ".*"
        assert v["current"]["value"] == ["$__all"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_fill_rows_left_to_right(name):
    """A panel starts a new row only when it does not fit the rest of the current one."""
    panels = DASHBOARDS[name]["panels"]
    assert panels[0]["gridPos"]["x"] == panels[0]["gridPos"]["y"] == 0
    for prev, p in zip(panels, panels[1:]):
        a, b = prev["gridPos"], p["gridPos"]
        if b["y"] == a["y"]:
            assert b["x"] == a["x"] + a["w"], p["title"]
        else:
            assert b["x"] == 0 and a["x"] + a["w"] + b["w"] > 24 and b["y"] >= a["y"] + a["h"], p["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_field_defaults_are_explicit(name):
    """Grafana's own default steps draw red from 80 and its stats, legends and tooltips have defaults the
    SDK's do not share: every panel states what it shows."""
    for p in DASHBOARDS[name]["panels"]:
        defaults = p["fieldConfig"]["defaults"]
        steps = defaults["thresholds"]["steps"]
        assert defaults["thresholds"]["mode"] == "absolute" and steps[0]["value"] is None, p["title"]
        assert all(s["color"] for s in steps) and defaults["unit"] and isinstance(defaults["mappings"], list)
        options = p.get("options", {})
        if p["type"] == "stat":
            assert options["reduceOptions"]["calcs"] == ["lastNotNull"], p["title"]
        if "legend" in options:
            assert options["legend"]["showLegend"], p["title"]
        if "tooltip" in options:
            assert options["tooltip"]["sort"] == "none", p["title"]
        if p["type"] == "timeseries" and len(steps) > 1:
            assert defaults["custom"]["thresholdsStyle"]["mode"] == "line+area", p["title"]


def test_state_timelines_name_every_state():
    for d in DASHBOARDS.values():
        for p in (p for p in d["panels"] if p["type"] == "state-timeline"):
            (mapping,) = p["fieldConfig"]["defaults"]["mappings"]
            assert mapping["type"] == "value" and all(r["text"] and r["color"] for r in mapping["options"].values())
    health = _panel(DASHBOARDS["overview"], "Exchange health")["fieldConfig"]["defaults"]
    assert [health["mappings"][0]["options"][str(i)]["text"] for i in range(4)] == [
        "HEALTHY", "DEGRADED", "DOWN", "FROZEN"]
    assert (health["min"], health["max"]) == (0, 3)


def test_queries_are_of_their_datasource():
    kinds = {"prometheus": 0, "grafana-postgresql-datasource": 0}
    for d in DASHBOARDS.values():
        for p in d["panels"]:
            for t in p["targets"]:
                kinds[t["datasource"]["type"]] += 1
                if t["datasource"]["type"] == "prometheus":
                    assert t["expr"] and t["legendFormat"] and t["range"] != t["instant"]
                else:
                    assert t["rawQuery"] and t["editorMode"] == "code"
                    assert t["format"] == ("time_series" if p["type"] == "timeseries" else "table"), p["title"]
    assert all(kinds.values()), kinds
    history = DASHBOARDS["alert-history"]["panels"]
    assert {t["datasource"]["type"] for p in history for t in p["targets"]} == {"grafana-postgresql-datasource"}


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
