"""The deployment variants of prometheus.yml / alertmanager.yml (`catalog.deploy_configs`): where each
piece listens natively, in compose, and in the HA shape."""
from __future__ import annotations

import yaml

import vocabulary
from catalog import GENERATORS, deploy_configs, generated_files, load_catalog
from catalog.deploy_configs import (
    COMPOSE_HA,
    alertmanager_config,
    local_topology,
    prometheus_config,
    render_deploy_configs,
)
from tests.support import paths

REPO = paths.REPO


def test_the_variants_are_one_of_the_catalogs_generators():
    assert render_deploy_configs in GENERATORS
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
        f"127.0.0.1:{vocabulary.ALERTMANAGER_PORT}"]


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
        assert prom["alerting"]["alertmanagers"][0]["timeout"] == deploy_configs.ALERTMANAGER_SEND_TIMEOUT
        jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in prom["scrape_configs"]}
        assert jobs["receiver"] == ["127.0.0.1:3001", "127.0.0.1:3002"]
        assert jobs["prometheus"] == ["127.0.0.1:1001", "127.0.0.1:1002"]
    am = yaml.safe_load(alertmanager_config(catalog, topo))
    for receiver in am["receivers"]:
        assert [h["url"] for h in receiver["webhook_configs"]] == [
            "http://127.0.0.1:3001/webhook/alertmanager", "http://127.0.0.1:3002/webhook/alertmanager"]
        assert all(h["send_resolved"] and h["http_config"]["authorization"]["credentials_file"] == "receiver_token"
                   for h in receiver["webhook_configs"])
    assert len(COMPOSE_HA.alertmanagers) == len(vocabulary.HA_ALERTMANAGER_PORTS) == len(
        vocabulary.HA_ALERTMANAGER_CLUSTER_PORTS)
    assert vocabulary.ALERTMANAGER_PORT + 1 not in vocabulary.HA_ALERTMANAGER_CLUSTER_PORTS  # 9094: AM's default
