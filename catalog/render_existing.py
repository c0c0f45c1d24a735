"""Our rules and routes for an operator who already runs Prometheus and Alertmanager.

`d76 generate --for-existing DIR` writes:

* `rules/d75-*.yml`: the rule files, each group with `interval` set to the catalog's evaluation
  interval (so a P0 fires within a second even when the operator's Prometheus evaluates every minute),
  without the pipeline's own alerts (they assume our stack's job names);
* `prometheus-scrape.yml`: the scrape job for the bot (`job_name: d75`, the fast scrape interval);
* `alertmanager-fragment.yml`: a route subtree (matching only our alerts), our receivers and our
  inhibition rules (scoped to our alerts), to merge into the operator's `alertmanager.yml`;
* with `--merge-with FILE`: `alertmanager.merged.yml`, that file with the fragment merged in.

The fragment is derived from the full `alertmanager.yml` the catalog renders, so routes, timings
and inhibitions are the same as in our own stack.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import yaml

from vocabulary import PIPELINE_SOURCE, WATCHDOG_SEVERITY

from .model import SEVERITIES, SOURCES, Catalog, CatalogError
from .render_alertmanager import WATCHDOG_RECEIVER, alertmanager_doc, receiver_name
from .render_prometheus import bot_scrape_job, dump_yaml, header, render_rule_files

__all__ = ["OUR_ROUTE_MATCHERS", "our_route_matchers", "OUR_RECEIVERS", "render_fragment", "fragment_doc",
           "merge_fragment", "render_merged", "render_scrape_job", "render_existing_rule_files"]

# what makes an alert ours: a CONTRACT source and a CONTRACT severity (Watchdog: WATCHDOG_SEVERITY); a foreign
# alert would need both label values to be caught by our subtree. An override file's own sources
# (`sources:`) join the source matcher (`our_route_matchers`); these are the built-in catalog's.
_SEVERITY_MATCHER = f'severity=~"{"|".join((*SEVERITIES, WATCHDOG_SEVERITY))}"'
OUR_ROUTE_MATCHERS = [f'source=~"{"|".join(SOURCES)}"', _SEVERITY_MATCHER]


def our_route_matchers(catalog: Catalog) -> list[str]:
    """The matchers of our alerts: the catalog's sources (built-in and declared) and our severities."""
    return [f'source=~"{"|".join(catalog.sources)}"', _SEVERITY_MATCHER]
OUR_RECEIVERS = [WATCHDOG_RECEIVER] + [receiver_name(s) for s in SEVERITIES]


def fragment_doc(catalog: Catalog, *, receiver_url: str, bearer_token_file: str | None) -> dict[str, Any]:
    """The fragment as data: `route` (one subtree), `receivers`, `inhibit_rules`."""
    full = alertmanager_doc(catalog, receiver_url=receiver_url, bearer_token_file=bearer_token_file)
    root = full["route"]
    ours = our_route_matchers(catalog)
    route: dict[str, Any] = {"receiver": root["receiver"], "matchers": list(ours)}
    route.update({k: v for k, v in root.items() if k not in ("receiver", "matchers", "routes")})
    route["continue"] = False  # our alerts stop here; the operator's routes never see them
    route["routes"] = root["routes"]
    # scoped to our alerts: an operator's own alert never inhibits ours, nor ours theirs
    inhibit = [{**rule, "source_matchers": list(rule["source_matchers"]) + ours,
                "target_matchers": list(rule["target_matchers"]) + ours}
               for rule in full.get("inhibit_rules", [])]
    out = {"route": route, "receivers": full["receivers"], "inhibit_rules": inhibit}
    if full.get("time_intervals"):  # recurring maintenance windows (names d76-*), muted by our routes
        out["time_intervals"] = full["time_intervals"]
    return out


_FRAGMENT_NOTE = """\
# How to merge (or let `d76 generate --for-existing DIR --merge-with alertmanager.yml` do it):
#   route:          put `route` below as the FIRST entry of your top-level `route.routes`
#                   (it matches only D76 alerts and does not continue, so your routes never see them)
#   receivers:      append these to your `receivers` (names d76-*)
#   inhibit_rules:  append these to your `inhibit_rules` (they only touch D76 alerts)
#   time_intervals: (when present) append these to your `time_intervals` (names d76-*)
# then `amtool check-config alertmanager.yml` and reload Alertmanager (SIGHUP or POST /-/reload).
"""


def render_fragment(catalog: Catalog, *, receiver_url: str, bearer_token_file: str | None) -> str:
    doc = fragment_doc(catalog, receiver_url=receiver_url, bearer_token_file=bearer_token_file)
    return header(catalog) + _FRAGMENT_NOTE + dump_yaml(doc)


def _is_ours_route(r: Any) -> bool:
    """A top-level route to one of our receivers: the subtree an earlier merge added."""
    return isinstance(r, dict) and r.get("receiver") in OUR_RECEIVERS


def _is_ours_inhibit(r: Any) -> bool:
    """An inhibition an earlier merge added: our severity matcher and a source matcher listing our
    built-in sources first (an override file's own sources follow them)."""
    matchers = (r.get("target_matchers") or []) if isinstance(r, dict) else []
    sources = OUR_ROUTE_MATCHERS[0][:-1]   # without the closing quote
    return _SEVERITY_MATCHER in matchers and any(
        isinstance(m, str) and (m == OUR_ROUTE_MATCHERS[0] or m.startswith(sources + "|")) for m in matchers)


def merge_fragment(foreign: Any, fragment: dict[str, Any]) -> dict[str, Any]:
    """`foreign` (a parsed alertmanager.yml) with the fragment merged in; a new dict.

    Merging again replaces what an earlier merge added (our subtree, the d76-* receivers, our
    inhibition rules), so regenerating after a catalog change and merging again is safe.
    """
    if not isinstance(foreign, dict) or not isinstance(foreign.get("route"), dict):
        raise CatalogError("the Alertmanager config to merge into has no top-level `route`")
    if not isinstance(foreign.get("receivers", []), list):
        raise CatalogError("the Alertmanager config to merge into: `receivers` is not a list")
    merged = dict(foreign)
    route = dict(foreign["route"])
    route["routes"] = [fragment["route"]] + [r for r in (route.get("routes") or []) if not _is_ours_route(r)]
    merged["route"] = route
    receivers = [
        r for r in (foreign.get("receivers") or []) if not (isinstance(r, dict) and r.get("name") in OUR_RECEIVERS)
    ]
    merged["receivers"] = receivers + fragment["receivers"]
    inhibit = [r for r in (foreign.get("inhibit_rules") or []) if not _is_ours_inhibit(r)]
    merged["inhibit_rules"] = inhibit + fragment["inhibit_rules"]
    intervals = [t for t in (foreign.get("time_intervals") or [])
                 if not (isinstance(t, dict) and str(t.get("name", "")).startswith("d76-"))]
    if intervals or fragment.get("time_intervals"):
        merged["time_intervals"] = intervals + list(fragment.get("time_intervals") or [])
    return merged


def render_merged(catalog: Catalog, foreign_text: str, source_name: str, *, receiver_url: str,
                  bearer_token_file: str | None) -> str:
    """The operator's alertmanager.yml text with our fragment merged in (comments are not kept)."""
    try:
        foreign = yaml.safe_load(foreign_text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source_name}: not valid YAML: {exc}") from None
    merged = merge_fragment(foreign, fragment_doc(catalog, receiver_url=receiver_url,
                                                  bearer_token_file=bearer_token_file))
    note = (f"# {source_name} with the D76 fragment merged in by `d76 generate --for-existing "
            "--merge-with`;\n# review it, then replace your alertmanager.yml and reload (comments of the "
            "original are not kept)\n")
    return note + dump_yaml(merged)


def render_existing_rule_files(catalog: Catalog) -> dict[str, str]:
    """The rule files with each group's evaluation interval set (the operator's global one may be slow).

    Without the pipeline's own alerts (source `pipeline`): they read the job names of our stack
    (`receiver`, `alertmanager`, `prometheus`), which an operator's Prometheus need not use, and
    ReceiverDown would page at once when no job is called `receiver`."""
    ours = replace(catalog, alerts=[replace(a, enabled=False) if a.source == PIPELINE_SOURCE else a
                                    for a in catalog.alerts])
    return render_rule_files(ours, group_interval=catalog.settings.evaluation_interval)


def render_scrape_job(catalog: Catalog, bot_target: str) -> str:
    """The scrape job to add to the operator's prometheus.yml `scrape_configs`."""
    job = [bot_scrape_job(catalog, [bot_target])]
    return (header(catalog) + "# add this job to `scrape_configs` in your prometheus.yml (the rules expect "
            "job=\"d75\"),\n# and the rule files to `rule_files`, e.g. - /etc/prometheus/d76/rules/*.yml\n"
            + dump_yaml(job))
