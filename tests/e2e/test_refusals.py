"""Refusals the legacy way, lockout, and an upstream that is down, slow or erring."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import (
    Server,
    post_login,
    sandbox_calls,
    sandbox_control,
    start_bridge,
    write_config,
)
from tests.soapxml import auth_result as _result
from tests.soapxml import fault11 as _fault
from tests.soapxml import refusal as _refusal


def test_wrong_password_and_unknown_user_get_the_same_answer(bridge: Server) -> None:
    wrong = post_login(bridge, "jdoe@example.com", "wrong")
    unknown = post_login(bridge, "nobody@example.com", "Password")
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.content == unknown.content
    assert _refusal(wrong.content) == ("Invalid user name or password.", "Error", None)


@pytest.mark.parametrize(("username", "message", "url"), [
    ("locked@example.com", "The user account is locked.", None),
    ("inactive@example.com", "The user account is inactive.", None),
    ("expired@example.com", "The password has expired.",
     "https://sandbox.invalid/ChangePassword?expired=1"),
])
def test_user_states_are_refused_with_their_own_message(
    bridge: Server, username: str, message: str, url: str | None
) -> None:
    response = post_login(bridge, username, "Password")
    assert _refusal(response.content) == (message, "Error", url)


def test_empty_password_is_refused_without_asking_upstream(bridge: Server, sandbox: Server) -> None:
    response = post_login(bridge, "jdoe@example.com", "")
    assert _refusal(response.content)[0] == "Invalid user name or password."
    assert sandbox_calls(sandbox).get("credentials", 0) == 0


def test_five_failures_lock_the_user_and_upstream_is_spared(
    own_bridge: Server, sandbox: Server
) -> None:
    for _ in range(5):
        assert _refusal(post_login(own_bridge, "multi@example.com", "bad").content)[0] == (
            "Invalid user name or password.")
    calls_before = sandbox_calls(sandbox).get("credentials", 0)
    # The right password no longer helps, and the upstream is not even asked; the answer is
    # the same as for a wrong password (Keycloak's way: the attacker learns nothing).
    locked = post_login(own_bridge, "MULTI@example.com", "Password")
    wrong = post_login(own_bridge, "nobody@example.com", "bad")
    assert locked.content == wrong.content
    assert sandbox_calls(sandbox).get("credentials", 0) == calls_before + 1  # the nobody call
    assert '"outcome": "locked_out"' in own_bridge.output()
    # Other users are unaffected.
    assert _result(post_login(own_bridge, "jdoe@example.com", "Password").content).get(
        "Success") == "true"


def test_a_success_resets_the_failure_count(own_bridge: Server) -> None:
    for _ in range(4):
        post_login(own_bridge, "jdoe@example.com", "bad")
    assert _result(post_login(own_bridge, "jdoe@example.com", "Password").content).get(
        "Success") == "true"
    for _ in range(4):
        post_login(own_bridge, "jdoe@example.com", "bad")
    assert _result(post_login(own_bridge, "jdoe@example.com", "Password").content).get(
        "Success") == "true"


def _locked(bridge: Server, sandbox: Server, username: str) -> bool:
    """Locked: the right password is refused without the upstream being asked."""
    before = sandbox_calls(sandbox).get("credentials", 0)
    answer = post_login(bridge, username, "Password").content
    if b'Success="true"' in answer:
        return False
    assert _refusal(answer)[0] == "Invalid user name or password."
    return sandbox_calls(sandbox).get("credentials", 0) == before


def test_lockout_waits_grow_then_become_permanent_until_unlocked(
        sandbox: Server, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url, lockout={
        "max_failures": 2, "window": "1m", "duration": "1s", "max_duration": "2s",
        "permanent_after": 3})
    server = start_bridge(tmp_path, config, workers=1)
    try:
        for _ in range(2):
            post_login(server, "jdoe@example.com", "bad")
        assert _locked(server, sandbox, "jdoe@example.com")
        time.sleep(1.2)  # the first lock: one wait increment
        for _ in range(2):
            post_login(server, "jdoe@example.com", "bad")
        time.sleep(1.2)
        assert _locked(server, sandbox, "jdoe@example.com")  # the second: two increments
        time.sleep(1.0)
        for _ in range(2):
            post_login(server, "jdoe@example.com", "bad")
        time.sleep(2.2)  # past max_duration: still locked, for good
        assert _locked(server, sandbox, "jdoe@example.com")
        done = subprocess.run([sys.executable, "-m", "bridge", "unlock", "jdoe@example.com",
                               "--config", str(config)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert not _locked(server, sandbox, "jdoe@example.com")
    finally:
        server.stop()


def test_bearer_is_cached_across_logins(own_bridge: Server, sandbox: Server) -> None:
    for _ in range(4):
        assert _result(post_login(own_bridge, "multi@example.com", "Password").content).get(
            "Success") == "true"
    calls = sandbox_calls(sandbox)
    assert calls["credentials"] == 4  # the password is verified every time
    assert calls["apiUser"] == 1  # the bearer is not fetched again


def test_a_revoked_cached_bearer_is_replaced(bridge: Server, sandbox: Server) -> None:
    assert _result(post_login(bridge, "jdoe@example.com", "Password").content).get(
        "Success") == "true"
    # Reset forgets every bearer the sandbox issued: the bridge's cached one is now invalid.
    import requests

    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5).raise_for_status()
    answer = _result(post_login(bridge, "jdoe@example.com", "Password").content)
    assert answer.get("Success") == "true"
    assert answer.get("FirstName") == "John"
    calls = sandbox_calls(sandbox)
    # Only the steps from the cached one on ran again; the password was checked once.
    assert (calls["credentials"], calls["apiUser"], calls["accounts"]) == (1, 1, 2)


UNAVAILABLE = "The authentication service is temporarily unavailable. Please try again later."


@pytest.mark.parametrize("control", [
    {"fail": "close"},
    {"fail": "garbage"},
    {"fail": {"status": 500, "body": {"errorCode": "INTERNAL_SERVER_ERROR",
                                      "summary": "An Unknown Error Occurred. (Error code: LRP8V)"}}},
    {"fail": {"status": 503, "body": "upstream maintenance"}},
    {"delay_ms": 3000},  # the test config's read timeout is 2 s
], ids=["connection-closed", "not-json", "rest-error-body", "503-text", "timeout"])
def test_upstream_failures_give_a_server_fault_and_no_token(
    bridge: Server, sandbox: Server, control: dict[str, object]
) -> None:
    sandbox_control(sandbox, **control)
    response = post_login(bridge, "multi@example.com", "Password")
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert _fault(response.content) == ("s:Server", UNAVAILABLE)
    assert b"AuthenticationToken" not in response.content
    assert b"Traceback" not in response.content


def test_failure_of_the_bearer_step_alone_gives_no_token(
    own_bridge: Server, sandbox: Server
) -> None:
    sandbox_control(sandbox, paths=["apiUser"],
                    fail={"status": 500, "body": {"errorCode": "INTERNAL_SERVER_ERROR",
                                                  "summary": "boom"}})
    response = post_login(own_bridge, "jdoe@example.com", "Password")
    assert _fault(response.content) == ("s:Server", UNAVAILABLE)
    calls = sandbox_calls(sandbox)
    assert calls["credentials"] == 1 and calls["apiUser"] == 1
    assert calls["accounts"] == 0  # nothing after the failed step ran


def test_an_api_user_without_scope_for_the_user_is_refused(
    own_bridge: Server, sandbox: Server
) -> None:
    sandbox_control(sandbox, paths=["apiUser"],
                    fail={"status": 403, "body": {"errorCode": "FORBIDDEN", "summary": "scope"}})
    message = _refusal(post_login(own_bridge, "jdoe@example.com", "Password").content)[0]
    assert message.startswith("This user cannot sign in through the API")


def test_upstream_down_entirely(sandbox: Server, tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")  # nothing listens on port 9
    server = start_bridge(tmp_path, config, workers=1)
    try:
        response = post_login(server, "jdoe@example.com", "Password")
        assert response.status_code == 500
        assert _fault(response.content) == ("s:Server", UNAVAILABLE)
    finally:
        server.stop()
    log = server.output()
    assert '"outcome": "unavailable"' in log
    assert "cannot reach http://127.0.0.1:9" in log


def test_without_the_users_accounts_there_is_no_token(own_bridge: Server, sandbox: Server) -> None:
    # The accounts step is not optional: an answer without accounts would be useless.
    sandbox_control(sandbox, paths=["/accounts"],
                    fail={"status": 404, "body": {"errorCode": "NOT_FOUND",
                                                  "summary": "The requested resource was not found."}})
    response = post_login(own_bridge, "jdoe@example.com", "Password")
    assert _fault(response.content) == ("s:Server", UNAVAILABLE)
    assert b"AuthenticationToken" not in response.content
    assert sandbox_calls(sandbox)["accounts"] == 1


def test_a_blank_password_counts_towards_the_lockout(own_bridge: Server,
                                                    sandbox: Server) -> None:
    for _ in range(5):
        post_login(own_bridge, "jdoe@example.com", "")
    assert _locked(own_bridge, sandbox, "jdoe@example.com")
