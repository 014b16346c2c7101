"""Where grants live in the store, and the atomic changes that keep a refresh spent once fleet-wide.

Per provider and debtor one record, `grant:<provider>:<debtor>`:

    {debtor, scopes, state: active | revoked, problem, access (sealed), access_expires,
     refresh (sealed), connected_at, rotated_at, rotations, lease_holder, lease_until}

and one index, `grant-index:<provider>`: `{debtors: {debtor: connected_at}, users: {user
identity: debtor}}`. Tokens are sealed with the state key (`auth/seal.py`) before they reach
the store; everything else is plain, for `soap-bridge nmbrs grants` and `/readyz`. No value
is ever JSON null and every map is a mapping, so the Lua twins (Redis) read them alike.

The lease: before a refresh token is spent, one atomic step (`LEASE`) either finds the access
token still fresh (someone refreshed), finds another holder's lease running (wait, then read
what it wrote), or takes the lease. Only the holder spends the refresh token; `ROTATE` writes
what it got and ends the lease in one step; `END` ends the lease after a failure, and marks
the grant revoked when the identity service refused it. Both change the record only while
the lease is still the holder's: a grant `connect` replaced meanwhile (its lease fields
cleared) or a lease another instance took is left to them ("lease_lost").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.store.base import Change, Entry

# A grant outlives its refresh token (30 days, sliding) in the store, so that a revoked or
# expired one is still listed and warned about until `connect` replaces it.
RECORD_TTL = 400 * 86400.0
ACTIVE = "active"
REVOKED = "revoked"


def grant_key(provider: str, debtor: str) -> str:
    return f"grant:{provider}:{debtor}"


def index_key(provider: str) -> str:
    return f"grant-index:{provider}"


def _lease(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
           ) -> tuple[dict[int, Entry | None], Any]:
    holder, lease, due, refused = args
    entry = entries[0]
    if entry is None:
        return {}, {"state": "missing"}
    record = dict(entry.value)
    if record.get("state") != ACTIVE:
        return {}, {"state": record.get("state"), "record": record}
    if record.get("access_expires", 0) > due and record.get("access") != refused:
        return {}, {"state": "fresh", "record": record}
    if record.get("lease_until", 0) > now and record.get("lease_holder") != holder:
        return {}, {"state": "wait"}
    record.update(lease_holder=holder, lease_until=now + lease)
    return {0: Entry(record, entry.expires)}, {"state": "leased", "record": record}


_LEASE_LUA = """
local grant = entries[1]
if not grant then return {state = 'missing'} end
local r = grant.value
if r.state ~= 'active' then return {state = r.state, record = r} end
if (r.access_expires or 0) > args[3] and r.access ~= args[4] then
  return {state = 'fresh', record = r}
end
if (r.lease_until or 0) > now and r.lease_holder ~= args[1] then return {state = 'wait'} end
r.lease_holder = args[1]
r.lease_until = now + args[2]
writes[1] = {value = r, expires = grant.expires}
return {state = 'leased', record = r}
"""


def _rotate(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
            ) -> tuple[dict[int, Entry | None], Any]:
    holder, access, access_expires, refresh, ttl = args
    entry = entries[0]
    if entry is None:
        return {}, "missing"
    record = dict(entry.value)
    if record.get("lease_holder") != holder:
        # The lease was taken by another, or `connect` replaced the grant meanwhile: what
        # this refresh got must not overwrite theirs (a new consent's tokens above all).
        return {}, "lease_lost"
    record.update(access=access, access_expires=access_expires, rotated_at=now,
                  rotations=record.get("rotations", 0) + 1, lease_holder="", lease_until=0)
    if refresh:
        record["refresh"] = refresh
    return {0: Entry(record, now + ttl)}, "ok"


_ROTATE_LUA = """
local grant = entries[1]
if not grant then return 'missing' end
local r = grant.value
if r.lease_holder ~= args[1] then return 'lease_lost' end
r.access = args[2]
r.access_expires = args[3]
r.rotated_at = now
r.rotations = (r.rotations or 0) + 1
r.lease_holder = ''
r.lease_until = 0
if args[4] ~= '' then r.refresh = args[4] end
writes[1] = {value = r, expires = now + args[5]}
return 'ok'
"""


def _end(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
         ) -> tuple[dict[int, Entry | None], Any]:
    holder, state, problem = args
    entry = entries[0]
    if entry is None:
        return {}, "missing"
    record = dict(entry.value)
    if record.get("lease_holder") != holder:
        # Not this holder's any more (another took the lease, or `connect` replaced the
        # grant): its failure says nothing about the grant there now.
        return {}, "lease_lost"
    record.update(lease_holder="", lease_until=0)
    if state:
        # A refused grant keeps no token: it can never be used again.
        record.update(state=state, problem=problem, access="", refresh="", access_expires=0,
                      ended_at=now)
    return {0: Entry(record, entry.expires)}, "ok"


_END_LUA = """
local grant = entries[1]
if not grant then return 'missing' end
local r = grant.value
if r.lease_holder ~= args[1] then return 'lease_lost' end
r.lease_holder = ''
r.lease_until = 0
if args[2] ~= '' then
  r.state = args[2]
  r.problem = args[3]
  r.access = ''
  r.refresh = ''
  r.access_expires = 0
  r.ended_at = now
end
writes[1] = {value = r, expires = grant.expires}
return 'ok'
"""


def _save(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
          ) -> tuple[dict[int, Entry | None], Any]:
    record, users, ttl = args
    index = dict(entries[1].value) if entries[1] is not None else {}
    debtors = dict(index.get("debtors") or {})
    mapped = dict(index.get("users") or {})
    debtors[record["debtor"]] = now
    for user in users:
        mapped[user] = record["debtor"]
    return ({0: Entry(record, now + ttl), 1: Entry({"debtors": debtors, "users": mapped}, now + ttl)},
            "ok")


_SAVE_LUA = """
local index = {}
if entries[2] then index = entries[2].value end
local debtors = index.debtors or {}
local users = index.users or {}
local record = args[1]
debtors[record.debtor] = now
for _, user in ipairs(args[2]) do users[user] = record.debtor end
writes[1] = {value = record, expires = now + args[3]}
writes[2] = {value = {debtors = debtors, users = users}, expires = now + args[3]}
return 'ok'
"""

def _drop(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
          ) -> tuple[dict[int, Entry | None], Any]:
    (debtor,) = args
    writes: dict[int, Entry | None] = {0: None}
    index = entries[1]
    if index is not None:
        value = dict(index.value)
        debtors = {d: t for d, t in (value.get("debtors") or {}).items() if d != debtor}
        users = {u: d for u, d in (value.get("users") or {}).items() if d != debtor}
        writes[1] = Entry({"debtors": debtors, "users": users}, index.expires)
    return writes, "ok"


_DROP_LUA = """
writes[1] = false
if entries[2] then
  local index = entries[2].value
  local debtors, users = {}, {}
  for d, t in pairs(index.debtors or {}) do if d ~= args[1] then debtors[d] = t end end
  for u, d in pairs(index.users or {}) do if d ~= args[1] then users[u] = d end end
  writes[2] = {value = {debtors = debtors, users = users}, expires = entries[2].expires}
end
return 'ok'
"""

LEASE = Change("grant-lease", _lease, _LEASE_LUA)
ROTATE = Change("grant-rotate", _rotate, _ROTATE_LUA)
END = Change("grant-end", _end, _END_LUA)
SAVE = Change("grant-save", _save, _SAVE_LUA)
DROP = Change("grant-drop", _drop, _DROP_LUA)


def new_record(debtor: str, scope: str, access: str, access_expires: float, refresh: str,
               now: float) -> dict[str, Any]:
    """A grant as `connect` stores it (tokens already sealed)."""
    return {"debtor": debtor, "scopes": scope, "state": ACTIVE, "problem": "", "access": access,
            "access_expires": access_expires, "refresh": refresh, "connected_at": now,
            "rotated_at": now, "rotations": 0, "lease_holder": "", "lease_until": 0}
