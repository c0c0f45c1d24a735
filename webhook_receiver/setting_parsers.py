"""Parsers for settings given as strings (environment or config file), shared by every settings module.

Each takes the raw mapping, the variable name and a default, and raises `SettingsError` naming the
variable (never its value, which may be a secret) when the text does not parse or is out of range.
"""
from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SettingsError", "parse_bool", "parse_int", "parse_float", "parse_str", "parse_list"]


class SettingsError(ValueError):
    """Invalid or incomplete configuration; the message names the variable, never its value."""


def parse_str(raw: Mapping[str, str], key: str) -> str | None:
    """The stripped value, or None when unset or blank."""
    v = raw.get(key)
    if v is None:
        return None
    v = str(v).strip()
    return v or None


def parse_int(raw: Mapping[str, str], key: str, default: int, lo: int, hi: int) -> int:
    v = parse_str(raw, key)
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        raise SettingsError(f"{key}: expected an integer") from None
    if not lo <= n <= hi:
        raise SettingsError(f"{key}: must be between {lo} and {hi}")
    return n


def parse_float(raw: Mapping[str, str], key: str, default: float, lo: float, hi: float) -> float:
    v = parse_str(raw, key)
    if v is None:
        return default
    try:
        n = float(v)
    except ValueError:
        raise SettingsError(f"{key}: expected a number") from None
    if n != n or not lo <= n <= hi:  # NaN is out of every range
        raise SettingsError(f"{key}: must be between {lo:g} and {hi:g}")
    return n


def parse_bool(raw: Mapping[str, str], key: str, default: bool) -> bool:
    v = parse_str(raw, key)
    if v is None:
        return default
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{key}: expected true or false")


def parse_list(raw: Mapping[str, str], key: str) -> tuple[str, ...]:
    """A comma (or semicolon) separated list; blanks dropped."""
    v = parse_str(raw, key) or ""
    return tuple(p.strip() for p in v.replace(";", ",").split(",") if p.strip())
