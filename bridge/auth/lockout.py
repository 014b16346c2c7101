"""Brute-force protection after Keycloak's model, counted in the shared store.

Every `max_failures`-th failure in a row locks the subject; each lock lasts one
more `duration` than the last (the wait increment), up to `max_duration`. After
`permanent_after` such locks the subject stays locked until an operator unlocks
it. A quiet `window` with no failure (counted from the end of a lock), or a
success, starts the count over.
Failures coming faster than `quick_login_check` apart lock for `quick_login_wait`:
scripts hammer, people do not.

However many workers, threads and instances ask at once, at most `max_failures`
password checks per lock cycle reach the verifier: each check is reserved (a hold)
before it is made, in one atomic step that sees the lock, the failures of the cycle
and the holds of checks still running, and is settled by its verdict (a failure
counted, a success clearing the run, no verdict giving the place back), again
atomically. The steps are `Change`s (bridge/store/base.py): Python for the memory and
SQLite stores, the same in Lua for Redis.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.auth.seal import fingerprint
from bridge.identity import identity, lowered
from bridge.store.base import Change, Entry, Store, read_ahead

_PERMANENT_TTL = 10 * 365 * 86400
# The failure count outlives any quiet window; the `last` key is what ends a run.
_COUNT_TTL = 30 * 86400
# A hold outlives any check (upstream deadlines and retries included); the hold of a
# worker that died mid-check gives its place back after this long.
HOLD_LEASE = 120.0

NOT_LOCKED = ""
TEMPORARY = "temporary"
PERMANENT = "permanent"
QUICK = "quick"

# Why a reservation was refused (Attempt.refused).
LOCKED = "locked"
IN_FLIGHT = "in_flight"

# The keys of one subject, in the order every Change gets them: the lock, the time of
# the last failure, the failure count, the holds ({id: expiry}); then, for a subject
# whose keys were made differently before (bridge/identity.py), the first three again
# under the old fingerprint, folded into the new ones by whichever Change meets them.
_KINDS = ("lock", "last", "fail", "held")
_LOCK, _LAST, _FAIL, _HELD = range(4)
_OLD = len(_KINDS)


@dataclass(frozen=True)
class Standing:
    """A subject's lockout state as one read found it at the start of a login."""

    locked: bool
    # Failures are being counted: a success must clear them.
    failing: bool


@dataclass(frozen=True)
class Attempt:
    """One password check: held (`refused` empty) until its verdict settles it."""

    id: str
    refused: str = ""


@dataclass(frozen=True)
class LockoutPolicy:
    """The `lockout:` settings; these defaults are the configuration's (docs/operations.md)."""

    max_failures: int = 5
    window: float = 15 * 60
    duration: float = 15 * 60
    max_duration: float = 3600.0
    permanent_after: int = 0
    quick_login_check: float = 0.0
    quick_login_wait: float = 60.0
    hold_lease: float = HOLD_LEASE


class Lockout:
    def __init__(self, store: Store, policy: LockoutPolicy) -> None:
        self._store = store
        self.policy = policy

    def standing(self, subject: str, found: Mapping[str, Any] | None = None) -> Standing:
        """One round trip on the login path: a permanent lock is the same key with a long
        life, and the failure run's `last` key says whether a success must clear it.
        `found`: the values of `reads(subject)`, when the caller read them together with
        others in that one round trip (the rule engine, a warm login's only store read)."""
        wanted = self.reads(subject)
        values = read_ahead(self._store, wanted, found)
        return Standing(locked=any(value is not None for value in values[0::2]),
                        failing=any(value is not None for value in values[1::2]))

    def reads(self, subject: str) -> list[str]:
        """The keys `standing` reads, lock and failure run alternating."""
        keys = self._keys(subject)
        wanted = [keys[_LOCK], keys[_LAST]]
        if len(keys) > _OLD:
            wanted += [keys[_OLD + _LOCK], keys[_OLD + _LAST]]
        return wanted

    def reserve(self, subject: str) -> Attempt:
        """Hold one of the cycle's checks for a password check about to be made; refused
        (`Attempt.refused`) while a lock stands or the checks left are all being made."""
        hold = secrets.token_hex(8)
        answer = self._store.update(self._keys(subject), _RESERVE,
                                    [hold, self.policy.hold_lease, self.policy.max_failures])
        return Attempt(hold, "" if answer == "held" else str(answer))

    def record_failure(self, subject: str, attempt: Attempt | None = None) -> str:
        """Count one failure, settling `attempt` if the failure is its verdict; says which
        lock it caused, if any (NOT_LOCKED is falsy). The caller has found no lock
        standing: attempts while locked must not count, they would only stretch it."""
        policy = self.policy
        return str(self._store.update(self._keys(subject), _FAIL_CHANGE, [
            attempt.id if attempt else "", policy.max_failures, policy.window, policy.duration,
            policy.max_duration, policy.permanent_after, policy.quick_login_check,
            policy.quick_login_wait, _PERMANENT_TTL, _COUNT_TTL]))

    def record_success(self, subject: str, attempt: Attempt | None = None,
                       standing: Standing | None = None) -> bool:
        """Clear a failure run and settle `attempt`; False if a lock stands, when the success
        must not count as one. `standing` (read when the login began) spares the store a
        write when there was neither a hold nor a run to clear: a remembered login."""
        if attempt is None and standing is not None and not standing.failing:
            return True
        return bool(self._store.update(self._keys(subject), _RELEASE,
                                       [attempt.id if attempt else "", True]))

    def release(self, subject: str, attempt: Attempt) -> None:
        """Give a hold back without a verdict (the check never answered)."""
        self._store.update(self._keys(subject), _RELEASE, [attempt.id, False])

    def unlock(self, subject: str) -> None:
        """The operator's way out of a permanent (or any) lock."""
        for key in self._keys(subject):
            self._store.delete(key)

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _keys(subject: str) -> tuple[str, ...]:
        # Kept per subject (a user name, no secret): two hashes and an NFKC fold a login less.
        current = fingerprint(identity(subject), "lockout-subject")
        keys = [f"lockout:{kind}:{current}" for kind in _KINDS]
        before = fingerprint(lowered(subject), "lockout-subject")
        if before != current:
            keys += [f"lockout:{kind}:{before}" for kind in _KINDS[:_HELD]]
        return tuple(keys)


# -- the atomic steps, in Python and in Lua ----------------------------------------------
#
# Both halves of each step do the same, line for line; tests/auth/test_lockout.py runs
# the same sequences on every store.

_LUA_PRELUDE = """
for new = 1, 3 do
  local old = entries[new + 4]
  if old then
    if not entries[new] or old.expires > entries[new].expires then
      entries[new] = old
      writes[new] = old
    end
    writes[new + 4] = false
  end
end
local lock, last, fail, held = entries[1], entries[2], entries[3], entries[4]
local holds, count = {}, 0
if held then
  for id, expires in pairs(held.value) do
    if expires > now then
      holds[id] = expires
      count = count + 1
    end
  end
end
local function keep_holds()
  local latest = nil
  for _, expires in pairs(holds) do
    if not latest or expires > latest then latest = expires end
  end
  if latest then writes[4] = {value = holds, expires = latest} elseif held then writes[4] = false end
end
"""


@dataclass
class _Subject:
    """One subject's entries as a Change reads them, and the writes it makes."""

    lock: Entry | None
    last: Entry | None
    fail: Entry | None
    holds: dict[str, float]
    writes: dict[int, Entry | None]
    had_holds: bool

    @classmethod
    def read(cls, entries: Sequence[Entry | None], now: float) -> _Subject:
        """Fold entries under the old fingerprint into the new ones (whichever outlives the
        other wins) and drop holds that ran out."""
        current = list(entries[:_OLD])
        writes: dict[int, Entry | None] = {}
        for new, old in enumerate(entries[_OLD:]):
            if old is None:
                continue
            mine = current[new]
            if mine is None or old.expires > mine.expires:
                current[new] = writes[new] = old
            writes[_OLD + new] = None
        held = current[_HELD]
        holds = {hold: float(expires) for hold, expires in (held.value if held else {}).items()
                 if expires > now}
        return cls(current[_LOCK], current[_LAST], current[_FAIL], holds, writes, held is not None)

    def settle(self, hold: str) -> None:
        if hold and self.holds.pop(hold, None) is not None:
            self.keep_holds()

    def keep_holds(self) -> None:
        if self.holds:
            self.writes[_HELD] = Entry(self.holds, max(self.holds.values()))
        elif self.had_holds:
            self.writes[_HELD] = None

    def run(self) -> int:
        """Failures in the current run: none once a quiet window has ended it."""
        return int(self.fail.value) if self.fail is not None and self.last is not None else 0


def _reserve(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
             ) -> tuple[dict[int, Entry | None], Any]:
    hold, lease, max_failures = args
    subject = _Subject.read(entries, now)
    if subject.lock is not None:
        return subject.writes, LOCKED
    # The checks of this cycle: those that failed since the last lock, and those running.
    if subject.run() % max_failures + len(subject.holds) >= max_failures:
        return subject.writes, IN_FLIGHT
    subject.holds[hold] = now + lease
    subject.keep_holds()
    return subject.writes, "held"


_RESERVE_LUA = """
if lock then return 'locked' end
local run = 0
if fail and last then run = fail.value end
if run % args[3] + count >= args[3] then return 'in_flight' end
holds[args[1]] = now + args[2]
keep_holds()
return 'held'
"""


def _fail(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
          ) -> tuple[dict[int, Entry | None], Any]:
    (hold, max_failures, window, duration, max_duration, permanent_after, quick_check,
     quick_wait, permanent_ttl, count_ttl) = args
    subject = _Subject.read(entries, now)
    subject.settle(hold)
    writes = subject.writes
    lock, last = subject.lock, subject.last
    failures = subject.run() + 1
    writes[_FAIL] = Entry(failures, now + count_ttl)
    kind, until = NOT_LOCKED, 0.0
    if failures % max_failures == 0:
        locks = failures // max_failures
        if permanent_after and locks >= permanent_after:
            kind, until = PERMANENT, now + permanent_ttl
        else:
            kind, until = TEMPORARY, now + min(duration * locks, max_duration)
    elif (quick_check and last is not None and isinstance(last.value, int | float)
          and now - last.value < quick_check):
        kind, until = QUICK, now + quick_wait
    # A lock only ever grows: a check that was running when the lock came counts, but
    # never shortens it, and a quick lock within a longer one adds nothing.
    if kind == QUICK and lock is not None and lock.expires >= until:
        kind = NOT_LOCKED
    elif kind:
        lock = writes[_LOCK] = Entry(now, max(until, lock.expires) if lock else until)
    # The quiet window starts when the lock ends: waiting out a lock is not quiet.
    writes[_LAST] = Entry(now, max(now, lock.expires if lock else now) + window)
    return writes, kind


_FAIL_LUA = """
local hold, max_failures, window, duration, max_duration, permanent_after, quick_check,
  quick_wait, permanent_ttl, count_ttl = unpack(args)
if hold ~= '' and holds[hold] then
  holds[hold] = nil
  keep_holds()
end
local failures = 1
if fail and last then failures = fail.value + 1 end
writes[3] = {value = failures, expires = now + count_ttl}
local kind, till = '', 0
if failures % max_failures == 0 then
  local locks = math.floor(failures / max_failures)
  if permanent_after > 0 and locks >= permanent_after then
    kind, till = 'permanent', now + permanent_ttl
  else
    kind, till = 'temporary', now + math.min(duration * locks, max_duration)
  end
elseif quick_check > 0 and last and type(last.value) == 'number'
    and now - last.value < quick_check then
  kind, till = 'quick', now + quick_wait
end
if kind == 'quick' and lock and lock.expires >= till then
  kind = ''
elseif kind ~= '' then
  if lock and lock.expires > till then till = lock.expires end
  lock = {value = now, expires = till}
  writes[1] = lock
end
local ends = now
if lock and lock.expires > now then ends = lock.expires end
writes[2] = {value = now, expires = ends + window}
return kind
"""


def _release(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
             ) -> tuple[dict[int, Entry | None], Any]:
    hold, success = args
    subject = _Subject.read(entries, now)
    subject.settle(hold)
    if not success:
        return subject.writes, True
    if subject.lock is not None:
        return subject.writes, False  # a success cannot happen while a lock stands
    if subject.fail is not None:
        subject.writes[_FAIL] = None
    if subject.last is not None:
        subject.writes[_LAST] = None
    return subject.writes, True


_RELEASE_LUA = """
if args[1] ~= '' and holds[args[1]] then
  holds[args[1]] = nil
  keep_holds()
end
if not args[2] then return true end
if lock then return false end
if fail then writes[3] = false end
if last then writes[2] = false end
return true
"""

_RESERVE = Change("lockout-reserve", _reserve, _LUA_PRELUDE + _RESERVE_LUA)
_FAIL_CHANGE = Change("lockout-fail", _fail, _LUA_PRELUDE + _FAIL_LUA)
_RELEASE = Change("lockout-release", _release, _LUA_PRELUDE + _RELEASE_LUA)
