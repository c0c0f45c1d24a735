"""The compose `ha` profile's PostgreSQL, checked offline (Docker cannot run here): a Patroni cluster
(postgres-a, postgres-b, built from docker/patroni), its etcd, HAProxy as `postgres` for one-host
clients, and receivers on the libpq multi-host URL, in step with `d76 stack up --ha`
(`local_stack.patroni`). Patroni's own `--validate-config` reads the configuration, as the members
would, with the service's environment.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

import vocabulary
from local_stack.patroni import SCOPE, TIMING, Member, member_config
from tests.support import paths

REPO = paths.REPO
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
MEMBERS = ("postgres-a", "postgres-b")
PATRONI_DIR = REPO / "docker" / "patroni"
PATRONI = yaml.safe_load((PATRONI_DIR / "patroni.yml").read_text())


def _ha(name: str) -> dict:
    svc = SERVICES[name]
    assert svc.get("profiles") == ["ha"], name
    return svc


def test_members_run_patroni_built_from_docker_patroni_and_publish_the_native_ports():
    for i, name in enumerate(MEMBERS):
        svc = _ha(name)
        assert svc["build"] == "./docker/patroni" and (REPO / svc["build"] / "Dockerfile").is_file()
        env = svc["environment"]
        assert env["PATRONI_NAME"] == name
        assert env["PATRONI_RESTAPI_CONNECT_ADDRESS"] == f"{name}:8008"
        assert env["PATRONI_POSTGRESQL_CONNECT_ADDRESS"] == f"{name}:5432"
        for key in ("PATRONI_SUPERUSER_PASSWORD", "PATRONI_REPLICATION_PASSWORD", "POSTGRES_PASSWORD"):
            assert env[key] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", (name, key)
        assert svc["ports"] == [f"{vocabulary.HA_POSTGRES_PORTS[i]}:5432", f"{vocabulary.PATRONI_API_PORTS[i]}:8008"]
        assert svc["depends_on"] == {"etcd": {"condition": "service_healthy"}}
        assert "8008/health" in " ".join(svc["healthcheck"]["test"])
        volume = svc["volumes"][0].split(":")
        assert volume[0] in COMPOSE["volumes"] and PATRONI["postgresql"]["data_dir"].startswith(volume[1] + "/")
    dockerfile = (PATRONI_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM postgres:15\.\d+-bookworm$", dockerfile, re.M), "pin the PostgreSQL 15 image"
    assert "patroni python3-etcd" in dockerfile and 'ENTRYPOINT ["patroni", "/etc/patroni/patroni.yml"]' in dockerfile
    for copied in re.findall(r"^COPY (?:--\S+ )?(\S+) ", dockerfile, re.M):
        assert (PATRONI_DIR / copied).is_file(), copied


def test_the_patroni_settings_are_the_native_clusters():
    native = member_config(Member("postgres-a", 1, 2, Path("/x")), 3)
    assert PATRONI["scope"] == SCOPE and PATRONI["namespace"] == native["namespace"]
    dcs = PATRONI["bootstrap"]["dcs"]
    assert dcs == native["bootstrap"]["dcs"]  # ttl / loop_wait / retry_timeout, synchronous mode, rewind
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (TIMING.ttl, TIMING.loop_wait, TIMING.retry_timeout)
    assert dcs["synchronous_mode"] is True
    pg, npg = PATRONI["postgresql"], native["postgresql"]
    assert pg["bin_dir"] == "/usr/lib/postgresql/15/bin"
    for key in ("authentication", "remove_data_directory_on_rewind_failure",
                "remove_data_directory_on_diverged_timelines", "basebackup"):
        assert pg[key] == npg[key], key
    assert PATRONI["tags"] == native["tags"]
    # not on loopback: passwords on every network connection
    assert pg["pg_hba"] == PATRONI["bootstrap"]["pg_hba"]
    assert all(line.startswith("local ") or line.endswith(" scram-sha-256") for line in pg["pg_hba"])
    assert PATRONI["etcd3"]["hosts"] == ["etcd:2379"]


def test_etcd_is_one_pinned_member_patroni_reaches_by_name():
    svc = _ha("etcd")
    assert re.fullmatch(r"quay\.io/coreos/etcd:v3\.4\.\d+", svc["image"])
    cmd = svc["command"]
    flag = {cmd[i]: cmd[i + 1] for i in range(1, len(cmd) - 1, 2)}
    assert flag["--advertise-client-urls"] == "http://etcd:2379" and flag["--initial-cluster"] == "etcd=http://etcd:2380"
    assert svc["volumes"][0].split(":")[0] in COMPOSE["volumes"]


def test_receivers_reach_every_member_and_keep_the_one_that_takes_writes():
    for name in ("receiver-a", "receiver-b"):
        svc = _ha(name)
        url = svc["environment"]["DATABASE_URL"]
        password = "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
        parts = urlsplit(url.replace(password, "PW"))
        assert (parts.scheme, parts.path, parts.query) == ("postgresql", "/d76", "target_session_attrs=read-write")
        userinfo, hosts = parts.netloc.rsplit("@", 1)
        assert userinfo == "d76:PW"
        assert hosts.split(",") == [f"{m}:5432" for m in MEMBERS]
        assert svc["depends_on"] == {m: {"condition": "service_healthy"} for m in MEMBERS}


def test_one_host_clients_reach_the_primary_through_haproxy_as_postgres():
    svc = _ha("postgres-primary")
    # the single shape's `postgres` service is not in ha: the name is HAProxy's there
    assert "postgres" in svc["networks"]["default"]["aliases"]
    assert "postgres" not in [n for n, s in SERVICES.items() if "ha" in s.get("profiles", [])]
    assert re.fullmatch(r"haproxy:\d+\.\d+\.\d+", svc["image"])
    src, dst = svc["volumes"][0].split(":")[:2]
    cfg = (REPO / src).read_text()
    assert dst == "/usr/local/etc/haproxy/haproxy.cfg"
    assert "option httpchk GET /primary" in cfg and "http-check expect status 200" in cfg
    servers = re.findall(r"^\s*server (\S+) (\S+):5432 check port 8008$", cfg, re.M)
    assert servers == [(m, m) for m in MEMBERS]
    assert "bind :5432" in cfg
    datasources = yaml.safe_load((REPO / "grafana/provisioning/datasources/datasources.yml").read_text())
    assert next(d for d in datasources["datasources"] if d["type"].endswith("postgresql-datasource"))["url"] == \
        "postgres:5432"


def test_post_bootstrap_makes_the_receivers_role_and_database():
    script = PATRONI["bootstrap"]["post_bootstrap"]
    assert script == "/etc/patroni/post_bootstrap.sh"
    local = PATRONI_DIR / "post_bootstrap.sh"
    assert os.access(local, os.X_OK)
    assert subprocess.run(["sh", "-n", str(local)], capture_output=True).returncode == 0
    text = local.read_text()
    assert "CREATE ROLE d76 LOGIN PASSWORD :'pw'" in text and "CREATE DATABASE d76 OWNER d76" in text


@pytest.mark.parametrize("member", MEMBERS)
def test_patroni_validates_the_compose_configuration(tmp_path, member):
    """Patroni's own checks (it also wants the etcd host reachable: a listening socket stands in)."""
    patroni = shutil.which("patroni")
    assert patroni, "patroni is not installed (scripts/setup.sh)"
    env = {k: v.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "pw")
           for k, v in SERVICES[member]["environment"].items()}
    with socket.socket() as etcd:
        etcd.bind(("127.0.0.1", 0))
        etcd.listen(1)
        config = (PATRONI_DIR / "patroni.yml").read_text().replace("etcd:2379", f"127.0.0.1:{etcd.getsockname()[1]}")
        (tmp_path / "patroni.yml").write_text(config)
        r = subprocess.run([patroni, "--validate-config", str(tmp_path / "patroni.yml")], capture_output=True,
                           text=True, env={"PATH": os.environ["PATH"], **env}, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_patroni_validates_the_native_members_configuration(tmp_path):
    """The native members live on loopback on purpose; Patroni's validator refuses loopback connect
    addresses (other hosts could not reach them), and must find nothing else."""
    with socket.socket() as etcd:
        etcd.bind(("127.0.0.1", 0))
        etcd.listen(1)
        config = member_config(Member("postgres-a", 55432, 8108, tmp_path / "postgres-a"), etcd.getsockname()[1])
        (tmp_path / "patroni.yml").write_text(yaml.safe_dump(config))
        r = subprocess.run(["patroni", "--validate-config", str(tmp_path / "patroni.yml")], capture_output=True,
                           text=True, timeout=60)
    complaints = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    loopback = re.compile(r"^(restapi|postgresql)\.connect_address 127\.0\.0\.1:\d+ didn't pass validation: "
                          r"'must not contain \"127\.0\.0\.1\"")
    assert len(complaints) == 2 and all(loopback.match(c) for c in complaints), complaints
