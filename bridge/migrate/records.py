"""Comparison records, drops and fallbacks in the store; read back for reports and metrics."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bridge.store.base import Store

STREAM = "comparisons"
# Counters live as long as records do; hourly buckets let a report ask "since …".
_COUNTER_TTL = 400 * 86400


@dataclass(frozen=True)
class History:
    records: list[dict[str, Any]]
    drops: dict[str, int]
    fallbacks: dict[str, int]


class Recorder:
    """Writes what the side path learned; every value it gets is already redacted."""

    def __init__(self, store: Store, retain: float) -> None:
        self._store = store
        self._retain = retain

    def comparison(self, record: dict[str, Any]) -> None:
        self._store.add_record(STREAM, record, self._retain)
        self._store.incr(f"migrate:total:compared:{record['operation']}:{record['outcome']}",
                         _COUNTER_TTL)

    def dropped(self, drops: dict[str, int]) -> None:
        for operation, count in drops.items():
            self._bucket("dropped", operation, count)

    def fallback(self, operation: str) -> None:
        self._bucket("fallback", operation, 1)

    def _bucket(self, kind: str, operation: str, count: int) -> None:
        hour = int(time.time() // 3600)
        self._store.incr(f"migrate:{kind}:{operation}:{hour}", _COUNTER_TTL, count)
        self._store.incr(f"migrate:total:{kind}:{operation}", _COUNTER_TTL, count)

    def history(self, since: float) -> History:
        return History(
            records=self._store.records(STREAM, since),
            drops=self._sum_buckets("dropped", since),
            fallbacks=self._sum_buckets("fallback", since),
        )

    def _sum_buckets(self, kind: str, since: float) -> dict[str, int]:
        first_hour = int(since // 3600)
        totals: Counter[str] = Counter()
        for key, count in self._store.counters(f"migrate:{kind}:").items():
            operation, _, hour = key[len(f"migrate:{kind}:"):].rpartition(":")
            if hour.isdigit() and int(hour) >= first_hour:
                totals[operation] += count
        return dict(totals)

    def totals(self) -> dict[str, int]:
        """Monotonic totals for Prometheus: `<kind>:<operation>[:<outcome>]` -> count."""
        prefix = "migrate:total:"
        return {key[len(prefix):]: value for key, value in self._store.counters(prefix).items()}
