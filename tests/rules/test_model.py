"""Compiling rule files: every mistake together at its exact line, and the compiled objects
keeping the lines `check` points at."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.rules.model import Rule, compile_rule, rule_files
from bridge.rules.template import Each, Template, reference_lines

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "mappings" / "assuresign" / "authenticate-user.yaml"
MARK = "# <-"

# A small rule that compiles; the cases below break it. Lines marked `# <-` are where the
# problems are told, in order.
RULE = """\
operation: AuthenticateUser
input:
  username: body.Request.UserName
  password: {path: body.Request.Password, secret: true}
verify:
  strategy: upstream-credentials
  step: check
steps:
  - id: check
    upstream: esign
    method: POST
    path: /login
    json:
      user: "{{ input.username }}"
      password: "{{ input.password }}"
    on_error:
      - {status: 401, refuse: invalid_credentials}
result:
  AuthenticateUserResult:
    Success: true
refusals:
  result:
    AuthenticateUserResult: {Success: false}
  reasons:
    invalid_credentials: {message: "Invalid user name or password."}
    unavailable: {message: "Try later.", fault: Server}
"""


def _compile(tmp_path: Path, text: str) -> Rule:
    path = tmp_path / "rule.yaml"
    path.write_text(text, encoding="utf-8")
    return compile_rule(str(path), "rule.yaml")


def _broken(text: str, changes: list[tuple[str, str]]) -> str:
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _marked(text: str) -> list[int]:
    return [number for number, line in enumerate(text.splitlines(), 1) if MARK in line]


def test_the_small_rule_compiles(tmp_path: Path) -> None:
    rule = _compile(tmp_path, RULE)
    assert rule.operation == "AuthenticateUser"
    assert [step.id for step in rule.steps] == ["check"]


@pytest.mark.parametrize(("changes", "messages"), [
    ([("operation: AuthenticateUser\n", "operation: AuthenticateUser\nbogus: 1  # <-\n")],
     ["unknown key 'bogus' in rule"]),
    ([("    method: POST\n", "    method: FETCH  # <-\n")],
     ["method must be one of GET, POST, PUT, PATCH, DELETE"]),
    ([("  - id: check\n", "  - id: 9lives  # <-\n")],
     ["a step needs an id made of letters, digits and _"]),
    ([("      password: \"{{ input.password }}\"\n",
       "      password: \"{{ input.password | shout }}\"  # <-\n")],
     ["password: unknown filter 'shout'"]),
    ([("  step: check\n", "  step: check\n  cache: 16m  # <-\n")],
     ["verify.cache must be more than 0 and at most 15m"]),
    ([("    on_error:\n", "    retry: {attempts: 9}  # <-\n    on_error:\n")],
     ["retry.attempts counts every try: 2 to 5"]),
    ([("      - {status: 401, refuse: invalid_credentials}\n",
       "      - {status: 401}  # <-\n")],
     ["on_error entry needs refuse: <reason>"]),
    ([("    unavailable: {message: \"Try later.\", fault: Server}\n",
       "    unavailable: {message: \"Try later.\", fault: Sender}  # <-\n")],
     ["fault must be one of Client, Server"]),
    # The mapping form of an input is told at its path, not at its name.
    ([("  password: {path: body.Request.Password, secret: true}\n",
       "  password:\n    secret: true\n    path: Request.Password  # <-\n")],
     ["input 'password': path must start with body., header. or http."]),
    ([("refusals:\n", "legacy_token: {answer: X}  # <-\nrefusals:\n")],
     ["legacy_token takes answer: <path in the answer> and requests: <attribute name>"]),
    ([("    on_error:\n", "  - id: check  # <-\n    upstream: esign\n    path: /x\n    on_error:\n")],
     ["step id 'check' is used twice"]),
    ([("operation: AuthenticateUser\n", "operation: Ping\nlocal: true  # <-\n")],
     ["a local rule answers by itself: it takes no verify, steps or token"]),
    ([("result:\n", "learn_names:\n  firstName: x\n  surname: y  # <-\nresult:\n")],
     ["unknown key 'surname' in learn_names"]),
    ([("    Success: true\n", "    Success: true\n    Accounts: {each: x, as: a, map: 1}  # <-\n")],
     ["Accounts: a list mapping takes exactly each, as and map"]),
    ([("    Success: true\n",
       "    Success: true\n    Exceptions:\n      UserException:\n        - \"{{ x\"  # <-\n")],
     ["0: unbalanced {{ }}"]),
    # Several mistakes are told together, each at its own line.
    ([("    method: POST\n", "    method: FETCH  # <-\n"),
      ("  strategy: upstream-credentials\n", "  strategy: telepathy  # <-\n")],
     ["verify.strategy must be one of local, upstream-credentials, api-key",
      "method must be one of GET, POST, PUT, PATCH, DELETE"]),
], ids=["unknown-key", "method", "step-id", "filter-in-json", "verify-cache", "retry",
        "on-error", "fault", "input-path", "legacy-token", "duplicate-step", "local-with-steps",
        "learn-names-key", "each", "list-item", "together"])
def test_compile_errors_are_told_at_their_lines(tmp_path: Path, changes: list[tuple[str, str]],
                                                messages: list[str]) -> None:
    text = _broken(RULE, changes)
    with pytest.raises(ConfigError) as caught:
        _compile(tmp_path, text)
    told = [(problem.line, problem.message) for problem in caught.value.problems]
    expected = _marked(text)
    assert len(told) == len(messages), told
    for (line, message), at, start in zip(told, expected, messages, strict=True):
        assert (line, message[:len(start)]) == (at, start), told


def test_a_rule_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _compile(tmp_path, "- operation: AuthenticateUser\n")
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (1, "a rule file must be a YAML mapping")]


def _line(text: str, start: str, after: int = 0) -> int:
    """The number of the first line at or after line `after` that starts with `start`."""
    lines = text.splitlines()
    return next(number for number, line in enumerate(lines, 1)
                if number >= after and line.startswith(start))


def test_compiled_objects_keep_the_lines_check_points_at() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    rule = compile_rule(str(SHIPPED))
    assert rule.line_of("operation") == _line(text, "operation:")
    assert rule.line_of("result") == _line(text, "result:")
    assert rule.refusal_line == _line(text, "  result:", _line(text, "refusals:"))
    username = rule.inputs[0]
    assert (username.line, username.path_line) == (_line(text, "  username:"),
                                                   _line(text, "    path: body.Request.UserName"))
    assert rule.verify is not None
    assert rule.verify.line_of("step") == _line(text, "  step: credentials")
    bearer = rule.step("bearer")
    assert bearer is not None
    assert bearer.line == _line(text, "  - id: bearer")
    assert bearer.line_of("upstream") == _line(text, "    upstream: account")
    assert bearer.line_of("cache") == _line(text, "    cache:", bearer.line)
    assert rule.token is not None
    assert rule.token.line_of("bearer_ttl") == _line(text, "  bearer_ttl:")
    assert rule.lockout is not None
    assert rule.lockout.line_of("refusal") == _line(text, "  refusal: invalid_credentials")
    assert rule.legacy_token is not None
    assert rule.legacy_token.line == _line(text, "  answer: AuthenticateUserResult")


def test_templates_keep_their_lines_through_compilation() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    rule = compile_rule(str(SHIPPED))
    result = rule.result["AuthenticateUserResult"]
    first_name = result["FirstName"]
    assert isinstance(first_name, Template)
    assert first_name.line == _line(text, "    FirstName:")
    accounts = result["Accounts"]["UserAccount"]
    assert isinstance(accounts, Each)
    assert accounts.line == _line(text, "        map:")
    assert accounts.source.line == _line(text, "        each:")
    lines = reference_lines(rule.result)
    assert lines["steps.names.last_name"] == _line(text, "    LastName:")
    assert lines["steps.accounts.accounts"] == _line(text, "        each:")
    # Only what the user wrote is kept under learn_names, each at its own line.
    assert rule.learn_names is not None
    assert reference_lines(rule.learn_names) == {
        "answer.AuthenticateUserResult.FirstName": _line(text, "  firstName:"),
        "answer.AuthenticateUserResult.LastName": _line(text, "  lastName:")}


def test_every_shipped_rule_compiles() -> None:
    files = rule_files([str(REPO / "mappings")])
    assert len(files) >= 6
    for path in files:
        compile_rule(path)
