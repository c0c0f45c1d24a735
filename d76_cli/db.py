"""`d76 db upgrade|current`: schema migrations of the receiver's store (DATABASE_URL)."""
from __future__ import annotations

import click

__all__ = ["command"]


def _open(database_url: str | None, config_file: str | None):  # type: ignore[no-untyped-def]
    from webhook_receiver.settings import SettingsError, load_settings, redact_url
    from webhook_receiver.store import open_store

    try:
        settings = load_settings(config_file=config_file)
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    url = database_url or settings.database_url
    return open_store(url, settings), redact_url(url)


_url_opt = click.option("--database-url", default=None, help="overrides DATABASE_URL")
_cfg_opt = click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None)


@click.group(name="db")
def command() -> None:
    """Receiver database: apply migrations, show the schema version."""


@command.command()
@_url_opt
@_cfg_opt
def upgrade(database_url: str | None, config_file: str | None) -> None:
    """Apply every pending migration."""
    from webhook_receiver.errors import StorageUnavailable

    store, shown = _open(database_url, config_file)
    try:
        applied = store.migrate()
        version = store.current_version()
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"{shown}: applied {applied or 'nothing'}; now at version {version}")


@command.command()
@_url_opt
@_cfg_opt
def current(database_url: str | None, config_file: str | None) -> None:
    """Print the applied schema version and any pending migrations."""
    from webhook_receiver.errors import StorageUnavailable

    store, shown = _open(database_url, config_file)
    try:
        version = store.current_version()
        pending = store.pending_versions()
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"{shown}: version {version}" + (f" (pending: {pending})" if pending else " (up to date)"))
