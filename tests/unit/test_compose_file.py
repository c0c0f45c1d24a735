"""docker-compose.yml checked offline (Docker cannot run here) against the compose specification's
rules we can check, and against the native runner's configuration it must agree with."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from local_stack import defaults

REPO = Path(__file__).resolve().parents[1].parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # compose spec: service names


def test_services_are_well_formed():
    assert set(SERVICES) == {"exporter", "receiver", "prometheus", "alertmanager", "postgres", "grafana"}
    for name, svc in SERVICES.items():
        assert SERVICE_NAME.match(name)
        assert "image" in svc or "build" in svc, name
        assert "healthcheck" in svc and svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        for dep in svc.get("depends_on", {}):
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
        for secret in svc.get("secrets", []):
            assert secret in COMPOSE["secrets"], secret
    for name, svc in SERVICES.items():
        if "image" in svc and "build" not in svc:
            assert re.search(r":[\w.-]+$", svc["image"]) and not svc["image"].endswith(":latest"), \
                f"{name}: pin the image version"


def test_every_mounted_host_path_exists():
    for name, svc in SERVICES.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith((".", "/")):
                assert (REPO / src).exists(), f"{name} mounts missing {src}"
            else:
                assert src in COMPOSE["volumes"], f"{name}: named volume {src} not declared"
    assert (REPO / "Dockerfile").is_file()


def _published(name: str) -> tuple[int, int]:
    host, container = SERVICES[name]["ports"][0].split(":")
    return int(host), int(container)


def test_ports_agree_with_the_native_runner():
    assert _published("exporter") == (defaults.EXPORTER_PORT, defaults.EXPORTER_PORT)
    assert _published("receiver") == (defaults.RECEIVER_PORT, defaults.RECEIVER_PORT)
    assert _published("prometheus") == (defaults.PROMETHEUS_PORT, 9090)
    assert _published("alertmanager") == (defaults.ALERTMANAGER_PORT, 9093)
    assert _published("grafana") == (defaults.GRAFANA_PORT, 3000)
    assert _published("postgres") == (defaults.POSTGRES_PORT, 5432)


def test_service_names_match_the_generated_compose_configs():
    prom = yaml.safe_load((REPO / "prometheus/prometheus.compose.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in prom["scrape_configs"]}
    for job, target in targets.items():
        host, port = target.split(":")
        if host != "localhost":
            assert host in SERVICES, f"prometheus job {job} scrapes unknown service {host}"
            assert int(port) == _published(host)[1]
    assert targets["d75"] == f"exporter:{defaults.EXPORTER_PORT}"
    am_target = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert am_target == "alertmanager:9093"
    am = yaml.safe_load((REPO / "alertmanager/alertmanager.compose.yml").read_text())
    for rcv in am["receivers"]:
        hook = rcv["webhook_configs"][0]
        assert hook["url"] == f"http://receiver:{defaults.RECEIVER_PORT}/webhook/alertmanager"
        assert hook["http_config"]["authorization"]["credentials_file"] == "/run/secrets/receiver_token"
    assert "receiver_token" in SERVICES["alertmanager"]["secrets"]
    # the mounted config is the compose variant, at the path the command reads
    mounts = dict(v.split(":")[:2] for v in SERVICES["prometheus"]["volumes"] if v.startswith("."))
    assert mounts["./prometheus/prometheus.compose.yml"] == "/etc/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]
    assert mounts["./prometheus/rules"] == "/etc/prometheus/rules" and prom["rule_files"] == ["rules/*.yml"]


SECRETISH = re.compile(r"(TOKEN|PASSWORD|SECRET|WEBHOOK_URL|DATABASE_URL)")


def test_no_secret_is_written_inline():
    for name, svc in SERVICES.items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRETISH.search(key):
                assert "${" in str(value), f"{name}.{key} must come from the environment"
                literal = re.sub(r"\$\{[^}]*\}", "", str(value))
                assert not re.search(r":[^/@]+@", literal), f"{name}.{key} has an inline password"
    assert COMPOSE["secrets"]["receiver_token"] == {"environment": "RECEIVER_TOKEN"}
