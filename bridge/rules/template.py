"""`{{ path | filter }}` templates: compiled once at load time, no eval, no code.

The language is deliberately tiny: dotted paths into plain data, literals and
a fixed set of filters. A string that is exactly one `{{ … }}` yields the raw
value (a list stays a list, a boolean a boolean); anything mixed is text.
"""

from __future__ import annotations

import contextvars
import copy
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.identity import identity
from bridge.yamlfile import line_of

_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_FILTER = re.compile(r"^([a-z_]+)\s*(?:\((.*)\))?$", re.S)
_ARG = re.compile(r"""\s*('[^']*'|"[^"]*"|[^,]+?)\s*(?:,|$)""")
_MISSING = object()


class TemplateError(ValueError):
    """A template that cannot be compiled; the message says what is wrong.

    From compile_value: `name`, the key (or list index) of the value that failed inside the
    compiled value, and `line`, where it is written (0: not known).
    """

    def __init__(self, message: str, line: int = 0, name: str | int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.name = name


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    raise TemplateError(f"{text!r} is not a literal (quote strings)")


def lookup(data: Any, path: str) -> Any:
    """Follow a dotted path through dicts and lists; None when any part is missing."""
    return _follow(data, path.split("."))


def _follow(value: Any, parts: list[str] | tuple[str, ...]) -> Any:
    for part in parts:
        # `type(...) is dict` first: the Mapping ABC check is slow, and nearly every value
        # met on a login is a plain dict.
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit():
            index = int(part)
            value = value[index] if index < len(value) else _MISSING
        else:
            return None
        if value is _MISSING:
            return None
    return value


def _where(value: Any, field: str) -> Any:
    return [item for item in value or [] if isinstance(item, Mapping) and item.get(field)]


def _reject(value: Any, field: str) -> Any:
    return [item for item in value or [] if isinstance(item, Mapping) and not item.get(field)]


def _urlencode(value: Any) -> Any:
    # Every character but the unreserved ones (RFC 3986), so a value is one path segment
    # or one query value whatever it holds: jdoe@example.com -> jdoe%40example.com.
    return None if value is None else urllib.parse.quote(_text(value), safe="")


def _join(value: Any, sep: str) -> str:
    return sep.join("" if item is None else str(item) for item in value or [])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# The id table (bridge/rules/ids.py) the int_id and guid filters read: the engine sets it for
# the run, so templates stay plain data and the filters stay functions of their arguments.
IDS_IN_FORCE: contextvars.ContextVar[Any] = contextvars.ContextVar("ids_in_force", default=None)


def _int_id(value: Any, kind: str) -> Any:
    table = IDS_IN_FORCE.get()
    return None if table is None or value is None else table.int_of(str(kind), value)


def _guid(value: Any, kind: str) -> Any:
    table = IDS_IN_FORCE.get()
    return None if table is None or value is None else table.guid_of(str(kind), value)


# The configuration's vars, for the table filter; set by the engine for each run, like the ids.
VARS_IN_FORCE: contextvars.ContextVar[Any] = contextvars.ContextVar("vars_in_force", default=None)


def _table(value: Any, name: str, key: str, field: str) -> Any:
    """`field` of the item of the list `vars.<name>` whose `key` equals the value (compared
    as text): a configured table such as Nmbrs' employee types, int <-> REST string."""
    if value is None:
        return None
    wanted = _text(value).strip()
    for item in _follow(VARS_IN_FORCE.get() or {}, str(name).split(".")) or []:
        if isinstance(item, Mapping) and _text(item.get(key)).strip() == wanted:
            return item.get(field)
    return None


def _compose(value: Any, fields: str) -> Any:
    """The named fields of a mapping that have a value, joined by single spaces (a display
    name from first name, prefix and last name)."""
    if not isinstance(value, Mapping):
        return None
    words = [_text(value.get(name)).strip() for name in str(fields).split()]
    return " ".join(word for word in words if word) or None


# name -> (number of arguments, function)
FILTERS: dict[str, tuple[int, Callable[..., Any]]] = {
    "lower": (0, lambda v: None if v is None else str(v).lower()),
    # The user's identity (bridge/identity.py): what every per-user key is made of.
    "identity": (0, lambda v: None if v is None else identity(str(v))),
    "upper": (0, lambda v: None if v is None else str(v).upper()),
    "strip": (0, lambda v: None if v is None else str(v).strip()),
    "string": (0, _text),
    "bool": (0, lambda v: _text(v).lower() in ("true", "1", "yes") if isinstance(v, str) else bool(v)),
    "first": (0, lambda v: v[0] if isinstance(v, list) and v else None),
    "default": (1, lambda v, d: d if v is None or v == "" else v),
    "get": (1, lambda v, key: lookup(v, str(key)) if v is not None else None),
    "where": (1, _where),
    "reject": (1, _reject),
    "urlencode": (0, _urlencode),
    "join": (1, _join),
    # A REST GUID as the legacy API's int (minted when none is known), and back.
    "int_id": (1, _int_id),
    "guid": (1, _guid),
    "table": (3, _table),
    "compose": (1, _compose),
    # One of two literals by the value's truth (after `bool` for a text): a path segment
    # such as OneSpan's signer/singleUse or signer/multiUse.
    "choose": (2, lambda v, yes, no: yes if v else no),
}


@dataclass(frozen=True)
class _Expression:
    path: str | None
    literal: Any
    filters: tuple[tuple[Callable[..., Any], tuple[Any, ...]], ...]
    parts: tuple[str, ...] = ()

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        value = _follow(scope, self.parts) if self.path is not None else self.literal
        for function, args in self.filters:
            value = function(value, *args)
        return value


def _compile_expression(source: str) -> _Expression:
    parts = [part.strip() for part in source.split("|")]
    head = parts[0]
    if not head:
        raise TemplateError("empty expression")
    path: str | None = None
    literal: Any = None
    if _PATH.match(head) and head not in ("true", "false", "null", "none"):
        path = head
    else:
        literal = _literal(head)
    filters = []
    for part in parts[1:]:
        match = _FILTER.match(part)
        if not match or match.group(1) not in FILTERS:
            known = ", ".join(sorted(FILTERS))
            raise TemplateError(f"unknown filter {part!r} (known: {known})")
        arity, function = FILTERS[match.group(1)]
        args = tuple(_literal(a) for a in _ARG.findall(match.group(2) or ""))
        if len(args) != arity:
            raise TemplateError(f"filter {match.group(1)} takes {arity} argument(s)")
        filters.append((function, args))
    return _Expression(path, literal, tuple(filters), tuple(path.split(".")) if path else ())


class Template:
    """A compiled string template; `render(scope)` evaluates it against plain data.

    `line`: where the template is written in its rule file (0: not from a file).
    """

    def __init__(self, source: str, line: int = 0) -> None:
        self.source = source
        self.line = line
        pieces: list[str | _Expression] = []
        position = 0
        for match in _TAG.finditer(source):
            if match.start() > position:
                pieces.append(source[position : match.start()])
            pieces.append(_compile_expression(match.group(1)))
            position = match.end()
        if position < len(source):
            pieces.append(source[position:])
        if "{{" in "".join(p for p in pieces if isinstance(p, str)) or "}}" in "".join(
            p for p in pieces if isinstance(p, str)
        ):
            raise TemplateError("unbalanced {{ }}")
        self._pieces = tuple(pieces)
        self.is_constant = not any(isinstance(p, _Expression) for p in pieces)

    @property
    def references(self) -> tuple[str, ...]:
        """Every path the template reads, e.g. ('input.password', 'secrets.api_key')."""
        return tuple(p.path for p in self._pieces if isinstance(p, _Expression) and p.path)

    def render(self, scope: Mapping[str, Any]) -> Any:
        if len(self._pieces) == 1:
            piece = self._pieces[0]
            return piece.evaluate(scope) if isinstance(piece, _Expression) else piece
        return "".join(
            _text(p.evaluate(scope)) if isinstance(p, _Expression) else p for p in self._pieces
        )


def compile_value(value: Any, line: int = 0) -> Any:
    """Compile every string inside nested dicts/lists; other scalars stay as they are.

    Positions stay: `line` is where `value` is written, and containers from the YAML
    loader (bridge.yamlfile) give their items' own lines to the templates made of them and
    keep them (`line_of`) in the compiled containers, for file:line problems. The first
    value that fails raises TemplateError with its key and line.
    """
    if isinstance(value, str):
        return Template(value, line)
    if isinstance(value, Mapping):
        if "each" in value:
            if set(value) - {"each", "as", "map"} or not isinstance(value.get("map"), Mapping):
                raise TemplateError("a list mapping takes exactly each, as and map")
            map_line = line_of(value, "map") or line
            return Each(_item(value, "each", str(value["each"]), line),
                        str(value.get("as", "item")), _item(value, "map", value["map"], line),
                        map_line)
        compiled = _positioned(value, {})
        for key, item in value.items():
            compiled[key] = _item(value, key, item, line)
        return compiled
    if isinstance(value, list):
        items = _positioned(value, [])
        items.extend(_item(value, index, item, line) for index, item in enumerate(value))
        return items
    return value


def _item(container: Any, key: str | int, value: Any, line: int) -> Any:
    """`container[key]` compiled; its key and line on the TemplateError it may raise."""
    at = line_of(container, key) or line
    try:
        return compile_value(value, at)
    except TemplateError as exc:
        if exc.name is not None:
            raise
        raise TemplateError(str(exc), at, key) from exc


def _positioned(source: Any, empty: Any) -> Any:
    """An empty container of `source`'s kind keeping the positions the loader gave it (a
    shallow copy, emptied); `empty` for any other container."""
    if type(source) is type(empty) or not isinstance(source, type(empty)):
        return empty
    positioned = copy.copy(source)
    positioned.clear()
    return positioned


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render what compile_value produced."""
    kind = type(value)
    if kind is Template or kind is Each:
        return value.render(scope)
    if isinstance(value, dict):
        return {key: render_value(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, scope) for item in value]
    return value


def references_in(value: Any) -> set[str]:
    """Every path read by any template inside a compiled value."""
    return set(reference_lines(value))


def reference_lines(value: Any) -> dict[str, int]:
    """Every path read by any template inside a compiled value, with the first line that
    reads it (0 where the templates came from no file)."""
    found: dict[str, int] = {}
    if isinstance(value, Template):
        for ref in value.references:
            _earliest(found, ref, value.line)
    elif isinstance(value, Each):
        found = reference_lines(value.source)
        for ref, line in reference_lines(value.body).items():
            if ref != value.name and not ref.startswith(value.name + "."):
                _earliest(found, ref, line)
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            for ref, line in reference_lines(item).items():
                _earliest(found, ref, line)
    return found


def _earliest(found: dict[str, int], ref: str, line: int) -> None:
    known = found.get(ref)
    if not known or 0 < line < known:
        found[ref] = line


class Each:
    """A list built from a list: `{each: "{{ path }}", as: item, map: {...}}` in a result.

    `line`: where its `map` is written (0: not from a file).
    """

    def __init__(self, source: Template, name: str, body: Any, line: int = 0) -> None:
        self.source = source
        self.name = name
        self.body = body
        self.line = line

    def render(self, scope: Mapping[str, Any]) -> list[Any]:
        items = self.source.render(scope)
        if items is None:
            return []
        if not isinstance(items, list):
            items = [items]
        return [render_value(self.body, {**scope, self.name: item}) for item in items]
