"""Fixed-window rate limits per client address and per user name, counted in the store."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bridge.auth.seal import fingerprint
from bridge.identity import identity
from bridge.store.base import Store


@dataclass(frozen=True)
class Limit:
    limit: int
    window: float


@dataclass(frozen=True)
class RateLimits:
    per_address: Limit | None = None
    per_user: Limit | None = None


class RateLimiter:
    """Counts every attempt; over the limit, `retry_after` says how long to wait.

    Windows are fixed and aligned to the clock, so every instance on a shared
    store counts into the same window.
    """

    def __init__(self, store: Store, limits: RateLimits) -> None:
        self._store = store
        self.limits = limits

    def over(self, address: str | None, username: str | None) -> float | None:
        """Seconds to wait when over a limit, else None. Counts the attempt."""
        for kind, subject, limit in (("address", address, self.limits.per_address),
                                     ("user", username, self.limits.per_user)):
            if limit is None or not subject:
                continue
            now = time.time()
            window = int(now // limit.window)
            key = f"rate:{kind}:{window}:" + fingerprint(identity(subject), "rate")
            if self._store.incr(key, limit.window + 1) > limit.limit:
                return (window + 1) * limit.window - now
        return None
