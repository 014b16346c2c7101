"""Reads YAML settings into dataclasses: every problem as file:line, unknown keys with a
suggestion, defaults left to the dataclasses.

A section is read against a table of kinds, `{key: kind}`. A kind turns one YAML value into
a setting or raises ValueError with the message to show. `Reader.read` returns only the keys
given and valid, so `Settings(**reader.read(section, KINDS))` takes every other value from
the dataclass: each default is written once, on its field. Used for the configuration
(`config`), `routing:` and the rules' `compare:` sections; `unknown_key` for the rules too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bridge.durations import parse_duration
from bridge.errors import Problem
from bridge.yamlfile import LocatedDict, line_of

# (key, value) -> the setting; ValueError(message) when the value is wrong.
Kind = Callable[[str, Any], Any]
_WRONG: Any = object()


def unknown_key(key: Any, known: Iterable[str], noun: str = "setting", where: str = "") -> str:
    """`unknown setting 'duraton': did you mean 'duration'? (known: duration, …)`."""
    names = sorted(known)
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f": did you mean {close[0]!r}?" if close else ""
    return f"unknown {noun} {key!r}{where}{hint} (known: {', '.join(names)})"


class Reader:
    """Reads the sections of one file, collecting every problem instead of stopping."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, container: Any, key: str | int, message: str) -> None:
        self.problems.append(Problem(self.source, line_of(container, key), message))

    def section(self, data: LocatedDict, key: str) -> LocatedDict:
        """`data[key]` as a mapping: an empty one when absent, or (with a problem) not one."""
        value = data.get(key)
        if isinstance(value, LocatedDict):
            return value
        if value is not None:
            self.problem(data, key, f"{key} must be a mapping")
        empty = LocatedDict()
        empty.key_lines = {}
        empty.line = data.line_of(key)
        return empty

    def unknown_keys(self, data: Mapping[str, Any], known: Iterable[str],
                     noun: str = "setting", where: str = "") -> None:
        names = set(known)
        for key in data:
            if key not in names:
                self.problem(data, key, unknown_key(key, names, noun, where))

    def value(self, data: Any, key: str, kind: Kind) -> Any:
        """`kind` applied to `data[key]`; None, with a problem, when the value is wrong."""
        value = self._apply(data, key, kind)
        return None if value is _WRONG else value

    def read(self, data: Mapping[str, Any], kinds: Mapping[str, Kind], also: Iterable[str] = (),
             noun: str = "setting", where: str = "") -> dict[str, Any]:
        """The keys of `kinds` that `data` gives, read by their kinds; wrong values and keys
        outside `kinds` and `also` (the keys the caller reads itself) are problems."""
        self.unknown_keys(data, {*kinds, *also}, noun, where)
        values = {key: self._apply(data, key, kind) for key, kind in kinds.items() if key in data}
        return {key: value for key, value in values.items() if value is not _WRONG}

    def _apply(self, data: Any, key: str, kind: Kind) -> Any:
        try:
            return kind(key, data[key])
        except ValueError as exc:
            self.problem(data, key, str(exc))
            return _WRONG


# -- kinds ------------------------------------------------------------------


def whole(minimum: int = 1, maximum: int | None = None) -> Kind:
    def read(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
                maximum is not None and value > maximum):
            raise ValueError(f"{key} must be a whole number ≥ {minimum}" + (
                f" and ≤ {maximum}" if maximum is not None else ""))
        return value
    return read


def duration(key: str, value: Any) -> float:
    """`250ms`, `30s`, `15m`, `1h`, `1d` or seconds; more than zero."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from exc
    if seconds <= 0:
        raise ValueError(f"{key} must be positive")
    return seconds


def duration_or_off(key: str, value: Any) -> float:
    """A duration, or 0 (off) for an empty, zero or false value."""
    return duration(key, value) if value else 0.0


def flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false (unquoted)")
    return value


def share(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{key} is a share from 0 to 1")
    return float(value)


def text(key: str, value: Any) -> str:
    return str(value)
