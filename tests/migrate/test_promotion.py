"""Promotion rules read with file:line; the promoter's decisions on each store: up after enough
agreeing comparisons, back when agreement or REST errors say so, once for the fleet, by hand."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bridge.migrate.audit import Audit
from bridge.migrate.overlay import ModeOverlay
from bridge.migrate.plan import Plan
from bridge.migrate.promoter import Promoter
from bridge.migrate.routing import Routing, read_routing
from bridge.store.base import Store
from bridge.yamlfile import load_yaml

OP = "AuthenticateUser"


def _read(tmp_path: Path, text: str) -> tuple[Routing, list[str]]:
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    routing, problems = read_routing(load_yaml(str(path))["routing"], str(path))
    return routing, [str(p) for p in problems]


ROUTING = """routing:
  promotion_check: 1s
  operations:
    AuthenticateUser:
      mode: shadow
      promotion:
        to_verify: {after: 5, agreement: 80%, over: 0s}
        to_rest: {after: 5, agreement: 99, over: 0s}
        fall_back: {window: 10m, min_calls: 4, below: 75%, rest_errors: 50%}
      cohorts:
        - {name: pilot, mode: verify, users: [a@x.org]}
"""


def test_promotion_rules_are_read_and_mistakes_named_by_line(tmp_path: Path) -> None:
    routing, problems = _read(tmp_path, ROUTING)
    assert problems == []
    route = routing.operations[OP]
    assert routing.promotion_check == 1.0
    promotion = route.promotion_of("pilot")  # the cohort has none: the operation's
    assert promotion is not None and promotion.to_verify is not None
    assert (promotion.to_verify.after, promotion.to_verify.agreement) == (5, 80.0)
    assert promotion.fall_back is not None and promotion.fall_back.below == 75.0
    _, problems = _read(tmp_path, """routing:
  operations:
    AuthenticateUser:
      mode: shadow
      promotion:
        to_verify: {after: 0, agreement: 180%}
        to_rest: 5
        fall_back: {window: 1m}
        sideways: true
""")
    text = "\n".join(problems)
    assert "routing.yaml:6:" in text and "after must be a whole number" in text
    assert "agreement must be a percentage from 0 to 100" in text
    assert "routing.yaml:7:" in text and "to_rest" in text
    assert "routing.yaml:8:" in text and "below or rest_errors" in text
    assert "sideways" in text


def _plan(tmp_path: Path, changes_data: bool = False, text: str = ROUTING) -> Plan:
    routing, problems = _read(tmp_path, text)
    assert problems == []
    rule: Any = SimpleNamespace(operation=OP, changes_data=changes_data, local=False,
                                lookup=None, compare=None, legacy_token=None)
    return Plan(rules={OP: rule}, routing=routing)


def _compare(store: Store, count: int, agree: bool, mode: str = "shadow",
             cohort: str | None = None, rest_error: str | None = None) -> None:
    for _ in range(count):
        store.add_record("comparisons", {
            "ts": time.time(), "operation": OP, "mode": mode, "cohort": cohort,
            "outcome": "agree" if agree else "differ", "differences": [], "user": "u",
            "legacy_ms": 1.0, "rest_ms": 1.0, "legacy_error": None, "rest_error": rest_error},
            3600)


def _promoter(store: Store, plan: Plan) -> Promoter:
    return Promoter(store, ModeOverlay(store, refresh=0.0), Audit(store), lambda: plan)


def test_a_cohort_moves_up_once_the_figures_hold_and_back_when_they_fail(
        store: Store, tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    promoter = _promoter(store, plan)
    _compare(store, 4, agree=True)
    assert promoter.run_once() == []  # 4 of the 5 needed
    _compare(store, 1, agree=True)
    (decision,) = promoter.run_once()
    assert (decision["action"], decision["from"], decision["to"], decision["cohort"]) == (
        "promote", "shadow", "verify", None)
    assert decision["figures"]["compared"] == 5 and decision["figures"]["agreement"] == 100.0
    assert promoter.overlay.in_force(OP, None, "shadow") == "verify"
    assert promoter.overlay.in_force(OP, "pilot", "verify") == "verify"  # another cohort: untouched
    # In verify now: only verify comparisons count, from the promotion on.
    assert promoter.run_once() == []
    _compare(store, 2, agree=True, mode="verify")
    _compare(store, 3, agree=False, mode="verify")
    (back,) = promoter.run_once()
    assert (back["action"], back["from"], back["to"]) == ("fall back", "verify", "shadow")
    assert back["figures"]["reason"].startswith("agreement 40.0% < 75%")
    # On hold: shadow agreeing again does not promote by itself.
    _compare(store, 10, agree=True)
    assert promoter.run_once() == []
    assert promoter.overlay.in_force(OP, None, "shadow") == "shadow"
    actions = [entry["action"] for entry in Audit(store).entries()]
    assert actions == ["promote", "fall back"]
    assert store.counters("migrate:total:mode_change:") == {
        f"migrate:total:mode_change:{OP}:shadow-verify": 1,
        f"migrate:total:mode_change:{OP}:verify-shadow": 1}


def test_rest_falls_back_when_rest_errors_pass_the_share(store: Store, tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    promoter = _promoter(store, plan)
    promoter.by_hand(OP, "pilot", "promote", "operator")  # verify -> rest
    assert promoter.overlay.in_force(OP, "pilot", "verify") == "rest"
    for reason in ("ok", "ok", "unavailable", "unavailable", "ok"):
        promoter.observe(plan, OP, "pilot", "rest", reason)
    assert promoter.run_once() == []  # 2 of 5: 40%, under the 50% allowed
    promoter.observe(plan, OP, "pilot", "rest", "unavailable")
    assert promoter.run_once() == []  # 3 of 6: 50% does not exceed 50%
    promoter.observe(plan, OP, "pilot", "rest", "fallback")  # a fallback is a REST error too
    (back,) = promoter.run_once()
    assert (back["from"], back["to"], back["cohort"]) == ("rest", "fallback", "pilot")
    assert back["figures"]["calls"] == 7 and back["figures"]["rest_errors"] == 4


def test_two_instances_take_one_decision(store: Store, tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    first, second = _promoter(store, plan), _promoter(store, plan)
    _compare(store, 5, agree=True)
    decisions = first.run_once() + second.run_once() + first.run_once() + second.run_once()
    assert len(decisions) == 1
    assert len(Audit(store).entries()) == 1
    # The lease aside, the compare-and-set alone refuses a second change from the same mode.
    overlay = ModeOverlay(store, refresh=0.0)
    assert not overlay.switch(OP, None, None, {"mode": "verify", "ts": 1.0})
    assert overlay.switch(OP, None, "verify", {"mode": "rest", "ts": 1.0})


def test_data_changing_operations_move_only_when_their_rules_opt_in(store: Store,
                                                                    tmp_path: Path) -> None:
    plan = _plan(tmp_path, changes_data=True)
    promoter = _promoter(store, plan)
    _compare(store, 5, agree=True)
    assert promoter.run_once() == []
    with pytest.raises(ValueError, match="changes data"):
        promoter.by_hand(OP, None, "promote", "operator")
    assert promoter.by_hand(OP, None, "promote", "operator", force=True)["to"] == "verify"
    opted = _plan(tmp_path, changes_data=True, text=ROUTING.replace(
        "      promotion:\n", "      promotion:\n        changes_data: true\n", 1))
    assert _promoter(store, opted).by_hand(OP, None, "demote", "operator")["to"] == "shadow"


def test_by_hand_promote_demote_and_reset(store: Store, tmp_path: Path) -> None:
    promoter = _promoter(store, _plan(tmp_path))
    assert promoter.by_hand(OP, "pilot", "demote", "op")["to"] == "shadow"
    assert promoter.by_hand(OP, "pilot", "reset", "op")["to"] == "verify"
    assert promoter.overlay.in_force(OP, "pilot", "verify") == "verify"
    with pytest.raises(ValueError, match="no cohort 'nobody'"):
        promoter.by_hand(OP, "nobody", "promote", "op")
    with pytest.raises(ValueError, match="already in its configured mode"):
        promoter.by_hand(OP, None, "reset", "op")
    assert [e["action"] for e in Audit(store).entries()] == ["demote", "reset"]


def test_without_a_legacy_service_no_mode_that_needs_it_is_set(store: Store,
                                                               tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    promoter = Promoter(store, ModeOverlay(store, refresh=0.0), Audit(store), lambda: plan,
                        legacy=False)
    with pytest.raises(ValueError, match="needs the legacy service"):
        promoter.by_hand(OP, "pilot", "demote", "op")  # verify -> shadow
    # An entry left from when there was one is not followed.
    ModeOverlay(store).switch(OP, None, None, {"mode": "shadow", "ts": 1.0})
    promoter._pid = os.getpid()  # as if its thread ran already: none is started for a test
    assert promoter.in_force(OP, None, "rest") == "rest"


def test_the_deciding_thread_starts_only_once_rules_exist(tmp_path: Path) -> None:
    import threading

    from bridge.store import MemoryStore

    def deciders() -> int:
        return sum(1 for thread in threading.enumerate() if thread.name == "promotion")

    store = MemoryStore()
    plans = [_plan(tmp_path, text="routing:\n  operations:\n    AuthenticateUser: shadow\n")]
    promoter = Promoter(store, ModeOverlay(store), Audit(store), lambda: plans[-1])
    before = deciders()
    assert promoter.in_force(OP, None, "shadow") == "shadow"
    assert deciders() == before  # no rules, no thread
    plans.append(_plan(tmp_path, text=ROUTING.replace("promotion_check: 1s", "promotion_check: 1h")))
    promoter.in_force(OP, None, "shadow")
    promoter.in_force(OP, None, "shadow")
    assert deciders() == before + 1  # a reload brought rules: one thread, once
