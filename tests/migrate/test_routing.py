"""Routing: modes per operation, cohorts by list, domain and stable percentage; YAML errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.migrate.routing import Cohort, OperationRoute, Routing, bucket, read_routing
from bridge.yamlfile import load_yaml


def _read(tmp_path: Path, text: str) -> tuple[Routing, list[str]]:
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    routing, problems = read_routing(load_yaml(str(path))["routing"], str(path))
    return routing, [str(p) for p in problems]


def test_bucket_is_stable_normalised_and_spread() -> None:
    assert bucket(" Jo@Example.com ") == bucket("jo@example.com")
    values = [bucket(f"user{i}@x.org") for i in range(2000)]
    assert all(0 <= v < 100 for v in values)
    # Roughly uniform: a 10% cohort takes about a tenth of the users.
    assert 150 < sum(v < 10 for v in values) < 250


def test_cohort_order_and_fallthrough() -> None:
    routing = Routing(default="rest", operations={"Op": OperationRoute("Op", "legacy", (
        Cohort("named", "verify", users=frozenset({"a@x.org"})),
        Cohort("domain", "rest", domains=frozenset({"y.org"})),
        Cohort("all", "shadow", percent=100.0),
    ))})
    assert routing.choose("Op", "A@X.org", True) == ("verify", "named")
    assert routing.choose("Op", "b@y.org", True) == ("rest", "domain")
    assert routing.choose("Op", "c@z.org", True) == ("shadow", "all")
    assert routing.choose("Op", None, True) == ("legacy", None)
    assert routing.choose("Other", "a@x.org", True) == ("rest", None)
    assert routing.choose("Unmapped", "a@x.org", False) == ("legacy", None)


def test_raising_a_percentage_never_moves_a_user_back() -> None:
    users = [f"u{i}@x.org" for i in range(500)]
    ten = {u for u in users if Cohort("c", "rest", percent=10).includes(u)}
    twenty = {u for u in users if Cohort("c", "rest", percent=20).includes(u)}
    assert ten < twenty


def test_reading_routing(tmp_path: Path) -> None:
    routing, problems = _read(tmp_path, (
        "routing:\n"
        "  default: shadow\n"
        "  operations:\n"
        "    AuthenticateUser:\n"
        "      mode: legacy\n"
        "      allow_side_calls: true\n"
        "      cohorts:\n"
        "        - {name: pilot, mode: rest, users: [A@x.org], domains: ['@Y.org'], percent: 5}\n"
    ))
    assert problems == []
    route = routing.operations["AuthenticateUser"]
    assert (routing.default, route.mode, route.allow_side_calls, route.line) == (
        "shadow", "legacy", True, 4)
    assert route.cohorts[0] == Cohort("pilot", "rest", frozenset({"a@x.org"}),
                                      frozenset({"y.org"}), 5.0)


def test_routing_without_operations_is_fine(tmp_path: Path) -> None:
    routing, problems = _read(tmp_path, "routing:\n  default: verify\n  unmapped: fault\n")
    assert problems == [] and (routing.default, routing.unmapped) == ("verify", "fault")


@pytest.mark.parametrize(("text", "message"), [
    ("routing:\n  operations:\n    Op: sideways\n", ":3: mode 'sideways' is not one of"),
    ("routing:\n  operations:\n    Op: {mode: rest, cohorts: [{name: c}]}\n",
     "cohort 'c' selects nobody"),
    ("routing:\n  operations:\n    Op: {cohorts: [{name: c, percent: 101}]}\n",
     "percent must be a number from 0 to 100"),
    ("routing:\n  unmapped: shadow\n", "unmapped must be legacy (pass through) or fault"),
    ("routing:\n  operation: {}\n", "unknown routing setting 'operation'"),
])
def test_routing_mistakes(tmp_path: Path, text: str, message: str) -> None:
    _, problems = _read(tmp_path, text)
    assert any(message in p for p in problems), problems
