"""`d76 generate`: render rules, prometheus.yml, alertmanager.yml, runbooks ... from the catalog.

`--for-existing DIR` instead writes what an operator with their own Prometheus and Alertmanager
needs (rule files, a scrape job, an Alertmanager fragment, optionally merged into their config).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

import vocabulary
from vocabulary import DEFAULT_RECEIVER_URL

REPO_ROOT = Path(__file__).resolve().parents[1]


def _fail(exc: Exception) -> None:
    for line in str(exc).splitlines():
        click.echo(f"error: {line}", err=True)
    sys.exit(2)


@click.command("generate")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="Override file (thresholds, for, severities, policy); defaults when omitted.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing files that are stale, or what promtool "
                                           "finds in the rules and their generated tests.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=REPO_ROOT,
              show_default="the repository", help="Where the generated tree lives.")
@click.option("--for-existing", "for_existing", type=click.Path(file_okay=False, path_type=Path),
              help="Write rule files, a scrape job and an Alertmanager fragment into this folder, for "
                   "your own Prometheus and Alertmanager (see README).")
@click.option("--receiver-url", help="With --for-existing: the receiver's base URL as Alertmanager reaches it "
                                     f"[default: policy.external_url, else {DEFAULT_RECEIVER_URL}].")
@click.option("--token-file", help="With --for-existing: the file holding the receiver's bearer token, as "
                                   "Alertmanager sees it (use an absolute path).")
@click.option("--bot-target", default=f"{vocabulary.HOST}:{vocabulary.EXPORTER_PORT}", show_default=True,
              help="With --for-existing: host:port of the bot's /metrics for the scrape job.")
@click.option("--merge-with", "merge_with", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="With --for-existing: also write alertmanager.merged.yml, this alertmanager.yml with "
                   "the fragment merged in (the file itself is not changed).")
def command(config: Path | None, check: bool, root: Path, for_existing: Path | None, receiver_url: str | None,
            token_file: str | None, bot_target: str, merge_with: Path | None) -> None:
    """Generate every file derived from the threshold catalog, and docs/contract.md from the code."""
    from catalog import CatalogError, check_generated, load_catalog, write_generated

    from .contract_doc import check_contract, write_contract

    if for_existing is None and (receiver_url or token_file or merge_with):
        raise click.UsageError("--receiver-url, --token-file and --merge-with go with --for-existing DIR")
    try:
        catalog = load_catalog(config)
    except CatalogError as exc:
        _fail(exc)
    for note in catalog.notes:
        click.echo(f"note: {note}", err=True)
    if for_existing is not None:
        if check:
            raise click.UsageError("--check checks the repository's generated files; not with --for-existing")
        _write_for_existing(catalog, for_existing, receiver_url or catalog.external_url or DEFAULT_RECEIVER_URL,
                            token_file, bot_target, merge_with)
        return
    if check:
        problems = _promtool(catalog)
        stale = check_generated(catalog, root) + check_contract(root)
        if stale:
            click.echo("stale generated files (run `d76 generate`" + (f" --config {config}" if config else "")
                       + "):", err=True)
            for rel in stale:
                click.echo(f"  {rel}", err=True)
        if stale or problems:
            sys.exit(1)
        click.echo(f"generated files are up to date ({len(catalog.alerts)} alerts)")
        return
    changed = write_generated(catalog, root) + write_contract(root)
    for p in changed:
        click.echo(f"wrote {p.relative_to(root) if p.is_relative_to(root) else p}")
    click.echo(f"{len(changed)} file(s) changed; {len(catalog.alerts)} alerts in the catalog")


def _promtool(catalog) -> list[str]:
    """promtool's findings on the rules and tests the catalog renders, printed one per line."""
    from catalog.promtool_check import promtool_problems

    problems = promtool_problems(catalog)
    if problems is None:
        click.echo("warning: promtool not found: the rules and their tests were not checked with promtool",
                   err=True)
        return []
    for line in problems:
        click.echo(f"error: {line}", err=True)
    return problems


def _write_for_existing(catalog, out: Path, receiver_url: str, token_file: str | None, bot_target: str,
                        merge_with: Path | None) -> None:
    from catalog import CatalogError
    from catalog.render_existing import render_existing_rule_files, render_fragment, render_merged, render_scrape_job

    files: dict[str, str] = {f"rules/{n}": t for n, t in render_existing_rule_files(catalog).items()}
    files["prometheus-scrape.yml"] = render_scrape_job(catalog, bot_target)
    files["alertmanager-fragment.yml"] = render_fragment(catalog, receiver_url=receiver_url,
                                                         bearer_token_file=token_file)
    if merge_with is not None:
        try:
            files["alertmanager.merged.yml"] = render_merged(
                catalog, merge_with.read_text(encoding="utf-8"), str(merge_with), receiver_url=receiver_url,
                bearer_token_file=token_file)
        except (CatalogError, OSError) as exc:
            _fail(exc)
    (out / "rules").mkdir(parents=True, exist_ok=True)
    for stale in (out / "rules").glob("d75-*.yml"):  # a source whose alerts were all disabled
        if f"rules/{stale.name}" not in files:
            stale.unlink()
    for rel, text in files.items():
        (out / rel).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out / rel}")
    click.echo(f"receiver URL in the fragment: {receiver_url}")
    if not token_file:
        click.echo("warning: no --token-file: Alertmanager will call the receiver without a bearer token "
                   "(the receiver then must run without RECEIVER_TOKEN)", err=True)
    click.echo("next: see README, 'Using your own Prometheus and Alertmanager'")
