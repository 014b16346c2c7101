"""verify.learn against real sandboxes over loopback: the legacy service's credentials check
(Nmbrs' Environment_Get) and AssureSign's credentials step teach argon2id verifiers, which
authenticate alone once the legacy service is retired or gone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.tokens import TokenIssuer
from bridge.auth.verifiers import PREFIX, LearnedVerifiers
from bridge.errors import ConfigError
from bridge.legacycalls import LegacyCalls
from bridge.rules.engine import EngineContext, RuleEngine
from bridge.rules.model import Rule, compile_rule
from bridge.sandbox import SandboxServer, load_seed, start_in_thread
from bridge.sandbox.nmbrs.seed import load_nmbrs_seed
from bridge.soap.xmlparse import XmlLimits
from bridge.store import MemoryStore
from bridge.upstream.legacy import LegacyClient
from bridge.upstream.rest import Endpoint, RestClient
from tests.rules.test_engine import DEMO_KEY
from tests.rules.test_engine import RULE as ASSURESIGN_RULE

NMBRS_USER = load_nmbrs_seed().users[0]
SANDBOX_PASSWORD = next(u.password for u in load_seed(None).users if u.username == "jdoe@example.com")

NMBRS_RULE = """
operation: List_GetAll
input:
  username: {path: header.AuthHeaderWithDomain.Username, required: true}
  token: {path: header.AuthHeaderWithDomain.Token, secret: true, required: true}
verify:
  strategy: legacy
  password: token
  learn: true
  legacy:
    path: /soap/v3/DebtorService.asmx
    namespace: https://api.nmbrs.nl/soap/v3/DebtorService
    operation: Environment_Get
    header:
      AuthHeader: {Username: "{{ input.username }}", Token: "{{ input.token }}"}
    refused: ["---> 1001:"]
lockout: {subject: "{{ input.username }}", refusal: invalid_credentials}
result: {List_GetAllResult: {Who: "{{ input.username }}"}}
refusals:
  reasons:
    invalid_credentials: {fault: Server, message: "1001: Invalid Authentication"}
    unavailable: {fault: Server, message: "9999: Unkown"}
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with start_in_thread(load_seed(None)) as server:
        yield server


def _rule(tmp_path: Path, text: str) -> Rule:
    path = tmp_path / "rule.yaml"
    path.write_text(text)
    return compile_rule(str(path))


def _engine(store: MemoryStore, legacy: SandboxServer | None, retired_at: float | None = None,
            upstream: SandboxServer | None = None) -> RuleEngine:
    calls = (LegacyCalls(LegacyClient(Endpoint("legacy", legacy.url, 2.0, 2.0)), XmlLimits(),
                         retired_at) if legacy is not None else None)
    return RuleEngine(EngineContext(
        upstreams={"esign": RestClient(Endpoint("esign", upstream.url, 2.0, 2.0))} if upstream
        else {},
        store=store, tokens=TokenIssuer(store),
        lockout=Lockout(store, LockoutPolicy(max_failures=5, window=900, duration=900)),
        secrets={"api_key": DEMO_KEY}, vars={}, token_ttl=60, state_key=b"s" * 32,
        legacy_check=calls.check if calls else None,
        legacy_retired=calls.retired if calls else None,
        verifiers=LearnedVerifiers(store, b"s" * 32),
    ))


def _nmbrs(username: str, token: str) -> dict[str, Any]:
    return {"body": {}, "header": {"AuthHeaderWithDomain": {"Username": username, "Token": token}}}


def _calls(sandbox: SandboxServer) -> int:
    import requests

    counts = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["calls"]
    return int(counts.get("nmbrs:DebtorService.Environment_Get", 0))


def test_a_token_the_legacy_service_accepts_is_learned_and_works_after_it_is_gone(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    rule, store = _rule(tmp_path, NMBRS_RULE), MemoryStore()
    good = _nmbrs(NMBRS_USER.username, NMBRS_USER.token)

    assert _engine(store, sandbox).run(rule, good).result == {
        "List_GetAllResult": {"Who": NMBRS_USER.username}}
    stored = [key for key in store._data if key.startswith(PREFIX)]
    assert len(stored) == 1 and NMBRS_USER.username not in stored[0]
    assert NMBRS_USER.token not in str(store._data[stored[0]])

    gone = _engine(store, None)  # legacy: removed from the configuration
    assert gone.run(rule, good).result is not None
    # Another spelling of the same user is the same identity.
    assert gone.run(rule, _nmbrs(NMBRS_USER.username.upper(), NMBRS_USER.token)).result
    refused = gone.run(rule, _nmbrs(NMBRS_USER.username, NMBRS_USER.token + "0"))
    assert refused.fault is not None and "1001:" in refused.fault.message
    assert refused.reason == "invalid_credentials"


def test_a_wrong_token_is_refused_by_the_legacy_service_and_not_learned(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    rule, store = _rule(tmp_path, NMBRS_RULE), MemoryStore()
    outcome = _engine(store, sandbox).run(rule, _nmbrs(NMBRS_USER.username, "0" * 32))
    assert outcome.fault is not None and outcome.fault.message.startswith("1001:")
    assert not [key for key in store._data if key.startswith(PREFIX)]
    # Never learned, so never accepted after the shutdown either.
    gone = _engine(store, None).run(rule, _nmbrs(NMBRS_USER.username, NMBRS_USER.token))
    assert gone.reason == "invalid_credentials"


def test_after_retired_at_the_legacy_service_is_not_asked(sandbox: SandboxServer,
                                                          tmp_path: Path) -> None:
    rule, store = _rule(tmp_path, NMBRS_RULE), MemoryStore()
    good = _nmbrs(NMBRS_USER.username, NMBRS_USER.token)
    _engine(store, sandbox).run(rule, good)
    before = _calls(sandbox)

    retired = _engine(store, sandbox, retired_at=time.time() - 1)
    assert retired.run(rule, good).result is not None
    assert retired.run(rule, _nmbrs(NMBRS_USER.username, "f" * 32)).reason == "invalid_credentials"
    assert _calls(sandbox) == before

    # Not yet retired: the legacy service is asked, and is the truth.
    _engine(store, sandbox, retired_at=time.time() + 3600).run(rule, good)
    assert _calls(sandbox) == before + 1


def test_before_retirement_the_legacy_service_replaces_a_stale_verifier(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    rule, store = _rule(tmp_path, NMBRS_RULE), MemoryStore()
    LearnedVerifiers(store, b"s" * 32).learn(NMBRS_USER.username, "an-old-token")
    assert _engine(store, None).run(rule, _nmbrs(NMBRS_USER.username, "an-old-token")).result

    _engine(store, sandbox).run(rule, _nmbrs(NMBRS_USER.username, NMBRS_USER.token))

    gone = _engine(store, None)
    assert gone.run(rule, _nmbrs(NMBRS_USER.username, "an-old-token")).reason == \
        "invalid_credentials"
    assert gone.run(rule, _nmbrs(NMBRS_USER.username, NMBRS_USER.token)).result is not None


def test_a_learned_token_the_legacy_service_now_refuses_is_forgotten(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    # Learned, then revoked at Nmbrs (a token regenerated, an employee gone): it must not
    # authenticate again once the legacy service is retired.
    rule, store = _rule(tmp_path, NMBRS_RULE), MemoryStore()
    verifiers = LearnedVerifiers(store, b"s" * 32)
    verifiers.learn(NMBRS_USER.username, "a-revoked-token")
    # Someone else's wrong token in the user's name refuses, and leaves the verifier alone:
    # nobody can erase a user's verifier by guessing.
    assert _engine(store, sandbox).run(rule, _nmbrs(NMBRS_USER.username, "0" * 32)).reason == \
        "invalid_credentials"
    assert verifiers.verify(NMBRS_USER.username, "a-revoked-token")

    refused = _engine(store, sandbox).run(rule, _nmbrs(NMBRS_USER.username, "a-revoked-token"))

    assert refused.reason == "invalid_credentials"
    assert not verifiers.known(NMBRS_USER.username)
    assert _engine(store, None).run(rule, _nmbrs(NMBRS_USER.username, "a-revoked-token")).reason \
        == "invalid_credentials"


def test_a_pass_through_refused_as_wrong_credentials_forgets_that_verifier(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    # Legacy mode: the side job hands the engine the Fault Nmbrs answered the call passed on.
    rule, store = _rule(tmp_path, NMBRS_RULE), MemoryStore()
    verifiers = LearnedVerifiers(store, b"s" * 32)
    verifiers.learn(NMBRS_USER.username, "a-revoked-token")
    engine = _engine(store, sandbox)
    revoked = _nmbrs(NMBRS_USER.username, "a-revoked-token")
    refusal = "Server was unable to process request. ---> 1001: Invalid Authentication"

    # A Fault that is not about the credentials, or another token, forgets nothing.
    assert not engine.unlearn_verifier(rule, revoked, "Server was unable to process request. "
                                       "---> 2046: Not Found")
    assert not engine.unlearn_verifier(rule, _nmbrs(NMBRS_USER.username, "1" * 32), refusal)
    assert verifiers.known(NMBRS_USER.username)

    assert engine.unlearn_verifier(rule, revoked, refusal)
    assert not verifiers.known(NMBRS_USER.username)
    # Once retired the legacy service's answers are no more: nothing is forgotten by them.
    verifiers.learn(NMBRS_USER.username, "a-revoked-token")
    assert not _engine(store, sandbox, retired_at=time.time() - 1).unlearn_verifier(
        rule, revoked, refusal)


def test_a_legacy_service_that_cannot_answer_is_unavailable_not_a_wrong_token(
        tmp_path: Path) -> None:
    rule = _rule(tmp_path, NMBRS_RULE)
    with start_in_thread(load_seed(None)) as dead:
        pass  # shut down: nothing listens there any more
    outcome = _engine(MemoryStore(), dead).run(rule, _nmbrs(NMBRS_USER.username, NMBRS_USER.token))
    assert outcome.reason == "unavailable" and outcome.fault is not None
    assert outcome.fault.message.startswith("9999:")


def test_an_assuresign_password_is_learned_lazily_from_the_credentials_step(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    rule = _rule(tmp_path, ASSURESIGN_RULE.replace(
        "verify: {strategy: upstream-credentials, step: credentials}",
        "verify: {strategy: upstream-credentials, step: credentials, learn: true}"))
    store = MemoryStore()
    login = {"body": {"Request": {"UserName": "jdoe@example.com", "Password": SANDBOX_PASSWORD}},
             "header": {}}
    first = _engine(store, sandbox, upstream=sandbox).run(rule, login)
    assert first.result is not None and first.upstream_calls == 3

    # Retired: the credentials step is not called; the learned verifier stands in.
    retired = _engine(store, sandbox, retired_at=time.time() - 1, upstream=sandbox)
    again = retired.run(rule, login)
    assert again.result is not None and again.upstream_calls == 2
    wrong = {"body": {"Request": {"UserName": "jdoe@example.com", "Password": "nope"}},
             "header": {}}
    assert retired.run(rule, wrong).reason == "invalid_credentials"


def test_an_assuresign_password_the_credentials_step_now_refuses_is_forgotten(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    rule = _rule(tmp_path, ASSURESIGN_RULE.replace(
        "verify: {strategy: upstream-credentials, step: credentials}",
        "verify: {strategy: upstream-credentials, step: credentials, learn: true}"))
    store = MemoryStore()
    verifiers = LearnedVerifiers(store, b"s" * 32)
    verifiers.learn("jdoe@example.com", "a-changed-password")
    old = {"body": {"Request": {"UserName": "jdoe@example.com", "Password": "a-changed-password"}},
           "header": {}}

    assert _engine(store, sandbox, upstream=sandbox).run(rule, old).reason == "invalid_credentials"

    assert not verifiers.known("jdoe@example.com")
    retired = _engine(store, sandbox, retired_at=time.time() - 1, upstream=sandbox)
    assert retired.run(rule, old).reason == "invalid_credentials"


@pytest.mark.parametrize(("verify", "message"), [
    ("{strategy: legacy}", "verify.strategy legacy needs verify.legacy"),
    ("{strategy: api-key, step: x, learn: true}", "verify.learn applies to the strategies"),
    ("{strategy: legacy, learn: yes please, legacy: {path: /x, namespace: urn:x, operation: Op,"
     " refused: '1001'}}", "verify.learn must be true or false"),
    ("{strategy: legacy, legacy: {path: /x, namespace: urn:x, operation: Op}}",
     "verify.legacy needs refused"),
])
def test_mistakes_in_verify_learn_are_told_at_their_line(tmp_path: Path, verify: str,
                                                          message: str) -> None:
    text = NMBRS_RULE.split("verify:")[0] + f"verify: {verify}\nresult: {{A: b}}\n"
    with pytest.raises(ConfigError) as caught:
        _rule(tmp_path, text)
    problems = [str(p) for p in caught.value.problems]
    assert any(message in p and "rule.yaml:6" in p for p in problems), problems
