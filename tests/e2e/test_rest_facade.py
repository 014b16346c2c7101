"""The vendor's deprecated REST callers through a real bridge and the sandbox: the forum's
Power Automate flow (credentials → sessionToken → a documentnow GET), the answer and error
shapes per version, the lockout shared with SOAP, session tokens swapped for the bearer,
answers streamed back unchanged, the allow list, and the SSO hand-off the sandbox's web UI
accepts once within its 30 seconds."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.sandbox import load_seed
from tests.servers import (
    REPO,
    Server,
    demo_api_user,
    free_port,
    post_login,
    sandbox_calls,
    sandbox_control,
    start_bridge,
    start_process,
    write_config,
)
from tests.soapxml import auth_result

SEED = load_seed(None)
JDOE = "jdoe@example.com"
PASSWORD = SEED.user(JDOE).password  # type: ignore[union-attr]
CREDENTIALS = "/api/documentnow/v{}/authentication/credentials"
TEMPLATES = "/api/documentnow/v3.7/templates"
SSO_PAGE = "/ui/simpleSetup/7d1f9a0e-77aa-4f0b-9d6e-2a1c5e0b3f21?lang=en"
UNKNOWN_ROUTE = {"errorCode": "NOT_FOUND", "summary": "The requested resource was not found."}


def _config(workdir: Path, sandbox: Server, **overrides: Any) -> Path:
    settings: dict[str, Any] = {
        "rest_facade": {}, "sso": {"url": SSO_PAGE},
        "lockout": {"max_failures": 3, "window": "15m", "duration": "15m"},
        "vars": {"expired_password_url": "https://sandbox.invalid/ChangePassword?expired=1"},
    }
    settings.update(overrides)
    return write_config(workdir, sandbox.url, **settings)


@pytest.fixture(scope="module")
def facade(sandbox: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("facade")
    server = start_bridge(workdir, _config(workdir, sandbox), workers=1)
    yield server
    server.stop()


def _credentials(server: Server, username: str, password: str, version: str = "3.7",
                 **extra: Any) -> requests.Response:
    body = {"request": {"authRequest": {"username": username, "password": password,
                                        "sessionLength": 30, **extra}}}
    return requests.post(server.url + CREDENTIALS.format(version), json=body, timeout=10)


def _session(server: Server, username: str = JDOE) -> str:
    answer = _credentials(server, username, PASSWORD)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["result"]["sessionToken"]
    return token


def _with_session(token: str) -> dict[str, str]:
    return {"Authorization": f"X-AS-UserSessionToken {token}", "Accept": "application/json"}


def _shape(value: Any) -> Any:
    """The keys of an answer, all the way down, without the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__


# -- the forum's flow ----------------------------------------------------------------


def test_the_power_automate_flow_logs_in_and_lists_templates(facade: Server,
                                                             sandbox: Server) -> None:
    # Step 1, exactly as the flow posts it: the wrapped body, JSON headers.
    login = requests.post(facade.url + CREDENTIALS.format("3.7"), timeout=10,
                          headers={"Content-Type": "application/json",
                                   "Accept": "application/json"},
                          data=json.dumps({"request": {"authRequest": {
                              "username": JDOE, "password": PASSWORD, "sessionLength": 60}}}))
    assert login.status_code == 200, login.text
    assert login.headers["Content-Type"].startswith("application/json")
    assert login.headers["Cache-Control"] == "no-store"
    result = login.json()["result"]
    primary = next(a for a in SEED.user(JDOE).accounts if a.primary)  # type: ignore[union-attr]
    assert {"accountId": primary.context_identifier, "name": primary.name,
            "isPrimary": True} in result["accounts"]
    assert result["lastLoginDate"][:2] == "20" and "sessionToken" in result

    # Step 2: the next call, with the session token as the vendor had it used.
    templates = requests.get(facade.url + TEMPLATES, headers=_with_session(
        result["sessionToken"]), timeout=10)

    assert templates.status_code == 200, templates.text
    names = {t["name"] for t in templates.json()["result"]["templates"]}
    assert names == {t.name for t in SEED.legacy.templates
                     if t.account == primary.context_identifier}
    # The sandbox saw a bearer, never the bridge's token: it would have refused that.
    assert sandbox_calls(sandbox)["templates"] == 1


# The flow again from another HTTP stack (node's fetch), as a script would run it: the
# password comes in on stdin, never on the command line.
_NODE_FLOW = """
const [base, username] = process.argv.slice(1);
let password = "";
process.stdin.on("data", (chunk) => { password += chunk; });
process.stdin.on("end", async () => {
  const login = await fetch(`${base}/api/documentnow/v3.7/authentication/credentials`, {
    method: "POST", headers: {"Content-Type": "application/json", "Accept": "application/json"},
    body: JSON.stringify({request: {authRequest: {username, password: password.trim(),
                                                  sessionLength: 60}}}),
  });
  const token = (await login.json()).result.sessionToken;
  const templates = await fetch(`${base}/api/documentnow/v3.7/templates`, {
    headers: {"Authorization": `X-AS-UserSessionToken ${token}`, "Accept": "application/json"},
  });
  const names = (await templates.json()).result.templates.map((t) => t.name).sort();
  console.log(JSON.stringify({login: login.status, templates: templates.status, names}));
});
"""


def test_the_flow_from_node(facade: Server) -> None:
    node = shutil.which("node")
    assert node, "node is needed (.ci/ensure-tools)"

    done = subprocess.run([node, "-e", _NODE_FLOW, facade.url, JDOE], input=PASSWORD,
                          capture_output=True, text=True, timeout=60, check=True)

    primary = next(a for a in SEED.user(JDOE).accounts if a.primary)  # type: ignore[union-attr]
    assert json.loads(done.stdout) == {"login": 200, "templates": 200, "names": sorted(
        t.name for t in SEED.legacy.templates if t.account == primary.context_identifier)}


@pytest.mark.parametrize("version", ["3.5", "3.6", "3.7"])
def test_each_version_answers_in_the_vendors_shape(facade: Server, sandbox: Server,
                                                   version: str) -> None:
    ours = _credentials(facade, JDOE, PASSWORD, version)
    vendors = _credentials(sandbox, JDOE, PASSWORD, version)

    assert ours.status_code == vendors.status_code == 200
    # roleId has no REST source: the bridge leaves it out, as the vendor leaves out nulls.
    expected = _shape(vendors.json())
    del expected["result"]["accounts"][0]["roleId"]
    assert _shape(ours.json()) == expected


def test_a_version_outside_the_credentials_paths_is_not_the_bridges_login(
        facade: Server, sandbox: Server) -> None:
    calls = sandbox_calls(sandbox).get("credentials", 0)
    for version in ("3.8", "3.4"):
        answer = requests.post(facade.url + CREDENTIALS.format(version), timeout=10, json={
            "request": {"authRequest": {"username": JDOE, "password": PASSWORD}}})

        # Not forwarded, though the allow list has documentnow v3.*: the password never goes
        # to the vendor's own login (whose session token the facade would then refuse).
        assert (answer.status_code, answer.json()) == (404, UNKNOWN_ROUTE)
    assert sandbox_calls(sandbox).get("credentials", 0) == calls


@pytest.mark.parametrize(("username", "password", "status", "code", "summary"), [
    (JDOE, "wrong", 401, "UNAUTHORIZED", "The provided username or password was not valid"),
    ("nobody@example.com", "wrong", 401, "UNAUTHORIZED",
     "The provided username or password was not valid"),
    ("locked@example.com", PASSWORD, 403, "FORBIDDEN", "The user account is locked."),
    ("inactive@example.com", PASSWORD, 403, "FORBIDDEN", "The user account is inactive."),
    ("expired@example.com", PASSWORD, 403, "FORBIDDEN", "The password has expired."),
])
def test_refusals_are_the_vendors_errors(facade: Server, username: str, password: str,
                                         status: int, code: str, summary: str) -> None:
    answer = _credentials(facade, username, password)

    assert answer.status_code == status
    assert answer.json() == {"errorCode": code, "summary": summary}


@pytest.mark.parametrize(("body", "details"), [
    ({"username": JDOE, "key": "k", "sessionLength": 30}, ["'Request' should not be empty."]),
    ({"request": {"authRequest": {"username": JDOE}}}, ["'Password' should not be empty."]),
    ({"request": {"authRequest": {"username": JDOE, "password": PASSWORD, "sessionLength": 0}}},
     ["'SessionLength' must be greater than '0'."]),
    ({"request": {"authRequest": {"username": JDOE, "password": PASSWORD,
                                  "sessionLength": "an hour"}}},
     ["'SessionLength' must be greater than '0'."]),
    # A digit to str.isdigit(), not to int(): a 400, not a 500.
    ({"request": {"authRequest": {"username": JDOE, "password": PASSWORD,
                                  "sessionLength": "\u00b2"}}},
     ["'SessionLength' must be greater than '0'."]),
])
def test_a_malformed_request_is_a_validation_error(facade: Server, body: Any,
                                                   details: list[str]) -> None:
    answer = requests.post(facade.url + CREDENTIALS.format("3.7"), json=body, timeout=10)

    assert answer.status_code == 400
    assert answer.json() == {"errorCode": "BAD_REQUEST", "summary": "Error validating request",
                             "details": details}


def test_a_session_length_written_as_a_string_is_taken(facade: Server) -> None:
    answer = _credentials(facade, JDOE, PASSWORD, sessionLength="60")

    assert answer.status_code == 200 and answer.json()["result"]["sessionToken"]


def test_a_long_session_length_is_capped_not_refused(facade: Server) -> None:
    # The vendor's maximum is unknown (FACTS §10): a week asked for is the token's life, and
    # so are more digits than Python's int() takes from a string.
    assert _credentials(facade, JDOE, PASSWORD, sessionLength="9" * 5000).status_code == 200
    answer = _credentials(facade, JDOE, PASSWORD, sessionLength=10080)

    assert answer.status_code == 200, answer.text
    token = answer.json()["result"]["sessionToken"]
    assert requests.get(facade.url + TEMPLATES, headers=_with_session(token),
                        timeout=10).status_code == 200


def test_not_json_is_a_validation_error_never_a_traceback(facade: Server) -> None:
    answer = requests.post(facade.url + CREDENTIALS.format("3.7"), data=b"\xff{<", timeout=10)

    assert answer.status_code == 400 and answer.json()["errorCode"] == "BAD_REQUEST"
    # Nested deeper than the JSON parser recurses, within the body limit.
    deep = requests.post(facade.url + CREDENTIALS.format("3.7"), timeout=10,
                         data=b'{"request":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert deep.status_code == 400 and deep.json()["errorCode"] == "BAD_REQUEST"
    assert "Traceback" not in facade.output()


def test_a_session_token_the_bridge_did_not_issue_is_forbidden(facade: Server,
                                                               sandbox: Server) -> None:
    for token in ("made-up", "", _session(sandbox)):  # the last: the vendor's own token
        answer = requests.get(facade.url + TEMPLATES, headers=_with_session(token), timeout=10)

        assert answer.status_code == 403
        assert answer.json()["errorCode"] == "FORBIDDEN"
    assert sandbox_calls(sandbox).get("templates", 0) == 0


def test_a_user_context_must_be_one_of_the_tokens_accounts(facade: Server) -> None:
    token = _session(facade)
    other = next(a for a in SEED.user("multi@example.com").accounts)  # type: ignore[union-attr]
    mine = next(a for a in SEED.user(JDOE).accounts)  # type: ignore[union-attr]

    refused = requests.get(facade.url + TEMPLATES, timeout=10, headers={
        **_with_session(token), "X-AS-UserContext": f"multi@example.com:{other.context_identifier}"})
    chosen = requests.get(facade.url + TEMPLATES, timeout=10, headers={
        **_with_session(token), "X-AS-UserContext": f"someone:{mine.context_identifier}"})

    assert (refused.status_code, refused.json()["errorCode"]) == (403, "FORBIDDEN")
    assert chosen.status_code == 200  # the user part is always the token's own


def test_a_call_with_a_bearer_passes_through_untouched(facade: Server, sandbox: Server) -> None:
    api_username, key = demo_api_user()
    bearer = requests.post(sandbox.url + "/api/v3.7/authentication/apiUser", timeout=10, json={
        "request": {"apiUsername": api_username, "key": key, "contextUsername": JDOE}}
        ).json()["result"]["token"]
    headers = {"Authorization": f"bearer {bearer}"}

    through = requests.get(facade.url + TEMPLATES, headers=headers, timeout=10)
    direct = requests.get(sandbox.url + TEMPLATES, headers=headers, timeout=10)

    assert through.status_code == direct.status_code == 200
    assert through.content == direct.content
    assert through.headers["Content-Type"] == direct.headers["Content-Type"]


def test_large_and_dripping_answers_pass_unchanged(facade: Server, sandbox: Server) -> None:
    token = _session(facade)
    # As large as the sandbox's control takes; the cap is tested below.
    large = json.dumps({"messages": [], "result": {"blob": "x" * (900 * 1024)}})
    sandbox_control(sandbox, fail={"status": 200, "body": large,
                                   "content_type": "application/json; charset=utf-8"},
                    paths=["/templates"], times=1)
    answer = requests.get(facade.url + TEMPLATES, headers=_with_session(token), timeout=30)

    assert answer.status_code == 200
    assert answer.content == large.encode()
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"

    # Eight bytes at a time, as a slow upstream sends it.
    sandbox_control(sandbox, drip_ms=2, paths=["/templates"], times=1)
    dripped = requests.get(facade.url + TEMPLATES, headers=_with_session(token), timeout=30)
    direct = requests.get(facade.url + TEMPLATES, headers=_with_session(token), timeout=30)

    assert dripped.status_code == 200 and dripped.content == direct.content


def test_an_upstream_error_passes_through_as_the_vendor_wrote_it(facade: Server,
                                                                 sandbox: Server) -> None:
    token = _session(facade)
    vendor_error = {"errorCode": "VALIDATION_FAILED", "summary": "Error validating request",
                    "details": ["FromDate must come prior to ToDate"]}
    sandbox_control(sandbox, fail={"status": 400, "body": vendor_error}, paths=["/envelopes"],
                    times=1)

    answer = requests.get(facade.url + "/api/documentnow/v3.7/envelopes?dateFilter=ANY",
                          headers=_with_session(token), timeout=10)

    assert (answer.status_code, answer.json()) == (400, vendor_error)


def test_the_allow_list_size_cap_and_rate_limits(sandbox: Server, tmp_path: Path) -> None:
    config = _config(tmp_path, sandbox, rest_facade={"forward": [TEMPLATES],
                                                     "max_answer_bytes": 65536,
                                                     "deadline": "1s"},
                     rate_limits={"per_user": {"limit": 2, "window": "1h"}})
    server = start_bridge(tmp_path, config, workers=1)
    try:
        token = _session(server)
        before = sandbox_calls(sandbox)
        for path in ("/api/documentnow/v3.7/users/jdoe%40example.com/accounts",
                     "/api/documentnow/v3.7/templates/../users/x/accounts",
                     "/api/documentnow/v3.7/templates/extra"):
            answer = requests.get(server.url + path, headers=_with_session(token), timeout=10)
            assert (answer.status_code, answer.json()) == (404, UNKNOWN_ROUTE), path
        allowed = requests.get(server.url + TEMPLATES, headers=_with_session(token), timeout=10)
        assert allowed.status_code == 200
        after = sandbox_calls(sandbox)
        assert after["accounts"] == before["accounts"]

        # An answer over rest_facade.max_answer_bytes is not passed on.
        sandbox_control(sandbox, fail={"status": 200, "body": {"blob": "x" * 100_000}},
                        paths=["/templates"], times=1)
        cut = requests.get(server.url + TEMPLATES, headers=_with_session(token), timeout=10)
        assert cut.status_code == 502
        assert cut.json()["errorCode"] == "INTERNAL_SERVER_ERROR"
        assert "larger" in cut.json()["summary"]

        # An answer still coming when rest_facade.deadline ends is cut off, never passed on
        # as if whole.
        sandbox_control(sandbox, drip_ms=30, paths=["/templates"], times=1)
        with pytest.raises((requests.exceptions.ChunkedEncodingError,
                            requests.exceptions.ConnectionError)):
            requests.get(server.url + TEMPLATES, headers=_with_session(token), timeout=10)
        assert "forwarded answer cut short" in server.output()
        assert "jdoe%40example.com" not in server.output()

        # The rate limits of SOAP logins hold for REST ones: the third login of one user in
        # the window is refused before anything is asked of anyone.
        multi = "multi@example.com"
        assert [_credentials(server, multi, PASSWORD).status_code for _ in range(2)] == [200, 200]
        limited = _credentials(server, multi, PASSWORD)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json() == {"errorCode": "TOO_MANY_REQUESTS",
                                  "summary": "Too many sign-in attempts. Please try again later."}
    finally:
        server.stop()


# -- what field clients and attackers send that the tests above do not ---------------------


def _raw(server: Server, request: bytes) -> bytes:
    """One request written as is (no client's normalising), the answer's status line."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while b"\r\n" not in answer and (piece := connection.recv(4096)):
            answer += piece
    return answer.split(b"\r\n", 1)[0]


def test_what_an_upstream_could_read_otherwise_is_never_forwarded(facade: Server) -> None:
    token = _session(facade)
    refused_before = facade.output().count('"outcome": "not_allowed"')
    for method, target in (
            # IIS reads a backslash as a slash: templates\..\envelopes is envelopes there.
            ("GET", "/api/documentnow/v3.7/templates\\..\\envelopes"),
            ("GET", "/api/documentnow/v3.7/templates%5c..%5cenvelopes"),
            # Double-encoded dot segments: %2e%2e after the bridge's decoding.
            ("GET", "/api/documentnow/v3.7/templates/%252e%252e/envelopes"),
            # TRACE would echo the bearer the bridge adds.
            ("TRACE", TEMPLATES)):
        status = _raw(facade, f"{method} {target} HTTP/1.1\r\nHost: x\r\nAuthorization: "
                              f"X-AS-UserSessionToken {token}\r\nConnection: close\r\n\r\n"
                      .encode())
        assert status == b"HTTP/1.1 404 Not Found", target
    assert facade.output().count('"outcome": "not_allowed"') == refused_before + 4


def test_the_login_as_other_clients_spell_it(facade: Server) -> None:
    # IIS matches a route without regard to case or a trailing slash: the bridge's login
    # answers it (a token the facade takes), never the vendor's own with the password.
    path = "/api/documentnow/v3.7/Authentication/Credentials/"
    body = {"request": {"authRequest": {"username": JDOE, "password": PASSWORD,
                                        "sessionLength": 60.0}}}  # a flow's arithmetic
    login = requests.post(facade.url + path, json=body, timeout=10)
    assert login.status_code == 200, login.text
    token = login.json()["result"]["sessionToken"]

    # A tab after the scheme, the scheme in any case, a bare user name as the context (FACTS
    # §2: such flows pass at the vendor); and the SOAP login's token, which is the same login.
    for authorization, context in ((f"x-as-usersessiontoken\t{token}", JDOE.upper()),
                                   (f"X-AS-USERSESSIONTOKEN {_soap_token(facade)}", None)):
        headers = {"Authorization": authorization, **({"X-AS-UserContext": context}
                                                      if context else {})}
        answer = requests.get(facade.url + TEMPLATES, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text

    # Past the body limit: 413, not "'Request' should not be empty."
    large = requests.post(facade.url + CREDENTIALS.format("3.7"), timeout=10,
                          headers={"Content-Type": "application/json"},
                          data=b'{"request":"' + b"x" * (1024 * 1024 + 1) + b'"}')
    assert large.status_code == 413 and large.json()["errorCode"] == "BAD_REQUEST"


def test_a_revoked_users_session_tokens_are_refused(facade: Server, sandbox: Server) -> None:
    user = "multi@example.com"
    before = _session(facade, user)
    soap_before = _soap_token_of(facade, user)

    done = subprocess.run([sys.executable, "-m", "bridge", "revoke", user, "--config",
                           str(facade.workdir / "config.yaml")], cwd=facade.workdir,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    calls = sandbox_calls(sandbox).get("sso", 0)

    for token in (before, soap_before):
        answer = requests.get(facade.url + TEMPLATES, headers=_with_session(token), timeout=10)
        assert (answer.status_code, answer.json()["errorCode"]) == (403, "FORBIDDEN")
        assert "revoked" in answer.json()["summary"]
        assert _sso(facade, token).status_code == 401
    assert sandbox_calls(sandbox).get("sso", 0) == calls
    # A login after the revocation is a new session.
    after = requests.get(facade.url + TEMPLATES, headers=_with_session(_session(facade, user)),
                         timeout=10)
    assert after.status_code == 200


# -- the lockout, one for SOAP and REST -----------------------------------------------------


def test_token_life_and_the_lockout_shared_with_soap(sandbox: Server,
                                                            tmp_path: Path) -> None:
    server = start_bridge(tmp_path, _config(tmp_path, sandbox, tokens={"ttl": "2s"}), workers=1)
    try:
        # A session token lives the sessionLength asked for (30 minutes here), at most the
        # configured token life: then it is the vendor's FORBIDDEN.
        expiring = _session(server, "multi@example.com")
        time.sleep(2.2)
        late = requests.get(server.url + TEMPLATES, headers=_with_session(expiring), timeout=10)
        assert (late.status_code, late.json()["errorCode"]) == (403, "FORBIDDEN")

        assert auth_result(post_login(server, JDOE, "wrong-1").content).get("Success") == "false"
        assert _credentials(server, JDOE, "wrong-2").status_code == 401
        assert auth_result(post_login(server, JDOE, "wrong-3").content).get("Success") == "false"

        # Locked now: the right password gets the wrong-password answer on both.
        rest = _credentials(server, JDOE, PASSWORD)
        soap = auth_result(post_login(server, JDOE, PASSWORD).content)

        assert (rest.status_code, rest.json()["errorCode"]) == (401, "UNAUTHORIZED")
        assert soap.get("Success") == "false"
        assert '"outcome": "locked_out"' in server.output()
    finally:
        server.stop()


# -- SSO --------------------------------------------------------------------------------


def _soap_token(server: Server) -> str:
    return _soap_token_of(server, JDOE)


def _soap_token_of(server: Server, username: str) -> str:
    token = auth_result(post_login(server, username, PASSWORD).content).get(
        "AuthenticationToken")
    assert token
    return str(token)


def _sso(server: Server, token: str) -> requests.Response:
    return requests.post(server.url + "/v1/sso", headers={"Authorization": f"Bearer {token}"},
                         timeout=10)


def test_sso_gives_a_token_the_web_ui_accepts_once(facade: Server, sandbox: Server) -> None:
    answer = _sso(facade, _soap_token(facade))

    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    handoff = answer.json()
    assert handoff["expires_in"] == 30
    assert handoff["url"] == f"{sandbox.url}{SSO_PAGE}&ssoToken={handoff['ssoToken']}"
    first = requests.get(handoff["url"], timeout=10)
    second = requests.get(handoff["url"], timeout=10)
    assert (first.status_code, second.status_code) == (200, 403)
    assert JDOE in first.text


def test_an_sso_token_is_refused_after_30_seconds(facade: Server, sandbox: Server) -> None:
    # Within its 30 seconds (29 on): accepted.
    early = _sso(facade, _soap_token(facade)).json()
    requests.post(sandbox.url + "/_sandbox/clock", json={"advance_s": 29},
                  timeout=5).raise_for_status()
    assert requests.get(early["url"], timeout=10).status_code == 200

    handoff = _sso(facade, _soap_token(facade)).json()

    requests.post(sandbox.url + "/_sandbox/clock", json={"advance_s": 31},
                  timeout=5).raise_for_status()

    assert requests.get(handoff["url"], timeout=10).status_code == 403


def test_each_sso_call_asks_the_upstream_anew(facade: Server, sandbox: Server) -> None:
    token = _soap_token(facade)

    tokens = {_sso(facade, token).json()["ssoToken"] for _ in range(2)}

    assert len(tokens) == 2 and sandbox_calls(sandbox)["sso"] == 2


def test_sso_through_the_rest_facade_with_a_session_token(facade: Server,
                                                          sandbox: Server) -> None:
    answer = requests.post(facade.url + "/api/documentnow/v3.7/authentication/sso", json={},
                           headers=_with_session(_session(facade)), timeout=10)

    assert answer.status_code == 200, answer.text
    sso_token = answer.json()["result"]["ssoToken"]
    page = requests.get(f"{sandbox.url}{SSO_PAGE}&ssoToken={sso_token}", timeout=10)
    assert page.status_code == 200


def test_sso_refused_upstream_is_a_clear_403(facade: Server, sandbox: Server) -> None:
    token = _soap_token(facade)
    sandbox_control(sandbox, fail={"status": 403, "body": {
        "errorCode": "FORBIDDEN", "summary": "The bearer token is missing, invalid or expired."}},
        paths=["/authentication/sso"], times=1)

    answer = _sso(facade, token)

    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"
    assert "FORBIDDEN" in answer.json()["error_description"]


def test_sso_needs_a_token_the_bridge_issued(facade: Server, sandbox: Server) -> None:
    assert _sso(facade, "made-up").status_code == 401
    assert requests.post(facade.url + "/v1/sso", timeout=10).status_code == 401
    assert requests.get(facade.url + "/v1/sso", timeout=10).status_code == 405
    assert sandbox_calls(sandbox).get("sso", 0) == 0


def test_sso_is_counted_in_the_metrics(facade: Server) -> None:
    _sso(facade, _soap_token(facade))

    metrics = requests.get(facade.url + "/metrics", timeout=10).text

    assert 'soap_bridge_sso_tokens_total{entry="v1",outcome="ok"}' in metrics
    assert 'soap_bridge_rest_requests_total{endpoint="credentials"' in metrics


# -- secrets ------------------------------------------------------------------------------


def test_no_secret_reaches_the_log(facade: Server, sandbox: Server) -> None:
    wrong = "Wr0ng-but-Secret-7f3a"
    assert _credentials(facade, JDOE, wrong).status_code == 401
    session = _session(facade)
    requests.get(facade.url + TEMPLATES, headers=_with_session(session), timeout=10)
    sso_token = _sso(facade, _soap_token(facade)).json()["ssoToken"]
    rest_sso = requests.post(facade.url + "/api/documentnow/v3.7/authentication/sso", json={},
                             headers=_with_session(session), timeout=10).json()
    bearer = requests.post(facade.url + "/v1/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject_token": session}, timeout=10).json()["access_token"]

    log = facade.output()

    assert '"msg": "rest request"' in log
    for secret in (wrong, session, sso_token, rest_sso["result"]["ssoToken"], bearer):
        assert secret not in log
    assert f'"{PASSWORD}"' not in log


# -- the example ---------------------------------------------------------------------------


def test_the_example_runs_the_flow_on_the_bundled_sandbox(tmp_path: Path) -> None:
    port = free_port()
    server = start_process(["serve", "--config", str(REPO / "examples" / "rest-facade.yaml"),
                            "--port", str(port), "--workers", "1"], tmp_path,
                           f"http://127.0.0.1:{port}/healthz")
    try:
        token = _session(server)
        templates = requests.get(server.url + TEMPLATES, headers=_with_session(token),
                                 timeout=10)
        handoff = _sso(server, _soap_token(server)).json()

        assert templates.status_code == 200 and templates.json()["result"]["templates"]
        assert requests.get(handoff["url"], timeout=10).status_code == 200
    finally:
        server.stop()
