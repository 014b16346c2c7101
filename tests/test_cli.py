"""The command line, run as a user runs it: check, serve in demo mode, sandbox, --version."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bridge import __version__
from tests.servers import REPO, free_port


def _run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, env={**os.environ, **(env or {})},
                          check=False)


def test_version_from_module_and_console_script_agree() -> None:
    assert _run("--version").stdout.strip() == f"soap-bridge {__version__}"
    script = shutil.which("soap-bridge", path=os.path.dirname(sys.executable))
    assert script is not None
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"soap-bridge {__version__}"


def test_check_accepts_the_bundled_configs() -> None:
    for config in ("examples/demo.yaml", "examples/local.yaml", "examples/api-key.yaml",
                   "examples/onespan.yaml"):
        done = _run("check", "--config", config, cwd=REPO)
        assert done.returncode == 0, done.stderr
        assert "rules for AuthenticateUser" in done.stdout


@pytest.fixture
def broken_rules(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the AssureSign rule and a config pointing at it, to break on purpose."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    rule = mappings / "authenticate-user.yaml"
    shutil.copy(REPO / "mappings" / "assuresign" / "authenticate-user.yaml", rule)
    config = tmp_path / "config.yaml"
    text = (REPO / "examples" / "demo.yaml").read_text()
    text = text.replace("../wsdl/", str(REPO / "wsdl") + "/").replace(
        "[../mappings/assuresign]", f"[{mappings}]")
    config.write_text(text)
    return config, rule


def _break(rule: Path, old: str, new: str) -> int:
    """Replace text in the rule; return the 1-based line where the change starts."""
    text = rule.read_text()
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    rule.write_text(text.replace(old, new, 1))
    return line


# (old text, new text, the problem told, where it is told: the first line of the new text,
# moved by an offset where the problem is about another line than the one changed)
@pytest.mark.parametrize(("old", "new", "message", "offset"), [
    ("    FirstName: \"{{ steps.names.first_name }}\"",
     "    FirstNaem: \"{{ steps.names.first_name }}\"",
     "result.AuthenticateUserResult: AuthenticateUserResult has no field 'FirstNaem' in the WSDL", 0),
    ("          Name: \"{{ account.accountName }}\"", "          Title: \"{{ account.accountName }}\"",
     "UserAccount has no field 'Title' in the WSDL", 0),
    ("    upstream: account", "    upstream: acount", "unknown upstream 'acount'", 0),
    # A required field left out is told at the mapping that lacks it, the line above.
    ("    Success: true\n", "", "AuthenticateUserResult needs Success (required in the WSDL)", -1),
    ("        key: \"{{ secrets.api_key }}\"", "        key: \"hunter2-inline\"",
     "key is written inline", 0),
    ("        key: \"{{ secrets.api_key }}\"", "        key: \"{{ secrets.api_kee }}\"",
     "no secret named 'api_kee'", 0),
    ("    path: body.Request.UserName",
     "    path: body.Request.User",
     "input 'username': body.Request.User is not a field of AuthenticateUser", 0),
    ("{status: [400, 401], refuse: invalid_credentials}",
     "{status: [400, 401], refuse: wrong_password}",
     "refusal reason 'wrong_password' is used but not defined", 0),
    ("    FirstName: \"{{ steps.names.first_name }}\"",
     "    FirstName: \"{{ steps.names.first_name | capitalise }}\"",
     "unknown filter 'capitalise'", 0),
    ("operation: AuthenticateUser", "operation: AuthenticateUsers",
     "operation 'AuthenticateUsers' is not in the WSDL", 0),
    ("    - AuthenticateUserResult.UserName\n", "    - AuthenticateUserResult.UserNaem\n",
     "compare: AuthenticateUserResult.UserNaem is not a field of AuthenticateUser's answer", 0),
    ("{error_code: FORBIDDEN, summary: locked, refuse: locked}",
     "{error_code: FORBIDDEN, summary: [locked, 7], refuse: locked}",
     "summary is a text (or a list of texts) the error's summary contains", 0),
    ("    directory: \"{{ input.username }}\"\n",
     "    directory: \"{{ input.username }}\"\n    upstream: esign\n",
     "step 'names' reads the directory: upstream applies only to a step that calls an upstream",
     1),
    ("    directory: \"{{ input.username }}\"", "    directory: someone",
     "step 'names': directory names the user to read", 0),
    ("    directory: \"{{ input.username }}\"", "    directory: \"{{ input.usrname }}\"",
     "{{ input.usrname }}: no input named 'usrname'", 0),
    ("    FirstName: \"{{ steps.names.first_name }}\"",
     "    FirstName: \"{{ steps.names.given_name }}\"",
     "{{ steps.names.given_name }}: no earlier step extracts that", 0),
    ("  lastName: \"{{ answer.AuthenticateUserResult.LastName }}\"",
     "  surname: \"{{ answer.AuthenticateUserResult.LastName }}\"",
     "unknown key 'surname' in learn_names (known: firstName, lastName)", 0),
    ("  lastName: \"{{ answer.AuthenticateUserResult.LastName }}\"",
     "  lastName: \"{{ steps.names.last_name }}\"",
     "{{ steps.names.last_name }}: steps is not available here (use answer, input)", 0),
    ("    refuse: locked\n", "    refuse: locked\n", None, 0),
], ids=["result-field", "list-field", "upstream", "required", "inline-secret", "secret-name",
        "input-path", "reason", "filter", "operation", "compare-path", "summary",
        "directory-upstream", "directory-constant", "directory-input", "directory-extract",
        "learn-names-key", "learn-names-scope", "unchanged"])
def test_check_reports_each_mistake_with_file_and_line(
    broken_rules: tuple[Path, Path], old: str, new: str, message: str | None, offset: int
) -> None:
    config, rule = broken_rules
    if message is None:
        done = _run("check", "--config", str(config))
        assert done.returncode == 0, done.stderr
        return
    line = _break(rule, old, new)
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    lines = [entry for entry in done.stderr.splitlines() if message in entry]
    assert lines, done.stderr
    match = re.match(r"^(.+):(\d+): ", lines[0])
    assert match, lines[0]
    assert Path(match.group(1)).resolve() == rule.resolve()
    assert int(match.group(2)) == line + offset, lines[0]
    assert "Traceback" not in done.stderr
    assert "hunter2-inline" not in done.stderr + done.stdout


def test_check_refuses_a_rule_that_never_verifies(broken_rules: tuple[Path, Path]) -> None:
    config, rule = broken_rules
    text = rule.read_text()
    start = text.index("verify:\n")
    _break(rule, text[start:text.index("\nlockout:", start) + 1], "")
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    assert "the rule never verifies the caller" in done.stderr


def test_check_refuses_a_cached_verification_step(broken_rules: tuple[Path, Path]) -> None:
    config, rule = broken_rules
    _break(rule, "  step: credentials\n", "  step: bearer\n")
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    assert "step 'bearer' verifies the caller but never sends input.password upstream" in done.stderr
    assert "step 'bearer' verifies the caller, so it must not be cached" in done.stderr


def test_check_refuses_a_directory_step_as_the_verification(broken_rules: tuple[Path, Path]) -> None:
    config, rule = broken_rules
    _break(rule, "  step: credentials\n", "  step: names\n")
    line = rule.read_text().split("\n").index("  - id: names") + 1
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    assert (f"{rule.name}:{line}: step 'names' reads the directory, so it cannot verify the caller"
            in done.stderr.replace(str(rule.parent) + "/", "")), done.stderr


def test_check_refuses_learn_names_without_learn_accounts(broken_rules: tuple[Path, Path]) -> None:
    config, rule = broken_rules
    text = rule.read_text()
    start = text.index("learn_accounts:\n")
    _break(rule, text[start:text.index("learn_names:", start)], "")
    line = rule.read_text().split("\n").index("learn_names:") + 1
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    assert f":{line}: learn_names needs learn_accounts" in done.stderr, done.stderr


def test_check_bounds_a_remembered_verification(broken_rules: tuple[Path, Path]) -> None:
    config, rule = broken_rules
    line = _break(rule, "  cache: 2m\n", "  cache: 16m\n")
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    assert f"{rule}:{line}: verify.cache must be more than 0 and at most 15m" in done.stderr
    _break(rule, "  cache: 16m\n", "  cache: soon\n")
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    assert f"{rule}:{line}: cache:" in done.stderr


def test_check_reports_yaml_syntax_and_duplicate_keys(broken_rules: tuple[Path, Path]) -> None:
    config, rule = broken_rules
    line = _break(rule, "operation: AuthenticateUser\n",
                  "operation: AuthenticateUser\noperation: AuthenticateUser\n")
    done = _run("check", "--config", str(config))
    assert f"{rule}:{line + 1}: duplicate key 'operation'" in done.stderr
    rule.write_text("operation: [unclosed\n")
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    assert re.search(rf"{re.escape(str(rule))}:\d+: YAML syntax", done.stderr)


def test_check_reports_config_mistakes(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("wsdl: nowhere.wsdl\nsecrets:\n  api_key: plain-text-key\nworkrs: 2\n")
    done = _run("check", "--config", str(config))
    assert done.returncode == 2
    assert f"{config}:1: WSDL file not found" in done.stderr
    assert f"{config}:3: secret 'api_key' must be {{env: VARIABLE}} or {{file: PATH}}" in done.stderr
    assert f"{config}:4: unknown setting 'workrs'" in done.stderr
    assert "plain-text-key" not in done.stderr


def test_serve_demo_prints_a_curl_line_that_logs_in(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 20
        assert process.stdout is not None
        while time.monotonic() < deadline and not any("curl " in line for line in lines):
            lines.append(process.stdout.readline())
        banner = "".join(lines)
        wsdl_url = f"http://127.0.0.1:{port}/Services/DocumentNOW/v2/DocumentNOW.svc?wsdl"
        assert f"WSDL: {wsdl_url}" in banner
        assert requests.get(wsdl_url, timeout=5).status_code == 200
        curl = next(line for line in lines if "curl " in line).strip()
        answer = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30,
                                check=True)
        assert 'Success="true"' in answer.stdout
        assert 'ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a"' in answer.stdout
        assert (tmp_path / "state" / "soap-bridge.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr


def test_serve_with_a_broken_config_names_the_file_and_exits(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("listen: {port: many}\n")
    done = _run("serve", "--config", str(config))
    assert done.returncode == 2
    assert f"{config}:1: port must be a whole number" in done.stderr


def test_serve_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    text = (REPO / "examples" / "production.yaml").read_text().replace(
        "../wsdl/", str(REPO / "wsdl") + "/").replace("../mappings/", str(REPO / "mappings") + "/")
    config.write_text(text)
    done = _run("serve", "--config", str(config), "--port", str(free_port()),
                env={"ASSURESIGN_API_USERNAME": ""})
    assert done.returncode == 2
    assert "environment variable ASSURESIGN_API_USERNAME is not set" in done.stderr
    assert "cannot read /run/secrets/assuresign-api-key" in done.stderr


def test_sandbox_command_serves_alone(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"Sandbox listening on http://127.0.0.1:{port}"
        reply = requests.post(f"http://127.0.0.1:{port}/api/v3.7/authentication/apiUser",
                              json={"request": {"apiUsername": "nobody", "key": "x",
                                                "contextUsername": "jdoe@example.com"}},
                              timeout=5)
        assert reply.status_code == 401 and reply.json()["errorCode"] == "UNAUTHORIZED"
    finally:
        process.terminate()
        process.communicate(timeout=15)


def test_sandbox_command_reports_a_bad_seed(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("users: 3\n")
    done = _run("sandbox", "--seed", str(seed), "--port", str(free_port()))
    assert done.returncode == 2
    assert str(seed) in done.stderr and "Traceback" not in done.stderr


def test_serve_option_mistakes_are_told_plainly(tmp_path: Path) -> None:
    done = _run("serve", "--certfile", "cert.pem", "--port", str(free_port()))
    assert (done.returncode, done.stderr.strip()) == (
        2, "soap-bridge serve: --certfile and --keyfile go together")
    done = _run("serve", "--certfile", "nope.pem", "--keyfile", "nope.key",
                "--port", str(free_port()))
    assert (done.returncode, done.stderr.strip()) == (
        2, "soap-bridge serve: --certfile: no such file nope.pem")
    done = _run("serve", "--store", "mongodb://x", "--port", str(free_port()))
    assert done.returncode == 2 and "--store must be memory://, sqlite:///PATH or redis://" in (
        done.stderr)
    done = _run("serve", "--port", str(free_port()), cwd=tmp_path,
                env={"SOAP_BRIDGE_STATE_KEY": "short"})
    assert done.returncode == 2
    assert "SOAP_BRIDGE_STATE_KEY: must be at least 32 characters" in done.stderr


def test_serve_with_a_store_that_cannot_open(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    done = _run("serve", "--store", f"sqlite:///{tmp_path}/blocker/state.db",
                "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 2
    assert "soap-bridge serve: cannot open SQLite store" in done.stderr
    assert "Traceback" not in done.stderr


def test_command_line_mistakes_are_told_in_one_line_with_exit_2(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    cases = {
        ("serve", "--port", "70000"):
            "soap-bridge serve: --port must be a number from 0 to 65535, not 70000",
        ("serve", "--port", port):
            f"soap-bridge serve: cannot listen on 127.0.0.1:{port}: Address already in use",
        ("serve", "--workers", "0"): "soap-bridge serve: --workers must be at least 1, not 0",
        ("serve", "--threads", "0"): "soap-bridge serve: --threads must be at least 1, not 0",
        ("serve", "--public-url", "notaurl"):
            "soap-bridge serve: --public-url must be http(s)://host[:port][/path]",
        ("passwd", "jdoe@example.com", "--file", str(tmp_path / "credentials.yaml")):
            "soap-bridge passwd: no terminal to ask for the password on; pipe it in with "
            "--password-stdin",
        ("report", "--output", "/no/such/dir/r.html"):
            "soap-bridge report: cannot write /no/such/dir/r.html: No such file or directory",
        ("sandbox", "--port", port):
            f"soap-bridge sandbox: cannot listen on 127.0.0.1:{port}: Address already in use",
        ("sandbox", "--port", "70000"):
            "soap-bridge sandbox: --port must be a number from 0 to 65535, not 70000",
    }
    try:
        # All at once, each without a terminal (a session of its own) and with no input.
        running = {args: subprocess.Popen(
            [sys.executable, "-m", "bridge", *args], cwd=tmp_path, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            for args in cases}
        for args, expected in cases.items():
            _, stderr = running[args].communicate(timeout=60)
            assert (running[args].returncode, stderr) == (2, expected + "\n"), " ".join(args)
    finally:
        taken.close()


def test_check_warns_of_credentials_at_risk_and_refuses_readable_secrets(tmp_path: Path) -> None:
    key = tmp_path / "api-key"
    key.write_text("k")
    key.chmod(0o644)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"wsdl: {REPO}/wsdl/DocumentNOW.wsdl\nmappings: [{REPO}/mappings/assuresign]\n"
        "upstreams:\n"
        "  account: {base_url: 'https://account.example', verify_tls: false}\n"
        "  esign: {base_url: 'http://esign.example'}\n"
        "legacy: {base_url: 'http://legacy.example'}\n"
        "secrets:\n  api_username: {env: TEST_API_USERNAME}\n  api_key: {file: api-key}\n"
        "vars: {expired_password_url: 'https://esign.example/ChangePassword'}\n"
        # Someone holds the account of tokenless link calls (else check warns of that too).
        "contexts: {holders: {6f1c2a9e-1d1e-4b7a-9c55-0b7d2f3e4a10: ops@example.org}}\n")
    refused = (f"{config}: secret 'api_key': {key} is readable by group or others (mode 0644); "
               "chmod 600 it, or set allow_readable_secret_files: true")
    done = _run("check", "--config", str(config))
    assert done.returncode == 1 and refused in done.stderr.splitlines()
    done = _run("serve", "--config", str(config), "--port", str(free_port()), cwd=tmp_path,
                env={"TEST_API_USERNAME": "someone"})
    assert (done.returncode, done.stderr) == (2, refused + "\n")
    key.chmod(0o600)
    done = _run("check", "--config", str(config), env={"TEST_API_USERNAME": "someone"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: {config}: upstream 'account' has verify_tls: false: its certificate is not "
        "checked, so anyone on the way can pose as it and read the credentials the bridge sends",
        f"warning: {config}: upstream 'esign' is plain http:// yet is sent passwords, keys or "
        "bearers (step 'accounts', step 'credentials', step 'link', step 'links'): anyone on the "
        "way can read them; use https://",
        f"warning: {config}: legacy is plain http:// yet is sent passwords, keys or bearers (the "
        "logins passed to it): anyone on the way can read them; use https://",
    ]


def test_check_refuses_a_bearer_that_a_token_could_outlive(broken_rules: tuple[Path, Path]) -> None:
    config, rule = broken_rules
    line = _break(rule, "  bearer_ttl: 60m\n", "  bearer_ttl: 40m\n")
    done = _run("check", "--config", str(config))
    assert done.returncode == 1
    assert (f"{rule}:{line}: token.bearer_ttl (2400s) is shorter than the bearer's reuse (1500s) "
            "plus the token's life (1800s): a token could outlive its bearer") in done.stderr
