"""Token exchange (RFC 8693) and account-context lookup, against a real bridge and sandbox."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.servers import REPO, Server, post_login, start_bridge, write_config
from tests.soapxml import auth_result

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
OPERATOR_KEY = "operator-key-for-tests-0123456789abcdef"
MULTI_PRIMARY = "06fd91ef-dab3-4d55-8b2c-214401174fbc"


@pytest.fixture
def api_bridge(sandbox: Server, tmp_path: Path) -> Iterator[Server]:
    directory = tmp_path / "directory.yaml"
    directory.write_text(
        "users:\n"
        "  filed@example.com:\n"
        "    accounts:\n"
        "      - {contextIdentifier: 11111111-2222-3333-4444-555555555555, name: Filed,"
        " isPrimary: true}\n")
    config = write_config(
        tmp_path, sandbox.url, tokens={"ttl": "3s"},
        secrets={"api_username": {"env": "TEST_API_USERNAME"}, "api_key": {"env": "TEST_API_KEY"},
                 "operator": {"env": "TEST_OPERATOR_KEY"}},
        operator_keys=["operator"], directory={"sources": ["rest", "file"],
                                               "file": str(directory)})
    server = start_bridge(tmp_path, config, workers=2, env={"TEST_OPERATOR_KEY": OPERATOR_KEY})
    server.extra["config"] = config
    yield server
    server.stop()


def _login(bridge: Server, username: str) -> str:
    token = auth_result(post_login(bridge, username, "Password").content).get("AuthenticationToken")
    assert token
    return token


def _exchange(bridge: Server, **form: str) -> requests.Response:
    return requests.post(bridge.url + "/v1/token", data=form, timeout=5)


def test_exchange_gives_the_upstream_bearer(api_bridge: Server, sandbox: Server) -> None:
    token = _login(api_bridge, "multi@example.com")
    reply = _exchange(api_bridge, grant_type=EXCHANGE, subject_token=token,
                      subject_token_type=ACCESS)
    assert reply.status_code == 200
    assert reply.headers["Cache-Control"] == "no-store"
    body = reply.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    # The bearer's life (token.bearer_ttl: 60m), not the AuthenticationToken's (3 s here).
    assert 3500 < body["expires_in"] <= 3600
    assert body["user_context"] == f"multi@example.com:{MULTI_PRIMARY}"
    assert body["access_token"] != token
    # The bearer works on the REST API, with the user context the bridge worked out (sso
    # refuses an X-AS-UserContext that names none of the user's usable accounts).
    sso = requests.post(f"{sandbox.url}/api/documentnow/v3.7/authentication/sso", timeout=5,
                        json={}, headers={"Authorization": f"bearer {body['access_token']}",
                                          "X-AS-UserContext": body["user_context"]})
    assert sso.status_code == 200 and sso.json()["result"]["ssoToken"]


@pytest.mark.parametrize(("form", "error"), [
    ({"grant_type": "password", "subject_token": "x", "subject_token_type": ACCESS},
     "unsupported_grant_type"),
    ({"grant_type": EXCHANGE, "subject_token_type": ACCESS}, "invalid_request"),
    ({"grant_type": EXCHANGE, "subject_token": "x", "subject_token_type": "urn:x"},
     "invalid_request"),
    ({"grant_type": EXCHANGE, "subject_token": "made-up", "subject_token_type": ACCESS},
     "invalid_grant"),
])
def test_exchange_errors_follow_rfc6749(api_bridge: Server, form: dict[str, str],
                                        error: str) -> None:
    reply = _exchange(api_bridge, **form)
    assert reply.status_code == 400
    assert reply.json()["error"] == error


def test_exchange_refuses_oversized_and_wrongly_typed_bodies(api_bridge: Server) -> None:
    big = requests.post(api_bridge.url + "/v1/token", timeout=5, data={"x": "y" * 20000})
    assert big.status_code == 413 and big.json()["error"] == "invalid_request"
    as_json = requests.post(api_bridge.url + "/v1/token", timeout=5, json={"grant_type": EXCHANGE})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    wrong_method = requests.get(api_bridge.url + "/v1/token", timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.reason == "Method Not Allowed"
    assert "Traceback" not in api_bridge.output()


def test_expired_tokens_are_refused_everywhere(api_bridge: Server) -> None:
    token = _login(api_bridge, "jdoe@example.com")
    time.sleep(3.2)
    reply = _exchange(api_bridge, grant_type=EXCHANGE, subject_token=token,
                      subject_token_type=ACCESS)
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_grant")
    lookup = requests.get(api_bridge.url + "/v1/accounts/jdoe@example.com", timeout=5,
                          headers={"Authorization": f"Bearer {token}"})
    assert lookup.status_code == 401


def test_accounts_for_the_token_holder(api_bridge: Server) -> None:
    token = _login(api_bridge, "multi@example.com")
    reply = requests.get(api_bridge.url + "/v1/accounts/MULTI@example.com", timeout=5,
                         headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["username"] == "MULTI@example.com"
    assert body["userContext"] == f"MULTI@example.com:{MULTI_PRIMARY}"
    assert body["source"] == "rest"
    assert {a["name"] for a in body["accounts"]} == {"Multi Holdings", "Multi Europe",
                                                     "Example, Inc."}
    assert [a["isPrimary"] for a in body["accounts"]] == [True, False, False]


def test_accounts_refuses_other_users_and_missing_tokens(api_bridge: Server) -> None:
    token = _login(api_bridge, "jdoe@example.com")
    other = requests.get(api_bridge.url + "/v1/accounts/multi@example.com", timeout=5,
                         headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 403
    none = requests.get(api_bridge.url + "/v1/accounts/multi@example.com", timeout=5)
    assert none.status_code == 401 and none.headers["WWW-Authenticate"].startswith("Bearer")
    assert (none.reason, other.reason) == ("Unauthorized", "Forbidden")
    bogus = requests.get(api_bridge.url + "/v1/accounts/multi@example.com", timeout=5,
                         headers={"Authorization": "Bearer nope"})
    assert bogus.status_code == 401


def test_operator_key_reads_any_user_and_the_directory_file(api_bridge: Server) -> None:
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    rest = requests.get(api_bridge.url + "/v1/accounts/jdoe@example.com", headers=headers,
                        timeout=5)
    assert rest.status_code == 200 and rest.json()["source"] == "rest"
    filed = requests.get(api_bridge.url + "/v1/accounts/filed@example.com", headers=headers,
                         timeout=5)
    assert filed.status_code == 200
    assert filed.json()["source"] == "file"
    assert filed.json()["userContext"] == "filed@example.com:11111111-2222-3333-4444-555555555555"
    unknown = requests.get(api_bridge.url + "/v1/accounts/ghost@example.com", headers=headers,
                           timeout=5)
    assert unknown.status_code == 404


def test_accounts_command_prints_the_same(api_bridge: Server) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "accounts", "multi@example.com", "--config",
         str(api_bridge.extra["config"])], capture_output=True, text=True, timeout=60,
        cwd=api_bridge.workdir, check=False,
        env={**__import__("os").environ, **_secrets_env()})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "multi@example.com  (source: rest)"
    assert lines[1].split() == ["ContextIdentifier", "Name", "Primary"]
    assert lines[2].startswith(MULTI_PRIMARY) and lines[2].endswith("yes")
    assert lines[-1] == f"X-AS-UserContext: multi@example.com:{MULTI_PRIMARY}"


def test_learned_directory_outlives_the_legacy_service(sandbox: Server, tmp_path: Path) -> None:
    config = write_config(
        tmp_path, sandbox.url, legacy={"base_url": sandbox.url},
        routing={"operations": {"AuthenticateUser": "legacy"}},
        directory={"sources": ["learned"]},
        secrets={"api_username": {"env": "TEST_API_USERNAME"}, "api_key": {"env": "TEST_API_KEY"},
                 "operator": {"env": "TEST_OPERATOR_KEY"}}, operator_keys=["operator"])
    bridge = start_bridge(tmp_path, config, workers=1, env={"TEST_OPERATOR_KEY": OPERATOR_KEY})
    try:
        post_login(bridge, "multi@example.com", "Password")
        headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}

        def learned() -> requests.Response:
            return requests.get(bridge.url + "/v1/accounts/multi@example.com", headers=headers,
                                timeout=5)

        deadline = time.monotonic() + 5
        while learned().status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        bridge.stop()
    # The legacy service is gone (no legacy: any more), the directory is not.
    config.write_text(config.read_text().replace(f"legacy:\n  base_url: {sandbox.url}\n", "")
                      .replace("AuthenticateUser: legacy", "AuthenticateUser: rest"))
    assert "legacy:" not in config.read_text()
    again = start_bridge(tmp_path, config, workers=1, env={"TEST_OPERATOR_KEY": OPERATOR_KEY})
    try:
        reply = requests.get(again.url + "/v1/accounts/multi@example.com", timeout=5,
                             headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
        assert reply.status_code == 200
        assert reply.json()["source"] == "learned"
        assert len(reply.json()["accounts"]) == 3
        # The names came with them: the REST flow has no other source for them (no
        # directory file here), and the vendor's REST API has none.
        answer = auth_result(post_login(again, "multi@example.com", "Password").content)
        assert (answer.get("Success"), answer.get("FirstName"), answer.get("LastName")) == (
            "true", "Mary", "Multi")
    finally:
        again.stop()


def _secrets_env() -> dict[str, str]:
    from tests.servers import demo_api_user

    username, key = demo_api_user()
    return {"TEST_API_USERNAME": username, "TEST_API_KEY": key, "TEST_OPERATOR_KEY": OPERATOR_KEY}


def test_repo_examples_have_one_config_per_mode() -> None:
    names = {p.stem for p in (REPO / "examples").glob("*.yaml")}
    assert {"legacy", "shadow", "verify", "fallback", "cohorts", "demo"} <= names
