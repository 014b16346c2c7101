"""check_rules: compiled rules held against the config and the DocumentNOW WSDL, each problem
at the exact line it is about (`soap-bridge check` prints these)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bridge.check import check_rules, load_rules
from bridge.config import Config, load_config
from bridge.errors import ConfigError
from bridge.soap.service import SoapService

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "mappings" / "assuresign"
LOGIN, LOOKUP, PING = "authenticate-user.yaml", "account-lookup.yaml", "ping.yaml"
MARK = "# <-"


@pytest.fixture(scope="module")
def service() -> SoapService:
    return SoapService(str(REPO / "wsdl" / "DocumentNOW.wsdl"))


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    """A copy of the shipped AssureSign rules, to break on purpose."""
    folder = tmp_path / "mappings"
    shutil.copytree(SHIPPED, folder)
    return folder


def _config(mappings: Path) -> Config:
    text = (REPO / "examples" / "demo.yaml").read_text(encoding="utf-8")
    text = text.replace("../wsdl/", f"{REPO / 'wsdl'}/").replace(
        "[../mappings/assuresign]", f"[{mappings}]")
    path = mappings.parent / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path))


def _break(path: Path, changes: list[tuple[str, str]]) -> list[int]:
    """Apply the changes; the lines marked `# <-`, where the problems are expected."""
    text = path.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return [number for number, line in enumerate(text.splitlines(), 1) if MARK in line]


def test_the_shipped_rules_pass(service: SoapService, mappings: Path) -> None:
    rules, problems = check_rules(_config(mappings), service)
    assert problems == []
    assert sorted(rules) == ["AuthenticateUser", "GetAccessLink", "GetSigningLinks", "Ping",
                             "lookup:accounts"]
    assert rules["AuthenticateUser"].file.endswith(LOGIN)


CASES = [
    ("upstream", LOGIN, [("    upstream: account\n", "    upstream: acount  # <-\n")],
     ["step 'bearer': unknown upstream 'acount' (known: account, esign)"]),
    ("input-path", LOGIN, [("    path: body.Request.UserName\n", "    path: body.Request.User  # <-\n")],
     ["input 'username': body.Request.User is not a field of AuthenticateUser in the WSDL"]),
    ("operation", LOGIN, [("operation: AuthenticateUser\n", "operation: AuthenticateUsers  # <-\n")],
     ["operation 'AuthenticateUsers' is not in the WSDL"]),
    ("verify-step", LOGIN, [("  step: credentials\n", "  step: nothere  # <-\n")],
     ["verify.step: no step named 'nothere'"]),
    ("verify-username", LOGIN, [("  step: credentials\n", "  step: credentials\n  username: user  # <-\n")],
     ["verify.username: no input named 'user'"]),
    ("verify-step-kept", LOGIN,
     [("    retry: {attempts: 2, when: [connect]}\n",
       "    retry: {attempts: 2, when: [connect, 503]}  # <-\n    cache: {key: k, ttl: 1m}  # <-\n"
       "    optional: true  # <-\n")],
     ["step 'credentials' verifies the caller, so it may retry only on connect",
      "step 'credentials' verifies the caller, so it must not be cached",
      "step 'credentials' verifies the caller, so it cannot be optional"]),
    ("inline-secret", LOGIN, [('        key: "{{ secrets.api_key }}"\n', "        key: hunter2  # <-\n")],
     ["step 'bearer': key is written inline"]),
    ("inline-header", LOGIN,
     [('      Authorization: "bearer {{ steps.bearer.token }}"\n',
       '      Authorization: "bearer {{ steps.bearer.token }}"\n      X-Api-Key: abc  # <-\n')],
     ["step 'accounts': X-Api-Key is written inline"]),
    ("secret-in-path", LOGIN,
     [("/users/{{ input.username | strip | urlencode }}/accounts\"\n",
       "/users/{{ input.password }}/accounts\"  # <-\n")],
     ["step 'accounts': {{ input.password }} must not be put in the path"]),
    ("secret-name", LOGIN, [('        key: "{{ secrets.api_key }}"\n',
                             '        key: "{{ secrets.api_kee }}"  # <-\n')],
     ["{{ secrets.api_kee }}: no secret named 'api_kee'"]),
    ("later-step", LOGIN, [('          username: "{{ input.username }}"\n',
                            '          username: "{{ steps.bearer.token }}"  # <-\n')],
     ["{{ steps.bearer.token }}: no earlier step extracts that"]),
    ("lockout-refusal", LOGIN, [("  refusal: invalid_credentials\n", "  refusal: too_many  # <-\n")],
     ["refusal reason 'too_many' is used but not defined under refusals.reasons"]),
    ("on-error-reason", LOGIN, [("{status: [400, 401], refuse: invalid_credentials}",
                                 "{status: [400, 401], refuse: wrong_password}  # <-")],
     ["refusal reason 'wrong_password' is used but not defined under refusals.reasons"]),
    ("bearer-ttl", LOGIN, [("  bearer_ttl: 60m\n", "  bearer_ttl: 40m  # <-\n")],
     ["token.bearer_ttl (2400s) is shorter than the bearer's reuse (1500s) plus the token's "
      "life (1800s): a token could outlive its bearer"]),
    ("token-vars", LOGIN, [('  subject: "{{ input.username }}"\n  # The X',
                            '  subject: "{{ vars.nope }}"  # <-\n  # The X')],
     ["{{ vars.nope }}: no vars entry 'nope'"]),
    ("result-field", LOGIN, [('    FirstName: "{{ steps.names.first_name }}"\n',
                              '    FirstNaem: "{{ steps.names.first_name }}"  # <-\n')],
     ["result.AuthenticateUserResult: AuthenticateUserResult has no field 'FirstNaem' in the WSDL"]),
    ("list-field", LOGIN, [('          Name: "{{ account.accountName }}"\n',
                            '          Title: "{{ account.accountName }}"  # <-\n')],
     ["result.AuthenticateUserResult.Accounts.UserAccount: UserAccount has no field 'Title'"]),
    # What a mapping lacks is told at the mapping.
    ("required", LOGIN, [("result:\n  AuthenticateUserResult:\n    Success: true\n",
                          "result:\n  AuthenticateUserResult:  # <-\n")],
     ["result.AuthenticateUserResult: AuthenticateUserResult needs Success (required in the WSDL)"]),
    ("each-required", LOGIN, [("        map:\n          Name:", "        map:  # <-\n          Name:"),
                              ('          ContextIdentifier: "{{ account.accountID }}"\n', "")],
     ["result.AuthenticateUserResult.Accounts.UserAccount: UserAccount needs ContextIdentifier"]),
    ("plain-value", LOGIN, [('    UserName: "{{ input.username }}"\n', "    UserName: {a: 1}  # <-\n")],
     ["result.AuthenticateUserResult: UserName is a plain value in the WSDL"]),
    ("has-fields", LOGIN, [("      Exceptions:\n        UserException:\n", "      Exceptions: plain  # <-\n"),
                           ('          - _value: "{{ refusal.message }}"\n'
                            '            Severity: "{{ refusal.severity }}"\n', "")],
     ["refusals.result.AuthenticateUserResult.Exceptions: Exceptions has fields; give a mapping"]),
    ("refusal-item", LOGIN, [('            Severity: "{{ refusal.severity }}"\n',
                              '            Sev: "{{ refusal.severity }}"  # <-\n'),
                             ('          - _value: "{{ refusal.message }}"\n',
                              '          - _value: "{{ refusal.message }}"  # <-\n')],
     ["refusals.result.AuthenticateUserResult.Exceptions.UserException[0]: UserException needs "
      "Severity",
      "refusals.result.AuthenticateUserResult.Exceptions.UserException[0]: UserException has "
      "no field 'Sev'"]),
    ("refusal-scope", LOGIN, [('      ExpiredPasswordUrl: "{{ refusal.url }}"\n',
                               '      ExpiredPasswordUrl: "{{ token }}"  # <-\n')],
     ["{{ token }}: token is not available here (use input, refusal, vars)"]),
    ("reason-url", LOGIN, [('      url: "{{ vars.expired_password_url }}"\n',
                            '      url: "{{ vars.expired_url }}"  # <-\n')],
     ["{{ vars.expired_url }}: no vars entry 'expired_url'"]),
    ("legacy-token", LOGIN, [("  answer: AuthenticateUserResult.AuthenticationToken\n",
                              "  answer: AuthenticateUserResult.Token  # <-\n")],
     ["legacy_token.answer: AuthenticateUserResult.Token is not a field of AuthenticateUser's "
      "answer in the WSDL"]),
    ("learn-scope", LOGIN, [('  lastName: "{{ answer.AuthenticateUserResult.LastName }}"\n',
                             '  lastName: "{{ steps.names.last_name }}"  # <-\n')],
     ["{{ steps.names.last_name }}: steps is not available here (use answer, input)"]),
    ("compare-key", LOGIN, [("    AuthenticateUserResult.AuthenticationToken: '",
                             "    AuthenticateUserResult.AuthToken: '")],
     ["compare: AuthenticateUserResult.AuthToken is not a field of AuthenticateUser's answer"]),
    # At the key that names the path, though a template elsewhere mentions the same words.
    ("compare-sets", LOGIN, [("    AuthenticateUserResult.Accounts.UserAccount: ContextIdentifier\n",
                              "    AuthenticateUserResult.Accounts.UserAcc: ContextIdentifier  # <-\n")],
     ["compare: AuthenticateUserResult.Accounts.UserAcc is not a field of AuthenticateUser's"]),
    ("compare-item", LOGIN, [("    - AuthenticateUserResult.UserName\n",
                              "    - AuthenticateUserResult.UserNaem  # <-\n")],
     ["compare: AuthenticateUserResult.UserNaem is not a field of AuthenticateUser's answer"]),
    ("lookup-sections", LOOKUP, [("lookup: accounts\n", "lookup: accounts\nverify: {strategy: local}  # <-\n"
                                  "token: {bearer: x, subject: y}  # <-\n")],
     ["verify does not apply to a lookup rule", "token does not apply to a lookup rule"]),
    ("lookup-map", LOOKUP, [("    map:\n", "    map:  # <-\n"),
                            ('      isPrimary: "{{ account.isDefault }}"\n',
                             '      primary: "{{ account.isDefault }}"\n')],
     ["the accounts map has exactly contextIdentifier, name and isPrimary"]),
    ("lookup-reference", LOOKUP, [('      name: "{{ account.accountName }}"\n',
                                   '      name: "{{ token }}"  # <-\n')],
     ["{{ token }}: token is not available here (use input, steps, vars)"]),
    ("duplicate-operation", PING, [("operation: Ping\n", "operation: AuthenticateUser  # <-\n"),
                                   ("result:\n  PingResult:\n    Success: true\n",
                                    "result:\n  AuthenticateUserResult: {Success: true}\n")],
     ["operation AuthenticateUser already has a rule in "]),
]


# (id, file, changes, the problems told in the order of their lines, each at a line marked
# `# <-` in the changed file)
@pytest.mark.parametrize(("file", "changes", "messages"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_problem_is_told_at_its_line(service: SoapService, mappings: Path, file: str,
                                          changes: list[tuple[str, str]],
                                          messages: list[str]) -> None:
    marked = _break(mappings / file, changes)
    rules, problems = check_rules(_config(mappings), service)
    # In the order of the file (check tells them section by section).
    told = sorted((problem.line, problem.message) for problem in problems
                  if problem.file.endswith(file))
    expected_lines = marked or [_line_of_compare_key(mappings / file)]
    assert len(told) == len(messages), told
    for (line, message), at, start in zip(told, expected_lines, messages, strict=True):
        assert (line, message[:len(start)]) == (at, start), told
    # A rule with a problem is not served; the others are.
    assert len(rules) == len(list(mappings.glob("*.yaml"))) - 1


def _line_of_compare_key(path: Path) -> int:
    """The compare-key case cannot carry a mark: a comment would end the regex's line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if "AuthenticateUserResult.AuthToken:" in line)


def test_a_rule_without_verification_is_told_at_its_first_line(service: SoapService,
                                                               mappings: Path) -> None:
    text = (mappings / LOGIN).read_text(encoding="utf-8")
    start = text.index("verify:\n")
    (mappings / LOGIN).write_text(text[:start] + text[text.index("\nlockout:", start) + 1:],
                                  encoding="utf-8")
    _, problems = check_rules(_config(mappings), service)
    assert [(p.line, p.message[:39]) for p in problems] == [
        (text.splitlines().index("operation: AuthenticateUser") + 1,
         "the rule never verifies the caller: add")]


def test_load_rules_raises_every_problem_together(service: SoapService, mappings: Path) -> None:
    _break(mappings / LOGIN, [("    upstream: account\n", "    upstream: acount\n")])
    _break(mappings / PING, [("    Success: true\n", "    Succes: true\n")])
    with pytest.raises(ConfigError) as caught:
        load_rules(_config(mappings), service)
    assert sorted(Path(p.file).name for p in caught.value.problems) == [
        LOGIN, PING, PING]  # Ping: an unknown field, and the required one it lacks
