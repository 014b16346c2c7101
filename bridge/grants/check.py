"""What `soap-bridge check` asks of a rule's grant steps, beside bridge/check.py's own checks."""

from __future__ import annotations

from bridge.config import Config
from bridge.errors import Problem
from bridge.rules.calls import GRANT_REASONS
from bridge.rules.model import Rule


def grant_problems(rule: Rule, config: Config) -> list[Problem]:
    """A grant step's upstream has a provider, its user comes from the request, and the rule
    says how its refusals reach the caller."""
    problems: list[Problem] = []
    providers = {provider.upstream for provider in config.grants.values()}
    inputs = {entry.name for entry in rule.inputs}
    granted = [step for step in rule.steps if step.grant is not None]
    for step in granted:
        assert step.grant is not None
        line = step.line_of("grant")
        if step.upstream not in providers:
            problems.append(Problem(rule.file, line, f"step {step.id!r}: grant needs a provider "
                                    f"under grants: for upstream {step.upstream!r}"))
        for ref in step.grant.references:
            root, _, name = ref.partition(".")
            if root != "input" or name.split(".")[0] not in inputs:
                problems.append(Problem(rule.file, line, f"step {step.id!r}: grant reads "
                                        f"{{{{ {ref} }}}}; it names a user from the request's "
                                        "inputs, e.g. {{ input.username }}"))
    if granted:
        for reason in GRANT_REASONS:
            if reason not in rule.reasons:
                problems.append(Problem(rule.file, rule.line_of("refusals"),
                                        f"refusal reason {reason!r} is used by grant steps but "
                                        "not defined under refusals.reasons"))
    return problems
