"""The one small interface every state store implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Store(Protocol):
    """Keys to JSON-able values with expiry, plus counters for rate windows.

    Every value carries a time to live in seconds; stores never keep an entry
    past it, so callers never have to check expiry themselves.
    """

    def get(self, key: str) -> Any | None: ...

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        """Several values in one round trip, in the order of `keys` (None where absent)."""
        ...

    def set(self, key: str, value: Any, ttl: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        """Add to a counter; a new counter lives `ttl` seconds from its first count."""
        ...

    def counters(self, prefix: str) -> dict[str, int]:
        """Every live counter whose key starts with `prefix` (for reports and metrics)."""
        ...

    def add_record(self, stream: str, record: dict[str, Any], retain: float) -> None:
        """Append a record to a time-ordered stream; it is kept `retain` seconds."""
        ...

    def records(self, stream: str, since: float) -> list[dict[str, Any]]:
        """The stream's records added at or after `since` (epoch seconds), oldest first."""
        ...

    def ping(self) -> bool:
        """Whether the store answers now (for /readyz); never raises."""
        ...

    def close(self) -> None: ...
