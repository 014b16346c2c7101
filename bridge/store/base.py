"""The one small interface every state store implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol


class Entry(NamedTuple):
    """A live value and when it expires, in the store's clock (seconds)."""

    value: Any
    expires: float


# (entries of the keys, now, arguments) -> (writes, result): see Change.
Apply = Callable[[Sequence[Entry | None], float, Sequence[Any]], tuple[dict[int, Entry | None], Any]]


@dataclass(frozen=True)
class Change:
    """A read-modify-write of a few keys that every store runs as one atomic step.

    It is written twice, once per language a store can run. `apply(entries, now, args)`
    (memory: under its lock; SQLite: in one IMMEDIATE transaction) gets each key's live
    `Entry` or None, and returns `writes` (key index -> new Entry, or None to delete;
    indexes left out are left alone) and a JSON-able result. `lua` (Redis: one script) is
    the body of `function(entries, now, args, writes)` doing the same with 1-based indexes,
    entries as `{value=, expires=}` or false, and a write of false deleting. The same
    tests run both (tests/store/test_stores.py and tests/auth/test_lockout.py).
    """

    name: str
    apply: Apply
    lua: str


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

    def update(self, keys: Sequence[str], change: Change, args: Sequence[Any]) -> Any:
        """Run `change` on `keys` atomically (no other writer in between); its result."""
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


def read_ahead(store: Store, keys: Sequence[str], found: Mapping[str, Any] | None
               ) -> list[Any | None]:
    """The values of `keys`: from `found` (what a caller read ahead, in the same round trip
    as others) when it holds them all, else from the store in one round trip."""
    if found is not None and all(key in found for key in keys):
        return [found[key] for key in keys]
    return store.get_many(keys)
