"""Carry a SOAP request out in its mode: legacy, rest, shadow, verify or fallback."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bridge.auth.ratelimit import RateLimiter
from bridge.auth.tokens import SINGLE_USE, TokenIssuer
from bridge.errors import (
    BridgeError,
    Fault,
    RateLimited,
    SoapClientError,
    SoapServerError,
    UpstreamError,
)
from bridge.migrate.exchange import Exchange, SoapRequest
from bridge.migrate.plan import Plan
from bridge.migrate.promoter import Promoter
from bridge.migrate.records import Recorder
from bridge.migrate.routing import FALLBACK, LEGACY, NEEDS_LEGACY, REST, SHADOW, VERIFY
from bridge.migrate.sidejobs import SideJobs
from bridge.rules.engine import Outcome, RuleEngine
from bridge.rules.model import UNAVAILABLE, Rule
from bridge.soap.envelope import (
    ASMX,
    WCF,
    content_type_for,
    fault_status,
    read_envelope,
    swap_values,
    write_fault,
)
from bridge.soap.service import SoapService, expected
from bridge.soap.xmlparse import XmlLimits
from bridge.upstream.legacy import LegacyClient, SoapReply

log = logging.getLogger("bridge.migrate")

_LEGACY_DOWN = Fault("Server", "The legacy service is unavailable. Please try again later.")


@dataclass
class Handled:
    """What became of one request, for its log line and the metrics. Filled in as the
    request goes, so an error that cuts it short still leaves the operation it was for."""

    operation: str = "-"
    mode: str = "-"
    cohort: str | None = None
    outcome: Outcome | None = None
    reason: str = "-"
    # The SOAP version of the Envelope once read (the Content-Type may have said otherwise):
    # the version an error is answered in.
    version: str | None = None

    def settle(self, mode: str, cohort: str | None, outcome: Outcome | None = None,
               reason: str | None = None) -> None:
        self.mode, self.cohort, self.outcome = mode, cohort, outcome
        self.reason = reason or (outcome.reason if outcome is not None else "ok")

    def passed(self, reply: SoapReply, mode: str, cohort: str | None = None) -> SoapReply:
        """A legacy answer handed back; the log line tells whether the legacy side failed."""
        self.settle(mode, cohort, reason="ok" if reply.status < 500 else "legacy_error")
        return reply

    def failed(self, error: BridgeError) -> None:
        self.reason = error.reason
        self.outcome = Outcome(reason=error.reason, detail=error.public_message or "")


@dataclass
class Dispatcher:
    """Reads each request, routes it and carries it out; holds no per-request state."""

    service: SoapService
    engine: RuleEngine
    plans: Callable[[], Plan]  # the plan in force, its files checked at most once a second
    legacy: LegacyClient | None
    side: SideJobs
    recorder: Recorder
    tokens: TokenIssuer
    limits: XmlLimits
    rate_limiter: RateLimiter | None = None
    # The modes in force over the configured routing, and the promotion rules' counts
    # (bridge/migrate/overlay.py, promoter.py); None: the routing as configured.
    promoter: Promoter | None = None
    # How Faults look (`fault_style`); ASMX also reads the SOAP version from the Envelope.
    fault_style: str = WCF
    # When the legacy service stops (`legacy.retired_at`, epoch seconds): nothing is passed
    # to it from then on.
    legacy_retired_at: float | None = None

    def legacy_live(self) -> bool:
        """Whether there is a legacy service to pass requests to, now."""
        return self.legacy is not None and (self.legacy_retired_at is None
                                            or time.time() < self.legacy_retired_at)

    def handle(self, incoming: SoapRequest, handled: Handled) -> SoapReply:
        """The answer to one SOAP request; what became of it goes into `handled`."""
        envelope = read_envelope(incoming.body, incoming.content_type, incoming.action,
                                 self.limits, by_envelope=self.fault_style == ASMX)
        handled.version = envelope.version
        operation = self.service.find(incoming.path, envelope)
        handled.operation = operation.name
        plan = self.plans()
        rule = plan.rules.get(operation.name)
        # Operations passed through untouched are not decoded: the legacy service judges them.
        request = self.service.decode(operation, envelope) if rule is not None else {}
        if rule is not None and incoming.authorization:
            request["http"] = {"Authorization": incoming.authorization}
        exchange = Exchange(incoming.path, incoming.body, incoming.headers, envelope, operation,
                            request, incoming.client)
        if rule is not None and rule.local:
            outcome = self.engine.run(rule, exchange.request)
            handled.settle("local", None, outcome)
            return self._rest_reply(exchange, outcome)
        username = RuleEngine.username(rule, exchange.request) if rule else None
        mode, cohort = plan.routing.choose(operation.name, username, rule is not None)
        if self.promoter is not None and rule is not None:
            mode = self.promoter.in_force(operation.name, cohort, mode)
        legacy_live = self.legacy_live()
        if rule is not None and mode in NEEDS_LEGACY and not legacy_live:
            # Past legacy.retired_at there is nothing to compare with or fall back to.
            mode = REST
        if self.rate_limiter is not None:
            wait = self.rate_limiter.over(exchange.client, username)
            if wait is not None:
                if rule is None or "rate_limited" not in rule.reasons:
                    raise RateLimited(wait)
                # The legacy refusal shape, as the rule words it; nothing goes upstream.
                outcome = self.engine.refuse(rule, "rate_limited", exchange.request,
                                             "over a rate limit")
                handled.settle(mode, cohort, outcome, "rate_limited")
                return self._rest_reply(exchange, outcome)
        if rule is None:
            if mode != LEGACY or not legacy_live:
                # The request was valid: the gap is ours, so a Server (1.2: Receiver) Fault.
                reason = ""
                if mode == LEGACY:
                    reason = (" and no legacy service to pass it to" if self.legacy is None
                              else self._retired())
                raise SoapServerError(
                    f"Operation {operation.name} is not yet migrated: this bridge has no rule "
                    f"for it{reason}.", reason="not_migrated"
                )
            return handled.passed(self._forward(exchange, plan.token_fields), LEGACY)
        reply = self._by_mode(plan, rule, exchange, mode, cohort, handled)
        if self.promoter is not None:
            self.promoter.observe(plan, operation.name, cohort, mode, handled.reason)
        return reply

    def _by_mode(self, plan: Plan, rule: Rule, exchange: Exchange, mode: str,
                 cohort: str | None, handled: Handled) -> SoapReply:
        side_ok = plan.side_calls_allowed(rule)
        if mode == LEGACY:
            reply = self._forward(exchange, plan.token_fields)
            self.side.learn(rule, exchange, reply)
            return handled.passed(reply, mode, cohort)
        if mode == SHADOW:
            reply = self._forward(exchange, plan.token_fields)
            if side_ok:
                self.side.shadow(plan, rule, exchange, reply, cohort)
            return handled.passed(reply, mode, cohort)
        outcome = self.engine.run(rule, exchange.request)
        reply = self._rest_reply(exchange, outcome)
        # A login the bridge's own lockout refused goes nowhere else: not to the legacy side.
        side_ok = side_ok and not outcome.locked_out
        if mode == VERIFY and side_ok and self.side.legacy is not None:
            self.side.verify(plan, rule, exchange, outcome, cohort)
        elif (outcome.reason == "ok" and rule.legacy_token is not None
              and self.side.legacy is not None and side_ok and self.legacy_live()):
            # While the legacy service is still there, log in there too (beside the request),
            # so operations passed through to it accept the token the bridge just issued.
            self.side.legacy_login(rule, exchange, outcome)
        # An operation that changes data is not repeated on the legacy side: the REST call
        # may have made its change before it failed.
        if (mode == FALLBACK and outcome.reason == UNAVAILABLE and self.legacy is not None
                and plan.side_calls_allowed(rule)):
            # The REST side failed (down, slow, erring): the legacy answer takes its place.
            self.recorder.fallback(rule.operation)
            handled.settle(mode, cohort, outcome, "fallback")
            return self._forward(exchange, plan.token_fields)
        handled.settle(mode, cohort, outcome)
        return reply

    def forward_mtom(self, incoming: SoapRequest, version: str) -> SoapReply:
        """An MTOM twin's request (multipart/related, which the bridge does not read): passed
        to the legacy service untouched while there is one, else a Fault that says where to go."""
        if self.rate_limiter is not None:
            wait = self.rate_limiter.over(incoming.client, None)
            if wait is not None:
                raise RateLimited(wait)
        if not self.legacy_live():
            text = incoming.path.rsplit("/", 1)[0] + "/text"
            raise SoapServerError(
                f"The MTOM endpoint {incoming.path} is not served by this bridge: send the same "
                f"operation to {text} with the file base64-encoded in the message.",
                reason="not_migrated")
        return self._send(incoming.path, incoming.body, incoming.headers, version)

    def _forward(self, exchange: Exchange, token_fields: frozenset[str] = frozenset()
                 ) -> SoapReply:
        body = exchange.body
        for name in token_fields:
            # Bridge tokens become the legacy tokens they stand for; anything else stays as sent.
            swapped = swap_values(exchange.envelope, name, functools.partial(
                self._legacy_token_for, exchange.operation.name))
            if swapped is not None:
                body = swapped
        return self._send(exchange.path, body, exchange.headers, exchange.envelope.version)

    def _send(self, path: str, body: bytes, headers: Mapping[str, str],
              version: str) -> SoapReply:
        assert self.legacy is not None
        try:
            return self.legacy.forward(path, body, dict(headers))
        except UpstreamError as exc:
            log.warning("legacy service unavailable", extra={"detail": exc.detail})
            return _fault_reply(_LEGACY_DOWN, version, self.fault_style)

    def _retired(self) -> str:
        moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.legacy_retired_at or 0))
        return f" and the legacy service was retired at {moment}"

    def _legacy_token_for(self, operation: str, token: str) -> str | None:
        # A token bound to operations (token.scope.operation) is swapped for those alone; a
        # single-use one is spent only by a swap that happens.
        grant = self.tokens.resolve(token, {"operation": operation}, consume=False)
        if grant is None or grant.legacy_token is None:
            return None
        return grant.legacy_token if grant.kind != SINGLE_USE or self.tokens.consume(grant) else None

    def _rest_reply(self, exchange: Exchange, outcome: Outcome) -> SoapReply:
        version = exchange.envelope.version
        if outcome.fault is not None:
            message = outcome.fault.message
            if outcome.reason == SoapClientError.reason:
                # Say what the Body should have held: the caller's client dropped or misnamed it.
                message += f" Expected {expected(exchange.operation)}"
            return _fault_reply(Fault(outcome.fault.code, message), version, self.fault_style)
        namespace = self.service.foreign_namespace(exchange.operation, exchange.envelope)
        return SoapReply(200, content_type_for(version),
                         self.service.answer(exchange.operation, outcome.result or {}, version,
                                             namespace))


def _fault_reply(fault: Fault, version: str, style: str) -> SoapReply:
    return SoapReply(fault_status(fault, version, style), content_type_for(version),
                     write_fault(fault, version, style))
