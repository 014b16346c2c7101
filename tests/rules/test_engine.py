"""The rule engine against the sandbox over loopback: on_error by summary, directory steps,
optional steps, and the names a legacy answer teaches."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.tokens import TokenIssuer
from bridge.directory import LocalDirectory, learn_directory
from bridge.errors import ConfigError
from bridge.rules.engine import EngineContext, RuleEngine
from bridge.rules.model import ErrorRule, Rule, compile_rule
from bridge.sandbox import SandboxServer, load_seed, start_in_thread
from bridge.store import MemoryStore
from bridge.upstream.rest import Endpoint, RestClient

# The demo API user's key lives in the sandbox seed alone.
DEMO_KEY = next(api.key for api in load_seed(None).api_users if api.username == "bridge-demo")
REQUEST = {"body": {"Request": {"UserName": "jdoe@example.com", "Password": "Password"}}, "header": {}}

# A rule with just what these tests need: the credentials check mapped by summary, the
# bearer, the user's accounts and the names from the directory.
RULE = """
operation: AuthenticateUser
input:
  username: {path: body.Request.UserName, required: true}
  password: {path: body.Request.Password, secret: true, required: true}
verify: {strategy: upstream-credentials, step: credentials}
steps:
  - id: credentials
    upstream: esign
    path: /api/documentnow/v3.7/authentication/credentials
    json: {request: {authRequest: {username: "{{ input.username }}", password: "{{ input.password }}"}}}
    on_error:
      - {status: 401, refuse: invalid_credentials}
      - {error_code: FORBIDDEN, summary: [Locked, "is inactive"], refuse: cannot_use}
      - {error_code: FORBIDDEN, refuse: not_permitted}
  - id: bearer
    upstream: esign
    path: /api/v3.7/authentication/apiUser
    json: {request: {apiUsername: bridge-demo, key: "{{ secrets.api_key }}",
                     contextUsername: "{{ input.username }}"}}
    extract: {token: [result.token, token]}
  - id: accounts
    upstream: esign
    method: GET
    path: "/api/documentnow/v3.7/users/{{ input.username | strip | urlencode }}/accounts"
    headers: {Authorization: "bearer {{ steps.bearer.token }}"}
    extract: {accounts: result.userAccounts}
  - id: names
    directory: "{{ input.username }}"
    extract:
      first_name: {path: firstName, optional: true}
      last_name: {path: lastName, optional: true}
result:
  AuthenticateUserResult:
    Success: true
    FirstName: "{{ steps.names.first_name }}"
    LastName: "{{ steps.names.last_name }}"
    Accounts: "{{ steps.accounts.accounts | reject('isDisabled') }}"
refusals:
  result: {AuthenticateUserResult: {Success: false, Reason: "{{ refusal.reason }}"}}
  reasons:
    invalid_credentials: {message: wrong}
    cannot_use: {message: cannot use}
    not_permitted: {message: not permitted}
    unavailable: {fault: Server, message: down}
learn_accounts:
  each: "{{ answer.Result.Accounts }}"
  map: {contextIdentifier: "{{ item.Id }}", name: "{{ item.Name }}", isPrimary: "{{ item.Primary }}"}
learn_names:
  firstName: "{{ answer.Result.FirstName }}"
  lastName: "{{ answer.Result.LastName | strip }}"
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with start_in_thread(load_seed(None)) as server:
        yield server


@pytest.fixture
def rule(tmp_path: Path) -> Rule:
    path = tmp_path / "rule.yaml"
    path.write_text(RULE)
    return compile_rule(str(path))


def _engine(sandbox: SandboxServer, directory: Mapping[str, Mapping[str, Any]] | None) -> RuleEngine:
    store = MemoryStore()
    read = None if directory is None else (lambda username: directory.get(username.casefold()))
    return RuleEngine(
        EngineContext(
            upstreams={"esign": RestClient(Endpoint("esign", sandbox.url, 2.0, 2.0))},
            store=store,
            tokens=TokenIssuer(store),
            lockout=Lockout(store, LockoutPolicy(max_failures=5, window=900, duration=900)),
            secrets={"api_key": DEMO_KEY},
            vars={},
            token_ttl=60,
            state_key=b"k" * 32,
            directory=read,
        )
    )


def _login(rule: Rule, engine: RuleEngine, username: str = "jdoe@example.com") -> dict[str, Any]:
    request = {"body": {"Request": {"UserName": username, "Password": "Password"}}, "header": {}}
    outcome = engine.run(rule, request)
    assert outcome.result is not None, outcome
    answer: dict[str, Any] = outcome.result["AuthenticateUserResult"]
    return answer


def test_names_come_from_the_directory_and_accounts_from_rest(sandbox: SandboxServer, rule: Rule) -> None:
    engine = _engine(sandbox, {"jdoe@example.com": {"firstName": "John", "lastName": "Doe"}})

    answer = _login(rule, engine, "JDoe@Example.com")

    assert (answer["FirstName"], answer["LastName"]) == ("John", "Doe")
    assert [a["accountName"] for a in answer["Accounts"]] == ["Example, Inc."]


@pytest.mark.parametrize(
    "directory",
    [None, {}, {"jdoe@example.com": {"accounts": []}}],
    ids=["no-directory", "user-unknown", "no-names"],
)
def test_names_are_left_out_when_the_directory_has_none(
    sandbox: SandboxServer, rule: Rule, directory: Mapping[str, Mapping[str, Any]] | None
) -> None:
    answer = _login(rule, _engine(sandbox, directory))

    assert "FirstName" not in answer and "LastName" not in answer
    assert answer["Success"] is True


def test_a_directory_step_costs_no_upstream_call(sandbox: SandboxServer, rule: Rule) -> None:
    outcome = _engine(sandbox, {}).run(rule, REQUEST)
    assert outcome.upstream_calls == 3  # credentials, bearer, accounts
    assert "names" in outcome.timings


def test_disabled_accounts_can_be_left_out(sandbox: SandboxServer, rule: Rule) -> None:
    answer = _login(rule, _engine(sandbox, {}), "multi@example.com")
    names = [a["accountName"] for a in answer["Accounts"]]
    assert names == ["Multi Holdings", "Multi Europe", "Example, Inc."]  # not "Multi Archive"


@pytest.mark.parametrize(
    ("username", "reason"),
    [
        ("locked@example.com", "cannot_use"),  # "The user account is locked." (any case)
        ("inactive@example.com", "cannot_use"),
        ("expired@example.com", "not_permitted"),  # FORBIDDEN, but no listed text in its summary
        ("nobody@example.com", "invalid_credentials"),
    ],
)
def test_on_error_tells_refusals_of_one_code_apart_by_their_summary(
    sandbox: SandboxServer, rule: Rule, username: str, reason: str
) -> None:
    request = {"body": {"Request": {"UserName": username, "Password": "Password"}}, "header": {}}
    outcome = _engine(sandbox, {}).run(rule, request)

    assert outcome.reason == reason
    assert outcome.result == {"AuthenticateUserResult": {"Success": False, "Reason": reason}}


def test_a_summary_criterion_never_matches_an_error_without_one() -> None:
    entry = ErrorRule(error_codes=frozenset({"FORBIDDEN"}), summaries=("locked",), refuse="locked")
    assert entry.matches("http", 403, "FORBIDDEN", "The user account is LOCKED.")
    assert not entry.matches("http", 403, "FORBIDDEN", None)
    assert not entry.matches("http", 403, "FORBIDDEN", "The user account is inactive.")
    assert not entry.matches("http", 403, "UNAUTHORIZED", "locked")


def test_an_optional_step_failing_leaves_its_values_empty(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    path = tmp_path / "rule.yaml"
    text = RULE.replace("  - id: accounts\n", "  - id: accounts\n    optional: true\n").replace(
        "/accounts\"", "/nothing\""
    )
    path.write_text(text)
    answer = _login(compile_rule(str(path)), _engine(sandbox, {}))
    assert answer == {"Success": True, "Accounts": []}


def test_learned_names_are_the_non_empty_ones(sandbox: SandboxServer, rule: Rule) -> None:
    answer = {"Result": {"FirstName": "Mary", "LastName": "  ", "Accounts": []}}
    assert _engine(sandbox, {}).learned_names(rule, REQUEST, answer) == {"firstName": "Mary"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    directory: \"{{ input.username }}\"\n",
         "    directory: \"{{ input.username }}\"\n    retry: {attempts: 2}\n",
         "step 'names' reads the directory: retry applies only to a step that calls an upstream"),
        ("    directory: \"{{ input.username }}\"\n", "    directory:\n",
         "step 'names': directory names the user to read"),
        ("summary: [Locked, \"is inactive\"]", "summary: \"\"",
         "summary is a text (or a list of texts) the error's summary contains"),
        ("  lastName: \"{{ answer.Result.LastName | strip }}\"", "  middleName: x",
         "unknown key 'middleName' in learn_names"),
    ],
)
def test_new_syntax_mistakes_name_file_and_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in RULE
    path = tmp_path / "rule.yaml"
    path.write_text(RULE.replace(old, new))
    line = RULE[: RULE.index(old)].count("\n") + 1

    with pytest.raises(ConfigError) as caught:
        compile_rule(str(path))

    found = [p for p in caught.value.problems if message in str(p)]
    assert found, caught.value.problems
    assert found[0].line is not None and abs(found[0].line - line) <= 1


# -- the lockout's hold on the password check ---------------------------------------------

GUARDED = RULE.replace(
    "verify: {strategy: upstream-credentials, step: credentials}",
    "verify: {strategy: upstream-credentials, step: credentials, cache: 2m}\n"
    'lockout: {subject: "{{ input.username }}", refusal: invalid_credentials}')


class _CountingStore(MemoryStore):
    """Counts the lockout's atomic steps (every hold, failure and success is one)."""

    updates = 0

    def update(self, keys: Any, change: Any, args: Any) -> Any:
        self.updates += 1
        return super().update(keys, change, args)


def _guarded(tmp_path: Path, sandbox: SandboxServer, base_url: str | None = None
             ) -> tuple[Rule, RuleEngine, _CountingStore]:
    path = tmp_path / "guarded.yaml"
    path.write_text(GUARDED)
    store = _CountingStore()
    context = _engine(sandbox, {}).context
    engine = RuleEngine(dataclasses.replace(
        context, store=store, tokens=TokenIssuer(store),
        lockout=Lockout(store, LockoutPolicy(max_failures=2, window=900, duration=900)),
        upstreams={"esign": RestClient(Endpoint("esign", base_url or sandbox.url, 1.0, 1.0))}))
    return compile_rule(str(path)), engine, store


def test_a_checked_login_holds_its_check_and_a_remembered_one_writes_no_lockout_state(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    rule, engine, store = _guarded(tmp_path, sandbox)
    assert engine.run(rule, REQUEST).result is not None
    assert store.updates == 2  # the hold before the check, the success after it
    assert engine.run(rule, REQUEST).result is not None  # remembered: never checked
    assert store.updates == 2


def test_a_locked_user_is_refused_even_when_remembered(sandbox: SandboxServer,
                                                       tmp_path: Path) -> None:
    rule, engine, _ = _guarded(tmp_path, sandbox)
    assert engine.run(rule, REQUEST).result is not None
    for _ in range(2):
        engine.context.lockout.record_failure("JDOE@example.com")
    outcome = engine.run(rule, REQUEST)
    assert (outcome.reason, outcome.detail) == ("locked_out", "locked out after repeated failures")
    assert outcome.upstream_calls == 0


def test_an_upstream_outage_gives_the_check_back_uncounted(sandbox: SandboxServer,
                                                           tmp_path: Path) -> None:
    rule, engine, _ = _guarded(tmp_path, sandbox, base_url="http://127.0.0.1:9")
    for _ in range(3):  # more than max_failures: none was a verdict
        assert engine.run(rule, REQUEST).reason == "unavailable"
    lockout = engine.context.lockout
    assert not lockout.standing("jdoe@example.com").failing
    assert not lockout.reserve("jdoe@example.com").refused  # no hold left behind


# -- a warm login's one store round trip --------------------------------------------------

WARM = GUARDED.replace(
    "    extract: {token: [result.token, token]}",
    '    cache: {key: "{{ input.username | identity }}", ttl: 25m}\n'
    "    extract: {token: [result.token, token]}").replace(
    "    extract: {accounts: result.userAccounts}",
    '    cache: {key: "{{ input.username | identity }}", ttl: 5m}\n'
    "    extract: {accounts: result.userAccounts}")


class _RoundTrips(MemoryStore):
    """Counts the store's round trips: reads (get, get_many) and writes (everything else)."""

    reads = writes = 0

    def get(self, key: str) -> Any:
        self.reads += 1
        return super().get(key)

    def get_many(self, keys: Any) -> list[Any]:
        self.reads += 1
        return super().get_many(keys)

    def set(self, key: str, value: Any, ttl: float) -> None:
        self.writes += 1
        super().set(key, value, ttl)

    def delete(self, key: str) -> None:
        self.writes += 1
        super().delete(key)

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        self.writes += 1
        return super().incr(key, ttl, amount)

    def update(self, keys: Any, change: Any, args: Any) -> Any:
        self.writes += 1
        return super().update(keys, change, args)


def test_a_warm_login_with_a_learned_directory_reads_the_store_once(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    """Verification remembered, bearer and accounts cached: the lock standing and the
    learned names come in one round trip, nothing is written, and a name learned between
    two logins shows at the second."""
    path = tmp_path / "warm.yaml"
    path.write_text(WARM)
    rule = compile_rule(str(path))
    store = _RoundTrips()
    own = LocalDirectory(("learned",), store, None)
    engine = RuleEngine(dataclasses.replace(
        _engine(sandbox, {}).context, store=store, tokens=TokenIssuer(store),
        lockout=Lockout(store, LockoutPolicy(max_failures=2, window=900, duration=900)),
        directory=own.entry, directory_reads=own.reads))
    _login(rule, engine)  # cold: checked, bearer and accounts fetched
    store.reads = store.writes = 0
    answer = _login(rule, engine)
    assert "FirstName" not in answer
    assert (store.reads, store.writes) == (1, 0)
    learn_directory(store, "jdoe@example.com", [], {"firstName": "John", "lastName": "Doe"})
    store.reads = store.writes = 0
    answer = _login(rule, engine)
    assert (answer["FirstName"], answer["LastName"]) == ("John", "Doe")
    assert (store.reads, store.writes) == (1, 0)
    # A lock standing is still read in that round trip and still refuses, remembered or not.
    for _ in range(2):
        engine.context.lockout.record_failure("jdoe@example.com")
    outcome = engine.run(rule, REQUEST)
    assert (outcome.reason, outcome.upstream_calls) == ("locked_out", 0)


def test_a_directory_step_for_another_user_reads_its_own_entry(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    """What was read ahead is the lockout subject's entry: a step naming someone else reads
    the directory itself."""
    path = tmp_path / "other.yaml"
    path.write_text(WARM.replace('directory: "{{ input.username }}"', "directory: '{{ vars.other }}'"))
    store = _RoundTrips()
    own = LocalDirectory(("learned",), store, None)
    learn_directory(store, "ann@example.com", [], {"firstName": "Ann"})
    learn_directory(store, "jdoe@example.com", [], {"firstName": "John"})
    engine = RuleEngine(dataclasses.replace(
        _engine(sandbox, {}).context, store=store, tokens=TokenIssuer(store),
        lockout=Lockout(store, LockoutPolicy()), directory=own.entry, directory_reads=own.reads,
        vars={"other": "ann@example.com"}))
    assert _login(rule=compile_rule(str(path)), engine=engine)["FirstName"] == "Ann"
