"""The deployment variants of prometheus.yml / alertmanager.yml live in local_stack, not in the catalog:
the catalog renders parameterised configs and never imports local_stack (arrows only go down)."""
from __future__ import annotations

import ast
from pathlib import Path

import yaml

from exporter.catalog import EXTRA_GENERATORS, generated_files, load_catalog
from local_stack import defaults
from local_stack.deploy_configs import (COMPOSE_HA, alertmanager_config, local_topology, prometheus_config,
                                        render_deploy_configs)

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_under_exporter_imports_local_stack():
    offenders = [str(p.relative_to(REPO)) for p in sorted((REPO / "exporter").rglob("*.py"))
                 if any(n == "local_stack" or n.startswith("local_stack.") for n in _imports(p))]
    assert offenders == []


def test_the_variants_are_generated_through_the_lazy_registry():
    assert "local_stack.deploy_configs:render_deploy_configs" in EXTRA_GENERATORS
    catalog = load_catalog()
    files = generated_files(catalog)
    for rel, text in render_deploy_configs(catalog).items():
        assert files[rel] == text
    assert {"prometheus/prometheus.compose-ha-a.yml", "prometheus/prometheus.compose-ha-b.yml",
            "alertmanager/alertmanager.compose-ha.yml"} <= set(files)


def test_single_topology_has_no_replica_label():
    prom = yaml.safe_load(prometheus_config(load_catalog(), local_topology()))
    assert "external_labels" not in prom["global"] and "alert_relabel_configs" not in prom["alerting"]
    assert "timeout" not in prom["alerting"]["alertmanagers"][0]  # one Alertmanager: Prometheus' default
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{defaults.ALERTMANAGER_PORT}"]


def test_ha_topology_replicas_alertmanagers_and_receivers():
    catalog = load_catalog()
    topo = local_topology(prometheus_ports=(1001, 1002), alertmanager_ports=(2001, 2002, 2003),
                          receiver_ports=(3001, 3002))
    for i, replica in enumerate("ab"):
        prom = yaml.safe_load(prometheus_config(catalog, topo, i))
        assert prom["global"]["external_labels"] == {"replica": replica}
        assert prom["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
        assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
            "127.0.0.1:2001", "127.0.0.1:2002", "127.0.0.1:2003"]
        # a hung Alertmanager holds every post of the batch: a short timeout bounds that
        assert prom["alerting"]["alertmanagers"][0]["timeout"] == defaults.ALERTMANAGER_SEND_TIMEOUT
        jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in prom["scrape_configs"]}
        assert jobs["receiver"] == ["127.0.0.1:3001", "127.0.0.1:3002"]
        assert jobs["prometheus"] == ["127.0.0.1:1001", "127.0.0.1:1002"]
    am = yaml.safe_load(alertmanager_config(catalog, topo))
    for receiver in am["receivers"]:
        assert [h["url"] for h in receiver["webhook_configs"]] == [
            "http://127.0.0.1:3001/webhook/alertmanager", "http://127.0.0.1:3002/webhook/alertmanager"]
        assert all(h["send_resolved"] and h["http_config"]["authorization"]["credentials_file"] == "receiver_token"
                   for h in receiver["webhook_configs"])
    assert len(COMPOSE_HA.alertmanagers) == len(defaults.HA_ALERTMANAGER_PORTS) == len(
        defaults.HA_ALERTMANAGER_CLUSTER_PORTS)
    assert defaults.ALERTMANAGER_PORT + 1 not in defaults.HA_ALERTMANAGER_CLUSTER_PORTS  # 9094: AM's default
