"""In-process store: for tests and single-process experiments."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bridge.store.base import Change, Entry


class MemoryStore:
    """Dict-backed store; expired entries are dropped when touched."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[Any, float]] = {}
        # Records carry wall-clock times: reports ask "since <date>".
        self._streams: dict[str, list[tuple[float, float, dict[str, Any]]]] = defaultdict(list)
        self._lock = threading.Lock()

    def _live(self, key: str) -> tuple[Any, float] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] <= self._clock():
            del self._data[key]
            return None
        return entry

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._live(key)
            return None if entry is None else entry[0]

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        with self._lock:
            return [None if (entry := self._live(key)) is None else entry[0] for key in keys]

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            self._data[key] = (value, self._clock() + ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        with self._lock:
            entry = self._live(key)
            if entry is None:
                self._data[key] = (amount, self._clock() + ttl)
                return amount
            count = int(entry[0]) + amount
            self._data[key] = (count, entry[1])
            return count

    def update(self, keys: Sequence[str], change: Change, args: Sequence[Any]) -> Any:
        with self._lock:
            now = self._clock()
            entries = [None if (live := self._live(key)) is None else Entry(*live) for key in keys]
            writes, result = change.apply(entries, now, args)
            for index, entry in writes.items():
                if entry is None:
                    self._data.pop(keys[index], None)
                else:
                    self._data[keys[index]] = (entry.value, entry.expires)
            return result

    def counters(self, prefix: str) -> dict[str, int]:
        with self._lock:
            keys = [key for key in self._data if key.startswith(prefix)]
            return {key: int(entry[0]) for key in keys
                    if (entry := self._live(key)) is not None and isinstance(entry[0], int)}

    def add_record(self, stream: str, record: dict[str, Any], retain: float) -> None:
        now = time.time()
        with self._lock:
            self._streams[stream].append((now, now + retain, record))

    def records(self, stream: str, since: float) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            kept = [entry for entry in self._streams[stream] if entry[1] > now]
            self._streams[stream] = kept
            return [record for added, _, record in kept if added >= since]

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        with self._lock:
            self._data.clear()
            self._streams.clear()
