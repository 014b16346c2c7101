"""The sandbox's mutable state: issued tokens, login failures, call counts and test controls."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

# Kinds of token the emulated vendor hands out.
BEARER = "bearer"  # authentication/apiUser
SESSION = "session"  # authentication/credentials (X-AS-UserSessionToken)
SSO = "sso"  # authentication/sso
LEGACY = "legacy"  # AuthenticateUser's AuthenticationToken


@dataclass(frozen=True)
class Grant:
    """What an issued token stands for."""

    kind: str
    username: str
    expires_at: float
    api_username: str | None = None


@dataclass(frozen=True)
class Failure:
    """How an affected request fails: an HTTP answer, a non-JSON body, or a dropped connection."""

    kind: str  # "status" | "garbage" | "close"
    status: int = 500
    body: bytes = b""
    content_type: str | None = None


@dataclass(frozen=True)
class Control:
    """A test's instruction to slow down or break the requests whose path matches."""

    delay_ms: int = 0
    failure: Failure | None = None
    paths: tuple[str, ...] = ()
    times: int | None = None
    # The answer goes out a few bytes at a time, this far apart (a dripping upstream).
    drip_ms: int = 0

    def matches(self, path: str) -> bool:
        return not self.paths or any(fragment in path for fragment in self.paths)


_SWEEP_SECONDS = 1.0


class SandboxState:
    """Thread-safe: the threaded server runs requests concurrently."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        # Tests swap the clock to expire tokens without sleeping.
        self.clock = clock
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}
        self._swept = clock()
        self._failures: Counter[str] = Counter()
        self._locked: set[str] = set()
        self._calls: Counter[str] = Counter()
        self._request_ids: dict[str, str] = {}
        self._control: Control | None = None
        # How far POST /_sandbox/clock has moved the clock on (documentnow.py).
        self._offset = 0.0

    def now(self) -> float:
        """The sandbox's time: the clock, moved on by the clock control."""
        return self.clock() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._grants.clear()
            self._failures.clear()
            self._locked.clear()
            self._calls.clear()
            self._request_ids.clear()
            self._control = None
            self._offset = 0.0

    # -- tokens -------------------------------------------------------------

    def issue(self, kind: str, username: str, lifetime_s: float, api_username: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.now()
            # Forget dead tokens so a long demo run does not grow without bound; once a
            # second, not on every issue, or a busy sandbox slows down as tokens pile up.
            if now - self._swept >= _SWEEP_SECONDS:
                self._swept = now
                for dead in [t for t, g in self._grants.items() if g.expires_at <= now]:
                    del self._grants[dead]
            self._grants[token] = Grant(kind, username, now + lifetime_s, api_username)
        return token

    def grant(self, token: str, *kinds: str) -> Grant | None:
        """The live grant behind a token of one of these kinds, else None."""
        with self._lock:
            found = self._grants.get(token)
            if found is None or found.kind not in kinds or found.expires_at <= self.now():
                return None
            return found

    def redeem(self, token: str, kind: str) -> Grant | None:
        """The live grant behind a single-use token of this kind, spent by this use: a second
        use, like a late one, finds nothing."""
        with self._lock:
            found = self._grants.get(token)
            if found is None or found.kind != kind or found.expires_at <= self.now():
                return None
            del self._grants[token]
            return found

    # -- consecutive login failures (the legacy login page's lockout) --------

    def record_failure(self, username: str, max_failures: int) -> None:
        key = username.casefold()
        with self._lock:
            self._failures[key] += 1
            if self._failures[key] >= max_failures:
                self._locked.add(key)

    def clear_failures(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username.casefold(), None)

    def unlock(self, username: str) -> None:
        """Lift a lock set by failures, and forget the failures (the legacy UpdateUser Locked=false)."""
        key = username.casefold()
        with self._lock:
            self._locked.discard(key)
            self._failures.pop(key, None)

    def failures(self, username: str) -> int:
        with self._lock:
            return self._failures[username.casefold()]

    def is_locked(self, username: str) -> bool:
        with self._lock:
            return username.casefold() in self._locked

    # -- call counts ----------------------------------------------------------

    def count(self, call: str, request_id: str | None = None) -> None:
        with self._lock:
            self._calls[call] += 1
            if request_id:
                # Lets tests see that callers pass their request id on.
                self._request_ids[call] = request_id

    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def request_ids(self) -> dict[str, str]:
        with self._lock:
            return dict(self._request_ids)

    # -- test controls ---------------------------------------------------------

    def set_control(self, control: Control | None) -> None:
        with self._lock:
            self._control = control

    def take_control(self, path: str) -> Control | None:
        """The control that applies to this request, using up one of its `times`."""
        with self._lock:
            control = self._control
            if control is None or not control.matches(path):
                return None
            if control.times is not None:
                left = control.times - 1
                self._control = replace(control, times=left) if left > 0 else None
            return control
