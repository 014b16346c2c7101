"""The jobs beside a request, on the side path's threads: the shadow dry run, verify's legacy
call, the comparison and its record, noise sampling, account learning and the legacy login."""

from __future__ import annotations

import contextvars
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.auth.seal import keyed_fingerprint
from bridge.auth.tokens import TokenIssuer
from bridge.directory import learn_directory
from bridge.errors import Fault, SoapClientError, UpstreamError
from bridge.identity import identity
from bridge.migrate.compare import CompareRules, Difference, Side, compare, differing_paths
from bridge.migrate.exchange import Exchange
from bridge.migrate.marks import effective_noise, learned_key, marks_key
from bridge.migrate.plan import Plan
from bridge.migrate.recording import Recordings
from bridge.migrate.records import Recorder
from bridge.migrate.routing import SHADOW, VERIFY
from bridge.migrate.sidecalls import SideCalls
from bridge.rules.engine import Outcome, RuleEngine
from bridge.rules.ids import learn_pairs
from bridge.rules.model import UNAVAILABLE, Rule
from bridge.rules.template import lookup
from bridge.soap.envelope import ASMX, WCF, asmx_text, read_answer
from bridge.soap.service import SoapService
from bridge.soap.shapes import Operation
from bridge.soap.xmlparse import XmlLimits
from bridge.store.base import Store
from bridge.upstream.legacy import LegacyClient, SoapReply

log = logging.getLogger("bridge.migrate")

_NOISE_TTL = 400 * 86400
# Differences kept per comparison record: the console's samples come from these.
MAX_DIFFERENCES = 20


@dataclass
class SideJobs:
    """Queues each job on `SideCalls` and returns at once: the caller never waits for one.

    The side path has its own engine and legacy client (their own connections, timeouts
    capped at `side_calls.timeout`)."""

    service: SoapService
    engine: RuleEngine
    legacy: LegacyClient | None
    side_calls: SideCalls
    recorder: Recorder
    store: Store
    tokens: TokenIssuer
    limits: XmlLimits
    state_key: bytes  # keys the user's fingerprint in comparison records
    noise_sample: float = 0.0
    # How the caller sees the bridge's Faults (`fault_style`), so a REST Fault compares with
    # the legacy service's as written.
    fault_style: str = WCF
    # Captures legacy traffic for replay while recording (bridge/migrate/recording.py).
    recordings: Recordings | None = None

    # -- what the dispatcher asks for -------------------------------------------

    def learn(self, rule: Rule, exchange: Exchange, reply: SoapReply) -> None:
        """Learn the user's accounts and names from a legacy answer (legacy mode), and keep the
        exchange while recording."""
        record = self._recording(exchange)
        verifier = rule.verify is not None and rule.verify.learn
        ids = bool(rule.learn_ids) and not rule.changes_data
        if rule.learn_accounts is not None or record or verifier or ids:
            self._submit(exchange, lambda: self._learn(rule, exchange, reply, record))

    def shadow(self, plan: Plan, rule: Rule, exchange: Exchange, reply: SoapReply,
               cohort: str | None) -> None:
        """Run the rule dry beside the legacy answer the caller got, and compare."""
        record = self._recording(exchange)
        self._submit(exchange, lambda: self._shadow(plan, rule, exchange, reply, cohort, record))

    def verify(self, plan: Plan, rule: Rule, exchange: Exchange, outcome: Outcome,
               cohort: str | None) -> None:
        """Ask the legacy service beside the REST answer the caller got, and compare."""
        self._submit(exchange, lambda: self._verify(plan, rule, exchange, outcome, cohort))

    def legacy_login(self, rule: Rule, exchange: Exchange, outcome: Outcome) -> None:
        """Log in at the legacy service too, so operations passed through to it accept the
        token the bridge just issued."""
        self._submit(exchange, lambda: self._legacy_login(rule, exchange, outcome))

    def _recording(self, exchange: Exchange) -> bool:
        return self.recordings is not None and self.recordings.wanted(exchange.operation.name)

    def _submit(self, exchange: Exchange, job: Callable[[], None]) -> None:
        # The side thread works for this request: its logs and upstream calls carry its id.
        context = contextvars.copy_context()
        operation = exchange.operation.name
        if not self.side_calls.submit(operation, lambda: context.run(job)):
            log.info("comparison dropped: side queue full", extra={"operation": operation})

    # -- the jobs (threads of SideCalls) ----------------------------------------

    def _shadow(self, plan: Plan, rule: Rule, exchange: Exchange, reply: SoapReply,
                cohort: str | None, record: bool = False) -> None:
        legacy = self._legacy_side(exchange, reply)
        if record:
            self._capture(rule, exchange, legacy)
        self._learn_from(rule, exchange, legacy)
        started = time.perf_counter()
        outcome = self.engine.run(rule, exchange.request, dry_run=True)
        if self._learn_ids(rule, legacy, outcome):
            # Ids seen for the first time: the dry run rendered them unknown; again, with
            # the pairs just learned, so the comparison is of the answers, not of the table.
            outcome = self.engine.run(rule, exchange.request, dry_run=True)
        rest = self._rest_side(exchange, outcome, (time.perf_counter() - started) * 1000)
        self._compare(plan, rule, exchange, legacy, rest, outcome, SHADOW, cohort)

    def _verify(self, plan: Plan, rule: Rule, exchange: Exchange, outcome: Outcome,
                cohort: str | None) -> None:
        rest = self._rest_side(exchange, outcome, sum(outcome.timings.values()) * 1000)
        legacy = self._call_legacy_side(exchange)
        self._learn_from(rule, exchange, legacy)
        self._learn_ids(rule, legacy, outcome)
        self._attach_legacy_token(rule, outcome, legacy)
        self._compare(plan, rule, exchange, legacy, rest, outcome, VERIFY, cohort)

    def _legacy_login(self, rule: Rule, exchange: Exchange, outcome: Outcome) -> None:
        legacy = self._call_legacy_side(exchange)
        self._learn_from(rule, exchange, legacy)
        self._attach_legacy_token(rule, outcome, legacy)

    def _learn(self, rule: Rule, exchange: Exchange, reply: SoapReply, record: bool) -> None:
        legacy = self._legacy_side(exchange, reply)
        if record:
            self._capture(rule, exchange, legacy)
        self._learn_from(rule, exchange, legacy)
        if legacy.kind == "fault" and isinstance(legacy.data, dict):
            # Refused as wrong credentials: a learned verifier of them is revoked with them.
            self.engine.unlearn_verifier(rule, exchange.request,
                                         str(legacy.data.get("message") or ""))
        if legacy.kind == "result":
            # The legacy service accepted the header it was passed (verify.learn).
            self.engine.learn_verifier(rule, exchange.request)
            if rule.learn_ids and not rule.changes_data:
                # Ids need the REST side's GUIDs beside the legacy ints: the rule's dry run,
                # as in shadow mode, with no comparison recorded.
                self._learn_ids(rule, legacy, self.engine.run(rule, exchange.request,
                                                              dry_run=True))

    def _capture(self, rule: Rule, exchange: Exchange, legacy: Side) -> None:
        assert self.recordings is not None
        self.recordings.capture(exchange.operation.name, exchange.path, exchange.request, legacy,
                                CompareRules.from_yaml(rule.compare), rule.changes_data,
                                RuleEngine.username(rule, exchange.request) or "")

    # -- their parts --------------------------------------------------------------

    def _attach_legacy_token(self, rule: Rule, outcome: Outcome, legacy: Side) -> None:
        if rule.legacy_token is None or legacy.kind != "result" or outcome.result is None:
            return
        ours = lookup(outcome.result, rule.legacy_token.answer)
        theirs = lookup(legacy.data, rule.legacy_token.answer)
        if ours and theirs:
            self.tokens.attach_legacy(str(ours), str(theirs))

    def _call_legacy_side(self, exchange: Exchange) -> Side:
        assert self.legacy is not None
        try:
            reply = self.legacy.forward(exchange.path, exchange.body, dict(exchange.headers))
        except UpstreamError as exc:
            return Side("error", {"reason": exc.kind if exc.kind == "timeout" else "unavailable"})
        return self._legacy_side(exchange, reply)

    def _legacy_side(self, exchange: Exchange, reply: SoapReply) -> Side:
        elapsed = reply.elapsed * 1000
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
        return rest_side(self.service, exchange.operation, outcome, elapsed_ms, self.fault_style)

    def _compare(self, plan: Plan, rule: Rule, exchange: Exchange, legacy: Side, rest: Side,
                 outcome: Outcome, mode: str, cohort: str | None) -> None:
        name = exchange.operation.name
        rules = plan.compare.get(name) or CompareRules()
        noise_key = learned_key(name)
        # The operators' marks (bridge/migrate/marks.py) apply on every instance at once.
        stored, marks = self.store.get_many([noise_key, marks_key(name)])
        known = frozenset(stored or [])
        if (self.noise_sample and outcome.reason == "ok" and legacy.kind == "result"
                and random.random() < self.noise_sample):  # noqa: S311 - sampling, not security
            again = self._call_legacy_side(exchange)
            learned = differing_paths(legacy, again, rules)
            if learned - known:
                known = known | learned
                self.store.set(noise_key, sorted(known), _NOISE_TTL)
        differences = compare(legacy, rest, rules, effective_noise(sorted(known), marks))
        username = RuleEngine.username(rule, exchange.request) or ""
        self.recorder.comparison(comparison_entry(
            name, mode, cohort, user_key(self.state_key, username), differences, legacy, rest,
            outcome))

    def _learn_ids(self, rule: Rule, legacy: Side, outcome: Outcome) -> bool:
        """Learn the rule's id pairs from the legacy answer and the REST steps beside it;
        whether any pair was new (bridge/rules/ids.py)."""
        ids = self.engine.context.ids
        if not rule.learn_ids or ids is None or legacy.kind != "result" or outcome.result is None:
            return False
        return bool(learn_pairs(ids, rule.learn_ids, legacy.data, outcome.steps).get("written"))

    def _learn_from(self, rule: Rule, exchange: Exchange, legacy: Side) -> None:
        if legacy.kind != "result" or rule.learn_accounts is None:
            return
        accounts = self.engine.learned_accounts(rule, exchange.request, legacy.data)
        names = self.engine.learned_names(rule, exchange.request, legacy.data)
        username = RuleEngine.username(rule, exchange.request)
        if accounts and username:
            learn_directory(self.store, username, accounts, names)


def rest_side(service: SoapService, operation: Operation, outcome: Outcome,
              elapsed_ms: float, fault_style: str = WCF) -> Side:
    """The REST side of a comparison: the rule's result (or Fault) as the WSDL shapes it,
    and a Fault as the caller reads it (ASMX: `Server`, `Server was unable … ---> NNNN: …`),
    so it compares with the legacy service's own."""
    if outcome.fault is not None:
        code, message = outcome.fault.code, outcome.fault.message
        if fault_style == ASMX:
            code, message = "Server", asmx_text(message)
        return Side("fault", {"code": code, "message": message}, elapsed_ms)
    # Through the WSDL and back, so both sides are typed and shaped the same way.
    payload = service.encode(operation, outcome.result or {})
    return Side("result", service.parse_response(operation, payload), elapsed_ms)


def user_key(state_key: bytes, username: str) -> str:
    """The user as comparison records name them: keyed, so a list of user names cannot be
    matched against the records."""
    return keyed_fingerprint(state_key, identity(username), "comparison-user")[:16]


def comparison_entry(operation: str, mode: str, cohort: str | None, user: str,
                     differences: list[Difference], legacy: Side, rest: Side,
                     outcome: Outcome) -> dict[str, Any]:
    """One comparison record, as the live side path and a replay write it."""
    return {
        "ts": time.time(),
        "operation": operation,
        "mode": mode,
        "cohort": cohort,
        "user": user,
        "outcome": "differ" if differences else "agree",
        # Bounded: the values are cut at 80 characters by compare, the list here.
        "differences": [{"path": d.path, "legacy": d.legacy, "rest": d.rest,
                         **({"item": d.item} if d.item else {})}
                        for d in differences[:MAX_DIFFERENCES]],
        "more_differences": max(0, len(differences) - MAX_DIFFERENCES),
        "legacy_ms": round(legacy.elapsed_ms, 2) if legacy.kind != "error" else None,
        "rest_ms": round(rest.elapsed_ms, 2),
        "legacy_error": _error_label(legacy),
        "rest_error": _error_label(rest) or (outcome.reason if outcome.reason == UNAVAILABLE
                                             else None),
    }


def _error_label(side: Side) -> str | None:
    if side.kind == "fault":
        return f"fault: {side.data.get('code')}"
    if side.kind == "error":
        return str(side.data.get("reason"))
    return None
