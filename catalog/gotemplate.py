"""A small interpreter of Go's text/template as Prometheus uses it for alert annotations.

The generated promtool tests compare every annotation of a firing alert with the exact text Prometheus
renders, so the expected texts are rendered here, independently of Prometheus: if this file and
Prometheus disagree, the generated tests fail.

It knows the template language the catalog writes (text, `{{ pipeline }}`, `|`, `if` / `else if` /
`else` / `with` / `range` / `end`, `$x := pipeline`, parenthesised pipelines, string and raw-string
literals, numbers, `$labels.NAME`, `$value`, `.` and `.Field`) and these functions, each as Prometheus
2.42 defines it: `printf`, `humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage`, `query`,
`first`, `value`, `label`, `reReplaceAll`, `toUpper`, `toLower`, `title`, `eq`, `ne`, `lt`, `le`, `gt`,
`ge`, `and`, `or`, `not`, `len`, `index`. Anything else raises `TemplateError`.

`query` is answered from a table given by the caller (query text -> samples): the test generator knows
which series it feeds promtool and so what each query of the alert's templates returns at the
evaluation time. A query the table does not know is an error (`strict`), so a template and its test
cannot silently drift apart.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TemplateError", "Sample", "render", "go_printf", "go_quote", "humanize", "humanize_duration",
           "humanize_percentage", "FUNCTIONS"]


class TemplateError(ValueError):
    """A template this interpreter cannot render (a construct or function it does not know, a type error)."""


@dataclass(frozen=True)
class Sample:
    """One element of a `query` result (Prometheus' `template.sample`: `.Labels`, `.Value`)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0


# -- formatting as Go does ------------------------------------------------------------------------------
def _go_g(v: float, prec: int) -> str:
    """Go's `%.<prec>g`."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return "%.*g" % (prec, v)


def _go_v_float(v: float) -> str:
    """Go's `%v` of a float64: the shortest representation, an exponent below 1e-4 or from 1e21 on."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    text = repr(v)
    if "e" in text:
        mant, exp = text.split("e")
        return f"{mant}e{'-' if exp.startswith('-') else '+'}{abs(int(exp)):02d}"
    return text


def go_quote(s: str) -> str:
    """Go's `%q` of a string (strconv.Quote) for the characters label values hold."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _type_name(v: object) -> str:
    return {bool: "bool", int: "int", float: "float64", str: "string"}.get(type(v), type(v).__name__)


def _print(v: object) -> str:
    """What `{{ x }}` prints (fmt.Sprint)."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _go_v_float(v)
    if isinstance(v, (int, str)):
        return str(v)
    raise TemplateError(f"printing a {_type_name(v)} is not supported by the test renderer")


_VERB = re.compile(r"%([-+ #0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def go_printf(fmt: str, *args: object) -> str:
    """Go's fmt.Sprintf for the verbs templates use: %s %q %v %d %f %e %g (with precision) and %%."""
    out: list[str] = []
    pos = 0
    queue = list(args)
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if not queue:
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = queue.pop(0)
        spec = "%" + flags + (width or "") + (f".{prec}" if prec is not None else "")
        if verb in "fFeE":
            if not isinstance(arg, float):
                raise TemplateError(f"printf %{verb} of a {_type_name(arg)}: Go prints %!{verb}(...)")
            if math.isnan(arg) or math.isinf(arg):
                out.append(_go_g(arg, 1))
            else:
                out.append((spec + verb) % arg)
        elif verb == "g":
            if not isinstance(arg, float) or prec is None:
                raise TemplateError("printf %g: only a float with a precision (%.4g) is supported")
            out.append(_go_g(arg, int(prec)) if not flags and not width else (spec + "g") % arg)
        elif verb == "d":
            if isinstance(arg, bool) or not isinstance(arg, int):
                raise TemplateError(f"printf %d of a {_type_name(arg)}: Go prints %!d(...)")
            out.append((spec + "d") % arg)
        elif verb == "s":
            if not isinstance(arg, str):
                raise TemplateError(f"printf %s of a {_type_name(arg)} is not supported by the test renderer")
            out.append((spec + "s") % arg)
        elif verb == "q":
            if not isinstance(arg, str):
                raise TemplateError(f"printf %q of a {_type_name(arg)} is not supported by the test renderer")
            out.append(go_quote(arg))
        elif verb == "v":
            out.append(_print(arg))
        else:
            raise TemplateError(f"printf verb %{verb} is not supported by the test renderer")
    out.append(fmt[pos:])
    if queue:
        out.append("%!(EXTRA " + ", ".join(f"{_type_name(a)}={_print(a)}" for a in queue) + ")")
    return "".join(out)


# -- Prometheus' template functions (template/template.go, 2.42) -----------------------------------------
def _to_float(v: object) -> float:
    if isinstance(v, bool):
        raise TemplateError("a bool is not a number")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise TemplateError(f"cannot convert {v!r} to a number") from None
    raise TemplateError(f"cannot convert a {_type_name(v)} to a number")


def _scaled_up(x: float, base: float, prefixes: tuple[str, ...]) -> str:
    """`x` divided by `base` while it is that large, with the prefix of the last division (Go's
    humanize loops over k, M, ... and humanize1024 over ki, Mi, ...)."""
    prefix = ""
    for p in prefixes:
        if abs(x) < base:
            break
        prefix, x = p, x / base
    return _go_g(x, 4) + prefix


def humanize(v: object) -> str:
    x = _to_float(v)
    if x == 0 or math.isnan(x) or math.isinf(x):
        return _go_g(x, 4)
    if abs(x) >= 1:
        return _scaled_up(x, 1000, ("k", "M", "G", "T", "P", "E", "Z", "Y"))
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(x) >= 1:
            break
        prefix, x = p, x * 1000
    return _go_g(x, 4) + prefix


def _humanize1024(v: object) -> str:
    x = _to_float(v)
    if abs(x) <= 1 or math.isnan(x) or math.isinf(x):
        return _go_g(x, 4)
    return _scaled_up(x, 1024, ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"))


def humanize_duration(v: object) -> str:
    x = _to_float(v)
    if math.isnan(x) or math.isinf(x):
        return _go_g(x, 4)
    if x == 0:
        return _go_g(x, 4) + "s"
    if abs(x) >= 1:
        sign = "-" if x < 0 else ""
        x = abs(x)
        d = int(x)
        seconds, minutes, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_go_g(x, 4)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(x) >= 1:
            break
        prefix, x = p, x * 1000
    return f"{_go_g(x, 4)}{prefix}s"


def humanize_percentage(v: object) -> str:
    return _go_g(_to_float(v) * 100, 4) + "%"


def _go_repl(repl: str) -> str:
    """A Go regexp replacement (`$1`, `${name}`, `$$`) as Python's `re.sub` reads it."""
    out, i = [], 0
    while i < len(repl):
        ch = repl[i]
        if ch == "\\":
            out.append("\\\\")
        elif ch == "$" and i + 1 < len(repl):
            if repl[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            m = re.match(r"\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)", repl[i + 1:])
            if m:
                out.append(f"\\g<{m.group(1) or m.group(2)}>")
                i += 1 + m.end()
                continue
            out.append("$")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _re_replace_all(pattern: str, repl: str, text: object) -> str:
    if not isinstance(text, str):
        raise TemplateError(f"reReplaceAll of a {_type_name(text)}")
    return re.sub(pattern, _go_repl(repl), text)


def _first(v: object) -> Sample:
    if not isinstance(v, list):
        raise TemplateError(f"first of a {_type_name(v)}")
    if not v:
        raise TemplateError("first() called on vector with no elements")
    return v[0]


def _value(s: object) -> float:
    if not isinstance(s, Sample):
        raise TemplateError(f"value of a {_type_name(s)}")
    return float(s.value)


def _label(name: object, s: object) -> str:
    if not isinstance(s, Sample) or not isinstance(name, str):
        raise TemplateError("label needs a name and a sample")
    return s.labels.get(name, "")


def _kind(v: object) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "other"


def _compare(a: object, b: object) -> int:
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka == "other":
        raise TemplateError(f"incompatible types for comparison: {_type_name(a)} and {_type_name(b)}")
    return (a > b) - (a < b)  # type: ignore[operator]


def _eq(a: object, *rest: object) -> bool:
    if not rest:
        raise TemplateError("missing argument for comparison")
    return any(_compare(a, b) == 0 for b in rest)


def _truth(v: object) -> bool:
    """Go's `if` truth: false, 0, nil and empty strings, lists and maps are false."""
    if v is None:
        return False
    if isinstance(v, (bool, int, float, str, list, dict, tuple)):
        return bool(v)
    return True


def _index(v: object, *keys: object) -> object:
    for k in keys:
        if isinstance(v, Mapping):
            v = v.get(k)
        elif isinstance(v, list) and isinstance(k, int):
            if not 0 <= k < len(v):
                raise TemplateError(f"index out of range: {k}")
            v = v[k]
        else:
            raise TemplateError(f"cannot index a {_type_name(v)}")
    return v


def _title(s: object) -> str:
    if not isinstance(s, str):
        raise TemplateError("title of a non-string")
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), s)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "printf": lambda fmt, *a: go_printf(fmt, *a),
    "humanize": humanize,
    "humanize1024": _humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "first": _first,
    "value": _value,
    "label": _label,
    "reReplaceAll": _re_replace_all,
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
    "title": _title,
    "eq": _eq,
    "ne": lambda a, b: _compare(a, b) != 0,
    "lt": lambda a, b: _compare(a, b) < 0,
    "le": lambda a, b: _compare(a, b) <= 0,
    "gt": lambda a, b: _compare(a, b) > 0,
    "ge": lambda a, b: _compare(a, b) >= 0,
    "not": lambda v: not _truth(v),
    "and": lambda *a: a[-1],   # evaluated in _call (Go returns the first false argument)
    "or": lambda *a: a[-1],
    "len": lambda v: len(v),
    "index": _index,
}


# -- lexing and parsing ----------------------------------------------------------------------------------
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}


def _unquote(lit: str) -> str:
    body, out, i = lit[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "x" and i + 3 < len(body):
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            raise TemplateError(f"string escape \\{nxt} is not supported by the test renderer")
        out.append(body[i])
        i += 1
    return "".join(out)


def _tokens(action: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(action):
        m = _TOKEN.match(action, pos)
        if not m:
            raise TemplateError(f"cannot read {action[pos:]!r} in a template action")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "space":
            out.append((kind, m.group()))
    return out


# nodes: ("text", s) | ("print", pipe) | ("if", [(pipe, body), ...], else_body) | ("with", pipe, body, else)
#        | ("range", pipe, body, else) | ("set", name, pipe, declare)
Node = tuple[Any, ...]
# (variable set by the action: "$x" declared with :=, "=$x" assigned with =; commands: lists of operands)
Pipe = tuple[str | None, list[list[Any]]]


def _parse_pipeline(toks: list[tuple[str, str]]) -> Pipe:
    decl: str | None = None
    if len(toks) >= 2 and toks[0][0] == "var" and toks[1][0] in ("declare", "assign"):
        decl = toks[0][1] if toks[1][0] == "declare" else "=" + toks[0][1]
        toks = toks[2:]
    commands: list[list[Any]] = [[]]
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        if kind == "pipe":
            commands.append([])
        elif kind == "lparen":
            depth, j = 1, i + 1
            while j < len(toks) and depth:
                depth += {"lparen": 1, "rparen": -1}.get(toks[j][0], 0)
                j += 1
            if depth:
                raise TemplateError("unclosed parenthesis in a template action")
            commands[-1].append(("pipe", _parse_pipeline(toks[i + 1:j - 1])))
            i = j
            continue
        elif kind in ("declare", "assign", "rparen"):
            raise TemplateError(f"unexpected {text!r} in a template action")
        else:
            commands[-1].append((kind, text))
        i += 1
    if any(not c for c in commands):
        raise TemplateError("empty command in a template pipeline")
    return decl, commands


def _parse(text: str) -> list[Node]:
    """The template as a tree of nodes (text and actions)."""
    items: list[tuple[str, str]] = []   # ("text", s) or ("action", s)
    pos = 0
    for m in _ACTION.finditer(text):
        chunk = text[pos:m.start()]
        if m.group(1):
            chunk = chunk.rstrip()
        items.append(("text", chunk))
        items.append(("action", m.group(2)))
        pos = m.end()
        if m.group(3):
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
    items.append(("text", text[pos:]))
    if "{{" in "".join(t for k, t in items if k == "text"):
        raise TemplateError(f"unclosed action in {text!r}")

    root: list[Node] = []
    stack: list[tuple[str, Any, list[Node]]] = []   # (kind, node data, current body)
    body = root
    for kind, chunk in items:
        if kind == "text":
            if chunk:
                body.append(("text", chunk))
            continue
        stripped = chunk.strip()
        if stripped.startswith("/*") and stripped.endswith("*/"):
            continue
        toks = _tokens(stripped)
        if not toks:
            raise TemplateError("empty action {{ }}")
        head = toks[0]
        if head == ("ident", "if") or head == ("ident", "with") or head == ("ident", "range"):
            data: dict[str, Any] = {"branches": [(_parse_pipeline(toks[1:]), [])], "else": None}
            stack.append((head[1], data, body))
            body = data["branches"][0][1]
        elif head == ("ident", "else"):
            if not stack:
                raise TemplateError("{{ else }} without if/with/range")
            what, data, _ = stack[-1]
            if data["else"] is not None:
                raise TemplateError("a second {{ else }}")
            if len(toks) > 1 and toks[1] == ("ident", "if") and what == "if":
                data["branches"].append((_parse_pipeline(toks[2:]), []))
                body = data["branches"][-1][1]
            elif len(toks) == 1:
                else_body: list[Node] = []
                data["else"] = body = else_body
            else:
                raise TemplateError(f"{{{{ {stripped} }}}} is not supported by the test renderer")
        elif head == ("ident", "end"):
            if not stack:
                raise TemplateError("{{ end }} without if/with/range")
            what, data, parent = stack.pop()
            parent.append((what, data["branches"], data["else"] or []))
            body = parent
        elif head[0] == "ident" and head[1] in ("define", "template", "block", "break", "continue"):
            raise TemplateError(f"{{{{ {head[1]} }}}} is not supported by the test renderer")
        else:
            body.append(("print", _parse_pipeline(toks)))
    if stack:
        raise TemplateError(f"unclosed {{{{ {stack[-1][0]} }}}}")
    return root


# -- evaluation ------------------------------------------------------------------------------------------
class _Env:
    def __init__(self, variables: dict[str, Any], functions: Mapping[str, Callable[..., Any]]) -> None:
        self.scopes: list[dict[str, Any]] = [variables]
        self.functions = functions

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise TemplateError(f"undefined variable {name}")

    def assign(self, name: str, value: Any) -> None:
        for scope in reversed(self.scopes):
            if name in scope:
                scope[name] = value
                return
        raise TemplateError(f"undefined variable {name}")


def _field(v: Any, name: str) -> Any:
    if isinstance(v, Sample):
        if name == "Labels":
            return dict(v.labels)
        if name == "Value":
            return float(v.value)
        raise TemplateError(f"a sample has no field {name}")
    if isinstance(v, Mapping):  # Prometheus sets missingkey=zero: a missing label is ""
        return v.get(name, "")
    if v is None:
        raise TemplateError(f"nil pointer evaluating .{name}")
    raise TemplateError(f"cannot read field {name} of a {_type_name(v)}")


def _fields(v: Any, chain: str) -> Any:
    for name in filter(None, chain.split(".")):
        v = _field(v, name)
    return v


def _operand(env: _Env, dot: Any, op: tuple[str, Any]) -> Any:
    kind, text = op
    if kind == "string":
        return _unquote(text)
    if kind == "raw":
        return text[1:-1]
    if kind == "number":
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "var":
        name, _, chain = text.partition(".")
        return _fields(env.lookup(name), chain)
    if kind == "field":
        return _fields(dot, text)
    if kind == "dot":
        return dot
    if kind == "pipe":
        return _pipeline(env, dot, text)
    if kind == "ident":
        if text in ("true", "false"):
            return text == "true"
        if text == "nil":
            return None
        return _call(env, text, [])
    raise TemplateError(f"unexpected {text!r}")


def _call(env: _Env, name: str, args: list[Any]) -> Any:
    fn = env.functions.get(name)
    if fn is None:
        raise TemplateError(f"function {name!r} is not supported by the test renderer")
    if name in ("and", "or"):
        if not args:
            raise TemplateError(f"{name} needs arguments")
        for a in args:
            if _truth(a) != (name == "and"):
                return a
        return args[-1]
    try:
        return fn(*args)
    except TemplateError:
        raise
    except (TypeError, ValueError, re.error) as exc:
        raise TemplateError(f"{name}: {exc}") from None


def _pipeline(env: _Env, dot: Any, pipe: Pipe) -> Any:
    _decl, commands = pipe
    result: Any = None
    for n, cmd in enumerate(commands):
        first = cmd[0]
        if first[0] == "ident" and first[1] not in ("true", "false", "nil"):
            args = [_operand(env, dot, op) for op in cmd[1:]]
            if n:
                args.append(result)
            result = _call(env, first[1], args)
        else:
            if len(cmd) > 1 or n:
                raise TemplateError("can't give an argument to a non-function")
            result = _operand(env, dot, first)
    return result


def _run(env: _Env, dot: Any, nodes: Sequence[Node], out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "print":
            decl, _ = node[1]
            value = _pipeline(env, dot, node[1])
            if decl is not None:
                if decl.startswith("="):
                    env.assign(decl[1:], value)
                else:
                    env.scopes[-1][decl] = value
            else:
                out.append(_print(value))
        else:
            branches, else_body = node[1], node[2]
            env.scopes.append({})
            try:
                if kind == "if":
                    for pipe, body in branches:
                        if _truth(_pipeline(env, dot, pipe)):
                            _run(env, dot, body, out)
                            break
                    else:
                        _run(env, dot, else_body, out)
                elif kind == "with":
                    pipe, body = branches[0]
                    value = _pipeline(env, dot, pipe)
                    _run(env, value, body, out) if _truth(value) else _run(env, dot, else_body, out)
                else:  # range over a list
                    pipe, body = branches[0]
                    value = _pipeline(env, dot, pipe)
                    if not isinstance(value, list):
                        raise TemplateError(f"range over a {_type_name(value)}")
                    for item in value:
                        _run(env, item, body, out)
                    if not value:
                        _run(env, dot, else_body, out)
            finally:
                env.scopes.pop()


def render(text: str, labels: Mapping[str, str], value: float,
           queries: Mapping[str, Sequence[Sample]] | None = None, *, strict: bool = True,
           external_labels: Mapping[str, str] | None = None, external_url: str = "") -> str:
    """`text` rendered as Prometheus renders an annotation of an alert with `labels` and `value`.

    `queries` answers `query`: query text -> its samples. With `strict` a query missing from it is an
    error; otherwise it returns no samples."""
    table = dict(queries or {})

    def query(q: object) -> list[Sample]:
        if not isinstance(q, str):
            raise TemplateError("query needs a string")
        if q not in table:
            if strict:
                raise TemplateError(f"query {q!r} has no expected result (known: {sorted(table)})")
            return []
        return list(table[q])

    functions = {**FUNCTIONS, "query": query}
    data = {"Labels": dict(labels), "ExternalLabels": dict(external_labels or {}), "ExternalURL": external_url,
            "Value": float(value)}
    env = _Env({"$": data, "$labels": data["Labels"], "$externalLabels": data["ExternalLabels"],
                "$externalURL": external_url, "$value": float(value)}, functions)
    out: list[str] = []
    _run(env, data, _parse(text), out)
    return "".join(out)
