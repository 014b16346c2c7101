"""Rules, configuration and WSDL checked together: every problem, located, before serving."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bridge.config import Config
from bridge.errors import ConfigError, Problem
from bridge.migrate.compare import CompareRules
from bridge.migrate.routing import NEEDS_RULE
from bridge.rules.model import (
    INVALID_CREDENTIALS,
    UNAVAILABLE,
    Rule,
    compile_rule,
    display_path,
    rule_files,
)
from bridge.rules.template import references_in
from bridge.soap.service import Field, Operation, SoapService
from bridge.yamlfile import LocatedDict, line_of

# Literal values under names like these are credentials written into a rule.
_SECRET_NAME = re.compile(r"(pass(word)?|key|secret|token)$", re.I)


def load_rules(config: Config, service: SoapService) -> dict[str, Rule]:
    """Compile every rule file and check it; raise ConfigError listing all problems."""
    rules, problems = check_rules(config, service)
    if problems:
        raise ConfigError(problems)
    return rules


def check_rules(config: Config, service: SoapService) -> tuple[dict[str, Rule], list[Problem]]:
    problems: list[Problem] = []
    rules: dict[str, Rule] = {}
    files = rule_files(config.mappings)
    if not files:
        problems.append(Problem(config.source, None, "no rule files found in the mappings folders"))
    for path in files:
        try:
            rule = compile_rule(path, display_path(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        found = _RuleChecker(rule, config, service).run()
        problems.extend(found)
        if rule.operation in rules:
            other = rules[rule.operation]
            problems.append(
                Problem(rule.file, line_of(rule.raw, "operation"),
                        f"operation {rule.operation} already has a rule in {other.file}")
            )
        elif not found:
            rules[rule.operation] = rule
    problems.extend(_check_routing(config, service, rules))
    return rules, problems


def config_warnings(config: Config, rules: Mapping[str, Rule]) -> list[Problem]:
    """What `check` and `serve` tell at every log level: credentials sent where anyone on the
    way can read them, in clear or to a peer whose certificate is not checked."""
    carriers: dict[str, list[str]] = {}
    for rule in rules.values():
        secret = {f"input.{entry.name}" for entry in rule.inputs if entry.secret}
        for step in rule.steps:
            refs = (references_in(step.json) | references_in(step.headers)
                    | set(step.path.references))
            if step.directory is None and (
                    any(ref.startswith("secrets.") or ref in secret for ref in refs)
                    or any(str(name).lower() == "authorization" for name in step.headers)):
                carriers.setdefault(step.upstream, []).append(f"step {step.id!r}")
    found: list[Problem] = []
    endpoints = [(f"upstream {e.name!r}", e, carriers.get(e.name)) for e in config.upstreams.values()]
    if config.legacy is not None:
        # Every login passed to the legacy service carries the caller's password.
        endpoints.append(("legacy", config.legacy, ["the logins passed to it"]))
    for label, endpoint, carried in endpoints:
        if endpoint.base_url.startswith("http://") and carried:
            found.append(Problem(config.source, None, (
                f"{label} is plain http:// yet is sent passwords, keys or bearers "
                f"({', '.join(sorted(set(carried)))}): anyone on the way can read them; use "
                "https://")))
        if endpoint.base_url.startswith("https://") and not endpoint.verify_tls:
            found.append(Problem(config.source, None, (
                f"{label} has verify_tls: false: its certificate is not checked, so anyone on "
                "the way can pose as it and read the credentials the bridge sends")))
    return found


def _check_routing(config: Config, service: SoapService, rules: dict[str, Rule]) -> list[Problem]:
    problems = []
    for name, route in config.routing.operations.items():
        if name not in service.operations:
            problems.append(Problem(config.source, route.line,
                                    f"routing: operation {name!r} is not in the WSDL"))
        elif name not in rules and route.modes() & NEEDS_RULE:
            modes = ", ".join(sorted(route.modes() & NEEDS_RULE))
            problems.append(Problem(config.source, route.line,
                                    f"routing: {name} is given {modes} mode but has no rule in "
                                    "the mappings"))
    return problems


class _RuleChecker:
    def __init__(self, rule: Rule, config: Config, service: SoapService) -> None:
        self.rule = rule
        self.config = config
        self.service = service
        self.problems: list[Problem] = []

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.rule.file, line, message))

    def run(self) -> list[Problem]:
        rule = self.rule
        if rule.lookup is not None:
            self.lookup()
            return self.problems
        try:
            compare = CompareRules.from_yaml(rule.compare)
        except ValueError as exc:
            self.problem(line_of(rule.raw, "compare"), f"compare: {exc}")
            compare = CompareRules()
        operation = self.service.operations.get(rule.operation)
        if operation is None:
            known = ", ".join(sorted(self.service.operations))
            self.problem(line_of(rule.raw, "operation"),
                         f"operation {rule.operation!r} is not in the WSDL (known: {known})")
            return self.problems
        for path in sorted({*compare.format_only, *compare.sets, *compare.case_insensitive,
                            *compare.ignore, *compare.secret}):
            if _walk(operation.output, path.split(".")) is None:
                self.problem(_line_mentioning(rule.raw, path, rule.line) or line_of(
                    rule.raw, "compare"), f"compare: {path} is not a field of "
                    f"{operation.name}'s answer in the WSDL")
        self.inputs(operation)
        self.verification()
        self.steps()
        self.bearer_life()
        self.reasons()
        self.results(operation)
        return self.problems

    def lookup(self) -> None:
        """A lookup rule: input `username` from body.username, a result of `accounts`."""
        rule = self.rule
        if [(e.name, e.path) for e in rule.inputs] != [("username", "body.username")]:
            self.problem(line_of(rule.raw, "input") or rule.line,
                         "a lookup rule takes exactly one input: username: body.username")
        for key in ("verify", "token", "refusals", "lockout"):
            if key in rule.raw:
                self.problem(line_of(rule.raw, key), f"{key} does not apply to a lookup rule: "
                             "the JSON API has authenticated the caller already")
        self.steps()
        result = rule.raw.get("result")
        mapping = result.get("accounts") if isinstance(result, dict) else None
        if not isinstance(mapping, dict) or "each" not in mapping or not isinstance(
                mapping.get("map"), dict):
            self.problem(line_of(rule.raw, "result"),
                         "a lookup result is accounts: {each: …, as: …, map: {contextIdentifier, "
                         "name, isPrimary}}")
            return
        missing = {"contextIdentifier", "name", "isPrimary"} - set(mapping["map"])
        extra = set(mapping["map"]) - {"contextIdentifier", "name", "isPrimary"}
        if missing or extra:
            self.problem(line_of(mapping, "map"), "the accounts map has exactly contextIdentifier, "
                         "name and isPrimary")
        self.references(references_in(rule.result), line_of(rule.raw, "result") or rule.line,
                        {"username"}, getattr(self, "_earlier", {}), {"input", "steps", "vars"})

    # -- request side -------------------------------------------------------

    def inputs(self, operation: Operation) -> None:
        for entry in self.rule.inputs:
            parts = entry.path.split(".")
            if parts[0] == "body" and _walk(operation.input, parts[1:]) is None:
                self.problem(entry.line,
                             f"input {entry.name!r}: {entry.path} is not a field of "
                             f"{operation.name} in the WSDL")

    def verification(self) -> None:
        rule, verify = self.rule, self.rule.verify
        names = {entry.name for entry in rule.inputs}
        if rule.local:
            return  # answers by itself: no upstream, no token (the compiler saw to it)
        if verify is None:
            self.problem(rule.line,
                         "the rule never verifies the caller: add verify: with a strategy "
                         "(local, upstream-credentials or api-key)")
            return
        for role, name in (("username", verify.username), ("password", verify.password)):
            if name not in names:
                self.problem(verify.line, f"verify.{role}: no input named {name!r}")
        if verify.strategy == "local" and not self.config.credentials_file:
            self.problem(verify.line,
                         f"verify.strategy local needs credentials_file in {self.config.source}")
        if verify.step is None:
            return
        step = rule.step(verify.step)
        if step is None:
            self.problem(verify.line, f"verify.step: no step named {verify.step!r}")
            return
        if step.directory is not None:
            self.problem(step.line, f"step {step.id!r} reads the directory, so it cannot verify "
                         "the caller: verify.step names a step that sends the password upstream")
            return
        used = references_in(step.json) | references_in(step.headers) | set(step.path.references)
        if f"input.{verify.password}" not in used:
            self.problem(step.line,
                         f"step {step.id!r} verifies the caller but never sends "
                         f"input.{verify.password} upstream")
        if step.cache is not None:
            self.problem(step.line,
                         f"step {step.id!r} verifies the caller, so it must not be cached: "
                         "verify.cache remembers a verification under the credentials' HMAC")
        if step.optional:
            self.problem(step.line,
                         f"step {step.id!r} verifies the caller, so it cannot be optional")
        if step.retry is not None and (step.retry.statuses or step.retry.kinds - {"connect"}):
            # Only a request that never arrived is safe to repeat: any other retry of a
            # password check could count one wrong password twice upstream.
            self.problem(step.line, f"step {step.id!r} verifies the caller, so it may retry "
                         "only on connect (the request never arrived)")

    def steps(self) -> None:
        inputs = {entry.name for entry in self.rule.inputs}
        earlier: dict[str, set[str]] = {}
        raw_steps = self.rule.raw.get("steps") or []
        for index, step in enumerate(self.rule.steps):
            if step.directory is None and step.upstream not in self.config.upstreams:
                known = ", ".join(sorted(self.config.upstreams)) or "none configured"
                self.problem(step.line, f"step {step.id!r}: unknown upstream {step.upstream!r} "
                             f"(known: {known})")
            refs = (references_in(step.json) | references_in(step.headers)
                    | set(step.path.references)
                    | (set(step.cache.key.references) if step.cache else set())
                    | (set(step.directory.references) if step.directory else set()))
            self.references(refs, step.line, inputs, earlier, allowed_roots={"input", "steps",
                                                                              "secrets", "vars"})
            secret_inputs = {f"input.{e.name}" for e in self.rule.inputs if e.secret}
            for ref in step.path.references:
                if ref.startswith("secrets.") or ref in secret_inputs:
                    # Paths end up in logs and proxies' access logs; bodies and headers do not.
                    self.problem(_line_mentioning(self.rule.raw, ref, step.line) or step.line,
                                 f"step {step.id!r}: {{{{ {ref} }}}} must not be put in the path; "
                                 "send secrets in the body or a header")
            raw = raw_steps[index] if index < len(raw_steps) else None
            if isinstance(raw, LocatedDict):
                self.inline_secrets(raw.get("json"), raw, "json", f"step {step.id!r}")
                self.inline_secrets(raw.get("headers"), raw, "headers", f"step {step.id!r}")
            earlier[step.id] = {extract.name for extract in step.extract}
        lockout = self.rule.lockout
        if lockout is not None:
            # A misspelt subject renders empty, and an empty subject is never locked.
            self.references(lockout.subject.references, lockout.line, inputs, {},
                            allowed_roots={"input"})
        token = self.rule.token
        if token is not None:
            refs = set(token.bearer.references) | set(token.subject.references)
            for extra in (token.context, token.accounts):
                if extra is not None:
                    refs |= set(extra.references)
            self.references(refs, token.line, inputs, earlier,
                            allowed_roots={"input", "steps", "vars"})
        self._earlier = earlier

    def bearer_life(self) -> None:
        """A token must not outlive its bearer: a bearer reused from the cache for up to its
        cache's ttl still has to last the token's whole life."""
        rule, token = self.rule, self.rule.token
        if token is None or token.bearer_ttl is None:
            return
        step = rule.step(token.bearer_step() or "")
        reused = [step.cache.ttl] if step is not None and step.cache is not None else []
        if step is not None and rule.verify is not None and rule.verify.step == step.id:
            reused.append(rule.verify.cache or 0.0)
        life = token.ttl or self.config.token_ttl
        if max(reused, default=0.0) + life > token.bearer_ttl:
            self.problem(line_of(rule.raw.get("token"), "bearer_ttl") or token.line,
                         f"token.bearer_ttl ({token.bearer_ttl:g}s) is shorter than the bearer's "
                         f"reuse ({max(reused, default=0.0):g}s) plus the token's life "
                         f"({life:g}s): a token could outlive its bearer")

    def references(self, refs: Iterable[str], line: int, inputs: set[str],
                   steps: dict[str, set[str]], allowed_roots: set[str],
                   local_names: Iterable[str] = ()) -> None:
        local = set(local_names)
        for ref in sorted(refs):
            parts = ref.split(".")
            root = parts[0]
            name = repr(parts[1]) if len(parts) > 1 else "(none)"
            # Each reference is looked for from the section's line, not from the last one found.
            at = _line_mentioning(self.rule.raw, ref, line) or line
            if root in local:
                continue
            if root not in allowed_roots:
                self.problem(at, f"{{{{ {ref} }}}}: {root} is not available here "
                             f"(use {', '.join(sorted(allowed_roots))})")
            elif root == "input" and (len(parts) < 2 or parts[1] not in inputs):
                self.problem(at, f"{{{{ {ref} }}}}: no input named {name}")
            elif root == "steps" and (len(parts) < 3 or parts[1] not in steps
                                      or parts[2] not in steps[parts[1]]):
                self.problem(at, f"{{{{ {ref} }}}}: no earlier step extracts that "
                             "(steps.<step id>.<extracted name>)")
            elif root == "secrets" and (len(parts) != 2 or parts[1] not in self.config.secrets):
                self.problem(at, f"{{{{ {ref} }}}}: no secret named {name} in "
                             f"{self.config.source}")
            elif root == "vars" and (len(parts) < 2 or parts[1] not in self.config.vars):
                self.problem(at, f"{{{{ {ref} }}}}: no vars entry {name} in "
                             f"{self.config.source}")

    def inline_secrets(self, value: Any, parent: Any, name: str, where: str) -> None:
        """Literal values under secret-sounding keys (raw YAML, for exact lines)."""
        if isinstance(value, dict):
            for key, item in value.items():
                if (_SECRET_NAME.search(str(key)) and not isinstance(item, dict | list)
                        and "{{" not in str(item) and item not in (None, "")):
                    self.problem(line_of(value, key), f"{where}: {key} is written inline; secret "
                                 "values come from {{ secrets.<name> }} or the request")
                self.inline_secrets(item, value, key, where)

    # -- answer side --------------------------------------------------------

    def reasons(self) -> None:
        rule = self.rule
        # A local rule reaches no upstream and checks no password: neither can happen.
        needed: dict[str, int] = ({} if rule.local else
                                  {UNAVAILABLE: rule.line, INVALID_CREDENTIALS: rule.line})
        if rule.lockout is not None:
            needed.setdefault(rule.lockout.refusal, rule.lockout.line)
        if rule.verify is not None and rule.verify.strategy == "local":
            for status in ("locked", "inactive", "expired_password"):
                needed.setdefault(status, rule.verify.line)
        for entry in rule.inputs:
            if entry.required:
                needed.setdefault(entry.missing, entry.line)
        for step in rule.steps:
            for error in step.on_error:
                if error.refuse:
                    needed.setdefault(error.refuse, error.line)
        for name, line in needed.items():
            if name not in rule.reasons:
                self.problem(line, f"refusal reason {name!r} is used but not defined under "
                             "refusals.reasons")
        if any(reason.fault is None for reason in rule.reasons.values()) and rule.refusal is None:
            self.problem(rule.line, "refusals.result is needed: some reasons answer with a "
                         "refusal rather than a fault")

    def results(self, operation: Operation) -> None:
        rule = self.rule
        inputs = {entry.name for entry in rule.inputs}
        earlier = getattr(self, "_earlier", {})
        roots = {"input", "steps", "vars"} | ({"token"} if rule.token else set())
        raw_result = rule.raw.get("result")
        self.references(references_in(rule.result), line_of(rule.raw, "result") or rule.line,
                        inputs, earlier, roots)
        self.shape(raw_result, operation.output, "result", line_of(rule.raw, "result"))
        refusals = rule.raw.get("refusals")
        if isinstance(refusals, LocatedDict) and "result" in refusals:
            self.references(references_in(rule.refusal), refusals.line_of("result"), inputs,
                            {}, {"input", "refusal", "vars"})
            self.shape(refusals["result"], operation.output, "refusals.result",
                       refusals.line_of("result"))
        if rule.legacy_token is not None and _walk(operation.output,
                                                   rule.legacy_token.answer.split(".")) is None:
            self.problem(line_of(rule.raw, "legacy_token"),
                         f"legacy_token.answer: {rule.legacy_token.answer} is not a field of "
                         f"{operation.name}'s answer in the WSDL")
        if rule.learn_accounts is not None:
            self.references(references_in(rule.learn_accounts),
                            line_of(rule.raw, "learn_accounts") or rule.line, inputs, {},
                            {"input", "answer"})
        if rule.learn_names is not None:
            line = line_of(rule.raw, "learn_names") or rule.line
            self.references(references_in(rule.learn_names), line, inputs, {}, {"input", "answer"})
            if rule.learn_accounts is None:
                # The directory keeps a user's names beside their accounts, learned together.
                self.problem(line, "learn_names needs learn_accounts: names are learned with "
                             "the accounts of the same answer")
        for reason in rule.reasons.values():
            refs = set(reason.message.references) | (set(reason.url.references)
                                                     if reason.url else set())
            self.references(refs, reason.line, inputs, {}, {"input", "vars"})

    def shape(self, value: Any, shape: Field, where: str, line: int | None) -> None:
        """Every key a result template writes must exist in the WSDL, required ones present."""
        if isinstance(value, list):
            if not shape.multiple:
                self.problem(line, f"{where}: {shape.name} is not a list in the WSDL")
            for index, item in enumerate(value):
                self.shape(item, shape, f"{where}[{index}]", line_of(value, index))
            return
        if not isinstance(value, dict):
            if shape.children and value is not None:
                self.problem(line, f"{where}: {shape.name} has fields; give a mapping")
            return
        if "each" in value and "map" in value:
            if not shape.multiple:
                self.problem(line, f"{where}: {shape.name} is not a list in the WSDL")
            self.shape(value["map"], shape, where, line_of(value, "map"))
            return
        for key, item in value.items():
            child = shape.child(key)
            key_line = line_of(value, key)
            if child is None:
                known = ", ".join(c.name for c in shape.children) or "no fields"
                self.problem(key_line, f"{where}: {shape.name} has no field {key!r} in the WSDL "
                             f"(known: {known})")
                continue
            if child.repeating_choice:
                # zeep writes such members only as a list of one-member dicts of its own.
                self.problem(key_line, f"{where}: {key} is a member of a repeating choice in the "
                             "WSDL, which rules cannot write yet")
                continue
            if child.children:
                self.shape(item, child, f"{where}.{key}", key_line)
            elif isinstance(item, dict) and "each" not in item:
                self.problem(key_line, f"{where}: {key} is a plain value in the WSDL")
        for child in shape.children:
            if child.required and child.kind == "attribute" and child.name not in value:
                self.problem(line, f"{where}: {shape.name} needs {child.name} (required in the WSDL)")


def _line_mentioning(raw: Any, needle: str, near: int) -> int | None:
    """The line of the first string at or after `near` that mentions `needle`."""
    best: int | None = None
    stack: list[Any] = [raw]
    while stack:
        node = stack.pop()
        items: Iterable[tuple[Any, Any]] = ()
        if isinstance(node, LocatedDict):
            items = ((node.line_of(k), v) for k, v in node.items())
        elif isinstance(node, list):
            items = ((line_of(node, i), v) for i, v in enumerate(node))
        for line, value in items:
            if isinstance(value, str) and needle in value and line is not None and line >= near:
                best = line if best is None else min(best, line)
            elif isinstance(value, dict | list):
                stack.append(value)
    return best


def _walk(shape: Field, parts: list[str]) -> Field | None:
    current: Field | None = shape
    for part in parts:
        if current is None:
            return None
        current = current.child(part)
    return current
