"""A circuit breaker per upstream: stop calling a failing upstream, probe it now and then."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = 5  # consecutive failures that open the circuit
    open_for: float = 30.0  # seconds before one probe is let through


class Breaker:
    """Closed: calls flow. Open: calls fail at once. Half-open: one probe decides.

    Kept per worker process: each worker learns on its own within `failures`
    calls, which needs no shared state and no store round trip per call.
    """

    def __init__(self, settings: BreakerSettings, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            self._maybe_half_open()
            return self._state

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open, only the one probe may."""
        with self._lock:
            self._maybe_half_open()
            if self._state == CLOSED:
                return True
            if self._state == HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            self._state, self._failures, self._probing = CLOSED, 0, False

    def failed(self) -> None:
        with self._lock:
            self._probing = False
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self.settings.failures:
                self._state, self._opened_at = OPEN, self._clock()

    def _maybe_half_open(self) -> None:
        if self._state == OPEN and self._clock() - self._opened_at >= self.settings.open_for:
            self._state = HALF_OPEN
