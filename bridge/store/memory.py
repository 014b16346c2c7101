"""In-process store: for tests and single-process experiments."""

from __future__ import annotations

import threading
import time
from typing import Any


class MemoryStore:
    """Dict-backed store; expired entries are dropped when touched."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[Any, float]] = {}
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

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            self._data[key] = (value, self._clock() + ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            entry = self._live(key)
            if entry is None:
                self._data[key] = (1, self._clock() + ttl)
                return 1
            count = int(entry[0]) + 1
            self._data[key] = (count, entry[1])
            return count

    def close(self) -> None:
        with self._lock:
            self._data.clear()
