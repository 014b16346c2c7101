"""Recorded traffic: legacy requests and answers captured in legacy and shadow mode (by the
`record:` setting, or `soap-bridge record start` for the fleet), with every secret replaced by
a reference that cannot be turned back into it; bounded by count and age; exported to a file of
JSON lines that `soap-bridge replay` reads."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.errors import StoreError
from bridge.identity import identity
from bridge.migrate.compare import KINDS, CompareRules, Side, general_path
from bridge.schema import Kind, Reader, duration, whole
from bridge.store.base import Store
from bridge.yamlfile import LocatedDict

STREAM = "recordings"
FLAG_KEY = "migrate:recording"
COUNT_KEY = "migrate:recording:count"
FORMAT = "soap-bridge-recording/1"
MAX_ENTRY_BYTES = 64 * 1024
_REFRESH = 1.0
_REF = re.compile(r"^ref-[0-9a-f]{24}$")


@dataclass(frozen=True)
class RecordSettings:
    """`record:`: which operations, how many captures at most, kept how long."""

    operations: tuple[str, ...] = ()  # none listed: every operation with a rule
    max_entries: int = 10_000
    max_age: float = 7 * 86400.0


def _operations(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("record.operations lists operation names")
    return tuple(value)


_RECORD: dict[str, Kind] = {"operations": _operations, "max_entries": whole(),
                            "max_age": duration}


def read_record(reader: Reader, data: LocatedDict) -> RecordSettings | None:
    """The configuration's `record:` section, if any (file:line problems into `reader`)."""
    if "record" not in data:
        return None
    return RecordSettings(**reader.read(reader.section(data, "record"), _RECORD,
                                        noun="record setting"))


def reference(key: bytes, value: str) -> str:
    """A stand-in for a secret: the same value gives the same reference under one key, and
    nothing gives the value back (keyed HMAC; the key is never in a recording)."""
    return "ref-" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:24]


def user_references_key(key: bytes, username: str) -> bytes:
    """The key one user's references are made with: a reference made under it is the same for
    the same value of that user only, so a recording does not tell which users share a
    password (a user known to have one would give the others away)."""
    return hmac.new(key, b"recording-user\0" + identity(username).encode(),
                    hashlib.sha256).digest()


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(_REF.match(value))


def without_secrets(data: Any, rules: CompareRules, key: bytes, path: str = "") -> Any:
    """`data` with every value at a secret path (as the comparison judges it) referenced."""
    if isinstance(data, Mapping):
        return {name: without_secrets(value, rules, key, f"{path}.{name}" if path else name)
                for name, value in data.items()}
    if isinstance(data, list):
        return [without_secrets(item, rules, key, path) for item in data]
    if data is None or data == "" or not rules.is_secret(general_path(path)):
        return data
    return reference(key, str(data))


def shape(entry: Mapping[str, Any]) -> str:
    """What makes two recorded exchanges the same kind of test: the operation, which request
    fields were given, and the legacy answer's kind and structure (not the values)."""
    def paths(data: Any, path: str = "") -> set[str]:
        if isinstance(data, Mapping):
            return set().union(*(paths(value, f"{path}.{name}") for name, value in data.items()
                                 ), set()) if data else {path}
        if isinstance(data, list):
            return set().union(*(paths(item, path) for item in data), set())
        return {path} if data not in (None, "") else set()

    legacy = entry["legacy"]
    described = json.dumps([entry["operation"], sorted(paths(entry["request"])), legacy["kind"],
                            sorted(paths(legacy["data"]))])
    return hashlib.sha256(described.encode()).hexdigest()[:12]


class Recordings:
    """Decides cheaply whether to capture, and writes captures to the store."""

    def __init__(self, store: Store, settings: RecordSettings | None, key: bytes) -> None:
        self._store = store
        self._settings = settings
        self._key = key
        self._lock = threading.Lock()
        self._flag: dict[str, Any] | None = None
        self._read_at = float("-inf")

    def _active(self) -> RecordSettings | None:
        """The settings in force: `record:`, else a `record start` still running."""
        if self._settings is not None:
            return self._settings
        now = time.monotonic()
        if now - self._read_at >= _REFRESH:
            try:
                found = self._store.get(FLAG_KEY)
            except StoreError:
                found = None
            with self._lock:
                self._flag = found if isinstance(found, dict) else None
                self._read_at = now
        flag = self._flag
        if flag is None or float(flag.get("until", 0)) < time.time():
            return None
        return RecordSettings(tuple(flag.get("operations") or ()),
                              int(flag.get("max_entries", 10_000)),
                              float(flag.get("max_age", 7 * 86400)))

    def wanted(self, operation: str) -> bool:
        settings = self._active()
        return settings is not None and (not settings.operations
                                         or operation in settings.operations)

    def capture(self, operation: str, path: str, request: Mapping[str, Any], legacy: Side,
                rules: CompareRules, changes_data: bool, username: str = "") -> bool:
        """Keep one exchange, secrets referenced (under the user's own key); False when over
        the bounds."""
        settings = self._active()
        if settings is None:
            return False
        key = user_references_key(self._key, username)
        entry = {
            "ts": time.time(), "operation": operation, "path": path,
            "changes_data": changes_data,
            "request": without_secrets(request, rules, key),
            "legacy": {"kind": legacy.kind, "ms": round(legacy.elapsed_ms, 2),
                       "data": without_secrets(legacy.data, rules, key)},
        }
        if len(json.dumps(entry, default=str)) > MAX_ENTRY_BYTES:
            return False
        if self._store.incr(COUNT_KEY, settings.max_age) > settings.max_entries:
            return False
        self._store.add_record(STREAM, json.loads(json.dumps(entry, default=str)),
                               settings.max_age)
        return True

    def start(self, seconds: float, operations: Sequence[str], max_entries: int,
              max_age: float) -> None:
        """`soap-bridge record start`: every instance captures within a second, until then."""
        self._store.set(FLAG_KEY, {"until": time.time() + seconds,
                                   "operations": list(operations),
                                   "max_entries": max_entries, "max_age": max_age}, seconds)
        self._store.delete(COUNT_KEY)
        self._read_at = float("-inf")

    def stop(self) -> None:
        self._store.delete(FLAG_KEY)
        self._read_at = float("-inf")

    def status(self) -> dict[str, Any] | None:
        found = self._store.get(FLAG_KEY)
        return found if isinstance(found, dict) else None


def export(store: Store, since: float) -> list[dict[str, Any]]:
    return store.records(STREAM, since)


def write_file(path: str, entries: Sequence[Mapping[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"format": FORMAT, "entries": len(entries)}) + "\n")
        for entry in entries:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")


def read_file(path: str) -> list[dict[str, Any]]:
    """A recording file's entries; ValueError naming the line that is wrong."""
    entries = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                item = json.loads(line)
            except ValueError:
                raise ValueError(f"{path}:{number}: not a JSON line") from None
            if number == 1:
                if not isinstance(item, dict) or item.get("format") != FORMAT:
                    raise ValueError(f"{path}:1: not a soap-bridge recording ({FORMAT})")
                continue
            if not _is_exchange(item):
                raise ValueError(f"{path}:{number}: not a recorded exchange")
            entries.append(item)
    return entries


def _is_exchange(item: Any) -> bool:
    """Whether a line has what the replay reads, of the types it reads them as (a file edited
    by hand, or cut short, is refused at its line rather than failing half-way through)."""
    if not isinstance(item, dict):
        return False
    legacy, request = item.get("legacy"), item.get("request")
    return (isinstance(item.get("operation"), str) and isinstance(request, dict)
            and isinstance(legacy, dict) and legacy.get("kind") in KINDS
            and "data" in legacy and isinstance(legacy["data"], dict | None)
            and isinstance(legacy.get("ms", 0), int | float)
            and isinstance(item.get("ts", 0), int | float))
