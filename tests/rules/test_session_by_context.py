"""A `session` with `without_token: context`: a request with no token is taken the legacy way
(the account it names, acted in as its holder), against the in-process sandbox's OneSpan
emulation; `contexts.require_token`; a step with `each` and `cache`; the compiler's problems."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bridge.auth.tokens import TokenIssuer
from bridge.errors import ConfigError
from bridge.rules.engine import Outcome, RuleEngine
from bridge.rules.model import Rule, compile_rule
from bridge.sandbox import SandboxServer
from bridge.store import MemoryStore
from tests.rules import test_session
from tests.rules.test_session import CONTEXT, LOGIN, PACKAGE

UNKNOWN = "06fd91ef-dab3-4d55-8b2c-214401174fbc"
ROLE = "6a1f0c3e-2d4b-4c5a-9e8f-7b6a5d4c3b21"

# The holder's step runs only for a session by context (`each` over session.holder), cached
# per holder; a OneSpan call stands in for the AssureSign pack's apiUser.
RULE = """
operation: GetSigningLinks
input:
  token: {path: http.Authorization, secret: true}
  context: {path: body.Request.ContextIdentifier, required: true, missing: invalid_request}
  envelope: body.Request.EnvelopeId
session:
  token: "{{ input.token }}"
  context: "{{ input.context }}"
  without_token: context
steps:
  - id: holder
    each: "{{ session.holder }}"
    as: holder
    cache: {key: "{{ holder | identity }}", ttl: 1m}
    upstream: onespan
    method: POST
    path: /api/cs-authenticationTokens/signer/multiUse
    json: {signerId: "ROLE", packageId: "{{ input.envelope }}"}
    headers: {Authorization: "Bearer {{ secrets.key }}"}
    extract: {value: value}
result:
  R:
    subject: "{{ session.subject }}"
    holder: "{{ session.holder }}"
    context: "{{ session.context }}"
    bearer: "{{ session.bearer }}{{ steps.holder.value | join('') }}"
refusals:
  result: {R: {reason: "{{ refusal.reason }}"}}
  reasons:
    invalid_token: {message: dead}
    token_required: {message: send the token}
    invalid_request: {message: bad}
    not_permitted: {message: not yours}
    unavailable: {fault: Server, message: down}
""".replace('"ROLE"', f'"{ROLE}"')


@pytest.fixture
def rule(tmp_path: Path) -> Rule:
    path = tmp_path / "rule.yaml"
    path.write_text(RULE)
    return compile_rule(str(path))


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(MemoryStore())


def _engine(sandbox: SandboxServer, issuer: TokenIssuer, require_token: bool = False) -> RuleEngine:
    """test_session's engine, which knows jdoe as the holder of CONTEXT."""
    table = {CONTEXT: "jdoe@example.com"}
    return RuleEngine(dataclasses.replace(
        test_session._engine(sandbox, issuer).context,
        context_holder=lambda context: table.get(context.casefold()), require_token=require_token))


def _run(engine: RuleEngine, rule: Rule, authorization: str | None,
         context: str = CONTEXT) -> Outcome:
    request: dict[str, Any] = {"body": {"Request": {"ContextIdentifier": context,
                                                    "EnvelopeId": PACKAGE}}, "header": {}}
    if authorization is not None:
        request["http"] = {"Authorization": authorization}
    return engine.run(rule, request)


def test_no_token_is_the_holders_session(sandbox_thread: SandboxServer, rule: Rule,
                                         issuer: TokenIssuer) -> None:
    engine = _engine(sandbox_thread, issuer)
    # No header, and a header of another scheme (which the legacy service ignored) alike;
    # the GUID in the caller's case.
    for header in (None, "Basic amRvZTpwdw=="):
        outcome = _run(engine, rule, header, CONTEXT.upper())
        assert outcome.result is not None and outcome.reason == "ok", outcome
        answer = outcome.result["R"]
        assert (answer["subject"], answer["holder"]) == ("jdoe@example.com", "jdoe@example.com")
        assert answer["context"] == f"jdoe@example.com:{CONTEXT.upper()}"
        assert outcome.detail == "no token: acting as the account's holder"
        # The holder's step called (OneSpan's token stands in for a bearer): not empty.
        assert len(answer["bearer"]) > 10
    # Once per holder, then from the cache.
    assert outcome.cache_hits == 1 and outcome.upstream_calls == 0


def test_a_token_still_is_the_session_and_the_holder_step_is_skipped(
        sandbox_thread: SandboxServer, rule: Rule, issuer: TokenIssuer) -> None:
    engine = _engine(sandbox_thread, issuer)
    outcome = _run(engine, rule, f"Bearer {issuer.issue(LOGIN)}")
    assert outcome.result is not None, outcome
    assert outcome.result["R"]["bearer"] == "upstream-bearer"
    assert "holder" not in outcome.result["R"]  # empty: pruned
    assert outcome.detail == ""
    assert outcome.upstream_calls == 0
    # A header sent is a token to check, never a way round it.
    for bad in ("Bearer nope", "nope", "Bearer "):
        refused = _run(engine, rule, bad)
        assert refused.result == {"R": {"reason": "invalid_token"}}, bad


def test_an_account_with_no_known_holder_is_not_permitted(
        sandbox_thread: SandboxServer, rule: Rule, issuer: TokenIssuer) -> None:
    engine = _engine(sandbox_thread, issuer)
    outcome = _run(engine, rule, None, UNKNOWN)
    assert outcome.result == {"R": {"reason": "not_permitted"}}
    assert outcome.upstream_calls == 0 and "no holder" in outcome.detail


def test_require_token_refuses_requests_without_one(
        sandbox_thread: SandboxServer, rule: Rule, issuer: TokenIssuer, tmp_path: Path) -> None:
    engine = _engine(sandbox_thread, issuer, require_token=True)
    outcome = _run(engine, rule, None)
    assert outcome.result == {"R": {"reason": "token_required"}}
    assert outcome.upstream_calls == 0
    assert _run(engine, rule, f"Bearer {issuer.issue(LOGIN)}").result["R"]["subject"] == (
        "jdoe@example.com")
    # A rule without a token_required reason says its session's refusal.
    path = tmp_path / "plain.yaml"
    path.write_text(RULE.replace("    token_required: {message: send the token}\n", ""))
    assert _run(engine, compile_rule(str(path)), None).result == {"R": {"reason": "invalid_token"}}


def test_without_token_refuse_is_the_default(sandbox_thread: SandboxServer, issuer: TokenIssuer,
                                             tmp_path: Path) -> None:
    path = tmp_path / "refuse.yaml"
    path.write_text(RULE.replace("  without_token: context\n", ""))
    outcome = _run(_engine(sandbox_thread, issuer), compile_rule(str(path)), None)
    assert outcome.result == {"R": {"reason": "invalid_token"}}


@pytest.mark.parametrize(("old", "new", "message"), [
    ("  without_token: context\n", "  without_token: allow\n", "without_token is refuse, or context"),
    ('  context: "{{ input.context }}"\n  without_token', "  without_token",
     "without_token is refuse, or context"),
    ('    cache: {key: "{{ holder | identity }}", ttl: 1m}\n', "    cache: {key: fixed, ttl: 1m}\n",
     "with each, cache.key names the item ({{ holder }})"),
])
def test_mistakes_name_file_and_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = RULE.replace(old, new)
    assert text != RULE
    path = tmp_path / "rule.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        compile_rule(str(path))
    assert any(message in str(problem) and str(path) in str(problem)
               for problem in caught.value.problems), caught.value.problems
