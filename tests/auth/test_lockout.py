"""Lockout counts failures per subject in the store, case-insensitively."""

from __future__ import annotations

import time

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.store import MemoryStore


def test_locks_after_max_failures_then_unlocks() -> None:
    lockout = Lockout(MemoryStore(), LockoutPolicy(max_failures=3, window=60, duration=0.2))
    assert [lockout.record_failure("Ann@x.com") for _ in range(3)] == ["", "", "temporary"]
    assert lockout.standing("ann@x.com").locked
    assert not lockout.standing("bob@x.com").locked
    time.sleep(0.3)
    assert not lockout.standing("ann@x.com").locked
    # The run goes on: the next lock comes after another three failures, not one.
    assert [lockout.record_failure("ann@x.com") for _ in range(3)] == ["", "", "temporary"]


def test_success_clears_the_count() -> None:
    lockout = Lockout(MemoryStore(), LockoutPolicy(max_failures=2, window=60, duration=60))
    lockout.record_failure("a")
    lockout.record_success("a")
    assert lockout.record_failure("a") == ""
    assert lockout.record_failure("a") == "temporary"


def test_wait_increments_up_to_the_maximum_then_permanent() -> None:
    policy = LockoutPolicy(max_failures=2, window=60, duration=0.1, max_duration=0.15,
                           permanent_after=4)
    lockout = Lockout(MemoryStore(), policy)
    results = [lockout.record_failure("a") for _ in range(8)]
    assert results == ["", "temporary", "", "temporary", "", "temporary", "", "permanent"]
    time.sleep(0.2)
    assert lockout.standing("a").locked  # permanent outlives every temporary wait
    lockout.unlock("a")
    assert not lockout.standing("a").locked


def test_a_quiet_window_starts_the_count_over() -> None:
    lockout = Lockout(MemoryStore(), LockoutPolicy(max_failures=2, window=0.1, duration=60))
    assert lockout.record_failure("a") == ""
    time.sleep(0.15)
    assert lockout.record_failure("a") == ""  # the first failure was forgotten
    assert lockout.record_failure("a") == "temporary"


def test_quick_failures_lock_for_the_quick_wait() -> None:
    policy = LockoutPolicy(max_failures=10, window=60, duration=60, quick_login_check=0.5,
                           quick_login_wait=0.1)
    lockout = Lockout(MemoryStore(), policy)
    assert lockout.record_failure("a") == ""
    assert lockout.record_failure("a") == "quick"
    assert lockout.standing("a").locked
    time.sleep(0.15)
    assert not lockout.standing("a").locked


def test_waiting_out_a_lock_is_not_a_quiet_window() -> None:
    # window == duration (the defaults' shape): the second lock must still be longer.
    lockout = Lockout(MemoryStore(), LockoutPolicy(max_failures=1, window=0.1, duration=0.1,
                                                   max_duration=1))
    assert lockout.record_failure("a") == "temporary"
    time.sleep(0.15)  # the first lock (0.1 s) is over, its quiet window is not
    assert not lockout.standing("a").locked
    assert lockout.record_failure("a") == "temporary"
    time.sleep(0.15)
    assert lockout.standing("a").locked  # two wait increments: 0.2 s


def test_standing_read_at_login_start_decides_whether_success_clears() -> None:
    lockout = Lockout(MemoryStore(), LockoutPolicy(max_failures=2, window=60, duration=60))
    clean = lockout.standing("a")
    assert (clean.locked, clean.failing) == (False, False)
    lockout.record_failure("a")
    failing = lockout.standing("A ")
    assert (failing.locked, failing.failing) == (False, True)
    lockout.record_success("a", failing)
    assert lockout.standing("a").failing is False
    assert lockout.record_failure("a") == ""  # the run started over
    assert lockout.record_failure("a") == "temporary"
    assert lockout.standing("a").locked
