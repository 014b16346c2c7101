"""What the Nmbrs emulation changes as it runs: the throttles tests switch on and the calls they count."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# The documented fair-use limit: above 150 calls a second SOAP answers half a second later
# (FACTS §3.3). The throttle is off until a test (or an operator) switches it on.
SOAP_CALLS_PER_SECOND = 150
SOAP_DELAY_MS = 500


@dataclass(frozen=True)
class Throttle:
    """Calls above `per_second` in any one second are slowed (SOAP, by `delay_ms`) or refused
    (REST: 429, with `Retry-After: retry_after` when it is set)."""

    per_second: int
    delay_ms: int = SOAP_DELAY_MS
    retry_after: int | None = None


class NmbrsState:
    """Thread-safe; `clock` is read on every call so tests can swap the sandbox's."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._throttles: dict[str, Throttle] = {}
        self._recent: dict[tuple[str, str], deque[float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._throttles.clear()
            self._recent.clear()

    def set_throttle(self, api: str, throttle: Throttle | None) -> None:
        with self._lock:
            if throttle is None:
                self._throttles.pop(api, None)
            else:
                self._throttles[api] = throttle
            self._recent = {key: calls for key, calls in self._recent.items() if key[0] != api}

    def throttles(self) -> dict[str, Throttle]:
        with self._lock:
            return dict(self._throttles)

    def over_limit(self, api: str, caller: str) -> Throttle | None:
        """Count one call of `caller` on `api` ("soap" or "rest"); the throttle if it is one too many."""
        with self._lock:
            throttle = self._throttles.get(api)
            if throttle is None:
                return None
            now = self.clock()
            calls = self._recent.setdefault((api, caller), deque())
            while calls and calls[0] <= now - 1.0:
                calls.popleft()
            calls.append(now)
            return throttle if len(calls) > throttle.per_second else None
