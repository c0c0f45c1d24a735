"""Receiver settings: environment plus an optional YAML config file with `${VAR}` substitution.

CONTRACT section 6 names the public variables; the receiver adds a few knobs (`RECEIVER_*`).
Every raw value (environment and config file) stays reachable in `Settings.raw` so other parts
(notifications) can read their own variables without touching this module. Secrets never appear in
`repr(settings)`.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vocabulary import DEFAULT_ALERTMANAGER_URL, HOST, RECEIVER_PORT

from .setting_parsers import SettingRow, SettingsError, flag, integer, load, number, parse_list, setting, text
from .timefmt import TZ_VARIABLE, zone

__all__ = ["Settings", "SettingsError", "load_settings", "parse_alertmanager_urls", "DEFAULT_SQLITE_PATH",
           "DEFAULT_ALERTMANAGER_URL"]

log = logging.getLogger(__name__)

DEFAULT_SQLITE_PATH = "d76-alerts.sqlite3"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
CONFIG_FILE = SettingRow("D76_CONFIG", "", "a YAML file of VARIABLE: value with ${VAR} substitution (the "
                         "environment wins); `--config` of the commands")


def _database_url(raw: Mapping[str, str], key: str, default: str) -> str:
    value = raw.get(key)
    if not value:
        return default
    if value.startswith(("postgresql://", "postgres://", "sqlite:///")):
        return value
    raise SettingsError(f"{key}: expected sqlite:///PATH or postgresql://... ")


def _listen(raw: Mapping[str, str], key: str, default: str) -> str:
    listen = raw.get(key) or default
    if ":" not in listen:
        raise SettingsError(f"{key}: expected HOST:PORT")
    return listen


def _timezone(raw: Mapping[str, str], key: str, default: str) -> str:
    value = (raw.get(key) or "").strip() or default
    try:
        zone(value)
    except ValueError as exc:
        raise SettingsError(f"{key}: {exc}") from None
    return value


def _alertmanager_urls(raw: Mapping[str, str], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    return parse_alertmanager_urls(raw)[0]


@dataclass(frozen=True)
class Settings:
    database_url: str = setting("DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}",
                                "where the history is kept: sqlite:///PATH or postgresql://...", _database_url)
    receiver_token: str | None = setting("RECEIVER_TOKEN", None, "the bearer token Alertmanager and API clients "
                                         "send; unset: no auth (a local demo only)", text, secret=True)
    listen: str = setting("RECEIVER_LISTEN", f"{HOST}:{RECEIVER_PORT}", "HOST:PORT `d76 receiver` listens on",
                          _listen)
    # serving (waitress): see webhook_receiver.serving for why these values
    threads: int = setting("RECEIVER_THREADS", 8, "worker threads serving requests", integer(1, 256))
    connection_limit: int = setting("RECEIVER_CONNECTION_LIMIT", 200, "open sockets at most (idle keep-alive "
                                    "connections are closed to make room)", integer(8, 100_000))
    idle_timeout: float = setting("RECEIVER_IDLE_TIMEOUT_SECONDS", 30.0, "an idle keep-alive connection is closed "
                                  "after this", number(1.0, 3600.0))
    request_timeout: float = setting("RECEIVER_REQUEST_TIMEOUT_SECONDS", 30.0, "a request must arrive completely "
                                     "within this", number(1.0, 3600.0))
    backlog: int = setting("RECEIVER_BACKLOG", 1024, "connections the kernel holds while every slot is busy",
                           integer(1, 65_535))
    max_body_bytes: int = setting("RECEIVER_MAX_BODY_BYTES", 1024 * 1024, "a larger request body is answered 413",
                                  integer(1024, 1024**3))
    api_default_limit: int = setting("RECEIVER_API_DEFAULT_LIMIT", 100, "alerts per page of GET /api/alerts "
                                     "without `limit`", integer(1, 100_000))
    api_max_limit: int = setting("RECEIVER_API_MAX_LIMIT", 1000, "the largest `limit` of GET /api/alerts",
                                 integer(1, 100_000))
    api_export_max_rows: int = setting("RECEIVER_API_EXPORT_MAX_ROWS", 100_000, "rows of one CSV/JSON export at "
                                       "most", integer(1, 10_000_000))
    # PostgreSQL: pool >= threads + background workers; a short checkout so outages answer 503 fast
    db_pool_size: int = setting("RECEIVER_DB_POOL_SIZE", 16, "PostgreSQL connections in the pool",
                                integer(1, 500))
    db_pool_timeout: float = setting("RECEIVER_DB_POOL_TIMEOUT", 1.0, "seconds to wait for a pooled connection "
                                     "before answering 503", number(0.05, 600.0))
    db_connect_timeout: int = setting("RECEIVER_DB_CONNECT_TIMEOUT", 3, "seconds to connect to PostgreSQL",
                                      integer(2, 600))
    sqlite_busy_timeout_ms: int = setting("RECEIVER_SQLITE_BUSY_TIMEOUT_MS", 5000, "milliseconds SQLite waits "
                                          "for a lock", integer(0, 600_000))
    apply_migrations: bool = setting("RECEIVER_APPLY_MIGRATIONS", True, "apply pending schema migrations at "
                                     "start", flag)
    ingest_batch: int = setting("RECEIVER_INGEST_BATCH", 64, "webhook payloads of concurrent requests stored in "
                                "one transaction (group commit; 1: one transaction each)", integer(1, 1000))
    # Alertmanager API v2: every replica of an HA cluster (silences go to the first that answers;
    # the history reconciler polls them all). `alertmanager_url_set`: given explicitly (not the default)
    alertmanager_urls: tuple[str, ...] = setting(
        "ALERTMANAGER_URL", (DEFAULT_ALERTMANAGER_URL,), "Alertmanager API v2 URLs, comma separated (every "
        "replica of an HA cluster): silences, and the history's reconciliation", _alertmanager_urls)
    alertmanager_url_set: bool = False
    # the pages (and the commands) write times in UTC unless the operator names their zone
    timezone: str = setting(TZ_VARIABLE, "UTC", "the time zone the pages and the commands write times in (an "
                            "IANA name such as Asia/Seoul)", _timezone)
    signin_tries_per_minute: int = setting("RECEIVER_SIGNIN_TRIES_PER_MINUTE", 5, "wrong tokens one client may "
                                           "paste into the pages' sign-in form a minute before it is answered 429",
                                           integer(1, 1000))
    runbooks_dir: str | None = setting("RUNBOOKS_DIR", None, "serve /runbooks from this folder instead of the "
                                       "packaged pages", text)
    # everything, as strings (environment and config file); secrets inside, so never printed
    raw: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:  # also hides credentials embedded in DATABASE_URL
        return (
            f"Settings(database_url={redact_url(self.database_url)!r}, "
            f"receiver_token={'set' if self.receiver_token else 'unset'}, listen={self.listen!r}, "
            f"threads={self.threads}, connection_limit={self.connection_limit}, "
            f"idle_timeout={self.idle_timeout:g}, max_body_bytes={self.max_body_bytes}, "
            f"api_max_limit={self.api_max_limit}, db_pool_size={self.db_pool_size})"
        )

    __str__ = __repr__

    @property
    def auth_enabled(self) -> bool:
        return bool(self.receiver_token)


def redact_url(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`; also a libpq multi-host
    URL (`@h1:5432,h2:5432/db?target_session_attrs=read-write`) and a `password=` parameter."""
    url = re.sub(r"(//[^:/@?#]+):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def _substitute(value: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                raise SettingsError(f"config file: {where} refers to ${{{name}}} but {name} is not set")
            return env[name]
        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _read_config_file(path: str | os.PathLike[str], env: Mapping[str, str]) -> dict[str, str]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"config file {p}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {p}: not valid YAML ({type(exc).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {p}: expected a mapping of VARIABLE: value")
    out: dict[str, str] = {}
    for key, value in data.items():
        name = str(key).upper()
        value = _substitute(value, env, name)
        if isinstance(value, (dict, list)):
            raise SettingsError(f"config file {p}: {name} must be a scalar")
        if value is None:
            continue
        out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def parse_alertmanager_urls(raw: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
    """ALERTMANAGER_URL: one or more http(s) URLs separated by commas (the replicas of an HA
    cluster), trailing slashes dropped. Returns (urls, whether the variable was set). The one place
    this variable is parsed: notifications and the history reconciler read the result."""
    urls = parse_list(raw, "ALERTMANAGER_URL")
    for u in urls:
        if not u.startswith(("http://", "https://")) or len(u.split("://", 1)[1].strip("/")) == 0:
            raise SettingsError("ALERTMANAGER_URL: expected http(s) URLs, separated by commas")
    if not urls:
        return (DEFAULT_ALERTMANAGER_URL,), False
    out: list[str] = []
    for u in urls:
        u = u.rstrip("/")
        if u not in out:
            out.append(u)
    return tuple(out), True


def load_settings(
    env: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None
) -> Settings:
    """Build `Settings`. The environment wins over the config file for a variable set in both.

    `${VAR}` in the config file is replaced from `env`; a missing VAR is a `SettingsError` naming it.
    The config file path can also come from `D76_CONFIG`.
    """
    env = dict(os.environ if env is None else env)
    config_file = config_file or env.get("D76_CONFIG") or None
    raw: dict[str, str] = {}
    if config_file:
        raw.update(_read_config_file(config_file, env))
    raw.update({k: v for k, v in env.items() if isinstance(v, str)})

    return load(Settings, raw, alertmanager_url_set=parse_alertmanager_urls(raw)[1], raw=raw)
