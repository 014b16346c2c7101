"""A rule's `session` (the login a caller's token stands for) and steps with `each`: the engine
against the in-process sandbox's OneSpan emulation, and the compiler's problems."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.tokens import SCOPED, SINGLE_USE, Grant, TokenIssuer
from bridge.errors import ConfigError
from bridge.rules.engine import EngineContext, Outcome, RuleEngine
from bridge.rules.model import Rule, compile_rule
from bridge.sandbox import SandboxServer
from bridge.sandbox.onespan import load_onespan_seed
from bridge.store import MemoryStore
from bridge.upstream.rest import Endpoint, RestClient

CONTEXT = "821ae27f-027c-4f21-a2e5-1667fc9b650a"
PACKAGE = "0b6e4f2a-7c1d-4e8b-9a35-2f4d6c8e10c1"
LOGIN = Grant(subject="jdoe@example.com", bearer="upstream-bearer",
              context=f"jdoe@example.com:{CONTEXT}",
              accounts=[{"contextIdentifier": CONTEXT, "name": "Example, Inc.", "isPrimary": True}])

# One token per role of the package, as the OneSpan pack does it.
RULE = """
operation: GetSigningLinks
input:
  token: {path: http.Authorization, secret: true, required: true, missing: invalid_token}
  context: body.Request.ContextIdentifier
  envelope: body.Request.EnvelopeId
  roles: body.Request.Roles
session:
  token: "{{ input.token }}"
  context: "{{ input.context }}"
  scope: {package: "{{ input.envelope }}"}
steps:
  - id: tokens
    upstream: onespan
    each: "{{ input.roles }}"
    as: role
    path: /api/cs-authenticationTokens/signer/multiUse
    headers: {Authorization: "Bearer {{ secrets.key }}"}
    json: {packageId: "{{ input.envelope }}", signerId: "{{ role }}"}
    extract: {value: value}
result:
  R:
    subject: "{{ session.subject }}"
    bearer: "{{ session.bearer }}"
    values: "{{ steps.tokens.value }}"
    rows: "{{ steps.tokens.each }}"
refusals:
  result: {R: {reason: "{{ refusal.reason }}"}}
  reasons:
    invalid_token: {message: dead}
    not_permitted: {message: not yours}
    unavailable: {fault: Server, message: down}
"""


@pytest.fixture
def sandbox(sandbox_thread: SandboxServer) -> SandboxServer:
    """The in-process sandbox (tests/conftest.py), which emulates OneSpan too."""
    return sandbox_thread


def _written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rule.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def rule(tmp_path: Path) -> Rule:
    return compile_rule(str(_written(tmp_path, RULE)))


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(MemoryStore())


def _engine(sandbox: SandboxServer, issuer: TokenIssuer) -> RuleEngine:
    store = MemoryStore()
    return RuleEngine(EngineContext(
        upstreams={"onespan": RestClient(Endpoint("onespan", sandbox.url, 2.0, 2.0))},
        store=store, tokens=issuer,
        lockout=Lockout(store, LockoutPolicy(max_failures=5, window=900, duration=900)),
        secrets={"key": load_onespan_seed(None).api_keys[0].key}, vars={}, token_ttl=60,
        state_key=b"k" * 32))


def _run(engine: RuleEngine, rule: Rule, token: str | None, roles: Any = None,
         context: str = CONTEXT) -> Outcome:
    request: dict[str, Any] = {"body": {"Request": {"ContextIdentifier": context,
                                                    "EnvelopeId": PACKAGE, "Roles": roles}},
                               "header": {}}
    if token is not None:
        request["http"] = {"Authorization": token}
    return engine.run(rule, request)


def test_a_live_token_is_the_session(sandbox: SandboxServer, rule: Rule, issuer: TokenIssuer) -> None:
    engine = _engine(sandbox, issuer)
    token = issuer.issue(LOGIN)
    for header in (f"Bearer {token}", f"bearer  {token}", token):
        outcome = _run(engine, rule, header)
        assert outcome.result is not None, outcome
        assert outcome.result["R"]["subject"] == "jdoe@example.com"
        assert outcome.result["R"]["bearer"] == "upstream-bearer"


def test_each_calls_once_per_item_and_keeps_the_items(sandbox: SandboxServer, rule: Rule,
                                                       issuer: TokenIssuer) -> None:
    engine = _engine(sandbox, issuer)
    roles = ["6a1f0c3e-2d4b-4c5a-9e8f-7b6a5d4c3b21", "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c65"]
    outcome = _run(engine, rule, issuer.issue(LOGIN), roles)
    assert outcome.result is not None and outcome.upstream_calls == 2
    answer = outcome.result["R"]
    assert len(answer["values"]) == 2 and len(set(answer["values"])) == 2
    assert [row["role"] for row in answer["rows"]] == roles
    assert [row["value"] for row in answer["rows"]] == answer["values"]
    # A single value is a list of one; none (or false) is no call at all.
    assert _run(engine, rule, issuer.issue(LOGIN), roles[0]).upstream_calls == 1
    for nothing in (None, "", False, []):
        outcome = _run(engine, rule, issuer.issue(LOGIN), nothing)
        assert outcome.upstream_calls == 0 and outcome.result is not None


def test_dead_tokens_are_refused_before_any_call(sandbox: SandboxServer, rule: Rule,
                                                 issuer: TokenIssuer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(sandbox, issuer)
    revoked = issuer.issue(LOGIN)
    issuer.revoke(revoked)
    expiring = issuer.issue(LOGIN, ttl=60)
    for token in (None, "", "Bearer", "Bearer nonsense", revoked, expiring[:-3] + "abc"):
        outcome = _run(engine, rule, token, ["x"])
        assert (outcome.reason, outcome.result, outcome.upstream_calls) == (
            "invalid_token", {"R": {"reason": "invalid_token"}}, 0), token
    later = time.time() + 61
    monkeypatch.setattr("bridge.auth.tokens.time.time", lambda: later)
    outcome = _run(engine, rule, expiring, ["x"])
    assert outcome.reason == "invalid_token" and "expired" in outcome.detail


def test_the_account_named_must_be_the_logins(sandbox: SandboxServer, rule: Rule,
                                              issuer: TokenIssuer) -> None:
    engine = _engine(sandbox, issuer)
    outcome = _run(engine, rule, issuer.issue(LOGIN), ["x"], context="06fd91ef-dab3-4d55-8b2c-214401174fbc")
    assert (outcome.reason, outcome.upstream_calls) == ("not_permitted", 0)
    assert _run(engine, rule, issuer.issue(LOGIN), context=CONTEXT.upper()).result == {"R": {
        "subject": "jdoe@example.com", "bearer": "upstream-bearer", "values": [], "rows": []}}


def test_single_use_and_scoped_tokens_keep_their_kind(sandbox: SandboxServer, rule: Rule,
                                                      issuer: TokenIssuer) -> None:
    engine = _engine(sandbox, issuer)
    once = issuer.issue(Grant(**{**LOGIN.record(), "kind": SINGLE_USE}))
    assert _run(engine, rule, once).reason == "ok"
    assert _run(engine, rule, once).reason == "invalid_token"
    elsewhere = issuer.issue(Grant(**{**LOGIN.record(), "kind": SCOPED,
                                      "scope": {"package": "another-package"}}))
    assert _run(engine, rule, elsewhere).reason == "invalid_token"
    here = issuer.issue(Grant(**{**LOGIN.record(), "kind": SCOPED, "scope": {"package": PACKAGE}}))
    assert _run(engine, rule, here).reason == "ok"


@pytest.mark.parametrize(("old", "new", "message"), [
    ('  token: "{{ input.token }}"\n', '  token: fixed\n', "session needs token"),
    ("  context: \"{{ input.context }}\"\n", "  context: \"{{ input.context }}\"\n  refresh: 1\n",
     "unknown key 'refresh' in session"),
    ("    as: role\n", "    as: steps\n", "as is a name of letters, digits and _ other than"),
    ("    each: \"{{ input.roles }}\"\n", "", "as names the item of each"),
    ("    as: role\n", "    as: role\n    cache: {key: x, ttl: 1m}\n",
     "with each, cache.key names the item ({{ role }})"),
    ("      http.Authorization", "      soap.Authorization", "path must start with body., header. or http."),
])
def test_mistakes_name_file_and_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = RULE.replace(old, new) if old in RULE else RULE.replace(old.strip(), new.strip())
    assert text != RULE
    path = _written(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        compile_rule(str(path))
    assert any(message in str(problem) and str(path) in str(problem)
               for problem in caught.value.problems), caught.value.problems


def test_a_dry_run_does_not_use_up_a_single_use_token(sandbox: SandboxServer, rule: Rule,
                                                     issuer: TokenIssuer) -> None:
    engine = _engine(sandbox, issuer)
    once = issuer.issue(Grant(**{**LOGIN.record(), "kind": SINGLE_USE}))
    request = {"body": {"Request": {"ContextIdentifier": CONTEXT, "EnvelopeId": PACKAGE}},
               "header": {}, "http": {"Authorization": f"Bearer {once}"}}
    assert engine.run(rule, request, dry_run=True).reason == "ok"
    assert _run(engine, rule, once).reason == "ok"
    assert _run(engine, rule, once).reason == "invalid_token"


def test_a_single_use_token_naming_another_account_is_refused_not_spent(
        sandbox: SandboxServer, rule: Rule, issuer: TokenIssuer) -> None:
    engine = _engine(sandbox, issuer)
    once = issuer.issue(Grant(**{**LOGIN.record(), "kind": SINGLE_USE}))
    other = "06fd91ef-dab3-4d55-8b2c-214401174fbc"
    assert _run(engine, rule, once, context=other).reason == "not_permitted"
    assert _run(engine, rule, once).reason == "ok"
    outcome = _run(engine, rule, once)
    assert outcome.reason == "invalid_token" and outcome.detail == "token refused: used"
