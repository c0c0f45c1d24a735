"""`d76 digest [--send-now] [--hours N] [--config FILE]`: the P3 email digest.

Without `--send-now` it prints the digest (plain text) that would be sent and writes the CSV the
mail would carry into `--csv-dir` (default: `digests/` in the stack's state folder), saying where;
with it, it sends it by
SMTP now (SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS, ALERT_EMAIL_FROM, ALERT_EMAIL_TO)
reading the history store (`--database-url`, DATABASE_URL, else the stack `d76 stack up` started,
see `d76_cli.stack_client`). The scheduled daily send runs inside the receiver.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from .stack_client import database_url as _database_url
from .stack_client import state_dir_option

__all__ = ["command"]


def _write_csv(content: Any, folder: Path) -> str | None:
    """Write the digest's CSV (what the mail attaches) into `folder`; the line that says where."""
    from webhook_receiver.notify.channels.email import csv_filename

    if content.csv_text is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / csv_filename(content)
        path.write_text(content.csv_text, encoding="utf-8", newline="")
    except OSError as exc:
        raise click.ClickException(f"could not write the CSV into {folder}: {exc.strerror}") from None
    return f"Written: {path} ({content.csv_rows} alerts, every severity; the mail attaches it)"


@click.command(name="digest")
@click.option("--send-now", is_flag=True, help="send the digest by SMTP now instead of printing it")
@click.option("--hours", type=click.FloatRange(0.1, 24 * 31), default=24.0, show_default=True,
              help="how far back the digest looks")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="receiver config file (YAML with ${VAR} substitution; environment wins)")
@click.option("--database-url", default=None, help="overrides DATABASE_URL")
@click.option("--csv-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="print mode: the folder the day's history (the CSV the mail attaches) is written to "
                   "[default: digests/ in --state-dir]")
@state_dir_option
def command(send_now: bool, hours: float, config_file: str | None, database_url: str | None,
            csv_dir: Path | None, state_dir: Path) -> None:
    """Print or send the daily digest: every severity counted (MTTA, MTTR, suppressed episodes), P3
    alerts listed in full, the day's history attached as CSV (when sent)."""
    from webhook_receiver.errors import StorageUnavailable
    from webhook_receiver.notify.channels.base import DeliveryError
    from webhook_receiver.notify.channels.email import EmailSettings, render_text
    from webhook_receiver.notify.digest import collect_digest, send_digest
    from webhook_receiver.notify.settings import load_notify_settings
    from webhook_receiver.setting_parsers import load
    from webhook_receiver.settings import SettingsError, load_settings
    from webhook_receiver.store import open_store

    try:
        settings = load_settings(config_file=config_file)
        notify = load_notify_settings(settings.raw)
        email = load(EmailSettings, settings.raw)
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    db = _database_url(database_url, settings, state_dir)
    store = open_store(db.url, settings)
    try:
        if not send_now:
            until = datetime.now(UTC)
            content = collect_digest(store, until - timedelta(hours=hours), until)
            click.echo(render_text(content, _write_csv(content, csv_dir or state_dir / "digests")), nl=False)
            return
        if not email.enabled:
            raise click.ClickException("email digest is off: set SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO")
        message_id, content = send_digest(store, notify, hours=hours)
        click.echo(f"digest sent to {', '.join(email.mail_to)}: {len(content.alerts)} P3 alerts "
                   f"({len(content.open)} open, {len(content.resolved)} resolved), Message-ID {message_id}")
    except DeliveryError as exc:
        raise click.ClickException(f"sending failed: {exc}") from None
    except StorageUnavailable as exc:
        raise click.ClickException(f"storage not reachable: {exc} (database from {db.origin})") from None
    finally:
        store.close()
