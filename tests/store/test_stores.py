"""Both store backends honour the one interface: values, expiry, counters, across processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from bridge.errors import ConfigError, StoreError
from bridge.store import MemoryStore, SqliteStore, Store, open_store
from bridge.store.base import Change, Entry
from bridge.store.redis import RedisStore

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_values_round_trip_as_json(store: Store) -> None:
    store.set("k", {"a": [1, "two", None, True]}, ttl=60)
    assert store.get("k") == {"a": [1, "two", None, True]}
    store.set("k", "replaced", ttl=60)
    assert store.get("k") == "replaced"
    store.delete("k")
    assert store.get("k") is None
    store.delete("never-there")


def test_values_expire(store: Store) -> None:
    store.set("short", 1, ttl=0.2)
    store.set("long", 2, ttl=60)
    assert store.get("short") == 1
    time.sleep(0.3)
    assert store.get("short") is None
    assert store.get("long") == 2


def test_counters_count_within_their_window(store: Store) -> None:
    assert [store.incr("c", ttl=0.3) for _ in range(3)] == [1, 2, 3]
    time.sleep(0.4)
    # The window is fixed at the first count: a new window starts from one.
    assert store.incr("c", ttl=0.3) == 1


def _count(path: str, times: int, how: str) -> None:
    store = SqliteStore(path)
    for _ in range(times):
        if how == "incr":
            store.incr("shared", ttl=60)
        else:
            store.update(["shared"], _ADD_ONE, [])
    store.close()


@pytest.mark.parametrize("how", ["incr", "update"])
def test_sqlite_counts_add_up_across_processes(tmp_path: Path, how: str) -> None:
    path = str(tmp_path / "shared.sqlite3")
    SqliteStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_count, args=(path, 100, how)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert SqliteStore(path).get("shared") == 300


def test_open_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    sqlite = open_store(f"sqlite:///{tmp_path}/a.db")
    assert isinstance(sqlite, SqliteStore) and sqlite.path == f"{tmp_path}/a.db"
    with pytest.raises(ConfigError, match=r"unsupported store URL mongodb://"):
        open_store("mongodb://somewhere")


def test_unusable_sqlite_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open SQLite store"):
        SqliteStore(str(blocker / "x.db"))


def test_counters_add_amounts_and_list_by_prefix(store: Store) -> None:
    assert store.incr("m:a", ttl=60, amount=5) == 5
    assert store.incr("m:a", ttl=60, amount=2) == 7
    store.incr("m:b", ttl=60)
    store.incr("other", ttl=60)
    store.set("m:not-a-counter", {"x": 1}, ttl=60)
    assert store.counters("m:") == {"m:a": 7, "m:b": 1}


def test_records_are_kept_in_order_and_filtered_by_time(store: Store) -> None:
    before = time.time()
    store.add_record("cmp", {"n": 1}, retain=60)
    store.add_record("cmp", {"n": 2}, retain=60)
    store.add_record("other", {"n": 3}, retain=60)
    store.add_record("cmp", {"n": 4}, retain=0.1)
    assert [r["n"] for r in store.records("cmp", since=before)] == [1, 2, 4]
    assert store.records("cmp", since=time.time() + 1) == []
    time.sleep(0.2)
    assert [r["n"] for r in store.records("cmp", since=0)] == [1, 2]


def test_open_store_redis_url_keeps_the_password_out_of_errors() -> None:
    store = open_store("redis://:hunter2-secret@127.0.0.1:1/0?prefix=x:")
    assert isinstance(store, RedisStore) and store.prefix == "x:"
    with pytest.raises(StoreError) as caught:
        store.get("k")
    assert "hunter2-secret" not in str(caught.value)
    assert "redis://127.0.0.1:1/0" in str(caught.value)


def test_several_values_in_one_read(store: Store) -> None:
    store.set("a", {"x": 1}, ttl=60)
    store.set("gone", 2, ttl=0.1)
    store.set("c", "three", ttl=60)
    time.sleep(0.2)
    assert store.get_many(["c", "missing", "a", "gone"]) == ["three", None, {"x": 1}, None]
    assert store.get_many([]) == []


def _swap(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
          ) -> tuple[dict[int, Entry | None], Any]:
    # keys: [a, b, c]: a gets args[0] for args[1] seconds, b goes, c stays; says what it saw.
    seen = [None if entry is None else entry.value for entry in entries]
    return {0: Entry(args[0], now + args[1]), 1: None}, seen


_SWAP = Change("test-swap", _swap, """
local seen = {}
for i = 1, 3 do seen[i] = entries[i] and entries[i].value or 'none' end
writes[1] = {value = args[1], expires = now + args[2]}
writes[2] = false
return seen
""")


def _add_one(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
           ) -> tuple[dict[int, Entry | None], Any]:
    # Read, add one, write back: only an atomic update loses no count.
    count = (entries[0].value if entries[0] is not None else 0) + 1
    return {0: Entry(count, now + 60)}, count


_ADD_ONE = Change("test-add-one", _add_one, """
local count = (entries[1] and entries[1].value or 0) + 1
writes[1] = {value = count, expires = now + 60}
return count
""")


def test_an_update_reads_writes_and_deletes_in_one_step(store: Store) -> None:
    store.set("b", {"x": 1}, ttl=60)
    store.set("c", "kept", ttl=60)
    seen = store.update(["a", "b", "c"], _SWAP, [{"n": [1, 2]}, 0.3])
    assert [None if value == "none" else value for value in seen] == [None, {"x": 1}, "kept"]
    assert store.get_many(["a", "b", "c"]) == [{"n": [1, 2]}, None, "kept"]
    time.sleep(0.4)
    assert store.get_many(["a", "c"]) == [None, "kept"]  # the expiry the update gave


def test_updates_from_many_threads_lose_no_count(store: Store) -> None:
    def count() -> None:
        for _ in range(25):
            store.update(["n"], _ADD_ONE, [])

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("n") == 200


def test_a_store_of_the_earlier_layout_is_upgraded_keeping_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE entries (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                "expires REAL NOT NULL) WITHOUT ROWID")
    old.execute("INSERT INTO entries VALUES ('lockout:lock:x', '1', ?)", (time.time() + 600,))
    old.execute("INSERT INTO entries VALUES ('gone', '2', ?)", (time.time() - 1,))
    old.commit()
    old.close()
    store = SqliteStore(str(path))
    assert store.get("lockout:lock:x") == 1
    assert store.get("gone") is None
    store.set("new", {"v": 3}, ttl=60)
    assert store.get("new") == {"v": 3}
    store.close()
    with sqlite3.connect(path) as check:
        (sql,) = check.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()
    assert "WITHOUT ROWID" not in sql.upper()
    # Opening it again changes nothing.
    again = SqliteStore(str(path))
    assert again.get("lockout:lock:x") == 1
    again.close()


@pytest.mark.parametrize("damage", ["overwritten", "cut short", "deleted"])
def test_sqlite_ping_reads_the_file_for_real(tmp_path: Path, damage: str) -> None:
    # The thread's own connection keeps answering from its cache (and the WAL) after this.
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(str(path))
    store.set("token:x", "sealed", ttl=60)
    assert store.ping()
    if damage == "overwritten":
        path.write_bytes(b"\xa5" * path.stat().st_size)
    elif damage == "cut short":
        path.write_text("garbage\n")
    else:
        path.unlink()
    assert store.ping() is False
    store.close()


def test_redis_ping_reads_a_key() -> None:
    # A Redis user allowed PING but no reads: PING alone would call the store ready.
    raw = redis.Redis.from_url(REDIS_URL)
    user = f"ping-only-{uuid.uuid4().hex[:8]}"
    raw.acl_setuser(user, enabled=True, passwords=["+pw"], keys=["*"], commands=["+ping"])
    try:
        limited = RedisStore(f"redis://{user}:pw@127.0.0.1:6379/0?prefix=test-{user}:")
        assert limited.ping() is False
        limited.close()
        allowed = RedisStore(f"{REDIS_URL}?prefix=test-{user}:")
        assert allowed.ping() is True
        allowed.close()
    finally:
        raw.acl_deluser(user)
        raw.close()
