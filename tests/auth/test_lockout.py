"""Lockout counts failures per user identity in the store, holds each password check before
it is made, and loses no count however many threads ask at once: on every store backend
(memory and SQLite run the Python steps, Redis the Lua ones)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bridge.auth.lockout import IN_FLIGHT, LOCKED, Lockout, LockoutPolicy
from bridge.auth.seal import fingerprint
from bridge.store import Store


def _at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) on as many threads, released together."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        start.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_locks_after_max_failures_then_unlocks(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=3, window=60, duration=0.2))
    assert [lockout.record_failure("Ann@x.com") for _ in range(3)] == ["", "", "temporary"]
    assert lockout.standing("ann@x.com").locked
    assert not lockout.standing("bob@x.com").locked
    time.sleep(0.3)
    assert not lockout.standing("ann@x.com").locked
    # The run goes on: the next lock comes after another three failures, not one.
    assert [lockout.record_failure("ann@x.com") for _ in range(3)] == ["", "", "temporary"]


def test_success_clears_the_count(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=2, window=60, duration=60))
    lockout.record_failure("a")
    assert lockout.record_success("a")
    assert lockout.record_failure("a") == ""
    assert lockout.record_failure("a") == "temporary"


def test_wait_increments_up_to_the_maximum_then_permanent(store: Store) -> None:
    policy = LockoutPolicy(max_failures=2, window=60, duration=0.1, max_duration=0.15,
                           permanent_after=4)
    lockout = Lockout(store, policy)
    results = [lockout.record_failure("a") for _ in range(8)]
    assert results == ["", "temporary", "", "temporary", "", "temporary", "", "permanent"]
    time.sleep(0.2)
    assert lockout.standing("a").locked  # permanent outlives every temporary wait
    lockout.unlock("a")
    assert not lockout.standing("a").locked


def test_a_quiet_window_starts_the_count_over(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=2, window=0.1, duration=60))
    assert lockout.record_failure("a") == ""
    time.sleep(0.15)
    assert lockout.record_failure("a") == ""  # the first failure was forgotten
    assert lockout.record_failure("a") == "temporary"


def test_quick_failures_lock_for_the_quick_wait(store: Store) -> None:
    policy = LockoutPolicy(max_failures=10, window=60, duration=60, quick_login_check=0.5,
                           quick_login_wait=0.1)
    lockout = Lockout(store, policy)
    assert lockout.record_failure("a") == ""
    assert lockout.record_failure("a") == "quick"
    assert lockout.standing("a").locked
    time.sleep(0.15)
    assert not lockout.standing("a").locked


def test_a_quick_lock_never_shortens_a_longer_one(store: Store) -> None:
    policy = LockoutPolicy(max_failures=3, window=60, duration=60, quick_login_check=5,
                           quick_login_wait=0.1)
    lockout = Lockout(store, policy)
    held = lockout.reserve("a")
    assert [lockout.record_failure("a") for _ in range(3)] == ["", "quick", "temporary"]
    # A check that was running when the lock came still counts, but the lock stays 60 s.
    assert lockout.record_failure("a", held) == ""
    time.sleep(0.15)
    assert lockout.standing("a").locked


def test_waiting_out_a_lock_is_not_a_quiet_window(store: Store) -> None:
    # window == duration (the defaults' shape): the second lock must still be longer.
    # Margins of 0.2 s or more on each side: a loaded CI machine must not decide the outcome.
    lockout = Lockout(store, LockoutPolicy(max_failures=1, window=0.5, duration=0.5,
                                           max_duration=5))
    assert lockout.record_failure("a") == "temporary"
    time.sleep(0.7)  # the first lock (0.5 s) is over, its quiet window is not
    assert not lockout.standing("a").locked
    assert lockout.record_failure("a") == "temporary"
    time.sleep(0.7)
    assert lockout.standing("a").locked  # two wait increments: 1.0 s


def test_standing_read_at_login_start_decides_whether_success_clears(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=2, window=60, duration=60))
    clean = lockout.standing("a")
    assert (clean.locked, clean.failing) == (False, False)
    lockout.record_failure("a")
    failing = lockout.standing("A ")
    assert (failing.locked, failing.failing) == (False, True)
    assert lockout.record_success("a", standing=failing)
    assert lockout.standing("a").failing is False
    assert lockout.record_failure("a") == ""  # the run started over
    assert lockout.record_failure("a") == "temporary"
    assert lockout.standing("a").locked


# -- holds: at most max_failures checks per lock cycle -----------------------------------


def test_checks_are_held_up_to_what_the_cycle_has_left(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=3, window=60, duration=60))
    lockout.record_failure("a")
    first, second = lockout.reserve("a"), lockout.reserve("A")
    assert not first.refused and not second.refused
    assert lockout.reserve("a").refused == IN_FLIGHT  # 1 failed + 2 running = 3
    assert lockout.record_failure("a", first) == ""
    assert lockout.reserve("a").refused == IN_FLIGHT  # 2 failed + 1 running
    assert lockout.record_failure("a", second) == "temporary"
    assert lockout.reserve("a").refused == LOCKED


def test_a_check_without_verdict_gives_its_place_back_uncounted(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=1, window=60, duration=60))
    held = lockout.reserve("a")
    assert lockout.reserve("a").refused == IN_FLIGHT
    lockout.release("a", held)
    again = lockout.reserve("a")
    assert not again.refused and not lockout.standing("a").failing
    assert lockout.record_failure("a", again) == "temporary"


def test_a_success_clears_the_run_and_its_hold(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=2, window=60, duration=60))
    lockout.record_failure("a")
    held = lockout.reserve("a")
    assert lockout.reserve("a").refused == IN_FLIGHT
    assert lockout.record_success("a", held)
    assert not lockout.standing("a").failing
    assert [lockout.record_failure("a", lockout.reserve("a")) for _ in range(2)] == [
        "", "temporary"]


def test_no_success_while_a_lock_stands(store: Store) -> None:
    # The right password's check was running when a quick lock came: it does not log in.
    policy = LockoutPolicy(max_failures=5, window=60, duration=60, quick_login_check=5)
    lockout = Lockout(store, policy)
    right = lockout.reserve("a")
    assert [lockout.record_failure("a", lockout.reserve("a")) for _ in range(2)] == ["", "quick"]
    assert lockout.record_success("a", right) is False
    assert lockout.standing("a").locked and lockout.standing("a").failing  # nothing cleared


def test_the_hold_of_a_check_that_never_ended_runs_out(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=1, window=60, duration=60,
                                           hold_lease=0.2))
    assert not lockout.reserve("a").refused  # its worker died: nobody settles it
    assert lockout.reserve("a").refused == IN_FLIGHT
    time.sleep(0.3)
    assert not lockout.reserve("a").refused


def test_fifty_checks_at_once_hold_max_failures_and_then_lock(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=5, window=60, duration=60))
    attempts = _at_once(50, lambda _: lockout.reserve("ann@x.com"))
    held = [attempt for attempt in attempts if not attempt.refused]
    assert len(held) == 5
    assert {attempt.refused for attempt in attempts if attempt.refused} == {IN_FLIGHT}
    locks = _at_once(5, lambda index: lockout.record_failure("ann@x.com", held[index]))
    assert sorted(locks) == ["", "", "", "", "temporary"]
    assert lockout.reserve("ann@x.com").refused == LOCKED


def test_failures_at_once_never_lose_a_count(store: Store) -> None:
    # Twenty trials of five failures racing: each trial locks at exactly the fifth.
    lockout = Lockout(store, LockoutPolicy(max_failures=5, window=60, duration=60))
    for trial in range(20):
        subject = f"trial-{trial}@x.com"
        locks = _at_once(5, lambda _, subject=subject: lockout.record_failure(subject))
        assert sorted(locks) == ["", "", "", "", "temporary"], trial
        assert lockout.standing(subject).locked


# -- one identity, and keys of the form before it ----------------------------------------


SPELLINGS = ("ruß@x.com", "ru\u017f\u017f@x.com", "RUẞ@x.com")


def test_the_spellings_of_one_name_share_one_counter(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=3, window=60, duration=60))
    assert [lockout.record_failure(name) for name in SPELLINGS] == ["", "", "temporary"]
    assert all(lockout.standing(name).locked for name in (*SPELLINGS, " Russ@X.com"))
    lockout.unlock("RUSS@x.com")
    assert not any(lockout.standing(name).locked for name in SPELLINGS)


def _before(kind: str, name: str) -> str:
    """A key as the lockout made it before identity: trimmed, lower-cased."""
    return f"lockout:{kind}:" + fingerprint(name.strip().lower(), "lockout-subject")


def test_a_lock_kept_under_the_old_form_still_stands_until_unlocked(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=5, window=60, duration=60))
    store.set(_before("lock", "ruß@x.com"), time.time(), 10 * 365 * 86400)  # permanent
    assert lockout.standing("Ruß@x.com").locked
    assert lockout.reserve("ruß@x.com").refused == LOCKED
    assert not lockout.record_success("ruß@x.com")
    lockout.unlock("RUß@x.com")
    assert not lockout.standing("ruß@x.com").locked
    assert store.get(_before("lock", "ruß@x.com")) is None


def test_a_count_kept_under_the_old_form_goes_on_under_the_identity(store: Store) -> None:
    lockout = Lockout(store, LockoutPolicy(max_failures=5, window=60, duration=60))
    now = time.time()
    store.set(_before("fail", "ruß@x.com"), 4, 86400)
    store.set(_before("last", "ruß@x.com"), now, 60)
    assert lockout.standing("ruß@x.com").failing
    assert lockout.record_failure("ruß@x.com") == "temporary"  # the fifth in a row
    assert [store.get(_before(kind, "ruß@x.com")) for kind in ("lock", "last", "fail")] == [
        None, None, None]
    # Upgraded: every spelling now meets the lock.
    assert all(lockout.standing(name).locked for name in SPELLINGS)
