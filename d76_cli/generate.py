"""`d76 generate`: render rules, prometheus.yml, alertmanager.yml, runbooks ... from the catalog."""
from __future__ import annotations

import sys
from pathlib import Path

import click

REPO_ROOT = Path(__file__).resolve().parents[1]


@click.command("generate")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="Override file (thresholds, for, severities, policy); defaults when omitted.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing files that are stale.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=REPO_ROOT,
              show_default="the repository", help="Where the generated tree lives.")
def command(config: Path | None, check: bool, root: Path) -> None:
    """Generate every file derived from the threshold catalog."""
    from exporter.catalog import CatalogError, check_generated, load_catalog, write_generated

    try:
        catalog = load_catalog(config)
    except CatalogError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if check:
        stale = check_generated(catalog, root)
        if stale:
            click.echo("stale generated files (run `d76 generate`" + (f" --config {config}" if config else "")
                       + "):", err=True)
            for rel in stale:
                click.echo(f"  {rel}", err=True)
            sys.exit(1)
        click.echo(f"generated files are up to date ({len(catalog.alerts)} alerts)")
        return
    changed = write_generated(catalog, root)
    for p in changed:
        click.echo(f"wrote {p.relative_to(root) if p.is_relative_to(root) else p}")
    click.echo(f"{len(changed)} file(s) changed; {len(catalog.alerts)} alerts in the catalog")
