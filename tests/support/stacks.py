"""Setting up the integration tests' pipelines: a local stack telling a fake Telegram, and a real
Prometheus config with the catalog's rules.

The end-to-end tests (test_e2e_pipeline, test_ownership_stack, test_ownership_ha,
test_oncall_maintenance_e2e, catalog/test_pipeline_road) differ only in the catalog overrides and
the receiver's settings; the Prometheus tests (exporter/test_service_health,
catalog/test_rules_prometheus) only in what Prometheus scrapes.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from catalog import Catalog, render_prometheus_config, render_rule_files
from local_stack.processes import free_port
from local_stack.runner import Stack, StackConfig
from tests.support.fakes import FakeTelegram

__all__ = ["telegram_stack", "write_overrides", "write_prometheus_config"]


def write_overrides(tmp: Path, overrides: Mapping[str, Any], name: str = "overrides.yml") -> Path:
    """The catalog override file `tmp/name` (YAML) for `load_catalog` or a stack's `catalog_override`."""
    path = tmp / name
    path.write_text(yaml.safe_dump(overrides))
    return path


@contextmanager
def telegram_stack(tmp: Path, env: Mapping[str, str], *, overrides: Mapping[str, Any] | None = None,
                   enforce_limits: bool = False, **config: Any) -> Iterator[tuple[Stack, FakeTelegram]]:
    """A local stack on free ports under `tmp/stack` whose receiver tells a fake Telegram (no polling and
    the dead man's switch at 10 minutes unless `env` says otherwise), with the catalog `overrides` and
    the StackConfig fields `config`; taken down afterwards. `enforce_limits`: the fake answers 429 past
    Telegram's limits."""
    if overrides is not None:
        config["catalog_override"] = write_overrides(tmp, overrides)
    with FakeTelegram() as tg:
        if enforce_limits:
            tg.enforce_limits()  # Telegram's limits: ~1 message a second per chat, 20 a minute, 30 a second in all
        cfg = StackConfig.with_free_ports(
            tmp / "stack", receiver_env={"TELEGRAM_API_URL": tg.api_url, "TELEGRAM_BOT_TOKEN": tg.token,
                                         "TELEGRAM_POLLING": "false", "DEADMAN_TIMEOUT_SECONDS": "600", **env},
            **config)
        stack = Stack(cfg).up()
        try:
            yield stack, tg
        finally:
            stack.down()


def write_prometheus_config(tmp: Path, catalog: Catalog, exporter_target: str) -> Path:
    """`tmp/prometheus.yml` scraping `exporter_target` with the catalog's rules (in `tmp/rules`), its
    Alertmanager a free port nobody answers on."""
    (tmp / "rules").mkdir()
    for name, text in render_rule_files(catalog).items():
        (tmp / "rules" / name).write_text(text)
    cfg = tmp / "prometheus.yml"
    cfg.write_text(render_prometheus_config(catalog, exporter_target=exporter_target,
                                            alertmanager_target=f"127.0.0.1:{free_port()}",
                                            rule_files=["rules/*.yml"]))
    return cfg
