"""A query of Grafana's PostgreSQL datasource: the one part of our dashboards grafana-foundation-sdk has
no type for.

The SDK types the queries of Prometheus, Loki, Tempo, Elasticsearch and the cloud sources (Athena,
BigQuery, ...), but not those of Grafana's core SQL datasources (PostgreSQL, MySQL, MSSQL), in the
10.4.x builds we pin as in its `next` builds. A panel builder takes any `cogvariants.Dataquery` built by
a `cogbuilder.Builder`, so the history dashboard's queries are this small query of our own, its own builder
(it has nothing to build up).
"""
from __future__ import annotations

from typing import Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

__all__ = ["SqlQuery"]


class SqlQuery(cogvariants.Dataquery, cogbuilder.Builder["SqlQuery"]):
    """A raw SQL query in the code editor; `format` is how Grafana reads the rows (a table, or
    time series from `time`/`metric`/`value` columns)."""

    def __init__(self, raw_sql: str, datasource: DataSourceRef, ref_id: str = "A",
                 format_val: Literal["table", "time_series"] = "table") -> None:
        self.raw_sql = raw_sql
        self.datasource = datasource
        self.ref_id = ref_id
        self.format_val = format_val

    def build(self) -> SqlQuery:
        return self

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": self.datasource, "rawSql": self.raw_sql,
                "format": self.format_val, "rawQuery": True, "editorMode": "code"}
