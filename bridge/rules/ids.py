"""The id table: a legacy API's int ids and its REST API's GUIDs, per kind of record, kept in
the store for as long as callers hold the ints.

Pairs come from the legacy side (the converters read by `soap-bridge nmbrs map-ids`, and the
legacy answers of shadow/verify runs, matched to the REST answers beside them); a GUID no
pair names gets an int minted from it. Every write is one atomic set-if-absent step on the
store, so two instances asked at once about the same GUID give the same int, whichever
wrote it first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from bridge.rules.template import lookup
from bridge.store.base import Change, Entry, Store

log = logging.getLogger("bridge.ids")

# Entries live for ten years: a caller may keep an int that long; each use renews nothing,
# learning a pair again writes it anew.
ID_TTL = 10 * 365 * 86400.0
# Minted ints come from [MINT_FLOOR, MINT_CEILING] (xs:int's upper half): above the ids a
# legacy system hands out [INFERRED: Nmbrs' ids seen are 5 to 7 digits], so a minted int
# is told apart by its size, and a legacy pair learned later may replace it.
MINT_FLOOR = 1_000_000_000
MINT_CEILING = 2_147_483_647
# Candidates tried per GUID before giving up: a collision in a billion ints is rare, sixteen
# in a row means something else is wrong.
_MINT_ATTEMPTS = 16
_NEAR_ENTRIES = 65536


def int_key(kind: str, value: int) -> str:
    return f"ids:{kind}:int:{value}"


def guid_key(kind: str, guid: str) -> str:
    return f"ids:{kind}:guid:{guid.lower()}"


def minted(value: int) -> bool:
    return value >= MINT_FLOOR


def candidate(kind: str, guid: str, attempt: int) -> int:
    """The attempt-th int a GUID may be minted as: the same on every instance."""
    digest = hashlib.sha256(f"{kind}\x00{guid.lower()}\x00{attempt}".encode()).digest()
    return MINT_FLOOR + int.from_bytes(digest[:8], "big") % (MINT_CEILING - MINT_FLOOR + 1)


# keys: [guid key, int key]; args: [int, guid, ttl, replace-minted (0/1)]
def _claim(entries: Sequence[Entry | None], now: float,
           args: Sequence[Any]) -> tuple[dict[int, Entry | None], Any]:
    by_guid, by_int = entries
    number, guid, ttl, replace = args
    if by_guid is not None and by_guid.value == number:
        if by_int is None:
            return {1: Entry(guid, now + ttl)}, ["known", number]
        return {}, ["known", number]
    if by_int is not None and by_int.value != guid:
        return {}, ["taken", by_int.value]
    if by_guid is not None and not (replace and by_guid.value >= MINT_FLOOR):
        return {}, ["kept", by_guid.value]
    return {0: Entry(number, now + ttl), 1: Entry(guid, now + ttl)}, ["written", number]


_CLAIM = Change("ids-claim", _claim, f"""
local number, guid, ttl, replace = args[1], args[2], args[3], args[4]
if entries[1] and entries[1].value == number then
  if not entries[2] then writes[2] = {{value = guid, expires = now + ttl}} end
  return {{"known", number}}
end
if entries[2] and entries[2].value ~= guid then return {{"taken", entries[2].value}} end
if entries[1] and not (replace == 1 and entries[1].value >= {MINT_FLOOR}) then
  return {{"kept", entries[1].value}}
end
writes[1] = {{value = number, expires = now + ttl}}
writes[2] = {{value = guid, expires = now + ttl}}
return {{"written", number}}
""")


class IdMap:
    """int_of / guid_of per kind; `learn` records a pair the legacy side gave."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # Once written, a pair never changes but for a minted int replaced by a legacy
        # pair: the near copy keeps legacy ints (and any GUID of an int) only.
        self._near: dict[str, Any] = {}
        self._lock = threading.Lock()

    def guid_of(self, kind: str, value: Any) -> str | None:
        number = _as_int(value)
        if number is None:
            return None
        key = int_key(kind, number)
        found = self._near_get(key)
        if found is None:
            found = self._store.get(key)
            if isinstance(found, str):
                self._near_put(key, found)
        return found if isinstance(found, str) else None

    def int_of(self, kind: str, guid: Any, mint: bool = True) -> int | None:
        """The int of a GUID; one minted (and recorded) when none is known and `mint`."""
        if guid is None or str(guid).strip() == "":
            return None
        text = str(guid).strip().lower()
        key = guid_key(kind, text)
        found = self._near_get(key)
        if found is None:
            found = self._store.get(key)
        if isinstance(found, int) and not isinstance(found, bool):
            if not minted(found):
                # A minted int may still give way to a legacy pair another instance learns:
                # read from the store each time, so every instance answers the same.
                self._near_put(key, found)
            return found
        if not mint:
            return None
        for attempt in range(_MINT_ATTEMPTS):
            number = candidate(kind, text, attempt)
            verdict, value = self._store.update([key, int_key(kind, number)], _CLAIM,
                                                [number, text, ID_TTL, 0])
            if verdict != "taken":
                return int(value)
        log.error("id not minted", extra={"detail": f"{kind}: {_MINT_ATTEMPTS} collisions"})
        return None

    def learn(self, kind: str, number: Any, guid: Any) -> str:
        """Record a legacy pair: 'written', 'known', or why not ('taken': the int is another
        GUID's; 'kept': the GUID has another legacy int). A minted int gives way."""
        value = _as_int(number)
        if value is None or guid is None or not str(guid).strip():
            return "invalid"
        text = str(guid).strip().lower()
        key = guid_key(kind, text)
        verdict, found = self._store.update([key, int_key(kind, value)], _CLAIM,
                                            [value, text, ID_TTL, 1])
        if verdict in ("written", "known"):
            self._near_put(key, value)
            self._near_put(int_key(kind, value), text)
        else:
            log.warning("id pair not learned", extra={"detail": f"{kind} {value}: {verdict} "
                                                                f"({found})"})
        return str(verdict)

    def dry(self) -> DryIds:
        """This table read-only: what a dry run (the shadow side) renders with. An unknown
        GUID gets the int it would be minted as first, recorded nowhere, so the shadow's
        legacy pairs are learned before anything is minted for them."""
        return DryIds(self)

    def _near_get(self, key: str) -> Any:
        with self._lock:
            return self._near.get(key)

    def _near_put(self, key: str, value: Any) -> None:
        with self._lock:
            if len(self._near) >= _NEAR_ENTRIES:
                self._near.clear()
            self._near[key] = value


class DryIds:
    """An IdMap that writes nothing (IdMap.dry)."""

    def __init__(self, table: IdMap) -> None:
        self._table = table

    def guid_of(self, kind: str, value: Any) -> str | None:
        return self._table.guid_of(kind, value)

    def int_of(self, kind: str, guid: Any) -> int | None:
        known = self._table.int_of(kind, guid, mint=False)
        if known is not None or guid is None or not str(guid).strip():
            return known
        return candidate(kind, str(guid).strip().lower(), 0)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def learn_pairs(table: IdMap, learning: Sequence[Any], answer: Any, steps: Any) -> dict[str, int]:
    """Pairs of a rule's `learn_ids` (rules.model.IdLearning): the legacy answer's items
    matched to the REST items beside them by their shared fields; an item whose match
    fields are not unique on its side is skipped, never guessed. Counts per verdict."""
    counts: dict[str, int] = {}
    for spec in learning:
        legacy = _by_match(_items(lookup({"answer": answer}, spec.legacy_items)),
                           spec.legacy_match, spec.legacy_id)
        rest = _by_match(_items(lookup({"steps": steps}, spec.rest_items)),
                         spec.rest_match, spec.rest_id)
        for key, number in legacy.items():
            guid = rest.get(key)
            if number is None or guid is None:
                continue
            verdict = table.learn(spec.kind, number, guid)
            counts[verdict] = counts.get(verdict, 0) + 1
    return counts


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _by_match(items: list[Any], match: Sequence[str], id_path: str) -> dict[tuple[str, ...], Any]:
    found: dict[tuple[str, ...], Any] = {}
    seen_twice: set[tuple[str, ...]] = set()
    for item in items:
        key = tuple(_normal(lookup(item, path)) for path in match)
        if key in found:
            seen_twice.add(key)
        found[key] = lookup(item, id_path)
    return {key: value for key, value in found.items() if key not in seen_twice}


def _normal(value: Any) -> str:
    return "" if value is None else str(value).strip().casefold()
