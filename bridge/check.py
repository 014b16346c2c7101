"""Rules, configuration and WSDL checked together: every problem, located, before serving."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from bridge.config import Config
from bridge.errors import ConfigError, Problem
from bridge.grants.check import grant_problems
from bridge.migrate.compare import read_compare
from bridge.migrate.routing import NEEDS_RULE, Routing
from bridge.rules.model import (
    BY_CONTEXT,
    INVALID_CREDENTIALS,
    UNAVAILABLE,
    Rule,
    compile_rule,
    display_path,
    rule_files,
)
from bridge.rules.template import Each, Template, reference_lines, references_in
from bridge.soap.service import SoapService
from bridge.soap.shapes import Field, Operation, walk
from bridge.yamlfile import line_of

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
        if rule.lookup is None:
            # Every part knows the operation by its key (`Service.Operation` when several
            # services are served), however the rule wrote it.
            key, why = service.resolve(rule.operation)
            if key is None:
                problems.append(Problem(rule.file, rule.line_of("operation"), why))
                continue
            rule = dataclasses.replace(rule, operation=key)
        found = _RuleChecker(rule, config, service).run() + grant_problems(rule, config)
        problems.extend(found)
        if rule.operation in rules:
            other = rules[rule.operation]
            problems.append(
                Problem(rule.file, rule.line_of("operation"),
                        f"operation {rule.operation} already has a rule in {other.file}")
            )
        elif not found:
            rules[rule.operation] = rule
    problems.extend(_check_routing(config, service, rules))
    problems.extend(_check_facade(config, rules))
    return rules, problems


def config_warnings(config: Config, rules: Mapping[str, Rule]) -> list[Problem]:
    """What `check` and `serve` tell at every log level: credentials sent where anyone on the
    way can read them, in clear or to a peer whose certificate is not checked; a token key
    kept in a shared store."""
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
    found.extend(_holder_warnings(config, rules))
    if not config.token_keys and config.store.startswith(("redis://", "rediss://")):
        found.append(Problem(config.source, None, (
            "tokens.keys is not set: the token key is generated and kept in the Redis store, so "
            "whoever can read the store can mint AuthenticationTokens; set tokens.keys "
            "(docs/operations.md, \"Token keys\")")))
    return found


def _holder_warnings(config: Config, rules: Mapping[str, Rule]) -> list[Problem]:
    """Rules that take requests without a token by their account (session without_token:
    context), with no one configured to hold any account: every such request is refused."""
    by_context = sorted(name for name, rule in rules.items() if rule.session is not None
                        and rule.session.without_token == BY_CONTEXT)
    contexts = config.contexts
    if not by_context or contexts.require_token or contexts.holders or (
            contexts.from_directory and config.directory.file):
        return []
    return [Problem(config.source, None, (
        f"{', '.join(by_context)} take requests without a token (as legacy callers send them) "
        "by their ContextIdentifier, but no account holder is configured: every such request "
        "is refused; list holders under contexts.holders (or accounts in a directory.file), or "
        "set contexts.require_token: true (docs/migration.md, \"Signing and access links\")"))]


def routing_for(routing: Routing, service: SoapService) -> Routing:
    """The routing with each operation under its key (`SoapService.resolve`), as the
    dispatcher looks it up; names that resolve to nothing are left for `check` to tell."""
    operations = {}
    for name, route in routing.operations.items():
        key = service.resolve(name)[0] or name
        operations[key] = dataclasses.replace(route, operation=key)
    return dataclasses.replace(routing, operations=operations)


def _check_facade(config: Config, rules: dict[str, Rule]) -> list[Problem]:
    """rest_facade: needs its rule, and the rule its `rest:` section."""
    facade = config.rest_facade
    if facade is None:
        return []
    rule = rules.get(facade.operation)
    if rule is None:
        return [Problem(config.source, None, f"rest_facade: no rule for {facade.operation} in "
                        "the mappings, so the REST login cannot be served")]
    if rule.rest is None:
        return [Problem(rule.file, rule.line, f"rest_facade serves {facade.operation} as the REST "
                        "login, but its rule has no rest: section (docs/rules.md, rest)")]
    return []


def _check_routing(config: Config, service: SoapService, rules: dict[str, Rule]) -> list[Problem]:
    problems = []
    keys: dict[str, str] = {}
    for written, route in config.routing.operations.items():
        name, why = service.resolve(written)
        if name is None:
            problems.append(Problem(config.source, route.line, f"routing: {why}"))
            continue
        if name in keys:
            problems.append(Problem(config.source, route.line, f"routing: {name} is "
                                    f"routed twice (also as {keys[name]})"))
        keys.setdefault(name, written)
        if name not in rules and route.modes() & NEEDS_RULE:
            modes = ", ".join(sorted(route.modes() & NEEDS_RULE))
            problems.append(Problem(config.source, route.line,
                                    f"routing: {name} is given {modes} mode but has no rule in "
                                    "the mappings"))
    return problems


class _RuleChecker:
    """One compiled rule against the config and the WSDL. Every problem is put at the line
    the compiled object it is about keeps (rules.model keeps each section's and key's line,
    rules.template each template's), so nothing here reads the YAML again."""

    def __init__(self, rule: Rule, config: Config, service: SoapService) -> None:
        self.rule = rule
        self.config = config
        self.service = service
        self.problems: list[Problem] = []

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.rule.file, line, message))

    def run(self) -> list[Problem]:
        rule = self.rule
        inputs = {entry.name for entry in rule.inputs}
        if rule.lookup is not None:
            self.lookup(inputs)
            return self.problems
        compare, problems = read_compare(rule.compare, rule.file)
        self.problems.extend(problems)
        operation = self.service.operations.get(rule.operation)
        if operation is None:
            known = ", ".join(sorted(self.service.operations))
            self.problem(rule.line_of("operation"),
                         f"operation {rule.operation!r} is not in the WSDL (known: {known})")
            return self.problems
        for path in sorted({*compare.format_only, *compare.sets, *compare.case_insensitive,
                            *compare.ignore, *compare.secret}):
            if walk(operation.output, path.split(".")) is None:
                self.problem(_compare_line(rule, path), f"compare: {path} is not a field of "
                             f"{operation.name}'s answer in the WSDL")
        self.inputs(operation)
        self.verification(inputs)
        self.steps(inputs)
        self.bearer_life()
        self.reasons()
        self.results(operation, inputs)
        self.rest_answer(inputs)
        return self.problems

    def lookup(self, inputs: set[str]) -> None:
        """A lookup rule: input `username` from body.username, a result of `accounts`."""
        rule = self.rule
        if [(e.name, e.path) for e in rule.inputs] != [("username", "body.username")]:
            self.problem(rule.line_of("input"),
                         "a lookup rule takes exactly one input: username: body.username")
        for key in ("verify", "token", "refusals", "lockout"):
            if key in rule.key_lines:
                self.problem(rule.line_of(key), f"{key} does not apply to a lookup rule: "
                             "the JSON API has authenticated the caller already")
        self.steps(inputs)
        accounts = rule.result.get("accounts") if isinstance(rule.result, dict) else None
        if not isinstance(accounts, Each) or not isinstance(accounts.body, dict):
            self.problem(rule.line_of("result"),
                         "a lookup result is accounts: {each: …, as: …, map: {contextIdentifier, "
                         "name, isPrimary}}")
            return
        if set(accounts.body) != {"contextIdentifier", "name", "isPrimary"}:
            self.problem(accounts.line, "the accounts map has exactly contextIdentifier, "
                         "name and isPrimary")
        self.references(reference_lines(rule.result), rule.line_of("result"), {"username"},
                        _extracts(rule), {"input", "steps", "vars"})

    # -- request side -------------------------------------------------------

    def inputs(self, operation: Operation) -> None:
        for entry in self.rule.inputs:
            parts = entry.path.split(".")
            if parts[0] == "body" and walk(operation.input, parts[1:]) is None:
                self.problem(entry.path_line,
                             f"input {entry.name!r}: {entry.path} is not a field of "
                             f"{operation.name} in the WSDL")

    def verification(self, inputs: set[str]) -> None:
        rule, verify = self.rule, self.rule.verify
        if rule.local:
            return  # answers by itself: no upstream, no token (the compiler saw to it)
        if verify is None and rule.session is not None:
            return  # the session is the verification: the token was minted at a login
        if verify is None:
            self.problem(rule.line,
                         "the rule never verifies the caller: add verify: with a strategy "
                         "(local, upstream-credentials or api-key)")
            return
        for role, name in (("username", verify.username), ("password", verify.password)):
            if name not in inputs:
                self.problem(verify.line_of(role), f"verify.{role}: no input named {name!r}")
        for name in verify.must_match:
            if name not in inputs:
                self.problem(verify.line_of("must_match"), f"verify.must_match: no input named "
                             f"{name!r}")
        if verify.legacy is not None and f"input.{verify.password}" not in references_in(
                verify.legacy.header) | references_in(verify.legacy.body):
            self.problem(verify.legacy.line, "verify.legacy never sends "
                         f"input.{verify.password} to the legacy service")
        if verify.strategy == "local" and not self.config.credentials_file:
            self.problem(verify.line_of("strategy"),
                         f"verify.strategy local needs credentials_file in {self.config.source}")
        if verify.step is None:
            return
        step = rule.step(verify.step)
        if step is None:
            self.problem(verify.line_of("step"), f"verify.step: no step named {verify.step!r}")
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
            self.problem(step.line_of("cache"),
                         f"step {step.id!r} verifies the caller, so it must not be cached: "
                         "verify.cache remembers a verification under the credentials' HMAC")
        if step.optional:
            self.problem(step.line_of("optional"),
                         f"step {step.id!r} verifies the caller, so it cannot be optional")
        if step.retry is not None and (step.retry.statuses or step.retry.kinds - {"connect"}):
            # Only a request that never arrived is safe to repeat: any other retry of a
            # password check could count one wrong password twice upstream.
            self.problem(step.line_of("retry"), f"step {step.id!r} verifies the caller, so it "
                         "may retry only on connect (the request never arrived)")

    def steps(self, inputs: set[str]) -> None:
        """Each step's upstream and references (to earlier steps only), then the lockout's
        and the token's references."""
        secret_inputs = {f"input.{e.name}" for e in self.rule.inputs if e.secret}
        session = {"session"} if self.rule.session is not None else set()
        if self.rule.session is not None:
            self.references(reference_lines([self.rule.session.token, self.rule.session.context,
                                             *self.rule.session.scope.values()]),
                            self.rule.session.line, inputs, {}, allowed_roots={"input", "vars"})
        earlier: dict[str, set[str]] = {}
        for step in self.rule.steps:
            if step.directory is None and step.upstream not in self.config.upstreams:
                known = ", ".join(sorted(self.config.upstreams)) or "none configured"
                self.problem(step.line_of("upstream"), f"step {step.id!r}: unknown upstream "
                             f"{step.upstream!r} (known: {known})")
            refs = reference_lines([step.json, step.headers, step.path,
                                    step.cache.key if step.cache else None, step.directory])
            item = {step.each_as} if step.each is not None else set()
            if step.each is not None:
                self.references(reference_lines(step.each), step.line, inputs, earlier,
                                allowed_roots={"input", "steps", "vars"} | session)
            self.references(refs, step.line, inputs, earlier, allowed_roots={
                "input", "steps", "secrets", "vars"} | session | item)
            for ref in step.path.references:
                if ref.startswith("secrets.") or ref in secret_inputs:
                    # Paths end up in logs and proxies' access logs; bodies and headers do not.
                    self.problem(step.path.line or step.line,
                                 f"step {step.id!r}: {{{{ {ref} }}}} must not be put in the path; "
                                 "send secrets in the body or a header")
            self.inline_secrets(step.json, f"step {step.id!r}")
            self.inline_secrets(step.headers, f"step {step.id!r}")
            earlier[step.id] = _extracts(self.rule)[step.id]
        lockout = self.rule.lockout
        if lockout is not None:
            # A misspelt subject renders empty, and an empty subject is never locked.
            self.references(reference_lines(lockout.subject), lockout.line, inputs, {},
                            allowed_roots={"input"})
        token = self.rule.token
        if token is not None:
            refs = reference_lines([token.bearer, token.subject, token.context, token.accounts])
            self.references(refs, token.line, inputs, earlier,
                            allowed_roots={"input", "steps", "vars"} | session)

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
            self.problem(token.line_of("bearer_ttl"),
                         f"token.bearer_ttl ({token.bearer_ttl:g}s) is shorter than the bearer's "
                         f"reuse ({max(reused, default=0.0):g}s) plus the token's life "
                         f"({life:g}s): a token could outlive its bearer")

    def references(self, refs: Mapping[str, int], line: int, inputs: set[str],
                   steps: Mapping[str, set[str]], allowed_roots: set[str]) -> None:
        """Each reference at the line of the first template that makes it (`line` where the
        templates came from no file)."""
        for ref in sorted(refs):
            parts = ref.split(".")
            root = parts[0]
            name = repr(parts[1]) if len(parts) > 1 else "(none)"
            at = refs[ref] or line
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

    def inline_secrets(self, value: Any, where: str) -> None:
        """Literal values under secret-sounding keys, in a step's json or headers."""
        if isinstance(value, Each):
            value = value.body
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            if _SECRET_NAME.search(str(key)) and _literal(item):
                line = item.line if isinstance(item, Template) else line_of(value, key)
                self.problem(line, f"{where}: {key} is written inline; secret values come from "
                             "{{ secrets.<name> }} or the request")
            self.inline_secrets(item, where)

    # -- answer side --------------------------------------------------------

    def reasons(self) -> None:
        rule = self.rule
        # A local rule reaches no upstream and checks no password: neither can happen.
        needed: dict[str, int] = ({} if rule.local else
                                  {UNAVAILABLE: rule.line, INVALID_CREDENTIALS: rule.line})
        if rule.session is not None:
            # No password is checked here; a dead token is refused by the session's reason.
            if rule.verify is None:
                needed.pop(INVALID_CREDENTIALS, None)
            needed.setdefault(rule.session.refusal, rule.session.line_of("refusal"))
            if rule.session.context is not None:
                needed.setdefault("not_permitted", rule.session.line_of("context"))
        if rule.lockout is not None:
            needed.setdefault(rule.lockout.refusal, rule.lockout.line_of("refusal"))
        if rule.verify is not None and rule.verify.strategy == "local":
            for status in ("locked", "inactive", "expired_password"):
                needed.setdefault(status, rule.verify.line_of("strategy"))
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

    def results(self, operation: Operation, inputs: set[str]) -> None:
        rule = self.rule
        roots = ({"input", "steps", "vars"} | ({"token"} if rule.token else set())
                 | ({"session"} if rule.session else set()))
        self.references(reference_lines(rule.result), rule.line_of("result"), inputs,
                        _extracts(rule), roots)
        self.shape(rule.result, operation.output, "result", rule.line_of("result"))
        if rule.refusal_line:
            self.references(reference_lines(rule.refusal), rule.refusal_line, inputs, {},
                            {"input", "refusal", "vars"})
            self.shape(rule.refusal, operation.output, "refusals.result", rule.refusal_line)
        legacy_token = rule.legacy_token
        if legacy_token is not None and walk(operation.output,
                                             legacy_token.answer.split(".")) is None:
            self.problem(legacy_token.line,
                         f"legacy_token.answer: {legacy_token.answer} is not a field of "
                         f"{operation.name}'s answer in the WSDL")
        if rule.learn_accounts is not None:
            self.references(reference_lines(rule.learn_accounts), rule.line_of("learn_accounts"),
                            inputs, {}, {"input", "answer"})
        if rule.learn_names is not None:
            line = rule.line_of("learn_names")
            self.references(reference_lines(rule.learn_names), line, inputs, {},
                            {"input", "answer"})
            if rule.learn_accounts is None:
                # The directory keeps a user's names beside their accounts, learned together.
                self.problem(line, "learn_names needs learn_accounts: names are learned with "
                             "the accounts of the same answer")
        for reason in rule.reasons.values():
            self.references(reference_lines([reason.message, reason.url]), reason.line, inputs,
                            {}, {"input", "vars"})

    def rest_answer(self, inputs: set[str]) -> None:
        """The `rest:` section (bridge/rules/rest.py): every input placed, every reason
        answered, and an answer that reads only what the rule has."""
        rule, rest = self.rule, self.rule.rest
        if rest is None:
            return
        for name in sorted(inputs - set(rest.inputs)):
            self.problem(rest.line_of("input"), f"rest.input: the rule's input {name!r} has no "
                         "place in the REST request")
        if rule.token is None:
            self.problem(rest.line, "rest: the REST login answers a session token, so the rule "
                         "needs token:")
        for name in sorted(set(rule.reasons) - set(rest.errors)):
            self.problem(rest.line_of("errors"), f"rest.errors: refusal reason {name!r} has no "
                         "REST error")
        self.references(reference_lines(rest.result), rest.line_of("result"),
                        inputs | set(rest.inputs), _extracts(rule),
                        {"input", "steps", "vars", "token"})

    def shape(self, value: Any, shape: Field, where: str, line: int | None) -> None:
        """Every key a result template writes must exist in the WSDL, required ones present."""
        if isinstance(value, list):
            if not shape.multiple:
                self.problem(line, f"{where}: {shape.name} is not a list in the WSDL")
            for index, item in enumerate(value):
                self.shape(item, shape, f"{where}[{index}]", line_of(value, index))
            return
        if isinstance(value, Each):
            if not shape.multiple:
                self.problem(line, f"{where}: {shape.name} is not a list in the WSDL")
            self.shape(value.body, shape, where, value.line)
            return
        if not isinstance(value, dict):
            if shape.children and value is not None:
                self.problem(line, f"{where}: {shape.name} has fields; give a mapping")
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
            elif isinstance(item, dict):
                self.problem(key_line, f"{where}: {key} is a plain value in the WSDL")
        for child in shape.children:
            if child.required and child.kind == "attribute" and child.name not in value:
                self.problem(line, f"{where}: {shape.name} needs {child.name} (required in the WSDL)")


def _literal(value: Any) -> bool:
    """A value written as it is: no template reading anything, not a container, not empty."""
    if isinstance(value, Template):
        return value.is_constant and value.source != ""
    return not isinstance(value, dict | list | Each) and value not in (None, "")


def _extracts(rule: Rule) -> dict[str, set[str]]:
    """What each step extracts, by step id: what the token and the result may refer to."""
    return {step.id: {extract.name for extract in step.extract}
            | ({"each"} if step.each is not None else set()) for step in rule.steps}


def _compare_line(rule: Rule, path: str) -> int:
    """Where the compare section names `path`. Rule.compare is that section as written (what
    bridge.migrate reads) and CompareRules keeps no lines, so the section itself is looked
    at: the key (format_only, sets) or list item naming the path, else `compare:`."""
    found = []
    for value in rule.compare.values() if isinstance(rule.compare, dict) else ():
        if isinstance(value, dict) and path in value:
            found.append(line_of(value, path))
        elif isinstance(value, list) and path in value:
            found.append(line_of(value, value.index(path)))
    return min((line for line in found if line), default=rule.line_of("compare"))
