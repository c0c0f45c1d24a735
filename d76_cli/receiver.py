"""`d76 receiver --listen HOST:PORT [--config FILE] [--threads N]`: the webhook receiver under waitress."""
from __future__ import annotations

import os
import sys

import click

__all__ = ["command"]


@click.command(name="receiver")
@click.option("--listen", default=None, help="HOST:PORT (default RECEIVER_LISTEN or 127.0.0.1:9099)")
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
        parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    try:
        app = create_app(settings)
    except StorageUnavailable as exc:
        raise click.ClickException(f"storage not reachable at start-up: {exc}") from None
    except SettingsError as exc:  # notification settings are read when the app is built
        raise click.ClickException(f"configuration: {exc}") from None
    # connection limit, idle and request timeouts, backlog: RECEIVER_* (see webhook_receiver.serving)
    serve(app, listen, ServingOptions.from_settings(settings, threads))
    sys.exit(0)
