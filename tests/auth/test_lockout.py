"""Lockout counts failures per subject in the store, case-insensitively."""

from __future__ import annotations

import time

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.store import MemoryStore


def test_locks_after_max_failures_then_unlocks() -> None:
    lockout = Lockout(MemoryStore(), LockoutPolicy(max_failures=3, window=60, duration=0.2))
    assert [lockout.record_failure("Ann@x.com") for _ in range(3)] == [False, False, True]
    assert lockout.is_locked("ann@x.com")
    assert not lockout.is_locked("bob@x.com")
    time.sleep(0.3)
    assert not lockout.is_locked("ann@x.com")
    # The count started over when the lock was set.
    assert lockout.record_failure("ann@x.com") is False


def test_success_clears_the_count() -> None:
    lockout = Lockout(MemoryStore(), LockoutPolicy(max_failures=2, window=60, duration=60))
    lockout.record_failure("a")
    lockout.record_success("a")
    assert lockout.record_failure("a") is False
    assert lockout.record_failure("a") is True
