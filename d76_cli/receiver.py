"""`d76 receiver --listen HOST:PORT [--config FILE] [--threads N]`: the webhook receiver under waitress.

The listening port is checked before anything starts (storage, notification threads): a port in use
is one line naming it, not a traceback after "dispatcher started". Without RECEIVER_EXTERNAL_URL it
says once, in its log, that links in messages are local-only; channels configured but never routed by
the channel map, and routes to channels not configured, are logged at start too.

`d76 receiver --check-config` reads the settings (environment and `--config`) and the channel map as
the receiver would, prints what is wrong and what it warns about, and exits: 0 when the settings are
valid (warnings alone are printed, not failed), 1 with every error found. It starts nothing and
connects to nothing (not even the database).
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import sys

import click

from vocabulary import HOST, RECEIVER_PORT

__all__ = ["command", "check_listen", "check_config"]

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


def check_config(env: dict[str, str], config_file: str | None, listen: str | None) -> tuple[list[str], list[str]]:
    """(errors, warnings) of the receiver's settings: every part is read on its own, so independent
    mistakes are all reported (each names its variable or key); warnings are the channel routing's."""
    from webhook_receiver.history.settings import load_history_settings
    from webhook_receiver.notify.routing_check import check_routing
    from webhook_receiver.notify.settings import load_notify_settings
    from webhook_receiver.serving import parse_listen
    from webhook_receiver.settings import SettingsError, load_settings

    env = {"NOTIFICATIONS_ENABLED": "true", **env}  # as the command runs it
    errors: list[str] = []
    warnings: list[str] = []
    try:
        settings = load_settings(env=env, config_file=config_file)
    except SettingsError as exc:
        return [str(exc)], []
    try:
        parse_listen(listen or settings.listen)
    except ValueError as exc:
        errors.append(f"{'--listen' if listen else 'RECEIVER_LISTEN'}: {exc}")
    try:
        load_history_settings(settings)
    except SettingsError as exc:
        errors.append(str(exc))
    try:
        notify = load_notify_settings(settings.raw)
    except SettingsError as exc:
        errors.append(str(exc))
        return errors, warnings
    if notify.notifications_enabled:
        try:
            warnings += [w.message for w in check_routing(notify)]
        except SettingsError as exc:
            errors.append(str(exc))
    if not settings.raw.get("RECEIVER_EXTERNAL_URL"):
        warnings.append("RECEIVER_EXTERNAL_URL is not set: links in messages are local-only")
    return errors, warnings


@click.command(name="receiver")
@click.option("--listen", default=None, help=f"HOST:PORT (default RECEIVER_LISTEN or {HOST}:{RECEIVER_PORT})")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML file of VARIABLE: value with ${VAR} substitution (environment wins)")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="waitress worker threads")
@click.option("--log-level", default="INFO", show_default=True)
@click.option("--check-config", is_flag=True, help="Check the settings and the channel map, print errors and "
              "warnings (channels configured but never routed, routes to channels not configured) and exit: "
              "0 when valid, 1 with errors.")
def command(listen: str | None, config_file: str | None, threads: int | None, log_level: str,
            check_config: bool) -> None:
    """Run the Alertmanager webhook receiver (history store, API, metrics)."""
    if check_config:
        _check_and_exit(config_file, listen)
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


def _check_and_exit(config_file: str | None, listen: str | None) -> None:
    from webhook_receiver.settings import SettingsError

    try:
        errors, warnings = check_config(dict(os.environ), config_file, listen)
    except SettingsError as exc:  # pragma: no cover - check_config catches each part's
        errors, warnings = [str(exc)], []
    for e in errors:
        click.echo(f"error: {e}")
    for w in warnings:
        click.echo(f"warning: {w}")
    if errors:
        click.echo(f"configuration invalid: {len(errors)} error(s), {len(warnings)} warning(s)")
        sys.exit(1)
    click.echo(f"configuration valid: {len(warnings)} warning(s)" if warnings else "configuration valid")
    sys.exit(0)
