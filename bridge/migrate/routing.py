"""Which way each request goes: a mode per operation, cohorts of users with modes of their own."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import Problem
from bridge.identity import identity
from bridge.migrate.promotion import Promotion, read_promotion
from bridge.schema import Kind, Reader, duration, flag
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
    mode: str = REST
    users: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    percent: float | None = None
    promotion: Promotion | None = None

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
    mode: str = REST
    cohorts: tuple[Cohort, ...] = ()
    # Side calls repeat the request on the other implementation: never for
    # operations that change data, unless the configuration says so here.
    allow_side_calls: bool | None = None
    line: int | None = None
    promotion: Promotion | None = None

    def promotion_of(self, cohort: str | None) -> Promotion | None:
        """The promotion rules of a cohort (its own, else the operation's); None: the
        operation's own mode."""
        for found in self.cohorts:
            if found.name == cohort:
                return found.promotion or self.promotion
        return self.promotion

    def modes(self) -> set[str]:
        return {self.mode, *(cohort.mode for cohort in self.cohorts)}


@dataclass(frozen=True)
class Routing:
    """Mode for operations with a REST rule, and for those without one."""

    default: str = REST
    unmapped: str = LEGACY
    operations: Mapping[str, OperationRoute] = field(default_factory=dict)
    # How often one instance of the fleet applies the promotion rules.
    promotion_check: float = 10.0

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


def _mode(key: str, value: Any) -> str:
    if value not in MODES:
        raise ValueError(f"mode {value!r} is not one of {', '.join(MODES)}")
    return str(value)


def _unmapped(key: str, value: Any) -> str:
    if value not in (LEGACY, "fault"):
        raise ValueError("unmapped must be legacy (pass through) or fault")
    return str(value)


def _percent(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError("percent must be a number from 0 to 100")
    return float(value)


def _listed(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return [str(item) for item in value]


def _users(key: str, value: Any) -> frozenset[str]:
    return frozenset(identity(user) for user in _listed(key, value))


def _domains(key: str, value: Any) -> frozenset[str]:
    return frozenset(identity(domain).lstrip("@") for domain in _listed(key, value))


def _allow(key: str, value: Any) -> bool | None:
    return None if value is None else flag(key, value)


_ROUTING: dict[str, Kind] = {"default": _mode, "unmapped": _unmapped,
                             "promotion_check": duration}
_OPERATION: dict[str, Kind] = {"mode": _mode, "allow_side_calls": _allow}
_COHORT: dict[str, Kind] = {"mode": _mode, "users": _users, "domains": _domains,
                            "percent": _percent}


def read_routing(section: Any, source: str) -> tuple[Routing, list[Problem]]:
    """Parse the `routing:` section of a configuration file."""
    reader = Reader(source)
    if section is None:
        return Routing(), reader.problems
    if not isinstance(section, LocatedDict):
        reader.problems.append(Problem(source, None, "routing must be a mapping"))
        return Routing(), reader.problems
    values = reader.read(section, _ROUTING, also=("operations",), noun="routing setting")
    operations: dict[str, OperationRoute] = {}
    ops = section.get("operations")
    if ops is None:
        ops = {}
    elif not isinstance(ops, LocatedDict):
        reader.problem(section, "operations",
                       "routing.operations must map operation names to settings")
        ops = {}
    for name, spec in ops.items():
        if isinstance(spec, str):
            mode = reader.value(ops, name, _mode)
            if mode is not None:
                operations[name] = OperationRoute(name, mode, line=line_of(ops, name))
            continue
        if not isinstance(spec, LocatedDict):
            reader.problem(ops, name, f"operation {name}: give a mode or a mapping")
            continue
        route = reader.read(spec, _OPERATION, also=("cohorts", "promotion"),
                            where=f" for operation {name}")
        operations[name] = OperationRoute(
            name, cohorts=_cohorts(reader, spec), line=line_of(ops, name),
            promotion=read_promotion(reader, spec, f" for operation {name}"), **route)
    return Routing(operations=operations, **values), reader.problems


def _cohorts(reader: Reader, parent: LocatedDict) -> tuple[Cohort, ...]:
    value = parent.get("cohorts")
    if value is None:
        return ()
    if not isinstance(value, LocatedList):
        reader.problem(parent, "cohorts", "cohorts must be a list")
        return ()
    cohorts = []
    seen: set[str] = set()
    for index, spec in enumerate(value):
        if not isinstance(spec, LocatedDict) or not isinstance(spec.get("name"), str):
            reader.problem(value, index, "each cohort needs a name")
            continue
        name = spec["name"]
        cohort = reader.read(spec, _COHORT, also=("name", "promotion"), noun="cohort setting")
        cohort["promotion"] = read_promotion(reader, spec, f" for cohort {name}")
        if name in seen:
            reader.problem(spec, "name", f"cohort {name!r} is defined twice")
        seen.add(name)
        selectors = {"users", "domains", "percent"}
        wrong = selectors & set(spec) - set(cohort)  # told already
        if not wrong and not any(cohort.get(key) not in (None, frozenset()) for key in selectors):
            reader.problem(spec, "name", f"cohort {name!r} selects nobody: give users, "
                           "domains or percent")
        cohorts.append(Cohort(name=name, **cohort))
    return tuple(cohorts)
