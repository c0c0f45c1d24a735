"""`StackConfig`: the names, ports and URLs of a stack's pieces, single and HA (no server here)."""
from __future__ import annotations

from pathlib import Path

import pytest

from local_stack.config import StackConfig


def test_single_shape_names_each_kind_once():
    c = StackConfig(prometheus_port=1, alertmanager_port=2, receiver_port=3, exporter_port=4, postgres_port=5)
    assert [c.names(k) for k in ("prometheus", "alertmanager", "receiver")] == [
        ["prometheus"], ["alertmanager"], ["receiver"]]
    assert c.url("alertmanager") == "http://127.0.0.1:2" and c.url("exporter") == "http://127.0.0.1:4"
    assert c.url("postgres") == "postgresql://127.0.0.1:5"


def test_ha_shape_names_replicas_by_letter_and_a_bare_kind_is_replica_a():
    c = StackConfig(ha=True, prometheus_port=10, ha_prometheus_ports=(11,), alertmanager_port=20,
                    ha_alertmanager_ports=(21, 22), receiver_port=30, ha_receiver_ports=(31,))
    assert c.names("alertmanager") == ["alertmanager-a", "alertmanager-b", "alertmanager-c"]
    assert c.names("exporter") == ["exporter"] and c.piece_name("postgres", 0) == "postgres-a"
    assert c.resolve("alertmanager-c") == ("alertmanager", 2) and c.resolve("receiver") == ("receiver", 0)
    assert c.url("alertmanager-c") == "http://127.0.0.1:22" and c.url("prometheus") == "http://127.0.0.1:10"
    with pytest.raises(KeyError):
        c.resolve("grafana")


def test_a_recorded_url_wins_over_the_configured_port():
    c = StackConfig(ha=True, receiver_port=30, ha_receiver_ports=(31,))
    recorded = {"receiver-a": "http://127.0.0.1:9999"}
    assert c.url("receiver", recorded) == "http://127.0.0.1:9999"  # the bare kind finds replica a's record
    assert c.url("receiver-b", recorded) == "http://127.0.0.1:31"


def test_free_ports_are_all_different():
    c = StackConfig.with_free_ports(Path("s"), ha=True)
    ports = [*c.prometheus_ports(), *c.alertmanager_ports(), *c.receiver_ports(), *c.cluster_ports,
             c.exporter_port, *c.postgres_ports(), *c.patroni_ports, *c.etcd_ports]
    assert len(ports) == 2 + 3 + 2 + 3 + 1 + 2 + 2 + 2 and len(set(ports)) == len(ports)


def test_the_ha_shapes_postgresql_is_a_patroni_cluster_unless_a_database_is_given():
    c = StackConfig(ha=True, postgres_port=40, ha_postgres_ports=(41,), etcd_ports=(50, 51))
    assert c.uses_patroni() and not c.uses_postgres_cluster()
    assert c.names("postgres") == ["postgres-a", "postgres-b"] and c.names("etcd") == ["etcd"]
    assert c.resolve("postgres-b") == ("postgres", 1) and c.resolve("etcd") == ("etcd", 0)
    assert c.url("postgres-b") == "postgresql://127.0.0.1:41" and c.url("etcd") == "http://127.0.0.1:50"
    # `--postgres` in HA is the same Patroni cluster; an external database replaces it
    assert StackConfig(ha=True, postgres=True).uses_patroni()
    external = StackConfig(ha=True, database_url="postgresql://db/d76", postgres_port=40)
    assert not external.uses_patroni() and external.names("postgres") == ["postgres"]
    single = StackConfig(postgres=True, postgres_port=40)
    assert single.uses_postgres_cluster() and not single.uses_patroni() and single.names("postgres") == ["postgres"]
