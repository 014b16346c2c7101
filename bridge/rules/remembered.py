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
        self._near: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
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
        self._remember(key, expires, values)
        return values

    def put(self, key: str, values: dict[str, Any], ttl: float) -> None:
        expires = time.time() + ttl
        document = json.dumps({"values": values, "expires": expires})
        self._store.set(key, seal(self._state_key, document), ttl)
        self._remember(key, expires, values)

    def forget(self, key: str) -> None:
        with self._lock:
            self._near.pop(key, None)
        self._store.delete(key)

    def _remember(self, key: str, expires: float, values: dict[str, Any]) -> None:
        with self._lock:
            self._near[key] = (expires, values)
            self._near.move_to_end(key)
            while len(self._near) > self._near_entries:
                self._near.popitem(last=False)
