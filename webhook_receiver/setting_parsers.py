"""Settings given as strings (environment or config file): how each is read, and how a settings class
declares them.

A settings class is a frozen dataclass whose fields are declared with `setting(...)`: the variable,
its default, one line of meaning and how its text is read (`text`, `url`, `flag`, `items`,
`integer(lo, hi)`, `number(lo, hi)`, or any `Reader`). `load(cls, raw)` reads every declared field
from the raw mapping; `rows(cls)` lists them as `SettingRow`s (name, default, meaning), so a table of
settings is generated from the declarations rather than written again. A reader raises
`SettingsError` naming the variable, never its value (which may be a secret).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["SettingsError", "SettingRow", "Reader", "parse_bool", "parse_int", "parse_float", "parse_str",
           "parse_list", "parse_url", "text", "url", "flag", "items", "integer", "number", "setting",
           "setting_per", "load", "rows"]

T = TypeVar("T")
N = TypeVar("N", int, float)
D = TypeVar("D", bound="DataclassInstance")
Raw = Mapping[str, str]
#: reads one variable: (raw settings, variable name, default when unset) -> value
Reader = Callable[[Raw, str, T], T]


class SettingsError(ValueError):
    """Invalid or incomplete configuration; the message names the variable, never its value."""


def parse_str(raw: Raw, key: str) -> str | None:
    """The stripped value, or None when unset or blank."""
    v = raw.get(key)
    if v is None:
        return None
    v = str(v).strip()
    return v or None


def _ranged(raw: Raw, key: str, default: N, lo: N, hi: N, cast_: Callable[[str], N], what: str) -> N:
    v = parse_str(raw, key)
    if v is None:
        return default
    try:
        n = cast_(v)
    except ValueError:
        raise SettingsError(f"{key}: expected {what}") from None
    if n != n or not lo <= n <= hi:  # NaN is out of every range
        bounds = (f"{lo:g}", f"{hi:g}") if isinstance(lo, float) or isinstance(hi, float) else (str(lo), str(hi))
        raise SettingsError(f"{key}: must be between {bounds[0]} and {bounds[1]}")
    return n


def parse_int(raw: Raw, key: str, default: int, lo: int, hi: int) -> int:
    return _ranged(raw, key, default, lo, hi, int, "an integer")


def parse_float(raw: Raw, key: str, default: float, lo: float, hi: float) -> float:
    return _ranged(raw, key, float(default), float(lo), float(hi), float, "a number")


def parse_bool(raw: Raw, key: str, default: bool) -> bool:
    v = parse_str(raw, key)
    if v is None:
        return default
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{key}: expected true or false")


def parse_list(raw: Raw, key: str) -> tuple[str, ...]:
    """A comma (or semicolon) separated list; blanks dropped."""
    v = parse_str(raw, key) or ""
    return tuple(p.strip() for p in v.replace(";", ",").split(",") if p.strip())


def parse_url(raw: Raw, key: str) -> str | None:
    """An http(s) URL without its trailing slash, or None when unset."""
    v = parse_str(raw, key)
    if v is not None and not v.startswith(("http://", "https://")):
        raise SettingsError(f"{key}: expected an http(s) URL")
    return v.rstrip("/") if v else None


# readers: (raw, key, default) -> value --------------------------------------------------------------
def text(raw: Raw, key: str, default: str | None) -> str | None:
    v = parse_str(raw, key)
    return default if v is None else v


def url(raw: Raw, key: str, default: str | None) -> str | None:
    v = parse_url(raw, key)
    return default if v is None else v


def flag(raw: Raw, key: str, default: bool) -> bool:
    return parse_bool(raw, key, default)


def items(raw: Raw, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    return parse_list(raw, key) or default


def integer(lo: int, hi: int) -> Reader[int]:
    return lambda raw, key, default: parse_int(raw, key, default, lo, hi)


def number(lo: float, hi: float) -> Reader[float]:
    return lambda raw, key, default: parse_float(raw, key, default, lo, hi)


# declarations -----------------------------------------------------------------------------------------
class SettingRow(NamedTuple):
    """One setting as the documentation shows it."""

    name: str
    default: str  # "" when unset by default
    meaning: str


@dataclass(frozen=True)
class _Declared:
    rows: tuple[SettingRow, ...]
    parse: Callable[[Raw], Any]


_META = "d76_setting"


def shown(value: Any) -> str:
    """A default as the documentation writes it."""
    if value is None or isinstance(value, Mapping):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, frozenset)):
        return ",".join(sorted(map(str, value)) if isinstance(value, frozenset) else map(str, value))
    return str(value)


def setting(key: str, default: T, meaning: str, read: Reader[T], *,
            derive: Callable[[Raw], T] | None = None, show: str | None = None, secret: bool = False) -> T:
    """A dataclass field read from the variable `key`. `derive(raw)` computes the default from other
    variables (`show` then says it in words); a `secret` is kept out of `repr`."""

    def parse(raw: Raw) -> T:
        return read(raw, key, derive(raw) if derive is not None else default)

    declared = _Declared((SettingRow(key, shown(default) if show is None else show, meaning),), parse)
    field: T = dataclasses.field(default=default, repr=not secret, metadata={_META: declared})
    return field  # a Field object, which the dataclass turns into the default


def setting_per(template: str, names: Iterable[str], meaning: str, read: Reader[str | None], *,
                secret: bool = False) -> Mapping[str, str]:
    """A dataclass field holding one variable per name (`template.format(name)`), as {name: value} of
    the variables that are set; `meaning` may say `{}` for the name."""
    names = tuple(names)

    def parse(raw: Raw) -> dict[str, str]:
        values = {n: read(raw, template.format(n), None) for n in names}
        return {n: v for n, v in values.items() if v is not None}

    declared = _Declared(tuple(SettingRow(template.format(n), "", meaning.format(n)) for n in names), parse)
    return cast(Mapping[str, str], dataclasses.field(default_factory=dict, repr=not secret,
                                                     metadata={_META: declared}))


def _declared(cls: type[DataclassInstance]) -> list[tuple[str, _Declared]]:
    return [(f.name, f.metadata[_META]) for f in dataclasses.fields(cls) if _META in f.metadata]


def load(cls: type[D], source: Raw, **given: Any) -> D:
    """An instance of the settings class `cls` with every declared field read from `source` (the raw
    settings); `given` sets the fields that are not read from a variable."""
    return cls(**{name: d.parse(source) for name, d in _declared(cls)}, **given)


def rows(cls: type[DataclassInstance]) -> list[SettingRow]:
    """The declared settings of `cls`, in declaration order."""
    return [row for _, d in _declared(cls) for row in d.rows]
