"""Carry out one operation as its rule says: verify, call upstream, mint the token, build the answer."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.auth.lockout import IN_FLIGHT, Attempt, Lockout, Standing
from bridge.auth.passwords import CredentialsFile
from bridge.auth.tokens import SINGLE_USE, USED, Grant, TokenIssuer
from bridge.auth.verifiers import LearnedVerifiers
from bridge.errors import Fault, SoapClientError, StoreError, UpstreamError
from bridge.identity import identity
from bridge.rules.calls import Authorizer, GrantRefused, StepCall
from bridge.rules.ids import IdMap
from bridge.rules.model import (
    BY_CONTEXT,
    INVALID_CREDENTIALS,
    TOKEN_REQUIRED,
    UNAVAILABLE,
    Rule,
    SessionRule,
    Step,
    Verify,
)
from bridge.rules.remembered import RememberedResults
from bridge.rules.template import IDS_IN_FORCE, VARS_IN_FORCE, lookup, render_value
from bridge.store.base import Store
from bridge.upstream.rest import Reply, RestClient

log = logging.getLogger("bridge.rules")


@dataclass
class Outcome:
    """What an operation produced: a result to serialise, or a fault; and why, for logs."""

    result: dict[str, Any] | None = None
    fault: Fault | None = None
    reason: str = "ok"
    detail: str = ""
    upstream_calls: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    # Refused by the bridge's own lockout, before anything was asked of anyone.
    locked_out: bool = False
    # This request's failure is the one that locked the user.
    locked_now: bool = False
    cache_hits: int = 0
    cache_misses: int = 0
    # When each step's values were obtained (a cached step's: when it was cached), so a
    # token knows how old its bearer is.
    fetched: dict[str, float] = field(default_factory=dict)
    # Each step's extracted values, for what is learned beside the answer (learn_ids).
    steps: dict[str, Any] = field(default_factory=dict)


class Refusal(Exception):
    """Internal control flow: stop the rule and answer with a refusal reason."""

    def __init__(self, reason: str, detail: str, status: int | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.status = status
        super().__init__(reason)


@dataclass
class _Guard:
    """The lockout's part in one run: the standing read at its start, and the hold on the
    one password check the run may make, taken just before the verifier is asked (so a
    remembered verification never needs one) and settled by the run's verdict."""

    lockout: Lockout
    subject: str
    refusal: str
    standing: Standing
    outcome: Outcome
    attempt: Attempt | None = None

    def refuse(self, detail: str) -> Refusal:
        self.outcome.locked_out = True
        return Refusal(self.refusal, detail)

    def hold(self) -> None:
        if self.attempt is not None:
            return
        attempt = self.lockout.reserve(self.subject)
        if attempt.refused:
            raise self.refuse(_IN_FLIGHT if attempt.refused == IN_FLIGHT else _LOCKED)
        self.attempt = attempt

    def succeed(self) -> None:
        attempt, self.attempt = self.attempt, None
        if not self.lockout.record_success(self.subject, attempt, self.standing):
            raise self.refuse(_LOCKED)

    def fail(self) -> str:
        attempt, self.attempt = self.attempt, None
        return self.lockout.record_failure(self.subject, attempt)

    def release(self) -> None:
        attempt, self.attempt = self.attempt, None
        if attempt is not None:
            self.lockout.release(self.subject, attempt)


_LOCKED = "locked out after repeated failures"
_IN_FLIGHT = "locked out: the checks this lock cycle allows are all being made"


class DirectoryRead(Protocol):
    """What the bridge's own account directory knows of a user ({firstName, lastName,
    accounts}, or None); `found`: store values read ahead (keys from `directory_reads`)."""

    def __call__(self, username: str, found: Mapping[str, Any] | None = None, /
                 ) -> Mapping[str, Any] | None: ...


@dataclass
class _Run:
    """Per-run bookkeeping: cache entries this run relied on."""

    outcome: Outcome
    guard: _Guard | None = None
    use_cache: bool = True
    # Store values read with the lockout standing, for a directory step (see _read_ahead).
    ahead: Mapping[str, Any] = field(default_factory=dict)
    cached: dict[str, str] = field(default_factory=dict)  # step id -> store key
    refresh_on: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class LegacyCall:
    """A rendered verify.legacy: one SOAP call to the legacy service, as plain data."""

    path: str
    namespace: str
    operation: str
    action: str
    header: Mapping[str, Any]
    body: Mapping[str, Any]
    refused: tuple[str, ...]


# What a legacy credentials check can answer (EngineContext.legacy_check).
LEGACY_OK = "ok"
LEGACY_REFUSED = "refused"


@dataclass(frozen=True)
class EngineContext:
    """Everything rules need at run time, wired once at start-up."""

    upstreams: Mapping[str, RestClient]
    store: Store
    tokens: TokenIssuer
    lockout: Lockout
    secrets: Mapping[str, str]
    vars: Mapping[str, Any]
    token_ttl: float
    # Seals cached step results (e.g. bearer tokens) before they reach the store.
    state_key: bytes
    credentials: CredentialsFile | None = None
    # Shared by the engines of one process (the request path and the side path).
    remembered: RememberedResults | None = None
    # What the bridge's own account directory knows of a user ({firstName, lastName,
    # accounts}, or None), for directory steps; passed in because the directory sits above.
    directory: DirectoryRead | None = None
    # The store keys `directory` reads for a user (its learned source): read in the same
    # round trip as the lockout standing, so a warm login reads the store once.
    directory_reads: Callable[[str], Sequence[str]] | None = None
    # The OAuth2 grants steps with `grant:` call with (bridge/grants; it sits above rules).
    grants: Authorizer | None = None
    # Asks the legacy service whether credentials are good (verify.strategy legacy):
    # LEGACY_OK, LEGACY_REFUSED, or why it could not tell. None: no legacy service.
    legacy_check: Callable[[LegacyCall], str] | None = None
    # Whether the legacy service is retired by now (legacy.retired_at has passed).
    legacy_retired: Callable[[], bool] | None = None
    # Verifiers learned while the legacy side verified (verify.learn).
    verifiers: LearnedVerifiers | None = None
    # The legacy ints of REST GUIDs, for the int_id and guid filters (bridge/rules/ids.py).
    ids: IdMap | None = None
    # The user the bridge acts as for an account named without a token (session
    # without_token: context; bridge/contexts.py), None if no one holds it; and whether the
    # configuration refuses such requests instead (contexts.require_token).
    context_holder: Callable[[str], str | None] | None = None
    require_token: bool = False


@dataclass(frozen=True)
class _Remembering:
    """Where one step's result is remembered, for how long, and what makes it stale."""

    key: str
    ttl: float
    refresh_on: frozenset[int]


class RuleEngine:
    """Runs compiled rules; holds no per-request state."""

    def __init__(self, context: EngineContext) -> None:
        self.context = context
        self.remembered = context.remembered or RememberedResults(context.store, context.state_key)

    def run(self, rule: Rule, request: Mapping[str, Any], dry_run: bool = False) -> Outcome:
        """Carry the rule out. A dry run (the shadow side) leaves no trace: no lockout is
        counted or consulted and the token it answers with is never stored."""
        outcome = Outcome()
        # Each run sets it, in its own thread's context: the filters read this engine's table.
        ids = self.context.ids
        IDS_IN_FORCE.set(ids.dry() if ids is not None and dry_run else ids)
        VARS_IN_FORCE.set(self.context.vars)
        scope: dict[str, Any] = {
            "input": {},
            "steps": {},
            "secrets": self.context.secrets,
            "vars": self.context.vars,
        }
        guard: _Guard | None = None
        ahead: dict[str, Any] = {}
        try:
            scope["input"], missing = self._inputs(rule, request)
            absent = _nothing_given(rule, scope["input"])
            if absent:
                # Not a wrong password but a request shaped unlike the WSDL (a client that
                # dropped an element it did not know): saying "invalid password" would send
                # people hunting a password that is right.
                outcome.reason = SoapClientError.reason  # logged and counted as any client error
                outcome.detail = f"request carries none of {', '.join(absent)}"
                outcome.fault = Fault("Client", f"The {rule.operation} request carries none of "
                                      f"{' and '.join(absent)}.")
                return outcome
            if rule.lockout is not None and not dry_run:
                subject = str(rule.lockout.subject.render(scope) or "")
                if identity(subject):
                    ahead = self._read_ahead(rule, subject)
                    lockout = self.context.lockout
                    guard = _Guard(lockout, subject, rule.lockout.refusal,
                                   lockout.standing(subject, ahead), outcome)
                    if guard.standing.locked:
                        raise guard.refuse(_LOCKED)
            # Only now, so that a blank password counts towards the lockout like a wrong one.
            if missing is not None:
                raise missing
            if rule.session is not None:
                scope["session"] = self._session(rule, scope, dry_run)
                if scope["session"]["holder"]:
                    # Logged: who still calls without a token, before contexts.require_token.
                    outcome.detail = "no token: acting as the account's holder"
            self._verify_locally(rule, scope, guard)
            self._run_steps(rule, scope, outcome, guard, ahead)
            if guard is not None:
                # Before the token: a success cannot happen while a lock stands.
                guard.succeed()
            if rule.token is not None:
                scope["token"] = (secrets.token_urlsafe(32) if dry_run
                                  else self._issue_token(rule, scope, outcome))
        except Refusal as refusal:
            if guard is not None:
                # Attempts while locked out do not count: they would only stretch the lock.
                if refusal.reason == INVALID_CREDENTIALS and not outcome.locked_out:
                    lock = guard.fail()
                    if lock:
                        outcome.locked_now = True
                        refusal.detail += f"; this failure locked the user ({lock})"
                else:
                    guard.release()
            refused = self._refuse(rule, refusal, scope, outcome)
            if outcome.locked_out:
                # The caller may see a plain failed login; the logs say what it really was.
                refused.reason = "locked_out"
            return refused
        except BaseException:
            if guard is not None:
                # The run broke (the store, most likely): give the check's place back if the
                # store lets us; otherwise it comes back when the hold's lease ends.
                with contextlib.suppress(StoreError):
                    guard.release()
            raise
        outcome.result = _prune(render_value(rule.result, scope)) or {}
        outcome.steps = scope["steps"]
        return outcome

    # -- the parts of a run --------------------------------------------------

    def refuse(self, rule: Rule, reason: str, request: Mapping[str, Any], detail: str) -> Outcome:
        """The rule's answer for a refusal decided before it ran (e.g. a rate limit)."""
        inputs, _ = self._inputs(rule, request)
        scope: dict[str, Any] = {"input": inputs, "steps": {}, "secrets": self.context.secrets,
                                 "vars": self.context.vars}
        return self._refuse(rule, Refusal(reason, detail), scope, Outcome())

    @staticmethod
    def username(rule: Rule, request: Mapping[str, Any]) -> str | None:
        """The user a request is for, as the rule's verify section names it (for routing)."""
        if rule.verify is None:
            return None
        for entry in rule.inputs:
            if entry.name == rule.verify.username:
                value = lookup(request, entry.path)
                return str(value) if value else None
        return None

    def learned_names(self, rule: Rule, request: Mapping[str, Any],
                      answer: Mapping[str, Any]) -> dict[str, str]:
        """The names a legacy answer reveals (firstName, lastName), those it has only."""
        if rule.learn_names is None:
            return {}
        inputs, _ = self._inputs(rule, request)
        names = render_value(rule.learn_names, {"input": inputs, "answer": answer})
        return {key: str(value).strip() for key, value in names.items()
                if value is not None and str(value).strip()}

    def learned_accounts(self, rule: Rule, request: Mapping[str, Any],
                         answer: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Accounts a legacy answer reveals, in the directory's shape (empty if none)."""
        if rule.learn_accounts is None:
            return []
        inputs, _ = self._inputs(rule, request)
        accounts = render_value(rule.learn_accounts, {"input": inputs, "answer": answer})
        return [a for a in accounts if isinstance(a, dict) and a.get("contextIdentifier")] \
            if isinstance(accounts, list) else []

    def _session(self, rule: Rule, scope: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        """The login the request's token stands for, as templates read it (`session.*`). A dry
        run (the shadow side) does not use a single-use token up."""
        spec = rule.session
        assert spec is not None
        token = str(spec.token.render(scope) or "").strip()
        scheme, _, rest = token.partition(" ")
        if rest and scheme.lower() == "bearer":
            # An Authorization header's value is read as it came.
            token = rest.strip()
        elif rest and spec.without_token == BY_CONTEXT:
            # Another scheme (Basic): not the bridge's, and ignored as the legacy service did.
            token = ""
        if not token and spec.without_token == BY_CONTEXT:
            return self._session_by_context(rule, spec, scope)
        scope_values = {name: str(value.render(scope) or "") for name, value in spec.scope.items()}
        # Peeked: a single-use token is spent below, once the account is checked too (a use
        # refused for naming another account does not use it up).
        grant = self.context.tokens.check(token, scope_values, consume=False) if token else None
        if not isinstance(grant, Grant):
            # Unknown, expired, used and revoked tokens get one answer: which it was helps
            # no caller (the log's detail says).
            raise Refusal(spec.refusal, f"token refused: {grant.reason}" if grant is not None
                          else "no token given")
        if spec.context is not None:
            wanted = str(spec.context.render(scope) or "").strip().casefold()
            known = {str(account.get(key) or "").strip().casefold() for account in grant.accounts
                     if isinstance(account, dict) for key in ("contextIdentifier", "accountID")}
            if not wanted or wanted not in known:
                raise Refusal(spec.context_refusal, "the account named is not one of the login's")
        if grant.kind == SINGLE_USE and not dry_run and not self.context.tokens.consume(grant):
            raise Refusal(spec.refusal, f"token refused: {USED}")
        return {"subject": grant.subject, "bearer": grant.bearer, "context": grant.context,
                "accounts": grant.accounts, "holder": ""}

    def _session_by_context(self, rule: Rule, spec: SessionRule, scope: dict[str, Any]
                            ) -> dict[str, Any]:
        """The legacy way, for a request with no token: the account it names is the
        credential (as the legacy service took it), and the session is the account's holder's.
        No bearer: the rule's steps obtain one for `session.holder`."""
        holders = self.context.context_holder
        if holders is None or self.context.require_token:
            reason = TOKEN_REQUIRED if TOKEN_REQUIRED in rule.reasons else spec.refusal
            raise Refusal(reason, "no token given, and the configuration requires one"
                          if holders is not None else "no token given, and no account holders")
        assert spec.context is not None  # the compiler asks for it with without_token: context
        wanted = str(spec.context.render(scope) or "").strip()
        holder = holders(wanted) if wanted else None
        if not holder:
            raise Refusal(spec.context_refusal, "no token given, and no holder of the account "
                          "named is known (contexts.holders, directory file)")
        account = {"contextIdentifier": wanted, "accountID": wanted}
        return {"subject": holder, "bearer": "", "context": f"{holder}:{wanted}",
                "accounts": [account], "holder": holder}

    def _each(self, rule: Rule, step: Step, scope: dict[str, Any], run: _Run) -> dict[str, Any]:
        """A step with `each`: one call per item; each extracted value becomes the list of
        the items' values, and `each` the list of {<as>: item, <extracted>…} rows."""
        assert step.each is not None
        items = step.each.render(scope)
        if not isinstance(items, list):
            items = [] if items is None or items == "" or items is False else [items]
        rows = []
        try:
            for item in items:
                scope[step.each_as] = item
                rows.append({step.each_as: item, **self._run_step(rule, step, scope, run)})
        finally:
            scope.pop(step.each_as, None)
        values: dict[str, Any] = {e.name: [row.get(e.name) for row in rows] for e in step.extract}
        values["each"] = rows
        return values

    def _inputs(
        self, rule: Rule, request: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Refusal | None]:
        """The named inputs, and the refusal for the first required one that is missing."""
        values: dict[str, Any] = {}
        missing: Refusal | None = None
        for entry in rule.inputs:
            value = lookup(request, entry.path)
            if entry.required and (value is None or value == "") and missing is None:
                missing = Refusal(entry.missing, f"request lacks {entry.path}")
            values[entry.name] = value
        return values, missing

    def _verify_locally(self, rule: Rule, scope: dict[str, Any], guard: _Guard | None) -> None:
        verify = rule.verify
        for name, expected in (verify.must_match if verify is not None else {}).items():
            given = str(scope["input"].get(name) or "").strip()
            if given and given.casefold() != str(expected.render(scope) or "").strip().casefold():
                raise Refusal(INVALID_CREDENTIALS, f"input {name} does not match")
        if verify is not None and verify.strategy == "legacy":
            self._verify_at_legacy(rule, verify, scope, guard)
            return
        if verify is None or verify.strategy != "local":
            return
        credentials = self.context.credentials
        if credentials is None:
            # check() refuses this configuration; fail closed if it slips through.
            raise Refusal(UNAVAILABLE, "local verification has no credentials file")
        username = str(scope["input"].get(verify.username) or "")
        password = str(scope["input"].get(verify.password) or "")
        remembering = self._remembering(rule, None, scope)
        if remembering is not None and self.remembered.get(remembering.key) is not None:
            return
        if guard is not None:
            guard.hold()
        verdict = credentials.verify(username, password)
        if not verdict.ok:
            assert verdict.reason is not None
            raise Refusal(verdict.reason, f"local verification: {verdict.reason}")
        if remembering is not None:
            self.remembered.put(remembering.key, {}, remembering.ttl)

    # -- verifiers learned from the legacy side (verify.learn) ----------------------

    def legacy_retired(self) -> bool:
        """Whether the legacy side no longer verifies: none configured, or past retired_at."""
        retired = self.context.legacy_retired
        return self.context.legacy_check is None or (retired is not None and retired())

    def _verify_at_legacy(self, rule: Rule, verify: Verify, scope: dict[str, Any],
                          guard: _Guard | None) -> None:
        """strategy legacy: the legacy service's own check while it is there (learning what it
        accepts), the learned verifier after."""
        remembering = self._remembering(rule, None, scope)
        if remembering is not None and self.remembered.get(remembering.key) is not None:
            return
        if guard is not None:
            guard.hold()
        if self.legacy_retired():
            self._check_learned(verify, scope)
        else:
            check = verify.legacy
            assert check is not None and self.context.legacy_check is not None
            call = LegacyCall(check.path, check.namespace, check.operation, check.action,
                              _prune(render_value(check.header, scope)) or {},
                              _prune(render_value(check.body, scope)) or {}, check.refused)
            verdict = self.context.legacy_check(call)
            if verdict == LEGACY_REFUSED:
                self._unlearn_verifier(verify, scope)
                raise Refusal(INVALID_CREDENTIALS, "legacy verification: refused")
            if verdict != LEGACY_OK:
                raise Refusal(UNAVAILABLE, f"legacy verification: {verdict}")
            self._learn_verifier(verify, scope)
        if remembering is not None:
            self.remembered.put(remembering.key, {}, remembering.ttl)

    def learn_verifier(self, rule: Rule, request: Mapping[str, Any]) -> bool:
        """Learn the credentials of a request the legacy service has just answered without a
        Fault (legacy mode: it was passed through, and nothing else checked it). Only for
        strategy legacy, whose refusals are Faults: any answer means accepted credentials."""
        verify = rule.verify
        if (verify is None or not verify.learn or verify.strategy != "legacy"
                or self.legacy_retired()):
            return False
        inputs, _ = self._inputs(rule, request)
        self._learn_verifier(verify, {"input": inputs})
        return True

    def unlearn_verifier(self, rule: Rule, request: Mapping[str, Any], fault: str) -> bool:
        """Forget the learned verifier of a request's credentials that the legacy service has
        just refused in a Fault with one of the rule's `verify.legacy.refused` texts (legacy
        mode: it was passed through). See `_unlearn_verifier`."""
        verify = rule.verify
        if (verify is None or not verify.learn or verify.strategy != "legacy"
                or verify.legacy is None or self.legacy_retired()
                or not any(text in fault for text in verify.legacy.refused)):
            return False
        inputs, _ = self._inputs(rule, request)
        return self._unlearn_verifier(verify, {"input": inputs})

    def _unlearn_verifier(self, verify: Verify, scope: dict[str, Any]) -> bool:
        """The legacy service refused these credentials: if they are the ones learned, they
        were revoked there, and must not authenticate after retirement."""
        verifiers = self.context.verifiers
        if not verify.learn or verifiers is None:
            return False
        username = str(scope["input"].get(verify.username) or "")
        secret = str(scope["input"].get(verify.password) or "")
        if username and secret and verifiers.forget_if(username, secret):
            log.info("verifier forgotten", extra={"detail": "the legacy side refused it"})
            return True
        return False

    def _check_learned(self, verify: Verify, scope: dict[str, Any]) -> None:
        verifiers = self.context.verifiers
        username = str(scope["input"].get(verify.username) or "")
        secret = str(scope["input"].get(verify.password) or "")
        if verifiers is None or not verifiers.verify(username, secret):
            raise Refusal(INVALID_CREDENTIALS, "no learned verifier matches (legacy retired)")

    def _learn_verifier(self, verify: Verify, scope: dict[str, Any]) -> None:
        verifiers = self.context.verifiers
        if not verify.learn or verifiers is None:
            return
        username = str(scope["input"].get(verify.username) or "")
        secret = str(scope["input"].get(verify.password) or "")
        if username and secret and verifiers.learn(username, secret):
            log.info("verifier learned", extra={"detail": "from the legacy side's success"})

    def _run_steps(self, rule: Rule, scope: dict[str, Any], outcome: Outcome,
                   guard: _Guard | None = None, ahead: Mapping[str, Any] | None = None
                   ) -> None:
        run = _Run(outcome, guard, ahead=ahead or {})
        try:
            for step in rule.steps:
                scope["steps"][step.id] = self._attempt(rule, step, scope, run)
        except Refusal as refusal:
            if not run.cached or refusal.status not in run.refresh_on:
                raise
            # A cached value (typically a bearer) was refused upstream: forget it and run
            # again from the first cached step; earlier steps (the verification) stand.
            for key in run.cached.values():
                self.remembered.forget(key)
            first = min(i for i, step in enumerate(rule.steps) if step.id in run.cached)
            fresh = _Run(outcome, guard, use_cache=False, ahead=run.ahead)
            for step in rule.steps[first:]:
                scope["steps"][step.id] = self._attempt(rule, step, scope, fresh)

    def _attempt(self, rule: Rule, step: Step, scope: dict[str, Any], run: _Run) -> dict[str, Any]:
        """Run a step; an optional step's failure leaves its extracted values empty."""
        try:
            if step.each is not None:
                return self._each(rule, step, scope, run)
            return self._run_step(rule, step, scope, run)
        except Refusal as refusal:
            stale = bool(run.cached) and refusal.status in run.refresh_on
            if not step.optional or stale:
                raise
            log.info("optional step failed", extra={"step": step.id, "detail": refusal.detail})
            return {extract.name: None for extract in step.extract}

    def _run_step(
        self, rule: Rule, step: Step, scope: dict[str, Any], run: _Run
    ) -> dict[str, Any]:
        outcome = run.outcome
        remembering = self._remembering(rule, step, scope)
        if remembering is not None:
            cached = self.remembered.get(remembering.key) if run.use_cache else None
            if cached is not None:
                outcome.timings[f"{step.id}.cached"] = 0.0
                # An entry of an earlier version does not say: take it as old as it can be.
                outcome.fetched[step.id] = (self.remembered.fetched_at(remembering.key)
                                            or time.time() - remembering.ttl)
                outcome.cache_hits += 1
                run.cached[step.id] = remembering.key
                run.refresh_on |= remembering.refresh_on
                return cached
            outcome.cache_misses += 1
        outcome.fetched[step.id] = time.time()
        if step.directory is not None:
            extracted = self._read_directory(step, scope, run)
            if remembering is not None:
                self.remembered.put(remembering.key, extracted, remembering.ttl)
            return extracted
        learning = (rule.verify is not None and rule.verify.learn
                    and step.id == rule.verify.step)
        if learning and self.legacy_retired():
            # Lazy migration done: the learned verifier stands in for the retired check.
            assert rule.verify is not None
            if run.guard is not None:
                run.guard.hold()
            self._check_learned(rule.verify, scope)
            return {extract.name: None for extract in step.extract}
        client = self.context.upstreams[step.upstream]
        path = str(step.path.render(scope))
        headers = {k: str(v.render(scope)) for k, v in step.headers.items() if v is not None}
        body = render_value(step.json, scope) if step.json is not None else None
        if run.guard is not None and _checks_password(rule, step):
            run.guard.hold()
        started = time.perf_counter()
        try:
            reply = self._carry_out(step, client, path, body, headers, scope, outcome)
        except GrantRefused as exc:
            outcome.timings[step.id] = time.perf_counter() - started
            raise Refusal(exc.reason, f"step {step.id}: {exc.detail}") from exc
        except UpstreamError as exc:
            outcome.timings[step.id] = time.perf_counter() - started
            raise self._map_error(step, exc.kind, None, None, exc.detail) from exc
        outcome.timings[step.id] = reply.elapsed
        # Method, path and status only: bodies and headers carry credentials. The path as
        # the rule writes it: rendered, it may name the user (users/{username}/accounts).
        log.debug("upstream step", extra={"step": step.id, "upstream": step.upstream,
                                          "method": step.method, "path": step.path.source,
                                          "status": reply.status, "error_code": reply.error_code,
                                          "ms": round(reply.elapsed * 1000, 2)})
        if not reply.ok:
            refusal = self._map_error(step, "http", reply.status, reply.error_code, _describe(reply),
                                      reply.summary)
            refusal.status = reply.status
            if learning and refusal.status < 500 and refusal.reason == INVALID_CREDENTIALS:
                # The upstream refused this password: if it is the learned one, it was
                # changed or revoked there (as for strategy legacy's refused texts).
                assert rule.verify is not None
                self._unlearn_verifier(rule.verify, scope)
            raise refusal
        extracted = self._extract(step, reply.body, reply.status)
        if learning:
            assert rule.verify is not None
            self._learn_verifier(rule.verify, scope)
        if remembering is not None:
            self.remembered.put(remembering.key, extracted, remembering.ttl)
        return extracted

    def _remembering(self, rule: Rule, step: Step | None, scope: dict[str, Any]
                     ) -> _Remembering | None:
        """How a step's result (or, for step None, a local verification) is remembered."""
        if step is not None and step.cache is not None:
            material = str(step.cache.key.render(scope))
            return _Remembering(self.remembered.key("step", rule.operation, step.id, material),
                                step.cache.ttl, step.cache.refresh_on)
        verify = rule.verify
        if verify is None or verify.cache is None:
            return None
        if step is not None and step.id != verify.step:
            return None
        # Only a success is ever remembered, under these exact credentials: another
        # password finds nothing and goes to be verified (and counted) as usual.
        material = json.dumps([scope["input"].get(verify.username),
                               scope["input"].get(verify.password)])
        return _Remembering(
            self.remembered.key("verified", rule.operation, step.id if step else "local", material),
            verify.cache, frozenset({401}))

    def _carry_out(self, step: Step, client: RestClient, path: str, body: Any,
                   headers: dict[str, str], scope: dict[str, Any], outcome: Outcome) -> Reply:
        """The step's call, or calls: with its grant, 429s waited out, every page followed."""
        if step.grant is None and step.pages is None and step.throttle is None:
            return self._call(step, client, path, body, headers, outcome)
        user = str(step.grant.render(scope) or "").strip() if step.grant is not None else ""
        if step.grant is not None and self.context.grants is None:
            raise GrantRefused(UNAVAILABLE, "no grant provider is configured")
        return StepCall(step, client.endpoint.base_url,
                        lambda p, b, h: self._call(step, client, p, b, h, outcome),
                        self.context.grants, user).carry_out(path, body, headers)

    def _call(self, step: Step, client: RestClient, path: str, body: Any,
              headers: dict[str, str], outcome: Outcome) -> Reply:
        """One call, or several when the step's retry rule says the failure is safe to repeat."""
        attempts = step.retry.attempts if step.retry is not None else 1
        for attempt in range(1, attempts + 1):
            outcome.upstream_calls += 1
            try:
                reply = client.call(step.method, path, body, headers)
            except UpstreamError as exc:
                if attempt == attempts or step.retry is None or exc.kind not in step.retry.kinds:
                    raise
            else:
                if (attempt == attempts or step.retry is None
                        or reply.status not in step.retry.statuses):
                    return reply
            assert step.retry is not None
            # Exponential backoff with full jitter: instances do not retry in lock-step.
            time.sleep(random.uniform(0, step.retry.backoff * 2 ** (attempt - 1)))  # noqa: S311
            log.info("retrying upstream step", extra={"step": step.id, "attempt": attempt + 1})
        raise AssertionError("unreachable")

    def _read_ahead(self, rule: Rule, subject: str) -> dict[str, Any]:
        """The lockout standing's keys and, when a directory step follows, the directory's
        keys for the same user, read in one store round trip (a warm login's only one).
        The directory takes what it needs if its step names that user; a name learned
        since the read shows at the next login, as it would with the step reading itself.
        The lockout and the directory share the engine's store (wiring.py)."""
        keys = list(self.context.lockout.reads(subject))
        reads = self.context.directory_reads
        if reads is not None and any(step.directory is not None for step in rule.steps):
            keys += reads(subject)
        return dict(zip(keys, self.context.store.get_many(keys), strict=True))

    def _read_directory(self, step: Step, scope: dict[str, Any], run: _Run
                        ) -> dict[str, Any]:
        """A directory step: the directory's entry for the user stands in for an answer."""
        assert step.directory is not None
        username = str(step.directory.render(scope) or "").strip()
        read = self.context.directory
        started = time.perf_counter()
        entry = None
        if read is not None and username:
            ahead = run.ahead if self.context.directory_reads is not None else None
            entry = read(username, ahead) if ahead else read(username)
        run.outcome.timings[step.id] = time.perf_counter() - started
        return self._extract(step, entry or {}, None)

    def _extract(self, step: Step, body: Any, status: int | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for extract in step.extract:
            value = None
            for path in extract.paths:
                value = lookup(body, path)
                if value is not None:
                    break
            if value is None and not extract.optional:
                source = step.upstream if step.directory is None else "the directory's"
                raise self._map_error(
                    step, "protocol", status, None,
                    f"{source} answer to step {step.id} lacks {' or '.join(extract.paths)}",
                )
            values[extract.name] = value
        return values

    def _map_error(
        self, step: Step, kind: str, status: int | None, error_code: str | None, detail: str,
        summary: str | None = None,
    ) -> Refusal:
        for error in step.on_error:
            if error.matches(kind, status, error_code, summary) and error.refuse:
                return Refusal(error.refuse, f"step {step.id}: {detail}")
        return Refusal(UNAVAILABLE, f"step {step.id}: {detail}")

    def _issue_token(self, rule: Rule, scope: dict[str, Any], outcome: Outcome) -> str:
        spec = rule.token
        assert spec is not None
        bearer = spec.bearer.render(scope)
        if not bearer:
            # Fail closed: never hand out a token that stands for nothing.
            raise Refusal(UNAVAILABLE, "the rule produced no bearer token")
        accounts = spec.accounts.render(scope) if spec.accounts is not None else None
        grant = Grant(
            subject=str(spec.subject.render(scope) or ""),
            bearer=str(bearer),
            context=(str(spec.context.render(scope) or "") or None) if spec.context else None,
            operation=rule.operation,
            accounts=accounts if isinstance(accounts, list) else [],
            bearer_expires_at=(outcome.fetched.get(spec.bearer_step() or "", time.time())
                               + spec.bearer_ttl) if spec.bearer_ttl else 0.0,
            kind=spec.kind,
            scope=self._token_scope(spec.scope, scope),
        )
        return self.context.tokens.issue(grant, spec.issue, spec.ttl or self.context.token_ttl)

    @staticmethod
    def _token_scope(spec: Mapping[str, Any], scope: dict[str, Any]) -> dict[str, str]:
        bound = {name: str(template.render(scope) or "").strip() for name, template in spec.items()}
        empty = [name for name, value in bound.items() if not value]
        if empty:
            # Fail closed: a token bound to nothing would fit any use that names nothing.
            raise Refusal(UNAVAILABLE, f"token.scope {', '.join(empty)} rendered empty")
        return bound

    def _refuse(
        self, rule: Rule, refusal: Refusal, scope: dict[str, Any], outcome: Outcome
    ) -> Outcome:
        outcome.reason = refusal.reason
        outcome.detail = refusal.detail
        reason = rule.reasons.get(refusal.reason) or rule.reasons.get(UNAVAILABLE)
        if reason is None:
            outcome.fault = Fault("Server", "The request could not be completed.")
            return outcome
        message = str(reason.message.render(scope) or "")
        if reason.fault is not None:
            outcome.fault = Fault(reason.fault, message)
            return outcome
        scope["refusal"] = {
            "reason": refusal.reason,
            "message": message,
            "severity": reason.severity,
            "url": reason.url.render(scope) if reason.url is not None else None,
        }
        outcome.result = _prune(render_value(rule.refusal, scope)) or {}
        return outcome


def _nothing_given(rule: Rule, inputs: Mapping[str, Any]) -> list[str]:
    """The required inputs, as element paths, when the request carries not one of them."""
    # An HTTP header (http.Authorization) is no part of the request's shape: without it the
    # caller is refused (invalid_token), not told its request is malformed. Nor is a SOAP
    # header, optional in every WSDL: Nmbrs answers a call without one 1001.
    required = [entry for entry in rule.inputs if entry.required
                and not entry.path.startswith(("http.", "header."))]
    if not required or any(inputs.get(entry.name) is not None for entry in required):
        return []
    return ["/".join(entry.path.split(".")[1:]) for entry in required]


def _checks_password(rule: Rule, step: Step) -> bool:
    """Whether calling `step` asks the verifier: the verify step; with no verify section
    any upstream step may, so the first one holds the check."""
    if rule.verify is None:
        return True
    return step.id == rule.verify.step


def _describe(reply: Reply) -> str:
    text = f"HTTP {reply.status}"
    if reply.error_code:
        text += f" {reply.error_code}"
    if reply.summary:
        text += f": {reply.summary}"
    return text


def _prune(value: Any) -> Any:
    """Leave out what a template left empty: optional attributes are absent, not blank."""
    if isinstance(value, dict):
        pruned = {}
        for key, item in value.items():
            item = _prune(item)
            if item is None or item == "":
                continue
            pruned[key] = item
        return pruned
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value
