"""Every `graph` annotation's PromQL parses in promtool, and evaluates to the probe's own series.

The receiver plots these expressions after a page, so a typo would only show as an empty graph at
the worst moment. Each alert's annotation is rendered as its promtool test expects it (labels of the
probe), then every expression becomes a recording rule of a tiny rule file: `promtool check rules`
parses them all, and a unit test checks that each graph's first series has data under the alert's
own test series.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from catalog import build_catalog, load_catalog, render_promtool_tests, render_rule_files
from local_stack.processes import require_binary

PROMTOOL = require_binary("promtool", "prometheus")
OWN = {"sources": ["my_bot"], "alerts": [
    {"name": "VarLimitBreached", "expr": "my_bot_var_usd > {threshold}", "threshold": 50_000, "severity": "P1",
     "source": "my_bot", "summary": "s", "description": "d", "action": "a", "unit": "usd"},
    {"name": "OddOne", "expr": "absent(my_bot_heartbeat)", "severity": "P2", "source": "my_bot", "summary": "s",
     "description": "d", "action": "a"},
]}


def _graphs(catalog) -> list[tuple[str, dict, list[dict]]]:
    """(alertname, the firing test's input series, its rendered graph entries) for each alert's first firing check."""
    rules = render_rule_files(catalog)
    out, seen = [], set()
    for text in render_promtool_tests(catalog, rules).values():
        for test in yaml.safe_load(text)["tests"]:
            for check in test.get("alert_rule_test", []):
                for alert in check["exp_alerts"]:
                    name = check["alertname"]
                    if name in seen or "graph" not in alert["exp_annotations"]:
                        continue
                    seen.add(name)
                    out.append((name, test, json.loads(alert["exp_annotations"]["graph"])))
    return out


def test_every_graph_expression_parses(tmp_path: Path) -> None:
    catalog = load_catalog()
    graphs = _graphs(catalog)
    assert {name for name, _, _ in graphs} == {a.name for a in catalog.alerts if a.name != "Watchdog"}
    own = build_catalog(OWN)
    exprs = [e["expr"] for _, _, entries in graphs for e in entries]
    exprs += [e["expr"] for a in own.alerts if a.custom for e in json.loads(a.graph)]
    rules = {"groups": [{"name": "graphs", "rules": [{"record": f"d76_graph_check_{n}", "expr": e}
                                                      for n, e in enumerate(exprs)]}]}
    path = tmp_path / "graphs.yml"
    path.write_text(yaml.safe_dump(rules))
    r = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in r.stdout
    assert len(exprs) > len(graphs)   # many alerts are explained by more than one series


def test_each_graph_shows_data_under_its_alerts_test_series(tmp_path: Path) -> None:
    """The first series of each graph (the one that explains the alert) is not empty while it fires."""
    graphs = _graphs(load_catalog())
    tests = []
    for name, test, entries in graphs:
        eval_time = max((c["eval_time"] for c in test["alert_rule_test"] if c["exp_alerts"]),
                        key=lambda t: int(t.rstrip("s")))
        tests.append({"name": f"{name}: graph has data", "interval": test["interval"],
                      "input_series": test["input_series"],
                      "promql_expr_test": [{"expr": f"count({entries[0]['expr']}) > bool 0", "eval_time": eval_time,
                                            "exp_samples": [{"labels": "{}", "value": 1}]}]})
    (tmp_path / "empty.yml").write_text("groups: []\n")
    (tmp_path / "graphs_test.yml").write_text(yaml.safe_dump({"rule_files": ["empty.yml"], "tests": tests}))
    r = subprocess.run([PROMTOOL, "test", "rules", "graphs_test.yml"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=240)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert len(tests) == len(graphs) >= 50
