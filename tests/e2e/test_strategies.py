"""Each password verification strategy, end to end, with the CLI that manages it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from tests.servers import (
    USERS_NS,
    Server,
    demo_api_user,
    post_login,
    sandbox_calls,
    start_bridge,
    write_config,
)
from tests.soapxml import auth_result


def _answer(body: bytes) -> tuple[str | None, str | None, str | None]:
    result = auth_result(body)
    message = result.findtext(f"{{{USERS_NS}}}Exceptions/{{{USERS_NS}}}UserException")
    return result.get("Success"), result.get("FirstName"), message


def _passwd(credentials: Path, username: str, password: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "passwd", username, "--file", str(credentials),
         "--password-stdin", *extra],
        input=password + "\n", capture_output=True, text=True, timeout=30, check=False,
    )


@pytest.fixture
def local_bridge(sandbox: Server, tmp_path: Path) -> tuple[Server, Path]:
    credentials = tmp_path / "credentials.yaml"
    config = write_config(tmp_path, sandbox.url, mappings="mappings/assuresign-local",
                          credentials_file=str(credentials))
    server = start_bridge(tmp_path, config, workers=1)
    yield server, credentials
    server.stop()


@pytest.mark.parametrize("algorithm", ["argon2id", "bcrypt"])
def test_local_strategy_with_passwd(local_bridge: tuple[Server, Path], sandbox: Server,
                                    algorithm: str) -> None:
    server, credentials = local_bridge
    # Before the user exists: refused like a wrong password.
    assert _answer(post_login(server, "jdoe@example.com", "S3cret!").content)[2] == (
        "Invalid user name or password.")
    done = _passwd(credentials, "jdoe@example.com", "S3cret!", "--algorithm", algorithm)
    assert done.returncode == 0, done.stderr
    stored = credentials.read_text()
    assert "S3cret!" not in stored
    assert ("$argon2id$" if algorithm == "argon2id" else "$2b$") in stored
    # The running bridge picks the new file up without a restart.
    assert _answer(post_login(server, "jdoe@example.com", "S3cret!").content) == (
        "true", "John", None)
    assert _answer(post_login(server, "jdoe@example.com", "Password").content)[2] == (
        "Invalid user name or password.")
    # The password never went upstream: the credentials endpoint was not used.
    assert sandbox_calls(sandbox).get("credentials", 0) == 0


@pytest.mark.parametrize(("status", "message"), [
    ("locked", "The user account is locked."),
    ("inactive", "The user account is inactive."),
    ("expired_password", "The password has expired."),
])
def test_local_status_is_told_only_with_the_right_password(
    local_bridge: tuple[Server, Path], status: str, message: str
) -> None:
    server, credentials = local_bridge
    assert _passwd(credentials, "jdoe@example.com", "pw", "--status", status).returncode == 0
    assert _answer(post_login(server, "jdoe@example.com", "pw").content)[2] == message
    assert _answer(post_login(server, "jdoe@example.com", "nope").content)[2] == (
        "Invalid user name or password.")


def test_passwd_delete_and_errors(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.yaml"
    assert _passwd(credentials, "a@example.com", "pw").returncode == 0
    deleted = subprocess.run(
        [sys.executable, "-m", "bridge", "passwd", "a@example.com", "--file", str(credentials),
         "--delete"], capture_output=True, text=True, timeout=30, check=False)
    assert deleted.returncode == 0 and "a@example.com" not in credentials.read_text()
    empty = _passwd(credentials, "b@example.com", "")
    assert empty.returncode == 1 and "empty password" in empty.stderr
    credentials.write_text("users:\n  c@example.com: {hash: x, status: sleepy}\n")
    broken = _passwd(credentials, "d@example.com", "pw")
    assert broken.returncode == 2
    assert f"{credentials}:2: user 'c@example.com': status 'sleepy' is not one of" in broken.stderr


def test_api_key_strategy(sandbox: Server, tmp_path: Path) -> None:
    # The bridge's own key serves only the link operations called without a token; logins
    # check the caller's key.
    config = write_config(tmp_path, sandbox.url, mappings="mappings/assuresign-api-key",
                          secrets={"api_username": {"env": "TEST_API_USERNAME"},
                                   "api_key": {"env": "TEST_API_KEY"}})
    server = start_bridge(tmp_path, config, workers=1)
    try:
        _, key = demo_api_user()
        assert _answer(post_login(server, "multi@example.com", key).content) == (
            "true", "Mary", None)
        assert _answer(post_login(server, "multi@example.com", "Password").content)[2] == (
            "Invalid user name or password.")
        assert _answer(post_login(server, "multi@example.com", key[:-1]).content)[2] == (
            "Invalid user name or password.")
        # Each login verifies the key upstream: the verifying call is never cached.
        assert sandbox_calls(sandbox)["apiUser"] == 3
    finally:
        server.stop()


def test_passthrough_token_is_the_upstream_bearer(sandbox: Server, tmp_path: Path) -> None:
    import requests

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    rule = (Path(__file__).resolve().parents[2] / "mappings" / "assuresign" /
            "authenticate-user.yaml").read_text()
    assert "  issue: opaque\n" in rule
    (mappings / "authenticate-user.yaml").write_text(
        rule.replace("  issue: opaque\n", "  issue: passthrough\n"))
    config = write_config(tmp_path, sandbox.url, mappings=str(mappings))
    server = start_bridge(tmp_path, config, workers=1)
    try:
        body = post_login(server, "jdoe@example.com", "Password").content
        token = etree.fromstring(body).find(f".//{{{USERS_NS}}}AuthenticateUserResult").get(
            "AuthenticationToken")
        # The token works directly against the REST API as a bearer.
        accounts = requests.get(f"{sandbox.url}/api/documentnow/v3.7/users/jdoe%40example.com/accounts",
                                headers={"Authorization": f"bearer {token}"}, timeout=5)
        assert accounts.status_code == 200
        assert [a["accountName"] for a in accounts.json()["result"]["userAccounts"]] == ["Example, Inc."]
    finally:
        server.stop()
