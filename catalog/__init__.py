"""The threshold catalog: one place for every alert, and the files generated from it.

`load_catalog()` gives the defaults (CONTRACT section 3 + Watchdog + system rules + P3 warnings),
optionally with an operator's override file; the `render_*` functions turn it into Prometheus rules,
prometheus.yml, alertmanager.yml, the receiver's channel map, runbooks and promtool tests;
`write_generated`/`check_generated` keep the committed copies in step (`d76 generate [--check]`);
`render_existing` serves operators with their own Prometheus and Alertmanager (`--for-existing`).
"""
from .build import DEFAULT_SEVERITY_POLICY, build_catalog, load_catalog
from .generate import GENERATORS, check_generated, generated_files, write_generated
from .model import (
                    CHANNELS,
                    SEVERITIES,
                    SOURCES,
                    AlertDef,
                    Catalog,
                    CatalogError,
                    CatalogSettings,
                    LabelThreshold,
                    SeverityPolicy,
                    parse_duration,
)
from .render_alertmanager import (
                    TOKEN_FILE_COMPOSE,
                    TOKEN_FILE_LOCAL,
                    WATCHDOG_RECEIVER,
                    inhibit_rules,
                    receiver_name,
                    render_alertmanager_config,
                    render_channel_map,
)
from .render_prometheus import render_prometheus_config, render_rule_files
from .render_promtool_tests import render_go_template, render_promtool_tests
from .render_runbooks import render_runbooks

__all__ = [
    "load_catalog", "build_catalog", "Catalog", "AlertDef", "LabelThreshold", "SeverityPolicy", "CatalogSettings",
    "CatalogError", "SEVERITIES", "SOURCES", "CHANNELS", "DEFAULT_SEVERITY_POLICY", "parse_duration",
    "render_rule_files", "render_prometheus_config", "render_alertmanager_config", "render_channel_map",
    "render_runbooks", "render_promtool_tests", "render_go_template", "inhibit_rules", "receiver_name",
    "WATCHDOG_RECEIVER", "TOKEN_FILE_LOCAL", "TOKEN_FILE_COMPOSE",
    "GENERATORS", "generated_files", "write_generated", "check_generated",
]
