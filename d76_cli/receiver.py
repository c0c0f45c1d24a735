"""`d76 receiver --listen HOST:PORT [--config FILE] [--threads N]`: the webhook receiver under waitress.

The listening port is checked before anything starts (storage, notification threads): a port in use
is one line naming it, not a traceback after "dispatcher started". Without RECEIVER_EXTERNAL_URL it
says once, in its log, that links in messages are local-only.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import sys

import click

from vocabulary import HOST, RECEIVER_PORT

__all__ = ["command", "check_listen"]

log = logging.getLogger("webhook_receiver")


def check_listen(host: str, port: int) -> None:
    """Bind `host:port` the way waitress will (SO_REUSEADDR) and let go: ClickException naming the
    port when that fails (in use, not an address of this machine, no permission)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise click.ClickException(_bind_error(host, port, exc)) from None


def _bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"cannot listen on {host}:{port}: port {port} is already in use "
                "(another receiver or `d76 stack`? choose another with --listen)")
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


@click.command(name="receiver")
@click.option("--listen", default=None, help=f"HOST:PORT (default RECEIVER_LISTEN or {HOST}:{RECEIVER_PORT})")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML file of VARIABLE: value with ${VAR} substitution (environment wins)")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="waitress worker threads")
@click.option("--log-level", default="INFO", show_default=True)
def command(listen: str | None, config_file: str | None, threads: int | None, log_level: str) -> None:
    """Run the Alertmanager webhook receiver (history store, API, metrics)."""
    from webhook_receiver.errors import StorageUnavailable
    from webhook_receiver.logs import configure_logging
    from webhook_receiver.settings import SettingsError, load_settings

    configure_logging(log_level)
    # CONTRACT section 6: with no Telegram token, messages are printed (dry run), not dropped. A bare
    # create_app() (tests, embedding) keeps notifications off unless asked; the CLI turns them on.
    try:
        settings = load_settings(config_file=config_file)
        if not settings.raw.get("NOTIFICATIONS_ENABLED"):
            settings = load_settings(env={**os.environ, "NOTIFICATIONS_ENABLED": "true"}, config_file=config_file)
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    from webhook_receiver.app import create_app
    from webhook_receiver.serving import ServingOptions, parse_listen, serve

    listen = listen or settings.listen
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    check_listen(host, port)
    if not settings.raw.get("RECEIVER_EXTERNAL_URL"):
        log.warning("RECEIVER_EXTERNAL_URL is not set: links in messages are local-only (runbook links served "
                    "here point at this machine, and messages carry no history links); a phone cannot open "
                    "them. Set RECEIVER_EXTERNAL_URL (and policy.external_url in the catalog override file) to "
                    "the receiver's public URL.", extra={"fields": {"listen": listen}})
    try:
        app = create_app(settings)
    except StorageUnavailable as exc:
        raise click.ClickException(f"storage not reachable at start-up: {exc}") from None
    except SettingsError as exc:  # notification settings are read when the app is built
        raise click.ClickException(f"configuration: {exc}") from None
    # connection limit, idle and request timeouts, backlog: RECEIVER_* (see webhook_receiver.serving)
    try:
        serve(app, listen, ServingOptions.from_settings(settings, threads))
    except OSError as exc:  # taken between the check and the bind (serve has closed the app)
        raise click.ClickException(_bind_error(host, port, exc)) from None
    sys.exit(0)
