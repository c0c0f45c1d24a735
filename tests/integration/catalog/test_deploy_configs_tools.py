"""promtool and amtool accept the HA variants of the generated configs (the single variants are
checked with the catalog's tests)."""
from __future__ import annotations

import subprocess

import pytest

from local_stack.processes import require_binary
from tests.support import paths

REPO = paths.REPO


@pytest.mark.parametrize("name", ["prometheus.compose-ha-a.yml", "prometheus.compose-ha-b.yml"])
def test_promtool_check_config_ha(name):
    r = subprocess.run([require_binary("promtool", "prometheus"), "check", "config", str(REPO / "prometheus" / name)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_amtool_check_config_ha():
    r = subprocess.run([require_binary("amtool", "alertmanager"), "check-config",
                        str(REPO / "alertmanager/alertmanager.compose-ha.yml")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
