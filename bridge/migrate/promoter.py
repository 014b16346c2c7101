"""Applies the promotion rules for the whole fleet: one instance at a time holds a lease in the
store and, every `routing.promotion_check`, moves cohorts up (shadow → verify → rest) or back
(verify → shadow, rest → fallback) as their figures say; operators do the same by hand. Every
change goes through the mode overlay's compare-and-set, the audit log, the metrics and the log."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bridge.errors import StoreError
from bridge.migrate.audit import Audit
from bridge.migrate.overlay import OPERATION_MODE, ModeOverlay
from bridge.migrate.plan import Plan
from bridge.migrate.promotion import DOWN, FALL_BACK, UP, FallBack, Promotion, Step
from bridge.migrate.records import STREAM
from bridge.migrate.routing import FALLBACK, MODES, NEEDS_LEGACY, REST, OperationRoute
from bridge.rules.model import UNAVAILABLE
from bridge.store.base import Change, Entry, Store

log = logging.getLogger("bridge.migrate")

LEASE_KEY = "migrate:promotion-lease"
BY_RULE = "promotion rule"
LOOKBACK = 7 * 86400.0
_COUNTER_TTL = 2 * 86400
# Outcomes of a request answered in rest or fallback mode that count as a REST error.
_REST_ERRORS = frozenset({UNAVAILABLE, "fallback", "internal_error"})


def _lease(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
           ) -> tuple[dict[int, Entry | None], Any]:
    holder, ttl = args
    current = entries[0]
    if current is not None and current.value != holder:
        return {}, False
    return {0: Entry(holder, now + ttl)}, True


_LEASE_LUA = """
if entries[1] and entries[1].value ~= args[1] then return false end
writes[1] = {value = args[1], expires = now + args[2]}
return true
"""
LEASE = Change("promotion-lease", _lease, _LEASE_LUA)


def _outcome_prefix(operation: str, cohort: str | None, mode: str) -> str:
    return f"migrate:outcomes:{operation}:{cohort or OPERATION_MODE}:{mode}:"


class Promoter:
    """The fleet's promotion decisions; its thread starts lazily in each worker process."""

    def __init__(self, store: Store, overlay: ModeOverlay, audit: Audit,
                 plans: Callable[[], Plan], legacy: bool = True) -> None:
        # Whether a legacy service is configured: without one, no mode that needs it is set.
        self._legacy = legacy
        self._store = store
        self._overlay = overlay
        self._audit = audit
        self._plans = plans
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pid: int | None = None
        self._seen: Plan | None = None  # the last plan found without promotion rules
        self._lock = threading.Lock()

    # -- the request path ---------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start the deciding thread in this process (gunicorn forks after start-up), once a
        plan in force has promotion rules (a reload may bring the first)."""
        if self._pid == os.getpid():
            return
        plan = self._plans()
        if plan is self._seen:
            return  # looked at this plan already: it has no promotion rules
        with self._lock:
            if self._pid == os.getpid():
                return
            if not any(_promotions(route) for route in plan.routing.operations.values()):
                self._seen = plan
                return
            self._pid = os.getpid()
            self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            threading.Thread(target=self._loop, name="promotion", daemon=True).start()

    @property
    def overlay(self) -> ModeOverlay:
        return self._overlay

    def in_force(self, operation: str, cohort: str | None, configured: str) -> str:
        """The mode a request of this cohort is carried out in (the overlay over routing)."""
        self.ensure_running()
        mode = self._overlay.in_force(operation, cohort, configured)
        return configured if mode in NEEDS_LEGACY and not self._legacy else mode

    def observe(self, plan: Plan, operation: str, cohort: str | None, mode: str,
                reason: str) -> None:
        """Count a request answered in rest or fallback mode, for a fall-back rule that
        watches REST errors (one or two counter steps; nothing for other routes)."""
        if mode not in (REST, FALLBACK):
            return
        route = plan.routing.operations.get(operation)
        promotion = route.promotion_of(cohort) if route is not None else None
        if promotion is None or promotion.fall_back is None:
            return
        minute = int(time.time() // 60)
        prefix = _outcome_prefix(operation, cohort, mode)
        try:
            self._store.incr(f"{prefix}calls:{minute}", _COUNTER_TTL)
            if reason in _REST_ERRORS:
                self._store.incr(f"{prefix}errors:{minute}", _COUNTER_TTL)
        except StoreError:
            log.warning("could not count a request for the fall-back rule: store unavailable")

    # -- deciding ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            time.sleep(self._plans().routing.promotion_check)
            self.check()

    def check(self) -> None:
        """One round of the deciding thread: a store outage is one warning line (the next
        round tries again), not a traceback every few seconds."""
        try:
            self.run_once()
        except StoreError as exc:
            log.warning("promotion check skipped: the store is unavailable",
                        extra={"detail": str(exc)})
        except Exception:
            log.exception("promotion check failed")

    def run_once(self, now: float | None = None) -> list[dict[str, Any]]:
        """One round for the fleet, if this instance holds the lease: the decisions taken."""
        plan = self._plans()
        routes = [route for route in plan.routing.operations.values() if _promotions(route)]
        if not routes:
            return []
        ttl = plan.routing.promotion_check * 3
        if not self._store.update([LEASE_KEY], LEASE, [self._holder, ttl]):
            return []
        now = time.time() if now is None else now
        # The evidence is read back over a bounded past, not every record kept: a week, or
        # longer where a rule's `over` asks for more.
        lookback = max([LOOKBACK, *(span + 86400 for route in routes
                                    for span in _spans(route))])
        records = self._store.records(STREAM, now - lookback)
        decisions = []
        for route in routes:
            rule = plan.rules.get(route.operation)
            entries = self._overlay.of(route.operation)
            for cohort, configured in [(None, route.mode),
                                       *((c.name, c.mode) for c in route.cohorts)]:
                promotion = route.promotion_of(cohort)
                if promotion is None or rule is None:
                    continue
                if rule.changes_data and not promotion.changes_data:
                    continue  # never re-routed by a rule unless it opts in
                entry = entries.get(cohort or OPERATION_MODE)
                decided = self._decide(route.operation, cohort, configured, entry, promotion,
                                       records, now)
                if decided is not None:
                    decisions.append(decided)
        return decisions

    def _decide(self, operation: str, cohort: str | None, configured: str,
                entry: Mapping[str, Any] | None, promotion: Promotion,
                records: Sequence[Mapping[str, Any]], now: float) -> dict[str, Any] | None:
        in_force = str(entry["mode"]) if entry else configured
        since = float(entry["ts"]) if entry else 0.0
        mine = [record for record in records if record["operation"] == operation
                and record.get("cohort") == cohort and record.get("mode") == in_force
                and float(record["ts"]) >= since]
        if promotion.fall_back is not None and in_force in FALL_BACK:
            figures = self._window(promotion.fall_back, operation, cohort, in_force, mine, now)
            if figures.get("reason"):
                return self._switch(operation, cohort, entry, in_force, FALL_BACK[in_force],
                                    BY_RULE, figures, hold=True)
        step = promotion.step_from(in_force)
        if step is None or (entry and entry.get("hold")):
            return None
        figures = _evidence(step, mine)
        if figures["met"]:
            return self._switch(operation, cohort, entry, in_force, UP[in_force], BY_RULE, figures)
        return None

    def _window(self, rule: FallBack, operation: str, cohort: str | None, mode: str,
                mine: Sequence[Mapping[str, Any]], now: float) -> dict[str, Any]:
        """The last window's figures, and `reason` when they call for falling back."""
        start = now - rule.window
        if mode == REST:
            calls = errors = 0
            prefix = _outcome_prefix(operation, cohort, mode)
            for key, count in self._store.counters(prefix).items():
                kind, _, minute = key[len(prefix):].partition(":")
                if minute.isdigit() and (int(minute) + 1) * 60 > start:
                    calls += count if kind == "calls" else 0
                    errors += count if kind == "errors" else 0
            figures: dict[str, Any] = {"window_seconds": rule.window, "calls": calls,
                                       "rest_errors": errors}
            agreement = None
        else:
            recent = [record for record in mine if float(record["ts"]) >= start]
            calls = len(recent)
            errors = sum(1 for record in recent if record.get("rest_error"))
            agreed = sum(1 for record in recent if record.get("outcome") == "agree")
            agreement = 100.0 * agreed / calls if calls else None
            figures = {"window_seconds": rule.window, "compared": calls, "agreed": agreed,
                       "agreement": _rounded(agreement), "rest_errors": errors}
        if calls < rule.min_calls:
            return figures
        error_share = 100.0 * errors / calls
        figures["rest_error_share"] = _rounded(error_share)
        if rule.below is not None and agreement is not None and agreement < rule.below:
            figures["reason"] = f"agreement {agreement:.1f}% < {rule.below:g}%"
        elif rule.rest_errors is not None and error_share > rule.rest_errors:
            figures["reason"] = f"REST errors {error_share:.1f}% > {rule.rest_errors:g}%"
        return figures

    def _switch(self, operation: str, cohort: str | None, entry: Mapping[str, Any] | None,
                old: str, new: str, by: str, figures: dict[str, Any],
                hold: bool = False) -> dict[str, Any] | None:
        """Compare-and-set the cohort's mode; audited, counted and logged when it took."""
        if new in NEEDS_LEGACY and not self._legacy:
            return None  # `check` would refuse this mode in the configuration
        change = {"mode": new, "ts": time.time(), "by": by, "from": old}
        if hold:
            change["hold"] = True
        if not self._overlay.switch(operation, cohort, str(entry["mode"]) if entry else None,
                                    change):
            return None  # another instance (or operator) changed it first
        action = ("fall back" if hold else "promote") if by == BY_RULE else (
            "promote" if UP.get(old) == new else "demote" if DOWN.get(old) == new else "set")
        self._store.incr(f"migrate:total:mode_change:{operation}:{old}-{new}", 400 * 86400)
        return self._audit.write(action, operation, by, cohort=cohort, **{"from": old},
                                 to=new, figures=figures)

    # -- by hand ---------------------------------------------------------------------------------

    def by_hand(self, operation: str, cohort: str | None, action: str, by: str,
                force: bool = False) -> dict[str, Any]:
        """An operator's promote, demote or reset (back to the configured mode); ValueError
        saying why not."""
        plan = self._plans()
        route = plan.routing.operations.get(operation)
        if route is None:
            raise ValueError(f"{operation} has no entry under routing.operations")
        cohorts = {c.name: c.mode for c in route.cohorts}
        if cohort is not None and cohort not in cohorts:
            raise ValueError(f"{operation} has no cohort {cohort!r} (it has: "
                             f"{', '.join(cohorts) or 'none'})")
        configured = cohorts[cohort] if cohort is not None else route.mode
        rule = plan.rules.get(operation)
        promotion = route.promotion_of(cohort)
        if (rule is not None and rule.changes_data and not force
                and not (promotion is not None and promotion.changes_data)):
            raise ValueError(f"{operation} changes data: its routing changes only with its "
                             "promotion rules' changes_data: true, or --force")
        entry = self._overlay.of(operation).get(cohort or OPERATION_MODE)
        old = str(entry["mode"]) if entry else configured
        if action == "reset":
            if entry is None:
                raise ValueError(f"{_who(operation, cohort)} is already in its configured "
                                 f"mode, {configured}")
            if not self._overlay.switch(operation, cohort, old, None):
                raise ValueError("the mode changed meanwhile; look again")
            return self._audit.write("reset", operation, by, cohort=cohort, **{"from": old},
                                     to=configured)
        ladder = {"promote": UP, "demote": DOWN}.get(action)
        if ladder is None:
            raise ValueError("action is promote, demote or reset")
        new = ladder.get(old)
        if new is None or new not in MODES:
            raise ValueError(f"{_who(operation, cohort)} is in {old}: nothing to {action} to")
        if new in NEEDS_LEGACY and not self._legacy:
            raise ValueError(f"{new} mode needs the legacy service, and none is configured")
        decided = self._switch(operation, cohort, entry, old, new, by, {})
        if decided is None:
            raise ValueError("the mode changed meanwhile; look again")
        return decided


def _spans(route: OperationRoute) -> list[float]:
    """The `over` and `window` lengths of every promotion rule of a route."""
    spans = []
    for promotion in (route.promotion, *(c.promotion for c in route.cohorts)):
        if promotion is None:
            continue
        spans += [step.over for step in (promotion.to_verify, promotion.to_rest) if step]
        if promotion.fall_back is not None:
            spans.append(promotion.fall_back.window)
    return spans


def _promotions(route: OperationRoute) -> bool:
    return route.promotion is not None or any(c.promotion for c in route.cohorts)


def _evidence(step: Step, mine: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    compared = len(mine)
    agreed = sum(1 for record in mine if record.get("outcome") == "agree")
    times = [float(record["ts"]) for record in mine]
    span = max(times) - min(times) if times else 0.0
    agreement = 100.0 * agreed / compared if compared else None
    return {"compared": compared, "agreed": agreed, "agreement": _rounded(agreement),
            "span_seconds": round(span, 1), "needs": {"after": step.after,
                                                      "agreement": step.agreement,
                                                      "over_seconds": step.over},
            "met": compared >= step.after and agreed * 100 >= step.agreement * compared
            and span >= step.over}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _who(operation: str, cohort: str | None) -> str:
    return f"{operation} cohort {cohort}" if cohort else operation
