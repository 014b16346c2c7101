"""The plan: what a reload may change (rules, routing, how answers are compared), built from
compiled rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.migrate.compare import CompareRules
from bridge.migrate.routing import Routing
from bridge.rules.model import Rule


@dataclass(frozen=True)
class Plan:
    """Everything a reload may change: rules, routing and how answers are compared."""

    rules: Mapping[str, Rule]
    routing: Routing
    compare: Mapping[str, CompareRules] = field(default_factory=dict)
    # Attributes in which requests carry an AuthenticationToken-like value (see legacy_token).
    token_fields: frozenset[str] = frozenset()

    @classmethod
    def of(cls, rules: Mapping[str, Rule], routing: Routing) -> Plan:
        """The plan for checked rules (`check.load_rules`) and the routing in force."""
        return cls(
            rules=rules,
            routing=routing,
            compare={name: CompareRules.from_yaml(rule.compare) for name, rule in rules.items()},
            token_fields=frozenset(rule.legacy_token.requests for rule in rules.values()
                                   if rule.legacy_token is not None),
        )

    def side_calls_allowed(self, rule: Rule) -> bool:
        """Whether the operation may be called beside the request (the legacy side, a dry
        run): as its routing says, else unless it changes data."""
        route = self.routing.operations.get(rule.operation)
        if route is not None and route.allow_side_calls is not None:
            return route.allow_side_calls
        return not rule.changes_data
