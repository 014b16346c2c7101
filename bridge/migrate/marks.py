"""Operators' judgement of differing paths: `noise` (ignored in every later comparison, like a
learned noise path) or `real` (never ignored, even if it was learned as noise). Kept in the
store, so every instance applies them; each mark is audited."""

from __future__ import annotations

from typing import Any

from bridge.migrate.audit import Audit
from bridge.migrate.compare import general_path
from bridge.store.base import Store

NOISE = "noise"
REAL = "real"
KINDS = (NOISE, REAL)
_TTL = 400 * 86400
# Marked paths per operation: every comparison reads them all, so they stay few.
MAX_MARKS = 200


def marks_key(operation: str) -> str:
    return f"migrate:marks:{operation}"


def learned_key(operation: str) -> str:
    """Where the side path keeps the paths it learned as noise (bridge/migrate/sidejobs.py)."""
    return f"migrate:noise:{operation}"


class Marks:
    """Read and write the operators' marks of one store."""

    def __init__(self, store: Store, audit: Audit) -> None:
        self._store = store
        self._audit = audit

    def of(self, operation: str) -> dict[str, dict[str, Any]]:
        """path -> {"kind", "by", "ts"} for every marked path of the operation."""
        found = self._store.get(marks_key(operation))
        return dict(found) if isinstance(found, dict) else {}

    def learned(self, operation: str) -> list[str]:
        return sorted(self._store.get(learned_key(operation)) or [])

    def mark(self, operation: str, path: str, kind: str | None, by: str) -> None:
        """Mark a general path (indices and keys are taken out) as noise or real; None clears."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"a mark is one of {', '.join(KINDS)}")
        general = general_path(path)
        marks = self.of(operation)
        before = marks.get(general, {}).get("kind")
        if kind is not None and before is None and len(marks) >= MAX_MARKS:
            raise ValueError(f"{operation} has {MAX_MARKS} marked paths already (every "
                             "comparison reads them): clear one first")
        if kind is None:
            marks.pop(general, None)
        else:
            marks[general] = {"kind": kind, "by": by}
        # A last-writer-wins read-modify-write: two operators marking at the same instant
        # are rare, and each mark is in the audit log either way.
        self._store.set(marks_key(operation), marks, _TTL)
        self._audit.write("mark", operation, by, path=general, mark=kind or "cleared",
                          previous=before)


def effective_noise(learned: list[str] | None, marks: dict[str, Any] | None) -> frozenset[str]:
    """The paths a comparison ignores: learned noise and paths marked noise, minus those an
    operator marked real."""
    marked = marks if isinstance(marks, dict) else {}
    real = {path for path, mark in marked.items() if mark.get("kind") == REAL}
    noise = {path for path, mark in marked.items() if mark.get("kind") == NOISE}
    return frozenset((set(learned or []) | noise) - real)


def ignored(store: Store, operation: str) -> frozenset[str]:
    """The paths the operation's comparisons ignore now, as the side path reads them."""
    learned, marks = store.get_many([learned_key(operation), marks_key(operation)])
    return effective_noise(learned, marks)
