"""The shipped rules as they are: a repeat login is answered without the upstream, and only
the very same credentials are ever remembered."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.servers import (
    REPO,
    Server,
    demo_api_user,
    post_login,
    sandbox_calls,
    start_bridge,
    write_config,
)
from tests.soapxml import auth_result, refusal

INVALID = "Invalid user name or password."


@pytest.fixture
def shipped(sandbox: Server, tmp_path: Path) -> Iterator[Server]:
    server = start_bridge(tmp_path, write_config(tmp_path, sandbox.url, remember=True))
    yield server
    server.stop()


def _accounts(body: bytes) -> list[str]:
    return sorted(account.get("ContextIdentifier") or "" for account in auth_result(body).iter()
                  if account.tag.endswith("}UserAccount"))


def test_repeat_logins_are_answered_without_the_upstream(shipped: Server, sandbox: Server) -> None:
    first = post_login(shipped, "multi@example.com", "Password")
    tokens = set()
    for _ in range(5):
        again = post_login(shipped, "multi@example.com", "Password")
        result = auth_result(again.content)
        assert (result.get("Success"), result.get("FirstName")) == ("true", "Mary")
        assert _accounts(again.content) == _accounts(first.content) and len(_accounts(first.content)) == 3
        tokens.add(result.get("AuthenticationToken"))
    assert len(tokens) == 5  # every login still gets a token of its own
    calls = sandbox_calls(sandbox)
    assert (calls["credentials"], calls["apiUser"], calls["accounts"]) == (1, 1, 1)


def test_another_password_is_never_taken_from_memory(shipped: Server, sandbox: Server) -> None:
    assert auth_result(post_login(shipped, "jdoe@example.com", "Password").content).get(
        "Success") == "true"
    for attempt in range(5):
        message, _, _ = refusal(post_login(shipped, "jdoe@example.com", f"Wrong{attempt}").content)
        assert message == INVALID
    # Every wrong password went upstream and counted: the user is now locked out, and even
    # the remembered right password is refused without asking anyone.
    assert sandbox_calls(sandbox)["credentials"] == 6
    message, _, _ = refusal(post_login(shipped, "jdoe@example.com", "Password").content)
    assert message == INVALID
    assert sandbox_calls(sandbox)["credentials"] == 6


def test_the_store_keeps_no_trace_of_the_password(shipped: Server, tmp_path: Path) -> None:
    assert auth_result(post_login(shipped, "jdoe@example.com", "Password").content).get(
        "Success") == "true"
    with sqlite3.connect(tmp_path / "state" / "bridge.sqlite3") as db:
        rows = db.execute("SELECT key, value FROM entries").fetchall()
    remembered = [value for key, value in rows if key.startswith("verified:")]
    assert len(remembered) == 1
    api_key = demo_api_user()[1]
    for key, value in rows:
        for secret in ("Password", "jdoe@example.com", api_key, "821ae27f"):
            assert secret not in key and secret not in value, (key, secret)


def test_a_remembered_verification_expires(sandbox: Server, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    rule = yaml.safe_load((REPO / "mappings/assuresign/authenticate-user.yaml").read_text())
    rule["verify"]["cache"] = "1s"
    (rules / "authenticate-user.yaml").write_text(yaml.safe_dump(rule))
    bridge = start_bridge(tmp_path, write_config(tmp_path, sandbox.url, mappings=str(rules),
                                                 remember=True))
    try:
        for _ in range(2):
            post_login(bridge, "jdoe@example.com", "Password")
        assert sandbox_calls(sandbox)["credentials"] == 1
        time.sleep(1.2)
        assert auth_result(post_login(bridge, "jdoe@example.com", "Password").content).get(
            "Success") == "true"
        assert sandbox_calls(sandbox)["credentials"] == 2
    finally:
        bridge.stop()


def test_api_key_logins_are_remembered_too(sandbox: Server, tmp_path: Path) -> None:
    bridge = start_bridge(tmp_path, write_config(tmp_path, sandbox.url, remember=True,
                                                 mappings="mappings/assuresign-api-key"))
    key = demo_api_user()[1]
    try:
        for _ in range(3):
            assert auth_result(post_login(bridge, "jdoe@example.com", key).content).get(
                "Success") == "true"
        message, _, _ = refusal(post_login(bridge, "jdoe@example.com", key + "x").content)
        assert message == INVALID
        calls = sandbox_calls(sandbox)
        assert (calls["apiUser"], calls["accounts"]) == (2, 1)  # the wrong key was checked upstream
    finally:
        bridge.stop()
