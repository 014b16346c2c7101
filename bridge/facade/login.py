"""The deprecated REST login, `POST …/authentication/credentials`, carried out by a rule.

The rule named by `rest_facade.operation` (AuthenticateUser) runs as it does for SOAP, with
its inputs read from the REST request and its answers from its `rest:` section
(bridge/rules/rest.py): the same verification, lockout, rate limits, remembered results and
cached bearer, so a user's REST and SOAP logins count as one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.auth.ratelimit import RateLimiter
from bridge.errors import RateLimited
from bridge.rules.engine import Outcome, RuleEngine
from bridge.rules.model import UNAVAILABLE, InputField, Rule
from bridge.rules.rest import RestAnswer
from bridge.rules.template import lookup
from bridge.wsgi import Response, json_document, read_body, rest_error

NOT_FOUND_SUMMARY = "The requested resource was not found."
VALIDATION_SUMMARY = "Error validating request"
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
RATE_LIMITED = "rate_limited"


@dataclass
class LoginResult:
    """What became of one REST login, for the facade's log line and metrics."""

    reason: str = "ok"
    outcome: Outcome | None = None


def not_found() -> Response:
    """The vendor's answer for a path it has no route for (FACTS §7, §9.3)."""
    return rest_error(404, "NOT_FOUND", NOT_FOUND_SUMMARY)


def _empty(path: str) -> str:
    """The vendor's detail for a missing field, e.g. "'Password' should not be empty."."""
    name = path.rsplit(".", 1)[-1]
    return f"'{name[:1].upper()}{name[1:]}' should not be empty."


def _minutes(value: Any) -> int | bool | None:
    """A session length as the vendor's JSON reader takes it: a whole number, or one written
    as a string ("60", as a flow built from variables sends it) [INFERRED: Json.NET reads a
    numeric string into an int]; None when not given, False when not a number."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only ("²".isdigit() is true, int("²") fails), and no int() of
        # thousands of digits (Python refuses those): more than a billion minutes is capped
        # by the token's life anyway.
        if not (text.isascii() and text.isdigit()):
            return False
        return int(text) if len(text) <= 9 else 10**9
    if isinstance(value, float) and value.is_integer():
        # 60.0, as a flow's arithmetic writes it [INFERRED: Json.NET reads an integral float
        # into an int].
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return value


def vendor_now() -> str:
    """Now, as the vendor writes lastLoginDate: no zone, hundredths (FACTS §2, §4.1)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]


class RestLogin:
    """Answers the credentials paths; holds no per-request state."""

    def __init__(self, engine: RuleEngine, rules: Callable[[], Mapping[str, Rule]],
                 operation: str, max_body_bytes: int, token_ttl: float,
                 rate_limiter: RateLimiter | None = None) -> None:
        self._engine = engine
        self._rules = rules
        self._operation = operation
        self._max_body_bytes = max_body_bytes
        self._token_ttl = token_ttl
        self._rate_limiter = rate_limiter
        # The rule as REST runs it, made once per rule in force (a reload makes a new one).
        self._derived: tuple[Rule, Rule] | None = None

    def answer(self, environ: dict[str, Any], version: str, client: str | None,
               result: LoginResult) -> Response:
        rule = self._rules().get(self._operation)
        if rule is None or rule.rest is None:
            result.reason = "not_found"
            return not_found()
        rest = rule.rest
        # Read outside the try: a body over the limit (413) or with broken framing is a
        # SoapClientError, a ValueError too, and must not become "'Request' should not be empty".
        raw = read_body(environ, self._max_body_bytes)
        document = json_document(raw)
        if not isinstance(document, dict) or not isinstance(document.get("request"), dict):
            # [INFERRED] the vendor's validation answer for a body that is not its wrapped
            # shape; the forum's CA1 500 came from such a body (FACTS §9.4), the QA suite's
            # 400s from missing fields (FACTS §3), and a 400 is what the caller can act on.
            result.reason = "client_error"
            return rest_error(400, "BAD_REQUEST", VALIDATION_SUMMARY, [_empty("request")])
        request = {"body": document, "rest": {"version": version, "now": vendor_now()}}
        run = self._rule_for_rest(rule, rest)
        details = [_empty(entry.path) for entry in run.inputs
                   if entry.required and lookup(request, entry.path) in (None, "")]
        minutes = _minutes(lookup(request, rest.session_length)) if rest.session_length else None
        # [INFERRED] the vendor's bounds for a session length are unknown (FACTS §10): no upper
        # one here, as a flow that asks for a long session at the vendor must not be refused
        # at the bridge; the token's own life caps it below. Under 1 is no session at all.
        if minutes is not None and (minutes is False or minutes < 1):
            name = rest.session_length.rsplit(".", 1)[-1] if rest.session_length else ""
            details.append(f"'{name[:1].upper()}{name[1:]}' must be greater than '0'.")
        if details:
            # The vendor checks the request's shape before anyone's password: nothing counted.
            result.reason = "client_error"
            return rest_error(400, "BAD_REQUEST", VALIDATION_SUMMARY, details)
        if minutes is not None and run.token is not None:
            # The caller may shorten its session, never lengthen it past the rule's token.
            life = min(minutes * 60.0, run.token.ttl or self._token_ttl)
            run = dataclasses.replace(run, token=dataclasses.replace(run.token, ttl=life))
        if self._rate_limiter is not None:
            wait = self._rate_limiter.over(client, RuleEngine.username(run, request))
            if wait is not None:
                result.reason = RATE_LIMITED
                return self._refused(rest, RATE_LIMITED, RateLimited(wait).headers())
        outcome = self._engine.run(run, request)
        result.outcome = outcome
        result.reason = outcome.reason
        if outcome.reason == "ok" and outcome.fault is None:
            return Response(200, json.dumps(outcome.result, separators=(",", ":")).encode(),
                            "application/json; charset=utf-8", _NO_STORE)
        # A user the bridge has locked out is answered as the rule's lockout says (as for
        # a wrong password, in the shipped rules): an attacker learns nothing.
        reason = (rule.lockout.refusal if outcome.locked_out and rule.lockout is not None
                  else outcome.reason)
        return self._refused(rest, reason)

    @staticmethod
    def _refused(rest: RestAnswer, reason: str, headers: tuple[tuple[str, str], ...] = ()
                 ) -> Response:
        error = rest.errors.get(reason) or rest.errors.get(UNAVAILABLE)
        if error is None:
            return rest_error(500, "INTERNAL_SERVER_ERROR", "The request could not be completed.")
        return rest_error(error.status, error.error_code, error.summary, headers=headers)

    def _rule_for_rest(self, rule: Rule, rest: RestAnswer) -> Rule:
        """The rule with its inputs read from the REST request and its answer the REST one;
        the operation, and so every lockout, remembered and cached entry, stays the same."""
        derived = self._derived
        if derived is not None and derived[0] is rule:
            return derived[1]
        own = {entry.name: entry for entry in rule.inputs}
        inputs = tuple(dataclasses.replace(own[name], path=path) if name in own
                       else InputField(name, path) for name, path in rest.inputs.items())
        run = dataclasses.replace(rule, inputs=inputs, result=rest.result, refusal=None)
        self._derived = (rule, run)
        return run
