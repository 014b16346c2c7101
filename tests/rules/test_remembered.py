"""Remembered step results: sealed in the store, read near after the first time, never stale."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bridge.auth.seal import fingerprint
from bridge.rules.remembered import RememberedResults
from bridge.store import MemoryStore, SqliteStore

KEY = b"k" * 32


class CountingStore(MemoryStore):
    """A memory store that counts the calls reaching it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def get(self, key: str) -> Any | None:
        self.calls["get"] += 1
        return super().get(key)

    def set(self, key: str, value: Any, ttl: float) -> None:
        self.calls["set"] += 1
        super().set(key, value, ttl)


def test_a_put_is_read_near_without_a_store_round_trip() -> None:
    store = CountingStore()
    remembered = RememberedResults(store, KEY)
    key = remembered.key("step", "AuthenticateUser", "bearer", "api|ann")
    assert remembered.get(key) is None
    remembered.put(key, {"token": "b-1"}, ttl=60)
    for _ in range(5):
        assert remembered.get(key) == {"token": "b-1"}
    assert store.calls == Counter(get=1, set=1)  # only the first miss asked the store


def test_another_process_reads_it_from_the_shared_store(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
    first = RememberedResults(SqliteStore(path), KEY)
    key = first.key("step", "AuthenticateUser", "bearer", "api|ann")
    first.put(key, {"token": "b-1", "accounts": [{"accountId": "a"}]}, ttl=60)
    second = RememberedResults(SqliteStore(path), KEY)
    assert second.get(key) == {"token": "b-1", "accounts": [{"accountId": "a"}]}
    # Under another state key the sealed entry reads as nothing, not as garbage.
    assert RememberedResults(SqliteStore(path), b"other" * 8).get(key) is None


def test_the_store_holds_only_sealed_values_under_keyed_names() -> None:
    store = MemoryStore()
    remembered = RememberedResults(store, KEY)
    material = json.dumps(["ann@example.com", "Tr0ub4dor&3"])
    key = remembered.key("verified", "AuthenticateUser", "credentials", material)
    remembered.put(key, {"accounts": ["secret-context"]}, ttl=60)
    stored = store.get(key)
    assert isinstance(stored, str)
    assert "secret-context" not in stored and "Tr0ub4dor" not in stored
    # The name is an HMAC under the state key: no one can test password guesses against a
    # leaked store with a plain hash, and another key names another entry.
    assert fingerprint(material, "verified") not in key
    assert key != RememberedResults(store, b"other" * 8).key(
        "verified", "AuthenticateUser", "credentials", material)
    assert key != remembered.key("verified", "AuthenticateUser", "credentials",
                                 json.dumps(["ann@example.com", "Tr0ub4dor&4"]))


def test_entries_expire_near_and_in_the_store() -> None:
    store = MemoryStore()
    remembered = RememberedResults(store, KEY)
    key = remembered.key("step", "Op", "s", "m")
    remembered.put(key, {"v": 1}, ttl=0.15)
    assert remembered.get(key) == {"v": 1}
    time.sleep(0.2)
    assert remembered.get(key) is None
    # A copy read from the store keeps the entry's own expiry, not a fresh one.
    remembered.put(key, {"v": 2}, ttl=0.3)
    reader = RememberedResults(store, KEY)
    time.sleep(0.15)
    assert reader.get(key) == {"v": 2}
    time.sleep(0.2)
    assert reader.get(key) is None


def test_forget_drops_the_near_copy_and_the_stored_one() -> None:
    store = MemoryStore()
    remembered = RememberedResults(store, KEY)
    key = remembered.key("step", "Op", "s", "m")
    remembered.put(key, {"v": 1}, ttl=60)
    remembered.forget(key)
    assert remembered.get(key) is None
    assert store.get(key) is None


def test_the_near_copies_are_bounded() -> None:
    store = CountingStore()
    remembered = RememberedResults(store, KEY, near_entries=2)
    keys = [remembered.key("step", "Op", "s", str(n)) for n in range(3)]
    for n, key in enumerate(keys):
        remembered.put(key, {"n": n}, ttl=60)
    store.calls.clear()
    assert remembered.get(keys[2]) == {"n": 2}
    assert store.calls["get"] == 0
    assert remembered.get(keys[0]) == {"n": 0}  # pushed out near; still in the store
    assert store.calls["get"] == 1
