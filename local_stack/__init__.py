"""Starting the real servers of the stack (Prometheus, Alertmanager, PostgreSQL) on loopback.

Used by the native stack runner (`d76 stack up`), the demo, and the integration tests, so the
tests exercise exactly the start-up code that users run. The runner is `local_stack.runner.Stack`;
the modules behind it each own one concern (config, preflight, render, lifecycle, manifest,
status, faults, and patroni for the HA shape's PostgreSQL: see docs/architecture.md, "Local stack").
"""
from local_stack.processes import (
    ClusterSpec,
    ManagedProcess,
    PostgresCluster,
    StartupError,
    free_port,
    start_alertmanager,
    start_prometheus,
    wait_http_ok,
)

__all__ = [
    "ClusterSpec",
    "ManagedProcess",
    "PostgresCluster",
    "StartupError",
    "free_port",
    "start_alertmanager",
    "start_prometheus",
    "wait_http_ok",
]
