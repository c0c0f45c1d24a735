"""Checking a list of mappings in the channel map's YAML (routes, chains, windows, overrides).

Each section walks its list the same way: every entry that is not a mapping is one error naming its
key (`section[n]`), a key the entry may not have is one error each, and the section checks the rest.
The errors stay in the order of the entries, so the operator reads them as the file is written.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["mapping_entries", "unknown_keys"]


def mapping_entries(items: Sequence[Any], key: str, expected: str, errors: list[str], *,
                    name_type: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`key[n]`, entry) for each entry of `items` that is a mapping; for the others `key[n]: expected`
    (with `, got <type>` when `name_type`) goes to `errors` as the walk reaches them."""
    for n, entry in enumerate(items):
        k = f"{key}[{n}]"
        if not isinstance(entry, dict):
            errors.append(f"{k}: {expected}" + (f", got {type(entry).__name__}" if name_type else ""))
            continue
        yield k, entry


def unknown_keys(entry: Mapping[Any, Any], allowed: Sequence[str], key: str) -> list[str]:
    """One line per key of `entry` that is not `allowed` (listed in the order given)."""
    return [f"{key}.{extra}: unknown key (allowed here: {', '.join(allowed)})"
            for extra in sorted(set(map(str, entry)) - set(allowed))]
