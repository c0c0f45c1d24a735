"""Property tests of the channel map's sections: any YAML-shaped document is either accepted (its
parser takes it) or refused with errors that each name the section's key."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from hypothesis import strategies as st

__all__ = ["documents", "parses_or_names_its_errors"]


def documents(keys: Sequence[str]) -> st.SearchStrategy[object]:
    """Nested lists and mappings (keys drawn from `keys`) of None, booleans, integers and short text."""
    return st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                            st.sampled_from(list(keys)), inner, max_size=4),
                        max_leaves=12)


def parses_or_names_its_errors(doc: object, key: str, errors_of: Callable[[object, str], list[str]],
                               parse: Callable[[object], object]) -> None:
    """`errors_of(doc, key)` lines all start with `key`; with none, `parse(doc)` takes the document."""
    errors = errors_of(doc, key)
    if errors:
        assert all(e.startswith(key) for e in errors)
    else:
        parse(doc)
