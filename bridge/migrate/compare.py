"""Compare the legacy and the REST answer to one request, path by path, never showing a secret."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.errors import ConfigError, Problem
from bridge.schema import Reader

KINDS = ("result", "fault", "error")
REDACTED = "[redacted]"

# Same key as bridge.soap.service.TEXT; importing it would pull zeep into a pure module.
_TEXT = "_value"
_SHOWN_CHARS = 80
# The names bridge/logs.py redacts too: an Authorization header is a secret wherever it goes.
_SECRET_NAME = re.compile(r"pass(word)?|pwd|token|key|secret|authorization|bearer|credentials?$"
                          r"|session_?id|cookie", re.I)
# Short names that are secrets only as a whole word: PIN, UserPin, one_time_otp (not Shipping).
_SECRET_WORD = re.compile(r"(^|[a-z_])(PIN|Pin|pin|OTP|Otp|otp)$")
# A key value may itself contain "]" (it is the caller's data), so an index ends
# only where the next segment or the end of the path starts.
_INDEX = re.compile(r"\[.*?\](?=[.\[]|$)")
_DIGITS = re.compile(r"(\d+)")
_YAML_KEYS = ("format_only", "sets", "case_insensitive", "ignore", "secret")
_FORMAT_SHOWN = {
    "absent": None,
    "empty": "[redacted: empty]",
    "invalid": "[redacted: invalid format]",
    "valid": "[redacted: present]",
}


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


@dataclass(frozen=True)
class CompareRules:
    """How paths compare; every path is general (no indices or keys): `AuthenticateUserResult.UserName`."""

    format_only: Mapping[str, str | None] = field(default_factory=dict)
    sets: Mapping[str, str] = field(default_factory=dict)
    case_insensitive: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()
    secret: frozenset[str] = frozenset()
    _formats: Mapping[str, re.Pattern[str] | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        formats: dict[str, re.Pattern[str] | None] = {}
        for path, pattern in self.format_only.items():
            try:
                formats[path] = None if pattern is None else re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"format_only {path!r}: {pattern!r} is not a valid regex: {exc}") from exc
        object.__setattr__(self, "_formats", formats)

    @classmethod
    def from_yaml(cls, data: Any, source: str = "compare rules") -> CompareRules:
        """Rules from a YAML mapping; ConfigError (a ValueError) listing every mistake."""
        rules, problems = read_compare(data, source)
        if problems:
            raise ConfigError(problems)
        return rules

    def format_pattern(self, general: str) -> re.Pattern[str] | None:
        return self._formats.get(general)

    def is_secret(self, general: str) -> bool:
        """True for format_only and secret paths, what lies below them, and secret-looking names."""
        if _under(general, self.secret) or _under(general, frozenset(self.format_only)):
            return True
        segments = general.split(".")
        name = segments[-1]
        # The text of `<Password>…</Password>` sits under `_value`: its element names it.
        if name == _TEXT and len(segments) > 1:
            name = segments[-2]
        return bool(_SECRET_NAME.search(name) or _SECRET_WORD.search(name))


def read_compare(section: Any, source: str) -> tuple[CompareRules, list[Problem]]:
    """A rule's `compare:` section, with every mistake as file:line (from bridge.yamlfile)."""
    reader = Reader(source)
    if section is None:
        return CompareRules(), reader.problems
    if not isinstance(section, Mapping):
        reader.problems.append(Problem(source, None, "compare must be a mapping, not "
                                       f"{type(section).__name__}"))
        return CompareRules(), reader.problems
    reader.unknown_keys(section, _YAML_KEYS, noun="key", where=" in compare")
    formats = _formats(reader, section)
    sets: dict[str, str] = {}
    raw_sets = section.get("sets") or {}
    if not isinstance(raw_sets, Mapping):
        reader.problem(section, "sets", "compare.sets must be a mapping of path to key field")
        raw_sets = {}
    for path, key_field in raw_sets.items():
        if _path_ok(reader, raw_sets, path, path, "sets"):
            if isinstance(key_field, str) and key_field:
                sets[path] = key_field
            else:
                reader.problem(raw_sets, path,
                               f"compare.sets {path!r}: the key field must be a field name")
    return CompareRules(
        format_only=formats,
        sets=sets,
        **{key: _paths(reader, section, key)
           for key in ("case_insensitive", "ignore", "secret")},
    ), reader.problems


def _formats(reader: Reader, section: Mapping[str, Any]) -> dict[str, str | None]:
    raw = section.get("format_only") or {}
    if isinstance(raw, list):
        return dict.fromkeys(_paths(reader, section, "format_only"))
    if not isinstance(raw, Mapping):
        reader.problem(section, "format_only",
                       "compare.format_only must map paths to regexes, or list paths")
        return {}
    formats: dict[str, str | None] = {}
    for path, pattern in raw.items():
        if not _path_ok(reader, raw, path, path, "format_only"):
            continue
        if pattern is not None and not isinstance(pattern, str):
            reader.problem(raw, path, f"compare.format_only {path!r}: the regex must be a "
                           "string or null")
            continue
        try:
            if pattern is not None:
                re.compile(pattern)
        except re.error as exc:
            reader.problem(raw, path, f"compare.format_only {path!r}: {pattern!r} is not a "
                           f"valid regex: {exc}")
            continue
        formats[path] = pattern
    return formats


def _paths(reader: Reader, section: Mapping[str, Any], key: str) -> frozenset[str]:
    value = section.get(key)
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        reader.problem(section, key, f"compare.{key} must be a list of paths")
        return frozenset()
    return frozenset(path for index, path in enumerate(value)
                     if _path_ok(reader, value, index, path, key))


def _path_ok(reader: Reader, container: Any, where: str | int, path: Any, key: str) -> bool:
    """A general path (no index); a problem at `container[where]` otherwise."""
    if not isinstance(path, str) or not path:
        reader.problem(container, where, f"compare.{key}: {path!r} is not a path")
        return False
    if "[" in path:
        reader.problem(container, where, f"compare.{key}: {path!r} has an index; write the "
                       f"general path {general_path(path)!r}")
        return False
    return True


@dataclass(frozen=True)
class Side:
    """One side's answer: "result" (the plain answer), "fault" ({code, message}) or "error" ({reason})."""

    kind: str
    data: Any
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class Difference:
    """One path where the sides disagree, with the values as they may be shown (None: absent on that side)."""

    path: str
    legacy: str | None
    rest: str | None
    # For a list item one side lacks: its other fields, secrets left out ("Name=…; IsPrimary=…"),
    # so a reader sees which item it was.
    item: str | None = None


def general_path(path: str) -> str:
    """The path without indices and set keys: `A.B[key=x].C[0]._value` -> `A.B.C._value`."""
    return _INDEX.sub("", path)


def compare(
    legacy: Side, rest: Side, rules: CompareRules, noise: frozenset[str] = frozenset()
) -> list[Difference]:
    """Every meaningful difference between the two answers, sorted by path; noise paths are ignored."""
    for side in (legacy, rest):
        if side.kind not in KINDS:
            raise ValueError(f"unknown side kind {side.kind!r} (expected {', '.join(KINDS)})")
    comparison = _Comparison(rules, rules.ignore | noise)
    if legacy.kind != rest.kind:
        comparison.add("$kind", _describe(legacy), _describe(rest))
    elif legacy.kind == "result":
        comparison.walk(legacy.data, rest.data, "", "")
    else:
        # Faults and errors are small mappings; walking them names "$fault.code" etc.
        root = f"${legacy.kind}"
        comparison.walk(legacy.data, rest.data, root, root)
    return sorted(comparison.differences, key=lambda difference: _natural(difference.path))


def differing_paths(first: Side, second: Side, rules: CompareRules) -> set[str]:
    """General paths whose values differ between two answers of the same side: candidates for noise.

    Kind, fault and error paths (`$…`) are left out: ignoring them would hide
    a side that fails, which is never noise.
    """
    return {
        general_path(difference.path)
        for difference in compare(first, second, rules)
        if not difference.path.startswith("$")
    }


class _Comparison:
    def __init__(self, rules: CompareRules, skipped: frozenset[str]) -> None:
        self.rules = rules
        self.skipped = skipped
        self.differences: list[Difference] = []

    def add(self, path: str, legacy: str | None, rest: str | None, item: str | None = None
            ) -> None:
        self.differences.append(Difference(path or "$result", legacy, rest, item))

    def walk(self, legacy: Any, rest: Any, path: str, general: str) -> None:
        if _under(general, self.skipped):
            return
        if general in self.rules.format_only:
            self._format(legacy, rest, path, general)
            return
        legacy, rest = _present(legacy), _present(rest)
        if legacy is _ABSENT and rest is _ABSENT:
            return
        if legacy is _ABSENT or rest is _ABSENT:
            self._differ(legacy, rest, path, general)
        elif general in self.rules.sets:
            self._set(_as_list(legacy), _as_list(rest), path, general)
        else:
            self._values(legacy, rest, path, general)

    def _values(self, legacy: Any, rest: Any, path: str, general: str) -> None:
        if isinstance(legacy, Mapping) and isinstance(rest, Mapping):
            for key in sorted(set(legacy) | set(rest), key=str):
                self.walk(
                    legacy.get(key, _ABSENT), rest.get(key, _ABSENT), _join(path, key), _join(general, key)
                )
        elif isinstance(legacy, list) and isinstance(rest, list):
            for index in range(max(len(legacy), len(rest))):
                self.walk(_item(legacy, index), _item(rest, index), f"{path}[{index}]", general)
        elif _is_container(legacy) or _is_container(rest):
            self._differ(legacy, rest, path, general)
        elif not _same(legacy, rest, casefold=general in self.rules.case_insensitive):
            self._differ(legacy, rest, path, general)

    def _differ(self, legacy: Any, rest: Any, path: str, general: str) -> None:
        secret = self.rules.is_secret(general)
        self.add(path, _shown(legacy, secret), _shown(rest, secret))

    def _format(self, legacy: Any, rest: Any, path: str, general: str) -> None:
        pattern = self.rules.format_pattern(general)
        legacy_state, rest_state = _format_state(legacy, pattern), _format_state(rest, pattern)
        if legacy_state == rest_state and legacy_state in ("absent", "valid"):
            return
        self.add(path, _FORMAT_SHOWN[legacy_state], _FORMAT_SHOWN[rest_state])

    def _set(self, legacy: list[Any], rest: list[Any], path: str, general: str) -> None:
        key_field = self.rules.sets[general]
        key_general = _join(general, key_field)
        casefold = key_general in self.rules.case_insensitive
        hidden = self.rules.is_secret(key_general)
        by_key_legacy = _keyed(legacy, key_field, casefold)
        by_key_rest = _keyed(rest, key_field, casefold)
        for key in sorted(set(by_key_legacy) | set(by_key_rest)):
            legacy_items = by_key_legacy.get(key, [])
            rest_items = by_key_rest.get(key, [])
            label = _key_label((legacy_items or rest_items)[0], key_field, hidden)
            # Duplicate keys pair up in order; the later ones get a suffix to stay distinct.
            for index in range(max(len(legacy_items), len(rest_items))):
                suffix = f"#{index + 1}" if index else ""
                item_path = f"{path}[{key_field}={label}{suffix}]"
                legacy_item, rest_item = _item(legacy_items, index), _item(rest_items, index)
                if legacy_item is _ABSENT or rest_item is _ABSENT:
                    shown = self._item(rest_item if legacy_item is _ABSENT else legacy_item,
                                       general, key_field)
                    self.add(item_path, _presence(legacy_item), _presence(rest_item), shown)
                else:
                    self._values(legacy_item, rest_item, item_path, general)


    def _item(self, item: Any, general: str, key_field: str) -> str | None:
        """The item's plain fields but its key (already in the path), secrets left out."""
        if not isinstance(item, Mapping):
            return None
        fields = [f"{name}={_text(value)}" for name, value in sorted(item.items(), key=str)
                  if name != key_field and _present(value) is not _ABSENT
                  and not _is_container(value) and not self.rules.is_secret(_join(general, name))]
        return _truncate("; ".join(fields)) if fields else None


def _describe(side: Side) -> str:
    data = side.data if isinstance(side.data, Mapping) else {}
    if side.kind == "fault":
        return _truncate(f"fault: {_text(data.get('code', ''))}")
    if side.kind == "error":
        return _truncate(f"error: {_text(data.get('reason', ''))}")
    return side.kind


def _under(path: str, prefixes: frozenset[str]) -> bool:
    return any(path == prefix or path.startswith(prefix + ".") for prefix in prefixes)


def _join(path: str, name: Any) -> str:
    return f"{path}.{name}" if path else str(name)


def _natural(path: str) -> tuple[Any, ...]:
    # "[10]" after "[9]"; split() alternates text and digits, so the tuple compares safely.
    return tuple(int(part) if index % 2 else part for index, part in enumerate(_DIGITS.split(path)))


def _item(items: list[Any], index: int) -> Any:
    return items[index] if index < len(items) else _ABSENT


def _present(value: Any) -> Any:
    """The value, or _ABSENT when it carries nothing.

    zeep gives None for a missing element and [] for a missing repeated one; a
    REST mapping usually leaves the key out. Neither is a difference.
    """
    if value is None or value is _ABSENT:
        return _ABSENT
    if isinstance(value, list) and all(_present(item) is _ABSENT for item in value):
        return _ABSENT
    if isinstance(value, Mapping) and all(_present(item) is _ABSENT for item in value.values()):
        return _ABSENT
    return value


def _as_list(value: Any) -> list[Any]:
    # A repeated element that occurred once may arrive unwrapped.
    return value if isinstance(value, list) else [value]


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list)


def _keyed(items: list[Any], key_field: str, casefold: bool) -> dict[str, list[Any]]:
    keyed: dict[str, list[Any]] = {}
    for item in items:
        if _present(item) is _ABSENT:
            continue
        key = _text(_key_value(item, key_field))
        keyed.setdefault(key.casefold() if casefold else key, []).append(item)
    return keyed


def _key_value(item: Any, key_field: str) -> Any:
    if isinstance(item, Mapping):
        value = item.get(key_field)
        return "" if value is None else value
    return item


def _key_label(item: Any, key_field: str, hidden: bool) -> str:
    text = _text(_key_value(item, key_field))
    if hidden:
        # The key lands in the path, which is always shown: a digest keeps items apart without the value.
        return "#" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return _truncate(text)


def _format_state(value: Any, pattern: re.Pattern[str] | None) -> str:
    value = _present(value)
    if value is _ABSENT:
        return "absent"
    if _is_container(value):
        return "invalid" if pattern is not None else "valid"
    text = _text(value)
    if not text:
        return "empty"
    if pattern is not None and not pattern.fullmatch(text):
        return "invalid"
    return "valid"


def _presence(value: Any) -> str | None:
    return None if value is _ABSENT else "present"


def _shown(value: Any, secret: bool) -> str | None:
    if value is _ABSENT:
        return None
    if secret:
        return REDACTED
    if isinstance(value, Mapping):
        return "present"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    return _truncate(_text(value))


def _truncate(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = str(value).strip()
    # .NET writes booleans as "True"/"False" in some places; xsd:boolean says "true"/"false".
    return text.casefold() if text.casefold() in ("true", "false") else text


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _same(legacy: Any, rest: Any, casefold: bool) -> bool:
    # Numbers compare by value only when one side really is a number: "007" and
    # "7" as strings stay different (a code, not a quantity).
    if not isinstance(legacy, str) or not isinstance(rest, str):
        legacy_number, rest_number = _number(legacy), _number(rest)
        if legacy_number is not None and rest_number is not None:
            return legacy_number == rest_number
    legacy_text, rest_text = _text(legacy), _text(rest)
    if casefold:
        return legacy_text.casefold() == rest_text.casefold()
    return legacy_text == rest_text
