"""The modes in force: a store overlay over the configured routing, written by promotion rules
and operators, read on each request from a per-process copy at most a second old.

One store key (`migrate:modes`) maps `<operation>|<cohort or *>` to the mode in force, when and
by whom it was set, and whether automatic promotion is on hold (after an automatic fall-back).
Every change is a compare-and-set in one atomic store step, so two instances deciding at once
cannot both change a cohort's mode: the second finds the mode already moved and does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from bridge.errors import StoreError
from bridge.store.base import Change, Entry, Store

KEY = "migrate:modes"
TTL = 10 * 365 * 86400.0
REFRESH = 1.0
OPERATION_MODE = "*"  # the cohort field of the operation's own mode (no cohort)


def field(operation: str, cohort: str | None) -> str:
    return f"{operation}|{cohort or OPERATION_MODE}"


def _switch(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
            ) -> tuple[dict[int, Entry | None], Any]:
    name, expected, entry = args
    current = entries[0]
    modes = dict(current.value) if current is not None and isinstance(current.value, dict) else {}
    found = modes.get(name)
    if (found.get("mode") if isinstance(found, dict) else "") != expected:
        return {}, False
    if entry:
        modes[name] = entry
    else:
        modes.pop(name, None)
    return {0: Entry(modes, now + TTL)}, True


_SWITCH_LUA = f"""
local modes = {{}}
if entries[1] and type(entries[1].value) == 'table' then modes = entries[1].value end
local found = modes[args[1]]
local current = ''
if type(found) == 'table' then current = found.mode end
if current ~= args[2] then return false end
if type(args[3]) == 'table' then modes[args[1]] = args[3] else modes[args[1]] = nil end
writes[1] = {{value = modes, expires = now + {TTL}}}
return true
"""
SWITCH = Change("mode-switch", _switch, _SWITCH_LUA)


class ModeOverlay:
    """The overlay of one store, with a per-process copy refreshed at most once a `REFRESH`."""

    def __init__(self, store: Store, refresh: float = REFRESH) -> None:
        self._store = store
        self._refresh = refresh
        self._lock = threading.Lock()
        self._copy: dict[str, Any] = {}
        self._read_at = float("-inf")

    def entries(self, fresh: bool = False) -> dict[str, Any]:
        """`field` -> {"mode", "ts", "by", "hold"?}; at most `REFRESH` seconds old unless fresh."""
        now = time.monotonic()
        if fresh or now - self._read_at >= self._refresh:
            found = self._store.get(KEY)
            with self._lock:
                self._copy = dict(found) if isinstance(found, dict) else {}
                self._read_at = now
        return self._copy

    def in_force(self, operation: str, cohort: str | None, configured: str) -> str:
        """The mode for a request the routing gave `configured`: the overlay's, if it has one.
        A store outage keeps the last copy (or the configuration): routing never fails on it."""
        try:
            entries = self.entries()
        except StoreError:
            entries = self._copy
        entry = entries.get(field(operation, cohort))
        return str(entry["mode"]) if isinstance(entry, dict) else configured

    def of(self, operation: str) -> dict[str, Any]:
        """The operation's entries, by cohort (`*` for the operation's own mode)."""
        prefix = f"{operation}|"
        return {name[len(prefix):]: entry for name, entry in self.entries(fresh=True).items()
                if name.startswith(prefix)}

    def switch(self, operation: str, cohort: str | None, expected: str | None,
               entry: dict[str, Any] | None) -> bool:
        """Set (or, with None, clear) a cohort's entry if its current entry's mode is still
        `expected` (None: no entry). False: someone else changed it first."""
        done = bool(self._store.update([KEY], SWITCH, [field(operation, cohort),
                                                       expected or "", entry or ""]))
        self.entries(fresh=True)
        return done
