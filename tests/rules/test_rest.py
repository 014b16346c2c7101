"""A rule's `rest:` section (bridge/rules/rest.py): compiled with file:line problems, and
checked against the rule it belongs to by `soap-bridge check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.rules.model import compile_rule
from tests.servers import REPO

SHIPPED = REPO / "mappings" / "assuresign" / "authenticate-user.yaml"


def _rule(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The shipped rule with `old` replaced; the line the change starts on."""
    text = SHIPPED.read_text()
    assert old in text
    line = text[:text.index(old)].count("\n") + 1
    folder = tmp_path / "mappings"
    folder.mkdir(exist_ok=True)
    path = folder / "authenticate-user.yaml"
    path.write_text(text.replace(old, new))
    return path, line


def test_the_shipped_rules_serve_the_rest_login() -> None:
    for pack in ("assuresign", "assuresign-local", "assuresign-api-key"):
        rest = compile_rule(str(REPO / "mappings" / pack / "authenticate-user.yaml")).rest
        assert rest is not None
        assert rest.inputs["password"] == "body.request.authRequest.password"
        assert rest.errors["invalid_credentials"].status == 401
        assert rest.session_length == "body.request.authRequest.sessionLength"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("error_code: UNAUTHORIZED,", "error_code: WRONG_PASSWORD,", "error_code is one of"),
    ("{status: 401, error_code", "{status: 200, error_code", "status is an HTTP error status"),
    ("    login_time: rest.now", "    login_time: header.Date", "a path starting with body."),
    ("  session_length: body.", "  session_lenght: body.", "unknown key 'session_lenght'"),
])
def test_compile_problems_point_at_their_line(tmp_path: Path, old: str, new: str,
                                              message: str) -> None:
    path, line = _rule(tmp_path, old, new)

    with pytest.raises(ConfigError) as raised:
        compile_rule(str(path))

    problem = next(p for p in raised.value.problems if message in p.message)
    assert problem.line == line


def test_check_holds_the_section_to_its_rule(tmp_path: Path) -> None:
    path, _ = _rule(tmp_path, "    locked: {status: 403, error_code: FORBIDDEN, summary: "
                    "\"The user account is locked.\"}\n", "")
    text = path.read_text()
    text = text.replace("    password: body.request.authRequest.password\n", "")
    text = text.replace('sessionToken: "{{ token }}"', 'sessionToken: "{{ steps.bearr.token }}"')
    path.write_text(text)
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "examples" / "rest-facade.yaml").read_text()
                      .replace("../wsdl/", str(REPO / "wsdl") + "/")
                      .replace("[../mappings/assuresign]", f"[{path.parent}]"))

    done = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode != 0
    assert "rest.errors: refusal reason 'locked' has no REST error" in done.stdout + done.stderr
    assert "rest.input: the rule's input 'password' has no place" in done.stdout + done.stderr
    assert "{{ steps.bearr.token }}" in done.stdout + done.stderr


def test_the_facade_needs_a_rule_with_a_rest_section(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "authenticate-user.yaml").write_text(text[:text.index("\n# Also served as")] + "\n")
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "examples" / "rest-facade.yaml").read_text()
                      .replace("../wsdl/", str(REPO / "wsdl") + "/")
                      .replace("[../mappings/assuresign]", f"[{folder}]"))

    done = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode != 0
    assert "its rule has no rest: section" in done.stdout + done.stderr
