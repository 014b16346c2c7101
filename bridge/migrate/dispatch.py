"""Carry a SOAP request out in its mode: legacy, rest, shadow, verify or fallback."""

from __future__ import annotations

import contextvars
import hmac
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.auth.ratelimit import RateLimiter
from bridge.auth.seal import fingerprint
from bridge.auth.tokens import TokenIssuer
from bridge.errors import SoapClientError, SoapServerError, UpstreamError
from bridge.identity import folded, identity
from bridge.migrate.compare import CompareRules, Side, compare, differing_paths
from bridge.migrate.records import Recorder
from bridge.migrate.routing import FALLBACK, LEGACY, SHADOW, VERIFY, Routing
from bridge.migrate.sidecalls import SideCalls
from bridge.rules.engine import Outcome, RuleEngine
from bridge.rules.model import UNAVAILABLE, Rule
from bridge.rules.template import lookup
from bridge.soap.envelope import (
    Envelope,
    Fault,
    content_type_for,
    read_answer,
    swap_values,
)
from bridge.soap.service import Operation, SoapService, expected
from bridge.soap.xmlparse import XmlLimits
from bridge.store.base import Store
from bridge.upstream.legacy import LegacyClient

log = logging.getLogger("bridge.migrate")

_DIRECTORY_TTL = 10 * 365 * 86400
_NOISE_TTL = 400 * 86400


@dataclass(frozen=True)
class Plan:
    """Everything a reload may change: rules, routing and how answers are compared."""

    rules: Mapping[str, Rule]
    routing: Routing
    compare: Mapping[str, CompareRules] = field(default_factory=dict)
    # Attributes in which requests carry an AuthenticationToken-like value (see legacy_token).
    token_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Exchange:
    """One SOAP request as the caller sent it, and as the WSDL reads it."""

    path: str
    body: bytes
    headers: Mapping[str, str]
    envelope: Envelope
    operation: Operation
    request: Mapping[str, Any]
    client: str | None = None  # the caller's address, past trusted proxies


class RateLimited(SoapClientError):
    """Over a rate limit, for an operation whose rule has no `rate_limited` refusal."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__("Too many requests. Please try again later.", http_status=429)


@dataclass(frozen=True)
class SoapReply:
    status: int
    content_type: str
    body: bytes
    elapsed_ms: float = 0.0


@dataclass
class Handled:
    """The reply plus what the log line needs to say about it."""

    reply: SoapReply
    mode: str
    cohort: str | None = None
    outcome: Outcome | None = None
    reason: str = "ok"


class Dispatcher:
    """Routes each request and runs the side path; holds no per-request state."""

    def __init__(
        self,
        service: SoapService,
        engine: RuleEngine,
        side_engine: RuleEngine,
        legacy: LegacyClient | None,
        side_legacy: LegacyClient | None,
        side_calls: SideCalls,
        recorder: Recorder,
        store: Store,
        tokens: TokenIssuer,
        limits: XmlLimits,
        noise_sample: float = 0.0,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.service = service
        self.engine = engine
        self.side_engine = side_engine
        self.legacy = legacy
        self.side_legacy = side_legacy
        self.side_calls = side_calls
        self.recorder = recorder
        self.store = store
        self.tokens = tokens
        self.limits = limits
        self.noise_sample = noise_sample
        self.rate_limiter = rate_limiter

    def handle(self, plan: Plan, exchange: Exchange) -> Handled:
        operation = exchange.operation
        rule = plan.rules.get(operation.name)
        if rule is not None and rule.local:
            outcome = self.engine.run(rule, exchange.request)
            return Handled(self._rest_reply(exchange, outcome), "local", None, outcome,
                           reason=outcome.reason)
        username = RuleEngine.username(rule, exchange.request) if rule else None
        mode, cohort = plan.routing.choose(operation.name, username, rule is not None)
        if self.rate_limiter is not None:
            wait = self.rate_limiter.over(exchange.client, username)
            if wait is not None:
                if rule is None or "rate_limited" not in rule.reasons:
                    raise RateLimited(wait)
                # The legacy refusal shape, as the rule words it; nothing goes upstream.
                outcome = self.engine.refuse(rule, "rate_limited", exchange.request,
                                             "over a rate limit")
                return Handled(self._rest_reply(exchange, outcome), mode, cohort, outcome,
                               reason="rate_limited")
        if rule is None:
            if mode != LEGACY or self.legacy is None:
                # The request was valid: the gap is ours, so a Server (1.2: Receiver) Fault.
                reason = ("" if mode != LEGACY else " and no legacy service to pass it to")
                raise SoapServerError(
                    f"Operation {operation.name} is not yet migrated: this bridge has no rule "
                    f"for it{reason}.", reason="not_migrated"
                )
            return _passed(self._forward(exchange, plan.token_fields), LEGACY)
        side_ok = self._side_calls_allowed(plan, rule)
        if mode == LEGACY:
            reply = self._forward(exchange, plan.token_fields)
            self._submit(operation, lambda: self._learn(rule, exchange, reply))
            return _passed(reply, mode, cohort)
        if mode == SHADOW:
            reply = self._forward(exchange, plan.token_fields)
            if side_ok:
                self._submit(operation, lambda: self._shadow(plan, rule, exchange, reply, cohort))
            return _passed(reply, mode, cohort)
        outcome = self.engine.run(rule, exchange.request)
        reply = self._rest_reply(exchange, outcome)
        # A login the bridge's own lockout refused goes nowhere else: not to the legacy side.
        side_ok = side_ok and not outcome.locked_out
        if mode == VERIFY and side_ok and self.side_legacy is not None:
            self._submit(operation, lambda: self._verify(plan, rule, exchange, outcome, cohort))
        elif (outcome.reason == "ok" and rule.legacy_token is not None
              and self.side_legacy is not None and side_ok):
            # While the legacy service is still there, log in there too (beside the request),
            # so operations passed through to it accept the token the bridge just issued.
            self._submit(operation, lambda: self._legacy_login(rule, exchange, outcome))
        # An operation that changes data is not repeated on the legacy side: the REST call
        # may have made its change before it failed.
        if (mode == FALLBACK and outcome.reason == UNAVAILABLE and self.legacy is not None
                and self._side_calls_allowed(plan, rule)):
            # The REST side failed (down, slow, erring): the legacy answer takes its place.
            self.recorder.fallback(operation.name)
            return Handled(self._forward(exchange, plan.token_fields), mode, cohort, outcome,
                           reason="fallback")
        return Handled(reply, mode, cohort, outcome, reason=outcome.reason)

    def forward_mtom(self, path: str, body: bytes, headers: Mapping[str, str],
                     client: str | None, version: str) -> SoapReply:
        """An MTOM twin's request (multipart/related, which the bridge does not read): passed
        to the legacy service untouched while there is one, else a Fault that says where to go."""
        if self.rate_limiter is not None:
            wait = self.rate_limiter.over(client, None)
            if wait is not None:
                raise RateLimited(wait)
        if self.legacy is None:
            text = path.rsplit("/", 1)[0] + "/text"
            raise SoapServerError(
                f"The MTOM endpoint {path} is not served by this bridge: send the same operation "
                f"to {text} with the file base64-encoded in the message.", reason="not_migrated")
        try:
            answer = self.legacy.forward(path, body, dict(headers))
        except UpstreamError as exc:
            log.warning("legacy service unavailable", extra={"detail": exc.detail})
            fault = Fault("Server", "The legacy service is unavailable. Please try again later.")
            return SoapReply(fault.http_status(version), content_type_for(version),
                             fault.to_bytes(version))
        return SoapReply(answer.status, answer.content_type, answer.body, answer.elapsed * 1000)

    # -- the request path ---------------------------------------------------

    def _forward(self, exchange: Exchange, token_fields: frozenset[str] = frozenset()
                 ) -> SoapReply:
        assert self.legacy is not None
        body = exchange.body
        for name in token_fields:
            # Bridge tokens become the legacy tokens they stand for; anything else stays as sent.
            swapped = swap_values(exchange.envelope, name, self._legacy_token_for)
            if swapped is not None:
                body = swapped
        try:
            answer = self.legacy.forward(exchange.path, body, dict(exchange.headers))
        except UpstreamError as exc:
            log.warning("legacy service unavailable", extra={"detail": exc.detail})
            fault = Fault("Server", "The legacy service is unavailable. Please try again later.")
            version = exchange.envelope.version
            return SoapReply(fault.http_status(version), content_type_for(version),
                             fault.to_bytes(version))
        return SoapReply(answer.status, answer.content_type, answer.body, answer.elapsed * 1000)

    def _legacy_token_for(self, token: str) -> str | None:
        grant = self.tokens.resolve(token)
        return grant.legacy_token if grant is not None else None

    def _rest_reply(self, exchange: Exchange, outcome: Outcome) -> SoapReply:
        version = exchange.envelope.version
        if outcome.fault is not None:
            message = outcome.fault.message
            if outcome.reason == "client_error":
                # Say what the Body should have held: the caller's client dropped or misnamed it.
                message += f" Expected {expected(exchange.operation)}"
            fault = Fault(outcome.fault.code, message)
            return SoapReply(fault.http_status(version), content_type_for(version),
                             fault.to_bytes(version))
        namespace = self.service.foreign_namespace(exchange.operation, exchange.envelope)
        return SoapReply(200, content_type_for(version),
                         self.service.answer(exchange.operation, outcome.result or {}, version,
                                             namespace))

    def _side_calls_allowed(self, plan: Plan, rule: Rule) -> bool:
        route = plan.routing.operations.get(rule.operation)
        if route is not None and route.allow_side_calls is not None:
            return route.allow_side_calls
        return not rule.changes_data

    def _submit(self, operation: Operation, job: Any) -> None:
        # The side thread works for this request: its logs and upstream calls carry its id.
        context = contextvars.copy_context()
        if not self.side_calls.submit(operation.name, lambda: context.run(job)):
            log.info("comparison dropped: side queue full", extra={"operation": operation.name})

    # -- the side path (threads of SideCalls) ---------------------------------

    def _shadow(self, plan: Plan, rule: Rule, exchange: Exchange, reply: SoapReply,
                cohort: str | None) -> None:
        legacy = self._legacy_side(exchange, reply)
        self._learn_from(rule, exchange, legacy)
        started = time.perf_counter()
        outcome = self.side_engine.run(rule, exchange.request, dry_run=True)
        rest = self._rest_side(exchange, outcome, (time.perf_counter() - started) * 1000)
        self._compare(plan, rule, exchange, legacy, rest, outcome, SHADOW, cohort)

    def _verify(self, plan: Plan, rule: Rule, exchange: Exchange, outcome: Outcome,
                cohort: str | None) -> None:
        rest = self._rest_side(exchange, outcome, sum(outcome.timings.values()) * 1000)
        legacy = self._call_legacy_side(exchange)
        self._learn_from(rule, exchange, legacy)
        self._attach_legacy_token(rule, outcome, legacy)
        self._compare(plan, rule, exchange, legacy, rest, outcome, VERIFY, cohort)

    def _legacy_login(self, rule: Rule, exchange: Exchange, outcome: Outcome) -> None:
        legacy = self._call_legacy_side(exchange)
        self._learn_from(rule, exchange, legacy)
        self._attach_legacy_token(rule, outcome, legacy)

    def _attach_legacy_token(self, rule: Rule, outcome: Outcome, legacy: Side) -> None:
        if rule.legacy_token is None or legacy.kind != "result" or outcome.result is None:
            return
        ours = lookup(outcome.result, rule.legacy_token.answer)
        theirs = lookup(legacy.data, rule.legacy_token.answer)
        if ours and theirs:
            self.tokens.attach_legacy(str(ours), str(theirs))

    def _call_legacy_side(self, exchange: Exchange) -> Side:
        assert self.side_legacy is not None
        try:
            answer = self.side_legacy.forward(exchange.path, exchange.body, dict(exchange.headers))
        except UpstreamError as exc:
            return Side("error", {"reason": exc.kind if exc.kind == "timeout" else "unavailable"})
        return self._legacy_side(exchange, SoapReply(answer.status, answer.content_type,
                                                     answer.body, answer.elapsed * 1000))

    def _legacy_side(self, exchange: Exchange, reply: SoapReply) -> Side:
        elapsed = reply.elapsed_ms
        try:
            payload = read_answer(reply.body, self.limits)
        except SoapClientError:
            return Side("error", {"reason": f"unreadable answer (HTTP {reply.status})"}, elapsed)
        if isinstance(payload, Fault):
            return Side("fault", {"code": payload.code, "message": payload.message}, elapsed)
        try:
            data = self.service.parse_response(exchange.operation, payload)
        except SoapClientError:
            return Side("error", {"reason": "answer does not match the WSDL"}, elapsed)
        return Side("result", data, elapsed)

    def _rest_side(self, exchange: Exchange, outcome: Outcome, elapsed_ms: float) -> Side:
        if outcome.fault is not None:
            return Side("fault", {"code": outcome.fault.code, "message": outcome.fault.message},
                        elapsed_ms)
        # Through the WSDL and back, so both sides are typed and shaped the same way.
        payload = self.service.encode(exchange.operation, outcome.result or {})
        return Side("result", self.service.parse_response(exchange.operation, payload), elapsed_ms)

    def _compare(self, plan: Plan, rule: Rule, exchange: Exchange, legacy: Side, rest: Side,
                 outcome: Outcome, mode: str, cohort: str | None) -> None:
        name = exchange.operation.name
        rules = plan.compare.get(name) or CompareRules()
        noise_key = f"migrate:noise:{name}"
        noise = frozenset(self.store.get(noise_key) or [])
        if (self.noise_sample and outcome.reason == "ok" and legacy.kind == "result"
                and random.random() < self.noise_sample):  # noqa: S311 - sampling, not security
            again = self._call_legacy_side(exchange)
            learned = differing_paths(legacy, again, rules)
            if learned - noise:
                noise = noise | learned
                self.store.set(noise_key, sorted(noise), _NOISE_TTL)
        differences = compare(legacy, rest, rules, noise)
        username = RuleEngine.username(rule, exchange.request) or ""
        self.recorder.comparison({
            "ts": time.time(),
            "operation": name,
            "mode": mode,
            "cohort": cohort,
            # Keyed, so a list of user names cannot be matched against the records.
            "user": hmac.new(self.engine.context.state_key,
                             identity(username).encode(), "sha256").hexdigest()[:16],
            "outcome": "differ" if differences else "agree",
            "differences": [{"path": d.path, "legacy": d.legacy, "rest": d.rest}
                            for d in differences],
            "legacy_ms": round(legacy.elapsed_ms, 2) if legacy.kind != "error" else None,
            "rest_ms": round(rest.elapsed_ms, 2),
            "legacy_error": _error_label(legacy),
            "rest_error": _error_label(rest) or (outcome.reason if outcome.reason == UNAVAILABLE
                                                 else None),
        })

    # -- the account directory, learned from legacy answers ---------------------

    def _learn(self, rule: Rule, exchange: Exchange, reply: SoapReply) -> None:
        if rule.learn_accounts is not None:
            self._learn_from(rule, exchange, self._legacy_side(exchange, reply))

    def _learn_from(self, rule: Rule, exchange: Exchange, legacy: Side) -> None:
        if legacy.kind != "result" or rule.learn_accounts is None:
            return
        accounts = self.engine.learned_accounts(rule, exchange.request, legacy.data)
        names = self.engine.learned_names(rule, exchange.request, legacy.data)
        username = RuleEngine.username(rule, exchange.request)
        if accounts and username:
            learn_directory(self.store, username, accounts, names)


def _passed(reply: SoapReply, mode: str, cohort: str | None = None) -> Handled:
    """A legacy answer handed back; the log line tells whether the legacy side failed."""
    reason = "ok" if reply.status < 500 else "legacy_error"
    return Handled(reply, mode, cohort, reason=reason)


def directory_keys(username: str) -> list[str]:
    """Where the user's learned entry is: under their identity, and for a name whose key
    was made differently before identity (strip, casefold), where it was (read second)."""
    return ["directory:" + fingerprint(form, "directory-user")
            for form in dict.fromkeys((identity(username), folded(username)))]


def learn_directory(store: Store, username: str, accounts: list[dict[str, Any]],
                    names: Mapping[str, str] | None = None) -> None:
    """Replace what was learned of the user: accounts, and the names the answer gave."""
    key, *before = directory_keys(username)
    store.set(key, {"username": username.strip(), "accounts": accounts, **(names or {}),
                    "learned_at": time.time()}, _DIRECTORY_TTL)
    for old in before:
        store.delete(old)  # upgraded: the entry lives under the identity from now on


def _error_label(side: Side) -> str | None:
    if side.kind == "fault":
        return f"fault: {side.data.get('code')}"
    if side.kind == "error":
        return str(side.data.get("reason"))
    return None
