"""Lock a user out after repeated failed logins, counted in the shared store."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.auth.seal import fingerprint
from bridge.store.base import Store


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int
    window: float
    duration: float


class Lockout:
    """N failures within a window lock the subject for a duration; a success clears the count."""

    def __init__(self, store: Store, policy: LockoutPolicy) -> None:
        self._store = store
        self.policy = policy

    def is_locked(self, subject: str) -> bool:
        return self._store.get(self._key("lock", subject)) is not None

    def record_failure(self, subject: str) -> bool:
        """Count one failure; True when this failure locked the subject."""
        failures = self._store.incr(self._key("fail", subject), self.policy.window)
        if failures >= self.policy.max_failures:
            self._store.set(self._key("lock", subject), 1, self.policy.duration)
            self._store.delete(self._key("fail", subject))
            return True
        return False

    def record_success(self, subject: str) -> None:
        self._store.delete(self._key("fail", subject))

    @staticmethod
    def _key(kind: str, subject: str) -> str:
        return f"lockout:{kind}:" + fingerprint(subject.strip().lower(), "lockout-subject")
