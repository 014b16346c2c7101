"""The migration audit log: every operator mark, promotion, fallback and manual mode change,
with who or what took it and the figures that justified it; kept in the store for all
instances, and written to the log."""

from __future__ import annotations

import logging
import time
from typing import Any

from bridge.store.base import Store

log = logging.getLogger("bridge.migrate")

STREAM = "migrate-audit"
RETAIN = 400 * 86400


class Audit:
    """Appends decisions to the store's `migrate-audit` stream and logs each one."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def write(self, action: str, operation: str, by: str, **details: Any) -> dict[str, Any]:
        """Record one decision; `details` must already be safe to show (no secrets)."""
        entry = {"ts": time.time(), "action": action, "operation": operation, "by": by,
                 **details}
        self._store.add_record(STREAM, entry, RETAIN)
        log.info("migration decision", extra={"action": action, "operation": operation,
                                              "by": by, "details": details})
        return entry

    def entries(self, since: float = 0.0, operation: str | None = None) -> list[dict[str, Any]]:
        """Decisions since `since`, oldest first; only `operation`'s when it is given."""
        found = self._store.records(STREAM, since)
        return [entry for entry in found if operation is None or entry["operation"] == operation]
