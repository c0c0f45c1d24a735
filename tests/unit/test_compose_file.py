"""docker-compose.yml checked offline (Docker cannot run here) against the compose specification's
rules we can check, and against the native runner's configuration it must agree with.

Two profiles: `single` (one Prometheus, one Alertmanager, one receiver) and `ha` (two Prometheus
replicas, three clustered Alertmanagers, two receivers); every service belongs to at least one.
"""
from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

import vocabulary
from catalog import deploy_configs
from catalog.deploy_configs import COMPOSE_TARGETS_FILE
from tests.support import paths

REPO = paths.REPO
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())  # resolves the x-* anchors/merges
SERVICES = COMPOSE["services"]
SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # compose spec: service names
SHARED = {"exporter", "grafana"}
SHAPES = {
    "single": SHARED | {"prometheus", "alertmanager", "receiver", "postgres"},
    "ha": SHARED | {"prometheus-a", "prometheus-b", "alertmanager-a", "alertmanager-b", "alertmanager-c",
                    "receiver-a", "receiver-b", "etcd", "postgres-a", "postgres-b", "postgres-primary"},
}


def _enabled(profile: str) -> dict[str, dict]:
    return {n: s for n, s in SERVICES.items() if profile in s.get("profiles", [])}


def _published(name: str) -> tuple[int, int]:
    host, container = SERVICES[name]["ports"][0].split(":")
    return int(host), int(container)


def _mounts(name: str) -> dict[str, str]:
    return dict(v.split(":")[:2] for v in SERVICES[name].get("volumes", []) if v.startswith("."))


def _flag(name: str, flag: str) -> list[str]:
    return [a.split("=", 1)[1] for a in SERVICES[name]["command"] if a.startswith(flag + "=")]


def test_services_are_well_formed():
    assert set(SERVICES) == SHAPES["single"] | SHAPES["ha"]
    for name, svc in SERVICES.items():
        assert SERVICE_NAME.match(name)
        assert "image" in svc or "build" in svc, name
        assert "healthcheck" in svc and svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        for secret in svc.get("secrets", []):
            assert secret in COMPOSE["secrets"], secret
    for name, svc in SERVICES.items():
        if "image" in svc and "build" not in svc:
            assert re.search(r":[\w.-]+$", svc["image"]) and not svc["image"].endswith(":latest"), \
                f"{name}: pin the image version"


@pytest.mark.parametrize("profile", sorted(SHAPES))
def test_each_profile_is_a_complete_shape(profile):
    """Every service has a profile (a bare `docker compose up` starts no half stack); within one
    profile the dependencies are enabled and no host port is published twice."""
    assert all(set(s.get("profiles", [])) and set(s["profiles"]) <= set(SHAPES) for s in SERVICES.values())
    enabled = _enabled(profile)
    assert set(enabled) == SHAPES[profile]
    for name, svc in enabled.items():
        for dep in svc.get("depends_on", {}):
            assert dep in enabled, f"{profile}: {name} depends on {dep}, not in the profile"
    hosts = [_published(n)[0] for n, s in enabled.items() if s.get("ports")]
    assert len(hosts) == len(set(hosts)), f"{profile}: a host port is published twice: {sorted(hosts)}"


def test_every_mounted_host_path_exists():
    for name, svc in SERVICES.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith((".", "/")):
                assert (REPO / src).exists(), f"{name} mounts missing {src}"
            else:
                assert src in COMPOSE["volumes"], f"{name}: named volume {src} not declared"
    assert (REPO / "Dockerfile").is_file()


def test_ports_agree_with_the_native_runner():
    assert _published("exporter") == (vocabulary.EXPORTER_PORT, vocabulary.EXPORTER_PORT)
    assert _published("receiver") == (vocabulary.RECEIVER_PORT, vocabulary.RECEIVER_PORT)
    assert _published("prometheus") == (vocabulary.PROMETHEUS_PORT, 9090)
    assert _published("alertmanager") == (vocabulary.ALERTMANAGER_PORT, 9093)
    assert _published("grafana") == (vocabulary.GRAFANA_PORT, 3000)
    assert _published("postgres") == (vocabulary.POSTGRES_PORT, 5432)
    # `d76 stack up --ha` and the ha profile publish the same ports, replica a first
    assert [_published(f"prometheus-{x}") for x in "ab"] == [(p, 9090) for p in vocabulary.HA_PROMETHEUS_PORTS]
    assert [_published(f"alertmanager-{x}") for x in "abc"] == [(p, 9093) for p in vocabulary.HA_ALERTMANAGER_PORTS]
    assert [_published(f"receiver-{x}") for x in "ab"] == [(p, vocabulary.RECEIVER_PORT)
                                                           for p in vocabulary.HA_RECEIVER_PORTS]


def test_prometheus_runs_with_the_runners_resend_delay():
    for name in ("prometheus", "prometheus-a", "prometheus-b"):
        assert _flag(name, "--rules.alert.resend-delay") == [deploy_configs.PROMETHEUS_RESEND_DELAY], name


def test_service_names_match_the_generated_compose_configs():
    prom = yaml.safe_load((REPO / "prometheus/prometheus.compose.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in prom["scrape_configs"]
               if j["job_name"] != "d75"}
    for job, target in targets.items():
        host, port = target.split(":")
        if host != "localhost":
            assert host in SERVICES, f"prometheus job {job} scrapes unknown service {host}"
            assert int(port) == _published(host)[1]
    # the bot: from D75_TARGETS through file_sd, the simulator service by default
    d75 = next(j for j in prom["scrape_configs"] if j["job_name"] == "d75")
    assert d75["file_sd_configs"] == [{"files": [COMPOSE_TARGETS_FILE]}] and "static_configs" not in d75
    assert _d75_targets_default() == f"exporter:{vocabulary.EXPORTER_PORT}"
    assert _published("exporter")[1] == vocabulary.EXPORTER_PORT
    am_target = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert am_target == "alertmanager:9093"
    am = yaml.safe_load((REPO / "alertmanager/alertmanager.compose.yml").read_text())
    for rcv in am["receivers"]:
        hook = rcv["webhook_configs"][0]
        assert hook["url"] == f"http://receiver:{vocabulary.RECEIVER_PORT}/webhook/alertmanager"
        assert hook["http_config"]["authorization"]["credentials_file"] == "/run/secrets/receiver_token"
    assert "receiver_token" in SERVICES["alertmanager"]["secrets"]
    # the mounted config is the compose variant, at the path the command reads
    mounts = _mounts("prometheus")
    assert mounts["./prometheus/prometheus.compose.yml"] == "/etc/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]
    assert mounts["./prometheus/rules"] == "/etc/prometheus/rules" and prom["rule_files"] == ["rules/*.yml"]
    assert _flag("alertmanager", "--cluster.listen-address") == [""]


def test_ha_prometheus_replicas_send_every_alert_to_every_alertmanager_without_their_label():
    alertmanagers = sorted(f"alertmanager-{x}:9093" for x in "abc")
    for x in "ab":
        name = f"prometheus-{x}"
        config_file = f"./prometheus/prometheus.compose-ha-{x}.yml"
        assert _mounts(name)[config_file] == "/etc/prometheus/prometheus.yml"
        prom = yaml.safe_load((REPO / config_file).read_text())
        assert prom["global"]["external_labels"] == {vocabulary.HA_REPLICA_LABEL: x}
        assert prom["alerting"]["alert_relabel_configs"] == [
            {"action": "labeldrop", "regex": vocabulary.HA_REPLICA_LABEL}]
        assert sorted(prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]) == alertmanagers
        assert prom["alerting"]["alertmanagers"][0]["timeout"] == deploy_configs.ALERTMANAGER_SEND_TIMEOUT
        assert next(j for j in prom["scrape_configs"] if j["job_name"] == "d75")["file_sd_configs"] == [
            {"files": [COMPOSE_TARGETS_FILE]}]
        for job in prom["scrape_configs"]:
            if job["job_name"] == "d75":
                continue
            for target in job["static_configs"][0]["targets"]:
                host, port = target.split(":")
                assert host in SHAPES["ha"] and int(port) == _published(host)[1], (job["job_name"], target)
    # Grafana's datasource (http://prometheus:9090) reaches replica a in the ha shape
    assert "prometheus" in SERVICES["prometheus-a"]["networks"]["default"]["aliases"]


def test_ha_alertmanagers_form_one_cluster_and_post_to_both_receivers():
    names = [f"alertmanager-{x}" for x in "abc"]
    for name in names:
        assert _mounts(name)["./alertmanager/alertmanager.compose-ha.yml"] == "/etc/alertmanager/alertmanager.yml"
        assert _flag(name, "--cluster.listen-address") == ["0.0.0.0:9094"]
        assert sorted(_flag(name, "--cluster.peer")) == sorted(f"{n}:9094" for n in names if n != name)
        assert _flag(name, "--cluster.peer-timeout") == [deploy_configs.ALERTMANAGER_PEER_TIMEOUT]
        assert "receiver_token" in SERVICES[name]["secrets"]
    am = yaml.safe_load((REPO / "alertmanager/alertmanager.compose-ha.yml").read_text())
    for rcv in am["receivers"]:
        urls = sorted(h["url"] for h in rcv["webhook_configs"])
        assert urls == [f"http://receiver-{x}:{vocabulary.RECEIVER_PORT}/webhook/alertmanager" for x in "ab"], rcv
    envs = [SERVICES[f"receiver-{x}"]["environment"] for x in "ab"]
    # one database, reached through every Patroni member (tests/unit/test_compose_patroni.py)
    assert envs[0]["DATABASE_URL"] == envs[1]["DATABASE_URL"] != SERVICES["receiver"]["environment"]["DATABASE_URL"]
    # each receiver talks to its own Alertmanager first, then the others (the history reconciler polls all)
    assert [e["ALERTMANAGER_URL"].split(",")[0] for e in envs] == ["http://alertmanager-a:9093",
                                                                   "http://alertmanager-b:9093"]
    assert all(sorted(e["ALERTMANAGER_URL"].split(",")) == [f"http://alertmanager-{x}:9093" for x in "abc"]
               for e in envs)
    # both may long-poll Telegram: the lease in the shared database lets one poll at a time
    assert "TELEGRAM_POLLING" not in envs[0] and "TELEGRAM_POLLING" not in envs[1]


SECRETISH = re.compile(r"(TOKEN|PASSWORD|SECRET|WEBHOOK_URL|DATABASE_URL)")


def test_no_secret_is_written_inline():
    for name, svc in SERVICES.items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRETISH.search(key):
                assert "${" in str(value), f"{name}.{key} must come from the environment"
                literal = re.sub(r"\$\{[^}]*\}", "", str(value))
                assert not re.search(r":[^/@]+@", literal), f"{name}.{key} has an inline password"
    assert COMPOSE["secrets"]["receiver_token"] == {"environment": "RECEIVER_TOKEN"}


# -- D75_TARGETS: the real bot instead of the simulator ----------------------------------------------
PROMETHEUS_SERVICES = ("prometheus", "prometheus-a", "prometheus-b")


def _d75_targets_default() -> str:
    """The value compose gives D75_TARGETS when it is unset (`${D75_TARGETS:-default}`)."""
    values = {SERVICES[n]["environment"]["D75_TARGETS"] for n in PROMETHEUS_SERVICES}
    assert len(values) == 1
    m = re.fullmatch(r"\$\{D75_TARGETS:-([^}]*)\}", values.pop())
    assert m, "D75_TARGETS must come from the environment with a default"
    return m.group(1)


def _entrypoint(tmp_path: Path) -> list[str]:
    """The Prometheus services' entrypoint as compose runs it (`$$` is a literal `$`), writing into
    `tmp_path` instead of /etc/prometheus and running `echo` instead of Prometheus."""
    entry = SERVICES["prometheus"]["entrypoint"]
    assert all(SERVICES[n]["entrypoint"] == entry for n in PROMETHEUS_SERVICES)
    assert entry[:2] == ["/bin/sh", "-c"] and len(entry) == 4
    script = entry[2]
    # compose interpolates a lone `$`: the script may only use `$$`, or its variables vanish
    assert not re.search(r"(?<!\$)\$(?!\$)", script.replace("$$", "")), "a lone $ in the entrypoint"
    target_dir = str(Path(COMPOSE_TARGETS_FILE).parent)
    assert f"dir={target_dir}\n" in script and "exec /bin/prometheus \"$$@\"" in script
    script = script.replace("$$", "$").replace(f"dir={target_dir}\n", f"dir={tmp_path}/targets\n")
    return ["sh", "-c", script.replace("exec /bin/prometheus", "exec echo prometheus-args:"), entry[3]]


def _run(tmp_path: Path, targets: str) -> subprocess.CompletedProcess[str]:
    args = _entrypoint(tmp_path) + SERVICES["prometheus"]["command"]
    return subprocess.run(args, capture_output=True, text=True, timeout=10, env={"PATH": "/usr/bin:/bin",
                                                                                   "D75_TARGETS": targets})


@pytest.mark.parametrize("value,expected", [
    (None, [f"exporter:{vocabulary.EXPORTER_PORT}"]),
    ("bot.lan:9876", ["bot.lan:9876"]),
    ("bot-a.lan:9876, host.docker.internal:9877,10.0.0.5:9100", ["bot-a.lan:9876", "host.docker.internal:9877",
                                                                 "10.0.0.5:9100"]),
])
def test_d75_targets_become_the_file_prometheus_reads(tmp_path, value, expected):
    r = _run(tmp_path, _d75_targets_default() if value is None else value)
    assert r.returncode == 0, r.stderr
    # then Prometheus starts with the service's own flags
    assert r.stdout.splitlines()[-1] == "prometheus-args: " + " ".join(SERVICES["prometheus"]["command"])
    written = tmp_path / "targets" / Path(COMPOSE_TARGETS_FILE).name
    assert yaml.safe_load(written.read_text()) == [{"targets": expected}]
    # and promtool reads the generated config with that file (SD files are checked when present)
    config = (REPO / "prometheus/prometheus.compose.yml").read_text().replace(COMPOSE_TARGETS_FILE, str(written))
    (tmp_path / "prometheus.yml").write_text(config)
    (tmp_path / "rules").symlink_to(REPO / "prometheus" / "rules")
    check = subprocess.run(
        [shutil.which("promtool") or "promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0 and "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr


@pytest.mark.parametrize("value", ["bot.lan", "bot.lan:http", ":9876", "bot.lan:", "bot'x:1", "a:1,bot/metrics:2",
                                   "http://bot:9876", " , "])
def test_a_bad_d75_target_stops_the_start_naming_it(tmp_path, value):
    r = _run(tmp_path, value)
    assert r.returncode == 2 and r.stderr.startswith("D75_TARGETS: ") and "prometheus-args" not in r.stdout, r
    assert not (tmp_path / "targets" / Path(COMPOSE_TARGETS_FILE).name).exists()


# -- the direct road: the Alertmanagers fill the Telegram placeholders from the environment -------------
ALERTMANAGER_SERVICES = ("alertmanager", "alertmanager-a", "alertmanager-b", "alertmanager-c")


def _am_run(tmp_path: Path, name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One Alertmanager service's entrypoint with its own command, reading the mounted configs from
    the repository, writing into `tmp_path` instead of the data volume, echoing instead of exec."""
    svc = SERVICES[name]
    entry = svc["entrypoint"]
    assert all(SERVICES[n]["entrypoint"] == entry for n in ALERTMANAGER_SERVICES)
    assert entry[:2] == ["/bin/sh", "-c"] and len(entry) == 4
    script = entry[2]
    assert not re.search(r"(?<!\$)\$(?!\$)", script.replace("$$", "")), "a lone $ in the entrypoint"
    assert 'exec /bin/alertmanager "$$@"' in script
    mounts = _mounts(name)
    script = script.replace("$$", "$").replace("exec /bin/alertmanager", "exec echo alertmanager-args:")
    for src, dst in mounts.items():
        script = script.replace(dst, str(REPO / src))
    for before in ("> /alertmanager/", "cfg=/alertmanager/"):  # the data volume
        script = script.replace(before, before.replace("/alertmanager/", f"{tmp_path}/"))
    return subprocess.run(["sh", "-c", script, entry[3], *svc["command"]], capture_output=True, text=True,
                          timeout=10, env={"PATH": "/usr/bin:/bin", **env})


def _config_flag(r: subprocess.CompletedProcess[str]) -> str:
    args = r.stdout.splitlines()[-1].split()
    assert args[0] == "alertmanager-args:"
    [flag] = [a for a in args if a.startswith("--config.file=")]
    return flag.split("=", 1)[1]


@pytest.mark.parametrize("name", ALERTMANAGER_SERVICES)
def test_alertmanager_without_a_bot_runs_the_plain_config(tmp_path, name):
    for env in ({}, {"TELEGRAM_BOT_TOKEN": "", "TELEGRAM_CHAT_ID": ""}, {"TELEGRAM_BOT_TOKEN": "1:x"}):
        r = _am_run(tmp_path, name, env)
        assert r.returncode == 0, r.stderr
        plain = {v: k for k, v in _mounts(name).items()}["/etc/alertmanager/alertmanager.yml"]
        assert _config_flag(r) == str(REPO / plain) and "no direct road" in r.stdout
        assert not (tmp_path / "alertmanager-telegram.yml").exists()
    # the service's other flags pass through unchanged, in order
    args = r.stdout.splitlines()[-1].split()[1:]
    assert [a for a in args if not a.startswith("--config.file=")] == \
        [a for a in SERVICES[name]["command"] if not a.startswith("--config.file=")]


@pytest.mark.parametrize("name", ["alertmanager", "alertmanager-b"])
def test_alertmanager_with_a_bot_gets_the_direct_road(tmp_path, name):
    env = {"TELEGRAM_BOT_TOKEN": "123456:AAE-x_y", "TELEGRAM_CHAT_ID": "-1001234567890",
           "TELEGRAM_API_URL": "http://127.0.0.1:8081"}
    r = _am_run(tmp_path, name, env)
    assert r.returncode == 0, r.stderr
    written = tmp_path / "alertmanager-telegram.yml"
    assert _config_flag(r) == str(written)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600  # the bot token is in it
    am = yaml.safe_load(written.read_text())
    [direct] = [x for x in am["receivers"] if x["name"] == "d76-pipeline-direct"]
    assert direct["telegram_configs"][0] | {"message": ""} == {
        "bot_token": "123456:AAE-x_y", "chat_id": -1001234567890, "api_url": "http://127.0.0.1:8081",
        "parse_mode": "HTML", "send_resolved": True, "message": ""}
    amtool = shutil.which("amtool") or "amtool"
    check = subprocess.run([amtool, "check-config", str(written)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
    route = subprocess.run([amtool, "config", "routes", "test", f"--config.file={written}", "alertname=ReceiverDown",
                            "severity=P0", "source=pipeline"], capture_output=True, text=True, timeout=60)
    assert route.stdout.strip() == "d76-pipeline-direct,d76-p0", route.stdout + route.stderr
    # the Bot API's default when TELEGRAM_API_URL is unset
    r = _am_run(tmp_path, name, {k: v for k, v in env.items() if k != "TELEGRAM_API_URL"})
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(written.read_text())["receivers"][-1]["telegram_configs"][0]["api_url"] == \
        "https://api.telegram.org"


@pytest.mark.parametrize("env,words", [
    ({"TELEGRAM_CHAT_ID": "@alerts"}, "TELEGRAM_CHAT_ID: the direct road needs a numeric chat id"),
    ({"TELEGRAM_CHAT_ID": "-"}, "TELEGRAM_CHAT_ID"),
    ({"TELEGRAM_BOT_TOKEN": "123|rm -rf"}, "TELEGRAM_BOT_TOKEN"),
    ({"TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL: expected an http(s) URL"),
    ({"TELEGRAM_API_URL": "http://x|y"}, "TELEGRAM_API_URL: unexpected characters"),
])
def test_a_bad_bot_setting_stops_the_alertmanager_naming_it(tmp_path, env, words):
    full = {"TELEGRAM_BOT_TOKEN": "123456:AAE", "TELEGRAM_CHAT_ID": "42", **env}
    r = _am_run(tmp_path, "alertmanager", full)
    assert r.returncode == 2 and words in r.stderr and "alertmanager-args" not in r.stdout, r
