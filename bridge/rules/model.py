"""Rules as frozen data, compiled from YAML once at start-up with file:line problems."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.auth.tokens import MAX_TTL, OPAQUE, SCOPED, SESSION, TOKEN_FORMS, TOKEN_KINDS
from bridge.durations import parse_duration
from bridge.errors import ConfigError, Problem
from bridge.rules.rest import RestAnswer, compile_rest
from bridge.rules.template import Template, TemplateError, compile_value
from bridge.schema import unknown_key
from bridge.yamlfile import LocatedDict, LocatedList, line_of, load_yaml

STRATEGIES = ("local", "upstream-credentials", "api-key", "legacy")
# Strategies whose verifications `verify.learn` can learn (bridge/auth/verifiers.py).
LEARNING_STRATEGIES = ("legacy", "upstream-credentials")
FAULT_CODES = ("Client", "Server")
SEVERITIES = ("Warning", "Error", "Fatal")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ERROR_KINDS = ("http", "timeout", "connect", "protocol", "too_large", "open", "unsendable")
# Reasons the engine itself produces, so a rule that can meet them must define them.
# The longest a successful verification may be remembered (verify.cache).
MAX_VERIFY_CACHE = 15 * 60.0
INVALID_CREDENTIALS = "invalid_credentials"
# The default refusal of a rule whose `session` token is unknown, expired or revoked.
INVALID_TOKEN = "invalid_token"  # noqa: S105 - a reason name, not a secret
# A session's login that does not have the account the request names (session.context).
NOT_PERMITTED = "not_permitted"
# A session's answers to a request with no token (SessionRule.without_token).
REFUSE, BY_CONTEXT = "refuse", "context"
WITHOUT_TOKEN = (REFUSE, BY_CONTEXT)
# The refusal of a tokenless request where the configuration requires the token
# (contexts.require_token), when the rule has that reason; else the session's refusal.
TOKEN_REQUIRED = "token_required"  # noqa: S105 - a reason name, not a secret
UNAVAILABLE = "unavailable"


class _KeyLines:
    """A section's place in its file: its own line and each of its keys' lines, so that a
    problem found after compiling (check's) points at the very key it is about."""

    line: int
    key_lines: Mapping[str, int]

    def line_of(self, key: str) -> int:
        """The line of `key`, or of the section where the key is not written."""
        return self.key_lines.get(key, self.line)


@dataclass(frozen=True)
class InputField:
    name: str
    path: str
    secret: bool = False
    required: bool = False
    missing: str = INVALID_CREDENTIALS
    line: int = 0
    path_line: int = 0


@dataclass(frozen=True)
class Extract:
    name: str
    paths: tuple[str, ...]
    optional: bool = False


@dataclass(frozen=True)
class ErrorRule:
    """One line of a step's `on_error`: what it matches and what the caller gets."""

    statuses: frozenset[int] = frozenset()
    error_codes: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    refuse: str | None = None
    line: int = 0
    # Case-folded texts, one of which the error body's summary must contain: the vendor
    # gives several refusals one code and tells them apart only in words.
    summaries: tuple[str, ...] = ()

    def matches(self, kind: str, status: int | None, error_code: str | None,
                summary: str | None = None) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        if self.statuses and status not in self.statuses:
            return False
        if self.summaries:
            folded = (summary or "").casefold()
            if not any(text in folded for text in self.summaries):
                return False
        return not (self.error_codes and error_code not in self.error_codes)


@dataclass(frozen=True)
class StepCache:
    key: Template
    ttl: float
    # A later step failing with one of these means the cached value went stale upstream
    # (e.g. the bearer was revoked): drop it and run the rule once more without the cache.
    refresh_on: frozenset[int] = frozenset({401})


@dataclass(frozen=True)
class Retry:
    """Try a step again on errors that are safe to repeat, with jittered exponential backoff."""

    attempts: int
    kinds: frozenset[str] = frozenset()
    statuses: frozenset[int] = frozenset()
    backoff: float = 0.1


@dataclass(frozen=True)
class Pages:
    """Follow a paged answer: each page's items at `items`, the next page's URL at `next`."""

    items: str
    next: str
    max: int = 20


@dataclass(frozen=True)
class Throttle:
    """Wait out a 429 (its Retry-After, else `wait`) and send again, within bounds."""

    attempts: int = 5
    wait: float = 0.5
    max_wait: float = 5.0
    budget: float = 10.0


@dataclass(frozen=True)
class Step(_KeyLines):
    id: str
    upstream: str
    method: str
    path: Template
    headers: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    extract: tuple[Extract, ...] = ()
    on_error: tuple[ErrorRule, ...] = ()
    cache: StepCache | None = None
    # An optional step that fails leaves its extracted values empty instead of
    # failing the rule (e.g. names from an endpoint a tenant may not have).
    optional: bool = False
    # A step with `each` is called once per item of that list (`each_as` names the item):
    # one signer token per signer. Its extracted values are then lists, item by item.
    each: Template | None = None
    each_as: str = "item"
    retry: Retry | None = None
    line: int = 0
    # A directory step reads the bridge's account directory for the user this template
    # names instead of calling an upstream (upstream, method and path are then unused).
    directory: Template | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    # The legacy user whose OAuth2 grant authorises the call (bridge/grants), every page of a
    # paged answer, and 429s waited out (bridge/rules/calls.py carries them out).
    grant: Template | None = None
    pages: Pages | None = None
    throttle: Throttle | None = None


@dataclass(frozen=True)
class LegacyCheck(_KeyLines):
    """verify.legacy: the SOAP call that asks the legacy service whether the caller's
    credentials are good (strategy legacy), e.g. Nmbrs' DebtorService.Environment_Get."""

    path: str
    namespace: str
    operation: str
    action: str
    header: Any = None  # compiled: {element: {member: template}}
    body: Any = None
    # Texts of a Fault that mean "these credentials are refused" (e.g. "---> 1001:"); any
    # other Fault, or no answer, is the legacy service being unavailable.
    refused: tuple[str, ...] = ()
    line: int = 0
    key_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class IdLearning:
    """One kind of a rule's `learn_ids`: where the legacy answer and the REST steps list the
    same records, which fields they share, and where each keeps its id."""

    kind: str
    legacy_items: str
    legacy_id: str
    legacy_match: tuple[str, ...]
    rest_items: str
    rest_id: str
    rest_match: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True)
class Verify(_KeyLines):
    strategy: str
    step: str | None
    username: str
    password: str
    # Remember a successful verification this long, keyed by an HMAC of the credentials.
    cache: float | None = None
    line: int = 0
    key_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    # Learn an argon2id verifier of each credentials the legacy side accepts, and verify
    # against it once that side is retired (bridge/auth/verifiers.py).
    learn: bool = False
    legacy: LegacyCheck | None = None
    # Inputs that, when given, must equal a value (case-insensitively), else the
    # credentials are refused: Nmbrs' optional Domain header member (a wrong one is 1001).
    must_match: Mapping[str, Template] = field(default_factory=dict)


@dataclass(frozen=True)
class LockoutRule(_KeyLines):
    subject: Template
    refusal: str
    line: int = 0
    key_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class TokenRule(_KeyLines):
    issue: str
    bearer: Template
    subject: Template
    context: Template | None = None
    accounts: Template | None = None
    ttl: float | None = None
    # How long the upstream bearer lives from when the step that obtained it ran (a cached
    # bearer is as old as its cache entry): what the token exchange tells as expires_in.
    bearer_ttl: float | None = None
    line: int = 0
    key_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    # What the token may be used for (auth/tokens.py: session, single-use, scoped), and the
    # named values it is bound to, each rendered at issue.
    kind: str = SESSION
    scope: Mapping[str, Template] = field(default_factory=dict)

    def bearer_step(self) -> str | None:
        """The step whose values the bearer is made of (the first one it names)."""
        for ref in self.bearer.references:
            parts = ref.split(".")
            if parts[0] == "steps" and len(parts) > 1:
                return parts[1]
        return None


@dataclass(frozen=True)
class Reason:
    """How one kind of refusal reaches the caller: a refusal in the result, or a Fault."""

    name: str
    message: Template
    severity: str = "Error"
    url: Template | None = None
    fault: str | None = None
    line: int = 0


@dataclass(frozen=True)
class SessionRule(_KeyLines):
    """`session`: the operation runs on the login a token stands for (a bridge token from
    AuthenticateUser), resolved before any step; an unknown, expired or revoked token is
    refused with `refusal`."""

    token: Template
    refusal: str = INVALID_TOKEN
    # Named values of this use (e.g. the envelope): a scoped token is honoured only when
    # they match the ones it was minted for (auth/tokens.py).
    scope: Mapping[str, Template] = field(default_factory=dict)
    # The account context the request names (its ContextIdentifier): it must be one of the
    # login's accounts, else the run is refused as `not_permitted`.
    context: Template | None = None
    context_refusal: str = NOT_PERMITTED
    # A request with no token: `refuse` it, or take it the legacy way (`context`): the
    # account its `context` names is the credential and the session is that account's
    # holder's (bridge/contexts.py), unless the configuration requires the token.
    without_token: str = REFUSE
    line: int = 0
    key_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class LegacyToken:
    answer: str
    requests: str
    line: int = 0  # of `answer`, the part that names a field of the answer


@dataclass(frozen=True)
class Rule(_KeyLines):
    operation: str
    file: str
    line: int
    inputs: tuple[InputField, ...]
    verify: Verify | None
    lockout: LockoutRule | None
    steps: tuple[Step, ...]
    token: TokenRule | None
    result: Any
    refusal: Any
    reasons: dict[str, Reason]
    # How to compare this operation's two answers side by side (read by bridge.migrate).
    compare: Mapping[str, Any] = field(default_factory=dict)
    # Accounts to learn from a legacy answer: a template over `answer` and `input`.
    learn_accounts: Any = None
    # The user's names to learn beside them: {firstName, lastName} templates, same scope.
    learn_names: Any = None
    # Data-changing operations are never called twice (shadow/verify) unless routing says so.
    changes_data: bool = False
    lookup: str | None = None
    # Where the legacy answer carries its token (a path in the answer, the same path in
    # ours) and the attribute other operations send it in, for operations passed through.
    legacy_token: LegacyToken | None = None
    # Answered by the bridge itself in every mode (e.g. Ping): routing, rate limits and the
    # side path do not apply, so monitoring sees the bridge whether or not legacy is there.
    local: bool = False
    # The same login served as the vendor's deprecated REST call (bridge/rules/rest.py).
    rest: RestAnswer | None = None
    # Pairs of legacy ints and REST GUIDs to learn beside a legacy answer (bridge/rules/ids.py).
    learn_ids: tuple[IdLearning, ...] = ()
    # Where the top-level keys are written, and refusals.result (0: not written).
    key_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    refusal_line: int = 0
    # The login this operation runs on, resolved from a token the request carries.
    session: SessionRule | None = None

    def step(self, step_id: str) -> Step | None:
        for step in self.steps:
            if step.id == step_id:
                return step
        return None


_RULE_KEYS = {"operation", "lookup", "input", "verify", "lockout", "steps", "token", "result",
              "refusals", "compare", "learn_accounts", "learn_names", "changes_data",
              "legacy_token", "local", "session"}
LOOKUPS = ("accounts",)
_RULE_KEYS |= {"rest"}
# Operation names that change data unless the rule says otherwise.
_CHANGING_PREFIXES = ("Create", "Update", "Delete", "Set", "Add", "Remove", "Submit", "Cancel")
_STEP_KEYS = {"id", "upstream", "method", "path", "headers", "json", "extract", "on_error", "cache",
              "optional", "retry", "directory", "each", "as"}
_STEP_KEYS |= {"grant", "pages", "throttle"}
# What only a step that calls an upstream has; a directory step has none of it.
_UPSTREAM_STEP_KEYS: tuple[str, ...] = ("upstream", "method", "path", "headers", "json",
                                        "on_error", "retry")
_UPSTREAM_STEP_KEYS += ("grant", "pages", "throttle")
LEARNED_NAMES = ("firstName", "lastName")
_RULE_KEYS |= {"learn_ids"}
# What templates read; an `each` step's item may not shadow one of them.
_SCOPES = frozenset({"input", "steps", "secrets", "vars", "token", "session", "refusal",
                     "answer"})


class _Compiler:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, container: Any, key: str | int, message: str) -> None:
        self.problems.append(Problem(self.file, line_of(container, key), message))

    def template(self, container: Any, key: str | int, value: Any) -> Template | None:
        if value is None:
            return None
        try:
            return Template(str(value), line_of(container, key) or 0)
        except TemplateError as exc:
            self.problem(container, key, f"{key}: {exc}")
            return None

    def compiled(self, container: Any, key: str, value: Any) -> Any:
        try:
            return compile_value(value, line_of(container, key) or 0)
        except TemplateError as exc:
            # At the very value that failed, not just the section holding it.
            name = key if exc.name is None else exc.name
            self.problems.append(Problem(self.file, exc.line or line_of(container, key),
                                         f"{name}: {exc}"))
            return None

    def duration(self, container: Any, key: str) -> float | None:
        if key not in container:
            return None
        try:
            return parse_duration(container[key])
        except ValueError as exc:
            self.problem(container, key, f"{key}: {exc}")
            return None

    def mapping(self, container: Any, key: str) -> LocatedDict | None:
        value = container.get(key)
        if value is None:
            return None
        if not isinstance(value, LocatedDict):
            self.problem(container, key, f"{key} must be a mapping")
            return None
        return value

    def unknown_keys(self, container: LocatedDict, allowed: set[str], what: str) -> None:
        for key in container:
            if key not in allowed:
                self.problem(container, key, unknown_key(key, allowed, "key", f" in {what}"))

    # -- sections ---------------------------------------------------------

    def inputs(self, data: LocatedDict) -> tuple[InputField, ...]:
        section = self.mapping(data, "input")
        if section is None:
            return ()
        fields = []
        for name, spec in section.items():
            line = section.line_of(name)
            if isinstance(spec, str):
                fields.append(InputField(name, spec, line=line, path_line=line))
                continue
            if not isinstance(spec, LocatedDict) or not isinstance(spec.get("path"), str):
                self.problem(section, name, f"input {name!r} needs a path (e.g. body.Request.Field)")
                continue
            self.unknown_keys(spec, {"path", "secret", "required", "missing"}, f"input {name!r}")
            fields.append(
                InputField(
                    name,
                    spec["path"],
                    secret=bool(spec.get("secret", False)),
                    required=bool(spec.get("required", False)),
                    missing=str(spec.get("missing", INVALID_CREDENTIALS)),
                    line=line,
                    path_line=spec.line_of("path"),
                )
            )
        for entry in fields:
            if not entry.path.startswith(("body.", "header.", "http.")):
                self.problems.append(
                    Problem(self.file, entry.path_line,
                            f"input {entry.name!r}: path must start with body., header. or "
                            "http.")
                )
        return tuple(fields)

    def verify(self, data: LocatedDict) -> Verify | None:
        section = self.mapping(data, "verify")
        if section is None:
            return None
        self.unknown_keys(section, {"strategy", "step", "username", "password", "cache", "learn",
                                    "legacy", "must_match"}, "verify")
        must_match = self.mapping(section, "must_match") or _empty()
        strategy = section.get("strategy")
        if strategy not in STRATEGIES:
            self.problem(section, "strategy",
                         f"verify.strategy must be one of {', '.join(STRATEGIES)}")
        step = section.get("step")
        if strategy in ("upstream-credentials", "api-key") and not step:
            self.problem(section, "strategy",
                         f"verify.strategy {strategy} needs verify.step: the step that checks it")
        if strategy in ("local", "legacy") and step:
            self.problem(section, "step", f"verify.step does not apply to the {strategy} strategy")
        learn = section.get("learn", False)
        if not isinstance(learn, bool):
            self.problem(section, "learn", "verify.learn must be true or false")
            learn = False
        if learn and strategy not in LEARNING_STRATEGIES:
            self.problem(section, "learn", "verify.learn applies to the strategies "
                         f"{' and '.join(LEARNING_STRATEGIES)}: what they verify is learned")
        legacy = self.legacy_check(section)
        if strategy == "legacy" and legacy is None and "legacy" not in section:
            self.problem(section, "strategy", "verify.strategy legacy needs verify.legacy: the "
                         "SOAP call that checks the credentials at the legacy service")
        if strategy != "legacy" and "legacy" in section:
            self.problem(section, "legacy", "verify.legacy applies to the legacy strategy")
        cache = self.duration(section, "cache")
        if cache is not None and not 0 < cache <= MAX_VERIFY_CACHE:
            # A remembered verification outlives a password change or a vendor-side lock.
            self.problem(section, "cache", "verify.cache must be more than 0 and at most "
                         f"{int(MAX_VERIFY_CACHE // 60)}m: it is how long a changed password "
                         "still works")
            cache = None
        return Verify(
            strategy=str(strategy),
            step=str(step) if step else None,
            username=str(section.get("username", "username")),
            password=str(section.get("password", "password")),
            cache=cache,
            line=section.line,
            key_lines=section.key_lines,
            learn=learn,
            legacy=legacy,
            must_match={name: template for name, value in must_match.items()
                        if (template := self.template(must_match, name, value)) is not None},
        )

    def legacy_check(self, verify: LocatedDict) -> LegacyCheck | None:
        section = self.mapping(verify, "legacy")
        if section is None:
            return None
        self.unknown_keys(section, {"path", "namespace", "operation", "action", "header", "body",
                                    "refused"}, "verify.legacy")
        missing = [key for key in ("path", "namespace", "operation")
                   if not isinstance(section.get(key), str) or not section.get(key)]
        for key in missing:
            self.problem(section, key if key in section else "path",
                         f"verify.legacy needs {key}")
        refused = _as_list(section.get("refused"))
        if not refused or not all(isinstance(text, str) and text for text in refused):
            self.problem(section, "refused" if "refused" in section else "path",
                         "verify.legacy needs refused: the Fault text(s) that mean the "
                         "credentials are wrong, e.g. '---> 1001:'")
        for key in ("header", "body"):
            if key in section and not isinstance(section.get(key), LocatedDict):
                self.problem(section, key, f"verify.legacy.{key} is a mapping of elements")
        if missing:
            return None
        namespace, operation = str(section["namespace"]), str(section["operation"])
        return LegacyCheck(
            path=str(section["path"]),
            namespace=namespace,
            operation=operation,
            # ASMX's convention: the namespace and the operation (FACTS §2.1 for Nmbrs).
            action=str(section.get("action") or f"{namespace.rstrip('/')}/{operation}"),
            header=self.compiled(section, "header", section.get("header") or {}),
            body=self.compiled(section, "body", section.get("body") or {}),
            refused=tuple(str(text) for text in refused if isinstance(text, str) and text),
            line=section.line,
            key_lines=section.key_lines,
        )

    def learn_ids(self, data: LocatedDict) -> tuple[IdLearning, ...]:
        section = self.mapping(data, "learn_ids")
        if section is None:
            return ()
        learned = []
        for kind, spec in section.items():
            sides: dict[str, tuple[str, str, tuple[str, ...]]] = {}
            if not isinstance(spec, LocatedDict):
                self.problem(section, kind, f"learn_ids.{kind} takes legacy: and rest:")
                continue
            self.unknown_keys(spec, {"legacy", "rest"}, f"learn_ids.{kind}")
            for side, root in (("legacy", "answer."), ("rest", "steps.")):
                where = spec.get(side)
                match = _as_list(where.get("match")) if isinstance(where, LocatedDict) else []
                if (not isinstance(where, LocatedDict) or set(where) != {"items", "id", "match"}
                        or not all(isinstance(where.get(k), str) for k in ("items", "id"))
                        or not match or not all(isinstance(m, str) for m in match)):
                    self.problem(spec, side if side in spec else kind, f"learn_ids.{kind}.{side} "
                                 "takes {items: <path>, id: <field>, match: <field or list>}")
                    continue
                if not where["items"].startswith(root):
                    self.problem(where, "items", f"learn_ids.{kind}.{side}.items starts with "
                                 f"{root} (the {'legacy answer' if side == 'legacy' else 'steps'})")
                sides[side] = (where["items"], where["id"], tuple(str(m) for m in match))
            if len(sides) == 2:
                if len(sides["legacy"][2]) != len(sides["rest"][2]):
                    self.problem(spec, "rest", f"learn_ids.{kind}: legacy and rest match as many "
                                 "fields")
                learned.append(IdLearning(str(kind), *sides["legacy"], *sides["rest"],
                                          line=section.line_of(kind)))
        return tuple(learned)

    def lockout(self, data: LocatedDict) -> LockoutRule | None:
        section = self.mapping(data, "lockout")
        if section is None:
            return None
        self.unknown_keys(section, {"subject", "refusal"}, "lockout")
        subject = self.template(section, "subject", section.get("subject"))
        if subject is None:
            self.problem(section, "subject", "lockout needs a subject, e.g. '{{ input.username }}'")
            return None
        return LockoutRule(subject, str(section.get("refusal", "locked")), section.line,
                           section.key_lines)

    def steps(self, data: LocatedDict) -> tuple[Step, ...]:
        section = data.get("steps")
        if section is None:
            return ()
        if not isinstance(section, LocatedList):
            self.problem(data, "steps", "steps must be a list")
            return ()
        steps: list[Step] = []
        seen: set[str] = set()
        for index, spec in enumerate(section):
            if not isinstance(spec, LocatedDict):
                self.problem(section, index, "each step must be a mapping")
                continue
            step = self.step(spec)
            if step is None:
                continue
            if step.id in seen:
                self.problem(spec, "id", f"step id {step.id!r} is used twice")
            seen.add(step.id)
            steps.append(step)
        return tuple(steps)

    def step(self, spec: LocatedDict) -> Step | None:
        self.unknown_keys(spec, _STEP_KEYS, "step")
        step_id = spec.get("id")
        if not isinstance(step_id, str) or not step_id.isidentifier():
            self.problem(spec, "id", "a step needs an id made of letters, digits and _")
            return None
        directory = None
        if "directory" in spec:
            directory = self.template(spec, "directory", spec.get("directory"))
            if directory is None or directory.is_constant:
                self.problem(spec, "directory", f"step {step_id!r}: directory names the user "
                             "to read, e.g. '{{ input.username }}'")
            for key in _UPSTREAM_STEP_KEYS:
                if key in spec:
                    self.problem(spec, key, f"step {step_id!r} reads the directory: {key} "
                                 "applies only to a step that calls an upstream")
        else:
            for key in ("upstream", "path"):
                if not isinstance(spec.get(key), str):
                    self.problem(spec, key if key in spec else "id", f"step {step_id!r} needs {key}")
        method = str(spec.get("method", "POST")).upper()
        if method not in METHODS:
            self.problem(spec, "method", f"method must be one of {', '.join(METHODS)}")
        extract = []
        extract_section: dict[str, Any] = self.mapping(spec, "extract") or {}
        for name, how in extract_section.items():
            paths: Any = how
            optional = False
            if isinstance(how, LocatedDict):
                self.unknown_keys(how, {"path", "optional"}, f"extract {name!r}")
                paths, optional = how.get("path"), bool(how.get("optional", False))
            if isinstance(paths, str):
                paths = [paths]
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                self.problem(extract_section, name,
                             f"extract {name!r}: a JSON path or a list of alternatives")
                continue
            extract.append(Extract(name, tuple(paths), optional))
        cache = None
        cache_section = self.mapping(spec, "cache")
        if cache_section is not None:
            self.unknown_keys(cache_section, {"key", "ttl", "refresh_on"}, "cache")
            cache_key = self.template(cache_section, "key", cache_section.get("key"))
            ttl = self.duration(cache_section, "ttl")
            refresh_on = _as_list(cache_section.get("refresh_on", [401]))
            if not all(isinstance(s, int) and 400 <= s <= 599 for s in refresh_on):
                self.problem(cache_section, "refresh_on", "refresh_on lists HTTP error statuses")
            if cache_key is None or ttl is None:
                self.problem(spec, "cache", "cache needs key and ttl")
            else:
                statuses = frozenset(s for s in refresh_on if isinstance(s, int))
                cache = StepCache(cache_key, ttl, statuses)
        headers: dict[str, Any] = self.mapping(spec, "headers") or {}
        return Step(
            id=step_id,
            upstream=str(spec.get("upstream", "")),
            method=method,
            path=self.template(spec, "path", spec.get("path", "")) or Template(""),
            headers={k: self.template(headers, k, v) for k, v in headers.items()},
            json=self.compiled(spec, "json", spec.get("json")),
            extract=tuple(extract),
            on_error=self.on_error(spec),
            cache=cache,
            optional=bool(spec.get("optional", False)),
            retry=self.retry(spec),
            **self.each(spec, step_id, cache),
            line=spec.line,
            directory=directory,
            key_lines=spec.key_lines,
            grant=self.grant(spec, step_id, method),
            pages=self.pages(spec, method),
            throttle=self.throttle(spec),
        )

    def grant(self, spec: LocatedDict, step_id: str, method: str) -> Template | None:
        if "grant" not in spec:
            return None
        grant = self.template(spec, "grant", spec.get("grant"))
        if grant is None or grant.is_constant:
            # A constant would lend one user's grant to every caller.
            self.problem(spec, "grant", f"step {step_id!r}: grant names the legacy user whose "
                         "grant to use, e.g. '{{ input.username }}'")
            return None
        return grant

    def pages(self, spec: LocatedDict, method: str) -> Pages | None:
        section = self.mapping(spec, "pages")
        if section is None:
            return None
        self.unknown_keys(section, {"items", "next", "max"}, "pages")
        items, following = section.get("items"), section.get("next")
        for key, value in (("items", items), ("next", following)):
            if not isinstance(value, str) or not value:
                self.problem(section, key if key in section else "items",
                             f"pages needs {key}: a dotted path into each page (e.g. "
                             f"{'data' if key == 'items' else 'pagination.nextPage'})")
        most = section.get("max", 20)
        if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= 1000:
            self.problem(section, "max", "pages.max is the most pages followed: 1 to 1000")
            most = 20
        if method != "GET":
            self.problem(spec, "pages", "pages follows GET answers: the step's method must be GET")
        if not (isinstance(items, str) and items and isinstance(following, str) and following):
            return None
        return Pages(items, following, most)

    def throttle(self, spec: LocatedDict) -> Throttle | None:
        value = spec.get("throttle")
        if value is None or value is False:
            return None
        if value is True:
            return Throttle()
        if not isinstance(value, LocatedDict):
            self.problem(spec, "throttle", "throttle is true, or {attempts: 5, wait: 500ms, "
                         "max_wait: 5s, budget: 10s}")
            return None
        self.unknown_keys(value, {"attempts", "wait", "max_wait", "budget"}, "throttle")
        attempts = value.get("attempts", 5)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 2 <= attempts <= 10:
            self.problem(value, "attempts", "throttle.attempts counts every try: 2 to 10")
            attempts = 5
        default = Throttle()
        times = {key: self.duration(value, key) for key in ("wait", "max_wait", "budget")}
        for key, seconds in times.items():
            if seconds is not None and seconds <= 0:
                self.problem(value, key, f"throttle.{key} must be more than 0")
        return Throttle(attempts, times["wait"] or default.wait,
                        times["max_wait"] or default.max_wait, times["budget"] or default.budget)

    def each(self, spec: LocatedDict, step_id: str, cache: StepCache | None) -> dict[str, Any]:
        """A step's `each` and `as`: called once per item of a list."""
        if "each" not in spec:
            if "as" in spec:
                self.problem(spec, "as", f"step {step_id!r}: as names the item of each")
            return {}
        each = self.template(spec, "each", spec.get("each"))
        name = spec.get("as", "item")
        if not isinstance(name, str) or not name.isidentifier() or name in _SCOPES:
            self.problem(spec, "as", f"step {step_id!r}: as is a name of letters, digits and _ "
                         f"other than {', '.join(sorted(_SCOPES))}")
            name = "item"
        if "directory" in spec:
            self.problem(spec, "each", f"step {step_id!r}: each does not go with directory")
        if cache is not None and not any(ref.split(".")[0] == name
                                         for ref in cache.key.references):
            # One call per item has one answer per item: a key that does not name the item
            # would answer every item with the first one's.
            self.problem(spec, "cache", f"step {step_id!r}: with each, cache.key names the "
                         f"item ({{{{ {name} }}}}): one answer is remembered per item")
        return {"each": each, "each_as": name}

    def session(self, data: LocatedDict) -> SessionRule | None:
        section = self.mapping(data, "session")
        if section is None:
            return None
        self.unknown_keys(section, {"token", "refusal", "scope", "context", "without_token"},
                          "session")
        token = self.template(section, "token", section.get("token"))
        if token is None or token.is_constant:
            self.problem(section, "token" if "token" in section else "refusal",
                         "session needs token: the request's AuthenticationToken, e.g. "
                         "'{{ input.token }}'")
            return None
        scope_section: dict[str, Any] = self.mapping(section, "scope") or {}
        scope = {name: self.template(scope_section, name, value)
                 for name, value in scope_section.items()}
        without_token = section.get("without_token", REFUSE)
        if without_token not in WITHOUT_TOKEN or (without_token == BY_CONTEXT
                                                  and "context" not in section):
            self.problem(section, "without_token", "without_token is refuse, or context (with "
                         "session.context: the account the request names)")
            without_token = REFUSE
        return SessionRule(token, str(section.get("refusal", INVALID_TOKEN)),
                           {name: value for name, value in scope.items() if value is not None},
                           self.template(section, "context", section.get("context")),
                           without_token=str(without_token),
                           line=section.line, key_lines=section.key_lines)

    def retry(self, spec: LocatedDict) -> Retry | None:
        section = self.mapping(spec, "retry")
        if section is None:
            return None
        # `when`, not `on`: YAML 1.1 reads a bare `on` key as the boolean true.
        self.unknown_keys(section, {"attempts", "when", "backoff"}, "retry")
        attempts = section.get("attempts", 2)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 2 <= attempts <= 5:
            self.problem(section, "attempts", "retry.attempts counts every try: 2 to 5")
            attempts = 2
        kinds, statuses = set(), set()
        for item in _as_list(section.get("when", ["connect"])):
            if isinstance(item, int) and 500 <= item <= 599:
                statuses.add(item)
            elif item in ("connect", "timeout"):
                kinds.add(str(item))
            else:
                self.problem(section, "when", "retry.when lists connect, timeout or 5xx statuses")
        return Retry(attempts, frozenset(kinds), frozenset(statuses),
                     self.duration(section, "backoff") or 0.1)

    def on_error(self, spec: LocatedDict) -> tuple[ErrorRule, ...]:
        section = spec.get("on_error")
        if section is None:
            return ()
        if not isinstance(section, LocatedList):
            self.problem(spec, "on_error", "on_error must be a list")
            return ()
        rules = []
        for index, entry in enumerate(section):
            if not isinstance(entry, LocatedDict):
                self.problem(section, index, "each on_error entry must be a mapping")
                continue
            self.unknown_keys(entry, {"status", "error_code", "kind", "summary", "refuse"},
                              "on_error")
            if not isinstance(entry.get("refuse"), str):
                self.problem(section, index, "on_error entry needs refuse: <reason>")
                continue
            statuses = _as_list(entry.get("status"))
            if not all(isinstance(s, int) and 100 <= s <= 599 for s in statuses):
                self.problem(entry, "status", "status must be an HTTP status or a list of them")
            kinds = _as_list(entry.get("kind"))
            for kind in kinds:
                if kind not in ERROR_KINDS:
                    self.problem(entry, "kind", f"kind must be one of {', '.join(ERROR_KINDS)}")
            summaries = _as_list(entry.get("summary"))
            if not all(isinstance(text, str) and text.strip() for text in summaries):
                self.problem(entry, "summary", "summary is a text (or a list of texts) the "
                             "error's summary contains")
            rules.append(
                ErrorRule(
                    statuses=frozenset(s for s in statuses if isinstance(s, int)),
                    error_codes=frozenset(str(c) for c in _as_list(entry.get("error_code"))),
                    kinds=frozenset(str(k) for k in kinds),
                    refuse=entry["refuse"],
                    line=entry.line,
                    summaries=tuple(text.strip().casefold() for text in summaries
                                    if isinstance(text, str) and text.strip()),
                )
            )
        return tuple(rules)

    def learn_names(self, data: LocatedDict) -> Any:
        section = self.mapping(data, "learn_names")
        if section is None:
            return None
        self.unknown_keys(section, set(LEARNED_NAMES), "learn_names")
        known = copy.copy(section)  # a LocatedDict still, so the names keep their lines
        for key in section:
            if key not in LEARNED_NAMES:
                del known[key]
        return self.compiled(data, "learn_names", known)

    def token(self, data: LocatedDict) -> TokenRule | None:
        section = self.mapping(data, "token")
        if section is None:
            return None
        self.unknown_keys(section, {"issue", "bearer", "subject", "context", "accounts", "ttl",
                                    "bearer_ttl", "kind", "scope"}, "token")
        issue = section.get("issue", OPAQUE)
        if issue not in TOKEN_FORMS:
            self.problem(section, "issue", f"token.issue must be one of {', '.join(TOKEN_FORMS)}")
        kind, scope = self.token_use(section)
        ttl = self.duration(section, "ttl")
        if ttl is not None and ttl > MAX_TTL:
            self.problem(section, "ttl", f"token.ttl is at most {int(MAX_TTL // 86400)}d: a "
                         "user's revocation is kept that long")
        bearer = self.template(section, "bearer", section.get("bearer"))
        subject = self.template(section, "subject", section.get("subject"))
        if bearer is None:
            self.problem(section, "bearer", "token needs bearer: the upstream token it stands for")
        if subject is None:
            self.problem(section, "subject", "token needs subject: who logged in")
        if bearer is None or subject is None:
            return None
        return TokenRule(
            issue=str(issue),
            bearer=bearer,
            subject=subject,
            context=self.template(section, "context", section.get("context")),
            accounts=self.template(section, "accounts", section.get("accounts")),
            ttl=ttl,
            bearer_ttl=self.duration(section, "bearer_ttl"),
            line=section.line,
            key_lines=section.key_lines,
            kind=kind,
            scope=scope,
        )

    def token_use(self, section: LocatedDict) -> tuple[str, dict[str, Template]]:
        """token.kind and token.scope, checked together."""
        kind = section.get("kind", SESSION)
        if kind not in TOKEN_KINDS:
            self.problem(section, "kind", f"token.kind must be one of {', '.join(TOKEN_KINDS)}")
        raw = section.get("scope")
        scope: dict[str, Template] = {}
        if raw is not None and not (isinstance(raw, LocatedDict) and raw):
            self.problem(section, "scope", "token.scope maps names to values, e.g. "
                         "{package: \"{{ input.package }}\"}")
        elif raw is not None:
            for name in raw:
                compiled = self.template(raw, name, raw[name])
                if compiled is not None:
                    scope[str(name)] = compiled
        if kind == SCOPED and raw is None:
            self.problem(section, "kind", "a scoped token needs scope: the names it is bound to")
        if kind == SESSION and raw is not None:
            self.problem(section, "scope", "a session token is not bound to a scope: use "
                         "kind: scoped (or single-use)")
        if raw is not None and section.get("issue", OPAQUE) == "passthrough":
            self.problem(section, "scope", "a passthrough token is the bearer itself: it cannot "
                         "be bound to a scope")
        return str(kind), scope

    def reasons(self, data: LocatedDict) -> tuple[Any, dict[str, Reason]]:
        section = self.mapping(data, "refusals")
        if section is None:
            return None, {}
        self.unknown_keys(section, {"result", "reasons"}, "refusals")
        template = self.compiled(section, "result", section.get("result"))
        reasons: dict[str, Reason] = {}
        reason_section = self.mapping(section, "reasons") or _empty()
        for name, spec in reason_section.items():
            if not isinstance(spec, LocatedDict):
                self.problem(reason_section, name, f"reason {name!r} must be a mapping")
                continue
            self.unknown_keys(spec, {"message", "severity", "url", "fault"}, f"reason {name!r}")
            message = self.template(spec, "message", spec.get("message"))
            if message is None:
                self.problem(reason_section, name, f"reason {name!r} needs a message")
                continue
            severity = str(spec.get("severity", "Error"))
            if severity not in SEVERITIES:
                self.problem(spec, "severity", f"severity must be one of {', '.join(SEVERITIES)}")
            fault = spec.get("fault")
            if fault is not None and fault not in FAULT_CODES:
                self.problem(spec, "fault", f"fault must be one of {', '.join(FAULT_CODES)}")
            reasons[name] = Reason(
                name, message, severity, self.template(spec, "url", spec.get("url")),
                str(fault) if fault else None, reason_section.line_of(name),
            )
        return template, reasons


def _empty() -> LocatedDict:
    empty = LocatedDict()
    empty.key_lines = {}
    return empty


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def compile_rule(path: str, display: str | None = None) -> Rule:
    """Compile one rule file; every mistake found is reported together."""
    name = display or path
    data = load_yaml(path, name)
    if not isinstance(data, LocatedDict):
        raise ConfigError([Problem(name, 1, "a rule file must be a YAML mapping")])
    compiler = _Compiler(name)
    compiler.unknown_keys(data, _RULE_KEYS, "rule")
    operation = data.get("operation")
    lookup = data.get("lookup")
    if lookup is not None:
        # A lookup rule serves the JSON API (e.g. account contexts), not a SOAP operation.
        if lookup not in LOOKUPS or operation is not None:
            compiler.problem(data, "lookup", f"lookup must be one of {', '.join(LOOKUPS)}, "
                             "and a rule is either a lookup or an operation")
        operation = f"lookup:{lookup}"
    elif not isinstance(operation, str):
        compiler.problem(data, "operation", "a rule needs operation: <WSDL operation name>")
    result = compiler.compiled(data, "result", data.get("result"))
    if result is None and "result" not in data:
        compiler.problem(data, "operation", "a rule needs result: the answer to build")
    refusal, reasons = compiler.reasons(data)
    refusals = data.get("refusals")
    compare = data.get("compare") or {}
    if not isinstance(compare, dict):
        compiler.problem(data, "compare", "compare must be a mapping")
        compare = {}
    changes_data = data.get("changes_data", str(operation).startswith(_CHANGING_PREFIXES))
    if not isinstance(changes_data, bool):
        compiler.problem(data, "changes_data", "changes_data must be true or false")
        changes_data = True
    legacy_token = None
    token_section = data.get("legacy_token")
    if token_section is not None:
        if (not isinstance(token_section, LocatedDict) or set(token_section) != {"answer", "requests"}
                or not all(isinstance(v, str) for v in token_section.values())):
            compiler.problem(data, "legacy_token", "legacy_token takes answer: <path in the "
                             "answer> and requests: <attribute name>")
        else:
            legacy_token = LegacyToken(token_section["answer"], token_section["requests"],
                                       token_section.line_of("answer"))
    local = data.get("local", False)
    if not isinstance(local, bool):
        compiler.problem(data, "local", "local must be true or false")
        local = False
    if local and (data.get("steps") or data.get("verify") or data.get("token")):
        # Nothing answered in every mode may reach an upstream or hand out a token.
        compiler.problem(data, "local", "a local rule answers by itself: it takes no verify, "
                         "steps or token")
    rest, rest_problems = compile_rest(data, name)
    compiler.problems.extend(rest_problems)
    rule = Rule(
        operation=str(operation),
        file=name,
        line=data.line,
        inputs=compiler.inputs(data),
        verify=compiler.verify(data),
        lockout=compiler.lockout(data),
        steps=compiler.steps(data),
        token=compiler.token(data),
        session=compiler.session(data),
        result=result,
        refusal=refusal,
        reasons=reasons,
        compare=compare,
        learn_accounts=compiler.compiled(data, "learn_accounts", data.get("learn_accounts")),
        learn_names=compiler.learn_names(data),
        learn_ids=compiler.learn_ids(data),
        changes_data=changes_data,
        lookup=str(lookup) if lookup is not None else None,
        legacy_token=legacy_token,
        local=local,
        key_lines=data.key_lines,
        refusal_line=refusals.key_lines.get("result", 0) if isinstance(refusals, LocatedDict) else 0,
        rest=rest,
    )
    if compiler.problems:
        raise ConfigError(compiler.problems)
    return rule


def rule_files(folders: tuple[str, ...] | list[str]) -> list[str]:
    """Every *.yaml / *.yml under the mapping folders (or the files themselves), sorted."""
    found: list[str] = []
    for folder in folders:
        if os.path.isfile(folder):
            found.append(folder)
            continue
        for root, _dirs, files in os.walk(folder):
            found.extend(
                os.path.join(root, f) for f in files if f.endswith((".yaml", ".yml"))
            )
    return sorted(found)


def display_path(path: str) -> str:
    """Paths in messages relative to the working directory when that is shorter."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path
