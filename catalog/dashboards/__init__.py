"""Grafana dashboards and provisioning, generated from the catalog (`d76 generate` writes them).

The dashboards are built with grafana-foundation-sdk (`panels.py` holds what our panels share);
`render_dashboards(catalog)` returns repo-relative path -> text for `grafana/dashboards/*.json` and
`grafana/provisioning/**`; it is one of `catalog.generate.GENERATORS`.
"""
from __future__ import annotations

import json
from typing import Any

from ..model import Catalog
from . import history, overview, pipeline
from .panels import GENERATED_NOTE, PG, PROM

__all__ = ["render_dashboards", "build_dashboards"]

DATASOURCES = f"""# {GENERATED_NOTE}
apiVersion: 1
datasources:
  - name: Prometheus
    uid: {PROM.uid}
    type: prometheus
    access: proxy
    url: http://prometheus:9090
    isDefault: true
    jsonData:
      timeInterval: 5s
  - name: D76 history
    uid: {PG.uid}
    type: {PG.type_val}
    access: proxy
    url: postgres:5432
    user: d76
    jsonData:
      database: d76
      sslmode: disable
      postgresVersion: 1500
    secureJsonData:
      password: ${{POSTGRES_PASSWORD}}
"""

PROVIDER = f"""# {GENERATED_NOTE}
apiVersion: 1
providers:
  - name: d76
    folder: D76
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      path: /var/lib/grafana/dashboards
"""


def build_dashboards(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """Each dashboard's Grafana JSON model, by name."""
    return {"overview": overview.build(catalog), "alert-history": history.build(catalog),
            "pipeline": pipeline.build(catalog)}


def render_dashboards(catalog: Catalog) -> dict[str, str]:
    files = {f"grafana/dashboards/d76-{name}.json": json.dumps(d, indent=2, ensure_ascii=False) + "\n"
             for name, d in build_dashboards(catalog).items()}
    files["grafana/provisioning/datasources/datasources.yml"] = DATASOURCES
    files["grafana/provisioning/dashboards/d76.yml"] = PROVIDER
    return files
