"""The one small interface every state store implements."""

from __future__ import annotations

from typing import Any, Protocol


class Store(Protocol):
    """Keys to JSON-able values with expiry, plus counters for rate windows.

    Every value carries a time to live in seconds; stores never keep an entry
    past it, so callers never have to check expiry themselves.
    """

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, ttl: float) -> int:
        """Add one to a counter; a new counter lives `ttl` seconds from its first count."""
        ...

    def close(self) -> None: ...
