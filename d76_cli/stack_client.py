"""How the `d76` commands find the stack `d76 stack up` started: one place for every command.

`d76 stack up` leaves in its state folder (`--state-dir`, default `.d76/stack`) the manifest
`stack.json` (the pieces and their URLs, no secrets), the receiver's bearer token
(`alertmanager/receiver_token`, 0600) and its DATABASE_URL (`database_url`, 0600). A command uses
them unless it is told where to go:

| what | explicit (wins) | then | last |
|---|---|---|---|
| database (`history`, `digest`) | `--database-url`, DATABASE_URL (environment or `--config`) | the stack's `database_url` file (kept after `stack down`: history of a stopped stack) | the receiver's default SQLite file |
| receiver (`ack`) | `--receiver-url` (token: `--token`, else RECEIVER_TOKEN) | the running stack's receiver(s) and token | http://127.0.0.1:9099, RECEIVER_TOKEN |
| Alertmanager (`send-alert`, `silence`) | `--alertmanager-url`, ALERTMANAGER_URL | the running stack's Alertmanager(s) | http://127.0.0.1:9093 |

Each answer says where it came from (`origin`), so an error can name it ("the stack in .d76/stack").
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from local_stack import defaults
from local_stack.manifest import piece_kind, read_manifest, recorded_pieces
from local_stack.state import read_file
from vocabulary import DEFAULT_ALERTMANAGER_URL, DEFAULT_RECEIVER_URL

__all__ = ["DEFAULT_STATE_DIR", "StackInfo", "Endpoint", "load_stack", "state_dir_option", "database_url",
           "receiver", "alertmanager"]

DEFAULT_STATE_DIR = defaults.DEFAULT_STATE_DIR

state_dir_option = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_STATE_DIR,
    show_default=True, help="The state folder of a stack started by `d76 stack up` (used unless a URL is given).")


@dataclass(frozen=True)
class StackInfo:
    """What a state folder says about its stack. `running` is whether `stack.json` exists (`stack
    down` removes it); URLs are in replica order (HA: several)."""

    state_dir: Path
    running: bool
    receiver_urls: tuple[str, ...] = ()
    alertmanager_urls: tuple[str, ...] = ()
    token: str | None = None
    database_url: str | None = None

    @property
    def origin(self) -> str:
        return f"the stack in {self.state_dir}"


@dataclass(frozen=True)
class Endpoint:
    """Where a command goes: one URL or several (HA: tried in turn), a token if any, and why."""

    urls: tuple[str, ...]
    origin: str
    token: str | None = None

    @property
    def url(self) -> str:
        return self.urls[0]


def load_stack(state_dir: Path | str | None) -> StackInfo:
    """Read a state folder (missing files are simply absent from the answer)."""
    state = Path(state_dir or DEFAULT_STATE_DIR)
    manifest = read_manifest(state)
    pieces = recorded_pieces(manifest)

    def urls(kind: str) -> tuple[str, ...]:
        return tuple(str(p["url"]) for p in pieces if piece_kind(p) == kind and p.get("url"))

    return StackInfo(state_dir=state, running=bool(manifest), receiver_urls=urls("receiver"),
                     alertmanager_urls=urls("alertmanager"), token=read_file(state, defaults.STATE_TOKEN_FILE),
                     database_url=read_file(state, defaults.STATE_DATABASE_URL_FILE))


def database_url(explicit: str | None, settings: Any, state_dir: Path | str | None) -> Endpoint:
    """The history database: `explicit` (--database-url), DATABASE_URL from the environment or the
    config file (`settings.raw`), the stack's, or the receiver's default."""
    if explicit:
        return Endpoint((explicit,), "--database-url")
    if settings.raw.get("DATABASE_URL"):
        return Endpoint((settings.database_url,), "DATABASE_URL")
    stack = load_stack(state_dir)
    if stack.database_url:
        return Endpoint((stack.database_url,), stack.origin)
    return Endpoint((settings.database_url,), "the receiver's default")


def receiver(explicit_url: str | None, explicit_token: str | None, state_dir: Path | str | None,
             env: Mapping[str, str] | None = None) -> Endpoint:
    """The receiver's HTTP API and its token. A URL given means RECEIVER_TOKEN (or --token) goes
    with it; the stack's receivers come with the stack's own token."""
    env = os.environ if env is None else env
    if explicit_url:
        return Endpoint((explicit_url.rstrip("/"),), "--receiver-url", explicit_token or env.get("RECEIVER_TOKEN"))
    stack = load_stack(state_dir)
    if stack.running and stack.receiver_urls:
        return Endpoint(stack.receiver_urls, stack.origin, explicit_token or stack.token)
    return Endpoint((DEFAULT_RECEIVER_URL,), f"the default (no stack running in {stack.state_dir})",
                    explicit_token or env.get("RECEIVER_TOKEN"))


def alertmanager(explicit_url: str | None, state_dir: Path | str | None) -> Endpoint:
    """Alertmanager's API: --alertmanager-url / ALERTMANAGER_URL (comma-separated: several), the
    stack's Alertmanagers, or the default port."""
    if explicit_url:
        urls = tuple(u.strip().rstrip("/") for u in explicit_url.split(",") if u.strip())
        if urls:
            return Endpoint(urls, "--alertmanager-url / ALERTMANAGER_URL")
    stack = load_stack(state_dir)
    if stack.running and stack.alertmanager_urls:
        return Endpoint(stack.alertmanager_urls, stack.origin)
    return Endpoint((DEFAULT_ALERTMANAGER_URL,), f"the default (no stack running in {stack.state_dir})")


def default_actor() -> str:
    """Who an acknowledgement or silence is recorded as when `--by` is not given."""
    import getpass

    try:
        return f"{getpass.getuser()}@cli"
    except (KeyError, OSError):
        return "cli"


def receiver_request(target: Endpoint, method: str, path: str, **kw: Any) -> Any:
    """One call to the receiver's API: the first of `target.urls` that answers (HA: either
    receiver will do). Raises click.ClickException naming the receiver and where its address came
    from; returns the `requests.Response` for the caller to read."""
    import requests

    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    failures = []
    for url in target.urls:
        try:
            return requests.request(method, url + path, headers=headers, timeout=10, **kw)
        except requests.RequestException as exc:
            failures.append(f"{url}: {type(exc).__name__}")
    raise click.ClickException(f"could not reach the receiver ({'; '.join(failures)}; from {target.origin}); "
                               "is it running? `d76 stack status`")


def api_error(resp: Any, target: Endpoint) -> click.ClickException:
    """A receiver's 4xx/5xx as one line an operator can act on."""
    try:
        detail = resp.json().get("error") or resp.text[:200]
    except ValueError:
        detail = resp.text[:200]
    if resp.status_code == 401:
        how = ("give --token or set RECEIVER_TOKEN" if "stack" not in target.origin
               else "the stack's token file no longer matches; was the stack restarted elsewhere?")
        return click.ClickException(f"the receiver at {resp.url.split('/api/')[0]} refused the token "
                                    f"({detail}; from {target.origin}): {how}")
    return click.ClickException(f"the receiver answered HTTP {resp.status_code}: {detail}")
