"""State stores behind one interface; `open_store` picks one from a URL."""

from __future__ import annotations

from bridge.errors import ConfigError, Problem
from bridge.store.base import Store
from bridge.store.memory import MemoryStore
from bridge.store.sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "Store", "open_store"]


def open_store(url: str, source: str = "store") -> Store:
    """`memory://`, `sqlite:///relative/or//absolute/path.db`, a bare file path, or
    `redis://[:password@]host:port/db[?prefix=name:]` (also `rediss://` for TLS)."""
    if url == "memory://":
        return MemoryStore()
    if url.startswith(("redis://", "rediss://")):
        from bridge.store.redis import RedisStore

        return RedisStore(url)
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///") :])
    if "://" not in url:
        return SqliteStore(url)
    raise ConfigError([Problem(source, None, f"unsupported store URL {url.split('://')[0]}://…")])
