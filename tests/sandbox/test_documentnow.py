"""What a deprecated REST caller does next, over real HTTP: the templates list per version and
account, the web UI's landing page that takes an SSO token once within its 30 seconds, and
the clock control."""

from __future__ import annotations

import pytest
import requests

from bridge.sandbox import SandboxServer, load_seed

from .conftest import DEMO_KEY, EXAMPLE_INC, Clock

SEED = load_seed(None)
PASSWORD = SEED.user("jdoe@example.com").password  # type: ignore[union-attr]
PAGE = "/ui/simpleSetup/7d1f9a0e-77aa-4f0b-9d6e-2a1c5e0b3f21"


def _bearer(sandbox: SandboxServer, http: requests.Session, user: str = "jdoe@example.com") -> str:
    answer = http.post(f"{sandbox.url}/api/v3.7/authentication/apiUser", timeout=5, json={
        "request": {"apiUsername": "bridge-demo", "key": DEMO_KEY, "contextUsername": user}})
    token: str = answer.json()["result"]["token"]
    return token


def _session(sandbox: SandboxServer, http: requests.Session) -> str:
    answer = http.post(f"{sandbox.url}/api/documentnow/v3.7/authentication/credentials",
                       timeout=5, json={"request": {"authRequest": {
                           "username": "jdoe@example.com", "password": PASSWORD}}})
    token: str = answer.json()["result"]["sessionToken"]
    return token


def _templates(sandbox: SandboxServer, http: requests.Session, authorization: str,
               version: str = "v3.7", **headers: str) -> requests.Response:
    return http.get(f"{sandbox.url}/api/documentnow/{version}/templates", timeout=5,
                    headers={"Authorization": authorization, **headers})


def _sso_token(sandbox: SandboxServer, http: requests.Session) -> str:
    answer = http.post(f"{sandbox.url}/api/documentnow/v3.7/authentication/sso", json={},
                       headers={"Authorization": f"bearer {_bearer(sandbox, http)}"}, timeout=5)
    token: str = answer.json()["result"]["ssoToken"]
    return token


@pytest.mark.parametrize(("version", "id_name", "user_name"), [
    ("v3.0", "templateId", "userAccountId"), ("v3.1", "templateId", "userAccountId"),
    ("v3.2", "templateID", "userAccountID"), ("v3.7", "templateID", "userAccountID")])
def test_templates_of_the_users_primary_account_by_version(
        sandbox: SandboxServer, http: requests.Session, version: str, id_name: str,
        user_name: str) -> None:
    answer = _templates(sandbox, http, f"bearer {_bearer(sandbox, http)}", version)

    assert answer.status_code == 200
    templates = answer.json()["result"]["templates"]
    assert {t[id_name] for t in templates} == {t.id for t in SEED.legacy.templates
                                               if t.account == EXAMPLE_INC}
    assert all(user_name in t and t["accountID"] == EXAMPLE_INC for t in templates)
    assert answer.json()["messages"] == []


def test_a_session_token_lists_templates_too(sandbox: SandboxServer,
                                            http: requests.Session) -> None:
    answer = _templates(sandbox, http, f"X-AS-UserSessionToken {_session(sandbox, http)}")

    assert answer.status_code == 200 and answer.json()["result"]["templates"]


def test_templates_need_a_live_token_and_the_users_own_account(sandbox: SandboxServer,
                                                               http: requests.Session) -> None:
    bearer = f"bearer {_bearer(sandbox, http)}"
    other = next(a for a in SEED.user("multi@example.com").accounts  # type: ignore[union-attr]
                 if a.context_identifier != EXAMPLE_INC)

    assert _templates(sandbox, http, "bearer nope").status_code == 401
    assert _templates(sandbox, http, "").json()["errorCode"] == "UNAUTHORIZED"
    refused = _templates(sandbox, http, bearer, **{
        "X-AS-UserContext": f"jdoe@example.com:{other.context_identifier}"})
    assert (refused.status_code, refused.json()["errorCode"]) == (403, "FORBIDDEN")
    # A space after the colon, as one production client sends it (FACTS §2).
    assert _templates(sandbox, http, bearer, **{
        "X-AS-UserContext": f"jdoe@example.com: {EXAMPLE_INC}"}).status_code == 200


def test_the_landing_page_takes_an_sso_token_once(sandbox: SandboxServer,
                                                 http: requests.Session) -> None:
    token = _sso_token(sandbox, http)

    first = http.get(f"{sandbox.url}{PAGE}?lang=en&ssoToken={token}", timeout=5)
    again = http.get(f"{sandbox.url}{PAGE}?lang=en&ssoToken={token}", timeout=5)

    assert (first.status_code, again.status_code) == (200, 403)
    assert "jdoe@example.com" in first.text and first.headers["Content-Type"].startswith(
        "text/html")
    assert http.get(f"{sandbox.url}{PAGE}", timeout=5).status_code == 403
    # A bearer is no SSO token.
    bearer = _bearer(sandbox, http)
    assert http.get(f"{sandbox.url}{PAGE}?ssoToken={bearer}", timeout=5).status_code == 403


def test_an_sso_token_lives_30_seconds(sandbox: SandboxServer, http: requests.Session,
                                       clock: Clock) -> None:
    in_time, late = _sso_token(sandbox, http), _sso_token(sandbox, http)

    clock.advance(29)
    assert http.get(f"{sandbox.url}{PAGE}?ssoToken={in_time}", timeout=5).status_code == 200
    clock.advance(2)
    assert http.get(f"{sandbox.url}{PAGE}?ssoToken={late}", timeout=5).status_code == 403


def test_the_clock_control_moves_time_on_until_a_reset(sandbox: SandboxServer,
                                                       http: requests.Session) -> None:
    token = _sso_token(sandbox, http)
    before = sandbox.state.now()

    moved = http.post(f"{sandbox.url}/_sandbox/clock", json={"advance_s": 31}, timeout=5)

    assert moved.status_code == 204
    assert sandbox.state.now() - before >= 31
    assert http.get(f"{sandbox.url}{PAGE}?ssoToken={token}", timeout=5).status_code == 403
    http.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    assert sandbox.state.now() - before < 31
    for wrong in ({"advance_s": -1}, {"advance_s": "31"}, {}, [1]):
        answer = http.post(f"{sandbox.url}/_sandbox/clock", json=wrong, timeout=5)
        assert (answer.status_code, answer.json()["errorCode"]) == (400, "BAD_REQUEST")
