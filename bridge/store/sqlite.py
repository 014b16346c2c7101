"""SQLite store: the default for one machine, shared by the worker processes."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.errors import StoreError
from bridge.store.base import Change, Entry

# A rowid table: entries are mostly sealed tokens of about a kilobyte, and SQLite's
# WITHOUT ROWID layout suits small rows only (an insert cost twice as much).
_ENTRIES = """CREATE TABLE IF NOT EXISTS {name} (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        expires REAL NOT NULL
    )"""
_SCHEMA = (
    _ENTRIES.format(name="entries"),
    """CREATE TABLE IF NOT EXISTS records (
        stream TEXT NOT NULL,
        added REAL NOT NULL,
        expires REAL NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS records_by_time ON records (stream, added)",
)
_UPSERT = ("INSERT INTO entries (key, value, expires) VALUES (?, ?, ?) "
           "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires")


class SqliteStore:
    """One table of JSON values with absolute expiry (wall clock, shared across processes)."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            if not os.path.exists(path):
                # Owner-only from the first byte: the state holds lockouts and sealed tokens.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            # Workers fork after start-up, so connections are opened lazily per thread.
            self._local = threading.local()
            self._upgrade()
            for statement in _SCHEMA:
                self._execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open SQLite store at {path}: {exc}") from exc
        self._purged = 0.0

    def _upgrade(self) -> None:
        """Move a store made by an earlier version (WITHOUT ROWID entries) to today's layout,
        keeping its live entries: lockouts and tokens survive the upgrade."""
        conn = self._conn()
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'entries'").fetchone()
        if row is None or "WITHOUT ROWID" not in str(row[0]).upper():
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DROP TABLE IF EXISTS entries_upgrade")
            conn.execute(_ENTRIES.format(name="entries_upgrade"))
            conn.execute("INSERT INTO entries_upgrade SELECT key, value, expires FROM entries "
                         "WHERE expires > ?", (time.time(),))
            conn.execute("DROP TABLE entries")
            conn.execute("ALTER TABLE entries_upgrade RENAME TO entries")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def get(self, key: str) -> Any | None:
        row = self._execute(
            "SELECT value FROM entries WHERE key = ? AND expires > ?", (key, time.time())
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        rows = dict(self._execute(
            f"SELECT key, value FROM entries WHERE key IN ({marks}) AND expires > ?",  # noqa: S608
            (*keys, time.time()),
        ).fetchall())
        return [None if key not in rows else json.loads(rows[key]) for key in keys]

    def set(self, key: str, value: Any, ttl: float) -> None:
        now = time.time()
        self._execute(_UPSERT, (key, json.dumps(value, separators=(",", ":")), now + ttl))
        self._maybe_purge(now)

    def delete(self, key: str) -> None:
        self._execute("DELETE FROM entries WHERE key = ?", (key,))

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        now = time.time()
        # One statement, so two workers counting at once both land.
        row = self._execute(
            "INSERT INTO entries (key, value, expires) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET "
            "value = CASE WHEN expires > ? THEN CAST(value AS INTEGER) + ? ELSE ? END, "
            "expires = CASE WHEN expires > ? THEN expires ELSE excluded.expires END "
            "RETURNING value",
            (key, str(amount), now + ttl, now, amount, amount, now),
        ).fetchone()
        return int(row[0])

    def update(self, keys: Sequence[str], change: Change, args: Sequence[Any]) -> Any:
        # IMMEDIATE takes the write lock before the read, so no other process or thread
        # writes between what `change` reads and what it writes.
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                marks = ",".join("?" * len(keys))
                rows = conn.execute(
                    f"SELECT key, value, expires FROM entries WHERE key IN ({marks}) "  # noqa: S608
                    "AND expires > ?", (*keys, now)).fetchall()
                found = {key: Entry(json.loads(value), expires) for key, value, expires in rows}
                writes, result = change.apply([found.get(key) for key in keys], now, args)
                for index, entry in writes.items():
                    if entry is None:
                        conn.execute("DELETE FROM entries WHERE key = ?", (keys[index],))
                    else:
                        conn.execute(_UPSERT, (keys[index], json.dumps(
                            entry.value, separators=(",", ":")), entry.expires))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc
        return result

    def counters(self, prefix: str) -> dict[str, int]:
        # Prefixes are ours (no wildcards in them), so a range scan on the key does it.
        rows = self._execute(
            "SELECT key, value FROM entries WHERE key >= ? AND key < ? AND expires > ?",
            (prefix, prefix + "\uffff", time.time()),
        ).fetchall()
        return {key: int(value) for key, value in rows if value.lstrip("-").isdigit()}

    def add_record(self, stream: str, record: dict[str, Any], retain: float) -> None:
        now = time.time()
        self._execute(
            "INSERT INTO records (stream, added, expires, data) VALUES (?, ?, ?, ?)",
            (stream, now, now + retain, json.dumps(record, separators=(",", ":"))),
        )

    def records(self, stream: str, since: float) -> list[dict[str, Any]]:
        rows = self._execute(
            "SELECT data FROM records WHERE stream = ? AND added >= ? AND expires > ? "
            "ORDER BY added",
            (stream, since, time.time()),
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def _maybe_purge(self, now: float) -> None:
        # Expired rows are invisible already; sweeping them now and then keeps the file small.
        if now - self._purged > 60:
            self._purged = now
            self._execute("DELETE FROM entries WHERE expires <= ?", (now,))
            self._execute("DELETE FROM records WHERE expires <= ?", (now,))

    def ping(self) -> bool:
        # A fresh connection that reads for real: the thread's own one answers from its page
        # cache, and `SELECT 1` reads no page at all, so neither notices a file overwritten,
        # cut short or deleted under the running bridge (while its WAL still holds the data).
        try:
            with open(self.path, "rb") as handle:
                if handle.read(16) != b"SQLite format 3\x00":
                    return False
            conn = sqlite3.connect(Path(self.path).absolute().as_uri() + "?mode=rw", uri=True,
                                   timeout=1.0)
            try:
                conn.execute("SELECT value FROM entries WHERE key = ?", ("ping",)).fetchone()
                conn.execute("SELECT data FROM records LIMIT 1").fetchone()
            finally:
                conn.close()
            return True
        except (OSError, sqlite3.Error):
            return False

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
