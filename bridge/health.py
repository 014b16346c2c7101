"""Readiness: the store answers, the upstreams accept connections, rules are loaded."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from bridge.store.base import Store
from bridge.upstream.rest import Endpoint

# Readiness probes come every few seconds from every balancer; upstream checks are cached
# so the bridge does not turn them into a stream of connections to the vendor.
_UPSTREAM_CACHE_SECONDS = 5.0


class Readiness:
    def __init__(self, store: Store, upstreams: Iterable[Endpoint],
                 retired: Mapping[str, float] | None = None) -> None:
        self._store = store
        self._upstreams = list(upstreams)
        # Endpoints that stop mattering at a moment (epoch seconds): the legacy service past
        # legacy.retired_at is nobody's to wait for.
        self._retired = dict(retired or {})
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, bool]] = (0.0, {})

    def check(self, rules_loaded: bool) -> tuple[bool, dict[str, bool]]:
        checks = {"store": self._store.ping(), "rules": rules_loaded}
        checks.update({f"upstream:{name}": ok for name, ok in self._upstream_checks().items()})
        return all(checks.values()), checks

    def _upstream_checks(self) -> dict[str, bool]:
        with self._lock:
            taken, results = self._cached
            if time.monotonic() - taken < _UPSTREAM_CACHE_SECONDS:
                return results
        now = time.time()
        results = {endpoint.name: _accepts(endpoint) for endpoint in self._upstreams
                   if now < self._retired.get(endpoint.name, float("inf"))}
        with self._lock:
            self._cached = (time.monotonic(), results)
        return results


def _accepts(endpoint: Endpoint) -> bool:
    parts = urlsplit(endpoint.base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port),
                                      timeout=min(endpoint.connect_timeout, 2.0)):
            return True
    except OSError:
        return False
