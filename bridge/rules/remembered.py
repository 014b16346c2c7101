"""Remembered step results: sealed in the shared store, and kept near in the process until they expire.

A warm login reads its cached steps (the bearer, a remembered verification, the
profile) from process memory instead of the store: one store round trip per
cached step saved. The shared store stays the source every instance fills and
reads on a miss; each entry carries its own expiry, so a copy held near never
outlives the entry it was read from.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any

from bridge.auth.seal import keyed_fingerprint, seal, unseal
from bridge.store.base import Store

# Enough for every active user of a large tenant; an entry is a few hundred bytes.
NEAR_ENTRIES = 4096


class RememberedResults:
    """get/put/forget of one step's extracted values under a key derived from its inputs."""

    def __init__(self, store: Store, state_key: bytes, near_entries: int = NEAR_ENTRIES) -> None:
        self._store = store
        self._state_key = state_key
        # key -> (expires, values, when they were put: None for an entry of an earlier version)
        self._near: OrderedDict[str, tuple[float, dict[str, Any], float | None]] = OrderedDict()
        self._near_entries = near_entries
        self._lock = threading.Lock()

    def key(self, kind: str, operation: str, step_id: str, material: str) -> str:
        # Keyed (HMAC): the material may hold a password, which must not be guessable
        # from a leaked store.
        return f"{kind}:{operation}:{step_id}:" + keyed_fingerprint(self._state_key, material, kind)

    def get(self, key: str) -> dict[str, Any] | None:
        """The values put under `key`, or None; shared between requests, so read-only."""
        now = time.time()
        with self._lock:
            entry = self._near.get(key)
            if entry is not None:
                if entry[0] > now:
                    self._near.move_to_end(key)
                    return entry[1]
                del self._near[key]
        sealed = self._store.get(key)
        if not isinstance(sealed, str):
            return None
        payload = unseal(self._state_key, sealed)
        if payload is None:
            return None  # sealed under another key (a restart without a configured key)
        document = json.loads(payload)
        if not isinstance(document, dict) or not isinstance(document.get("values"), dict):
            return None
        expires = float(document.get("expires", 0))
        if expires <= now:
            return None
        values: dict[str, Any] = document["values"]
        fetched = document.get("fetched")
        self._remember(key, expires, values, float(fetched) if fetched is not None else None)
        return values

    def fetched_at(self, key: str) -> float | None:
        """When the values last got (or put) under `key` were obtained, if known."""
        with self._lock:
            entry = self._near.get(key)
            return entry[2] if entry is not None else None

    def put(self, key: str, values: dict[str, Any], ttl: float) -> None:
        now = time.time()
        document = json.dumps({"values": values, "expires": now + ttl, "fetched": now})
        self._store.set(key, seal(self._state_key, document), ttl)
        self._remember(key, now + ttl, values, now)

    def forget(self, key: str) -> None:
        with self._lock:
            self._near.pop(key, None)
        self._store.delete(key)

    def _remember(self, key: str, expires: float, values: dict[str, Any],
                  fetched: float | None) -> None:
        with self._lock:
            self._near[key] = (expires, values, fetched)
            self._near.move_to_end(key)
            while len(self._near) > self._near_entries:
                self._near.popitem(last=False)
