"""Which way each request goes: a mode per operation, cohorts of users with modes of their own."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import Problem
from bridge.identity import identity
from bridge.yamlfile import LocatedDict, LocatedList, line_of

LEGACY = "legacy"
REST = "rest"
SHADOW = "shadow"
VERIFY = "verify"
FALLBACK = "fallback"
MODES = (LEGACY, REST, SHADOW, VERIFY, FALLBACK)
# Modes that call the legacy service, on the request path or beside it.
NEEDS_LEGACY = frozenset({LEGACY, SHADOW, VERIFY, FALLBACK})
# Modes that run the REST rule.
NEEDS_RULE = frozenset({REST, SHADOW, VERIFY, FALLBACK})


def bucket(username: str) -> float:
    """A user's stable place in 0 to 100: the same user always lands in the same spot.

    Only the user name goes into the hash, so raising a cohort from 10% to 20%
    keeps the first 10% in and never flips a user back and forth.
    """
    digest = hashlib.sha256(b"soap-bridge/cohort\x00" + identity(username).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


@dataclass(frozen=True)
class Cohort:
    name: str
    mode: str
    users: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    percent: float | None = None

    def includes(self, username: str) -> bool:
        user = identity(username)
        if user in self.users:
            return True
        if "@" in user and user.rsplit("@", 1)[1] in self.domains:
            return True
        return self.percent is not None and bucket(user) < self.percent


@dataclass(frozen=True)
class OperationRoute:
    operation: str
    mode: str
    cohorts: tuple[Cohort, ...] = ()
    # Side calls repeat the request on the other implementation: never for
    # operations that change data, unless the configuration says so here.
    allow_side_calls: bool | None = None
    line: int | None = None

    def modes(self) -> set[str]:
        return {self.mode, *(cohort.mode for cohort in self.cohorts)}


@dataclass(frozen=True)
class Routing:
    """Mode for operations with a REST rule, and for those without one."""

    default: str = REST
    unmapped: str = LEGACY
    operations: Mapping[str, OperationRoute] = field(default_factory=dict)

    def choose(self, operation: str, username: str | None, has_rule: bool) -> tuple[str, str | None]:
        """The mode for this request and the cohort that chose it (None: the operation's mode)."""
        if not has_rule:
            return self.unmapped, None
        route = self.operations.get(operation)
        if route is None:
            return self.default, None
        if username:
            for cohort in route.cohorts:
                if cohort.includes(username):
                    return cohort.mode, cohort.name
        return route.mode, None

    def rule_modes(self) -> set[str]:
        """Every mode an operation with a rule can be given."""
        modes = {self.default}
        for route in self.operations.values():
            modes |= route.modes()
        return modes


def read_routing(section: Any, source: str) -> tuple[Routing, list[Problem]]:
    """Parse the `routing:` section of a configuration file."""
    problems: list[Problem] = []

    def problem(container: Any, key: str | int, message: str) -> None:
        problems.append(Problem(source, line_of(container, key), message))

    def mode_of(container: Any, key: str, default: str) -> str:
        mode = container.get(key, default)
        if mode not in MODES:
            problem(container, key, f"mode {mode!r} is not one of {', '.join(MODES)}")
            return default
        return str(mode)

    if section is None:
        return Routing(), problems
    if not isinstance(section, LocatedDict):
        problems.append(Problem(source, None, "routing must be a mapping"))
        return Routing(), problems
    for key in section:
        if key not in ("default", "unmapped", "operations"):
            problem(section, key, f"unknown routing setting {key!r} (known: default, "
                    "operations, unmapped)")
    if section.get("unmapped", LEGACY) not in (LEGACY, "fault"):
        problem(section, "unmapped", "unmapped must be legacy (pass through) or fault")
    operations: dict[str, OperationRoute] = {}
    ops = section.get("operations")
    if ops is None:
        ops = {}
    elif not isinstance(ops, LocatedDict):
        problem(section, "operations", "routing.operations must map operation names to settings")
        ops = {}
    for name, spec in ops.items():
        if isinstance(spec, str):
            if spec not in MODES:
                problem(ops, name, f"mode {spec!r} is not one of {', '.join(MODES)}")
                continue
            spec_dict: Any = {"mode": spec}
        elif isinstance(spec, LocatedDict):
            spec_dict = spec
            for key in spec:
                if key not in ("mode", "cohorts", "allow_side_calls"):
                    problem(spec, key, f"unknown setting {key!r} for operation {name} "
                            "(known: allow_side_calls, cohorts, mode)")
        else:
            problem(ops, name, f"operation {name}: give a mode or a mapping")
            continue
        cohorts = _cohorts(spec_dict.get("cohorts"), spec_dict, problem, mode_of)
        allow = spec_dict.get("allow_side_calls")
        if allow is not None and not isinstance(allow, bool):
            problem(spec_dict, "allow_side_calls", "allow_side_calls must be true or false")
            allow = None
        operations[name] = OperationRoute(name, mode_of(spec_dict, "mode", REST), cohorts, allow,
                                          line_of(ops, name))
    routing = Routing(
        default=mode_of(section, "default", REST),
        unmapped=str(section.get("unmapped", LEGACY)),
        operations=operations,
    )
    return routing, problems


def _cohorts(value: Any, parent: Any, problem: Any, mode_of: Any) -> tuple[Cohort, ...]:
    if value is None:
        return ()
    if not isinstance(value, LocatedList):
        problem(parent, "cohorts", "cohorts must be a list")
        return ()
    cohorts = []
    seen: set[str] = set()
    for index, spec in enumerate(value):
        if not isinstance(spec, LocatedDict) or not isinstance(spec.get("name"), str):
            problem(value, index, "each cohort needs a name")
            continue
        for key in spec:
            if key not in ("name", "mode", "users", "domains", "percent"):
                problem(spec, key, f"unknown cohort setting {key!r} (known: domains, mode, "
                        "name, percent, users)")
        if spec["name"] in seen:
            problem(spec, "name", f"cohort {spec['name']!r} is defined twice")
        seen.add(spec["name"])
        percent = spec.get("percent")
        if percent is not None and (isinstance(percent, bool)
                                    or not isinstance(percent, int | float)
                                    or not 0 <= percent <= 100):
            problem(spec, "percent", "percent must be a number from 0 to 100")
            percent = None
        users = spec.get("users") or []
        domains = spec.get("domains") or []
        if not isinstance(users, list) or not isinstance(domains, list):
            problem(spec, "name", "users and domains are lists")
            continue
        if not users and not domains and percent is None:
            problem(spec, "name", f"cohort {spec['name']!r} selects nobody: give users, "
                    "domains or percent")
        cohorts.append(Cohort(
            name=spec["name"],
            mode=mode_of(spec, "mode", REST),
            users=frozenset(identity(str(u)) for u in users),
            domains=frozenset(identity(str(d)).lstrip("@") for d in domains),
            percent=float(percent) if percent is not None else None,
        ))
    return tuple(cohorts)
