"""Brute-force protection after Keycloak's model, counted in the shared store.

Every `max_failures`-th failure in a row locks the subject; each lock lasts one
more `duration` than the last (the wait increment), up to `max_duration`. After
`permanent_after` such locks the subject stays locked until an operator unlocks
it. A quiet `window` with no failure (counted from the end of a lock), or a
success, starts the count over.
Failures coming faster than `quick_login_check` apart lock for `quick_login_wait`:
scripts hammer, people do not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bridge.auth.seal import fingerprint
from bridge.store.base import Store

_PERMANENT_TTL = 10 * 365 * 86400
# The failure count outlives any quiet window; the `last` key is what ends a run.
_COUNT_TTL = 30 * 86400

NOT_LOCKED = ""
TEMPORARY = "temporary"
PERMANENT = "permanent"
QUICK = "quick"


@dataclass(frozen=True)
class Standing:
    """A subject's lockout state as one read found it at the start of a login."""

    locked: bool
    # Failures are being counted: a success must clear them.
    failing: bool


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int
    window: float
    duration: float
    max_duration: float = 3600.0
    permanent_after: int = 0
    quick_login_check: float = 0.0
    quick_login_wait: float = 60.0


class Lockout:
    def __init__(self, store: Store, policy: LockoutPolicy) -> None:
        self._store = store
        self.policy = policy

    def standing(self, subject: str) -> Standing:
        # One round trip on the login path: a permanent lock is the same key with a long
        # life, and the failure run's `last` key says whether a success must clear it.
        lock, last = self._store.get_many([self._key("lock", subject), self._key("last", subject)])
        return Standing(locked=lock is not None, failing=last is not None)

    def record_failure(self, subject: str) -> str:
        """Count one failure; says which lock it caused, if any (NOT_LOCKED is falsy)."""
        policy = self.policy
        last = self._store.get(self._key("last", subject))
        if last is None:
            self._store.delete(self._key("fail", subject))  # after a quiet window: start over
        now = time.time()
        self._store.set(self._key("last", subject), now, policy.window)
        failures = self._store.incr(self._key("fail", subject), _COUNT_TTL)
        if failures % policy.max_failures == 0:
            locks = failures // policy.max_failures
            if policy.permanent_after and locks >= policy.permanent_after:
                self._store.set(self._key("lock", subject), now, _PERMANENT_TTL)
                return PERMANENT
            wait = min(policy.duration * locks, policy.max_duration)
            self._store.set(self._key("lock", subject), now, wait)
            # The quiet window starts when the lock ends: waiting out a lock is not quiet.
            self._store.set(self._key("last", subject), now, wait + policy.window)
            return TEMPORARY
        if (policy.quick_login_check and isinstance(last, int | float)
                and now - last < policy.quick_login_check):
            self._store.set(self._key("lock", subject), now, policy.quick_login_wait)
            return QUICK
        return NOT_LOCKED

    def record_success(self, subject: str, standing: Standing | None = None) -> None:
        """Clear a failure run; `standing` (read when the login began) spares a read."""
        # Most logins follow no failure: knowing that spares the store two writes.
        failing = (standing.failing if standing is not None
                   else self._store.get(self._key("last", subject)) is not None)
        if failing:
            self._store.delete(self._key("fail", subject))
            self._store.delete(self._key("last", subject))

    def unlock(self, subject: str) -> None:
        """The operator's way out of a permanent (or any) lock."""
        for kind in ("lock", "fail", "last"):
            self._store.delete(self._key(kind, subject))

    @staticmethod
    def _key(kind: str, subject: str) -> str:
        return f"lockout:{kind}:" + fingerprint(subject.strip().lower(), "lockout-subject")
