"""The sandbox's REST endpoints over real HTTP: apiUser, credentials, sso and user."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bridge.sandbox import SandboxServer, parse_seed, start_in_thread

from .conftest import API_KEYS, DEMO_KEY, EXAMPLE_INC, Clock

API_USER = "/api/v3.7/authentication/apiUser"
CREDENTIALS = "/api/documentnow/v3.7/authentication/credentials"
SSO = "/api/documentnow/v3.5/authentication/sso"
USER = "/api/documentnow/v3.7/user"
MULTI_ACCOUNTS = {
    "06fd91ef-dab3-4d55-8b2c-214401174fbc": ("Multi Holdings", True),
    "4ed5cdfd-2302-42be-ace6-72a8ec6bcbbb": ("Multi Europe", False),
    EXAMPLE_INC: ("Example, Inc.", False),
}


def api_user(
    sandbox: SandboxServer,
    http: requests.Session,
    api_username: str = "bridge-demo",
    context_username: str = "jdoe@example.com",
    key: str | None = None,
    **extra: Any,
) -> requests.Response:
    request = {
        "apiUsername": api_username,
        "key": API_KEYS.get(api_username, "x") if key is None else key,
        "contextUsername": context_username,
        **extra,
    }
    return http.post(sandbox.url + API_USER, json={"request": request}, timeout=5)


def bearer(sandbox: SandboxServer, http: requests.Session, **kwargs: Any) -> str:
    response = api_user(sandbox, http, **kwargs)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def credentials(
    sandbox: SandboxServer,
    http: requests.Session,
    username: str,
    password: str = "Password",  # noqa: S107
) -> requests.Response:
    body = {"request": {"authRequest": {"username": username, "password": password}}}
    return http.post(sandbox.url + CREDENTIALS, json=body, timeout=5)


def assert_error(response: requests.Response, status: int, error_code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"errorCode", "summary"}
    assert body["errorCode"] == error_code
    assert body["summary"]
    return body


# -- apiUser ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_username", "context_username"),
    [
        ("bridge-demo", "jdoe@example.com"),  # organisation scope
        ("bridge-demo", "multi@example.com"),
        ("bridge-demo", "expired@example.com"),  # an expired password does not stop API users
        ("scope-user", "jdoe@example.com"),
        ("scope-env", "multi@example.com"),
    ],
)
def test_api_user_issues_a_bearer_for_a_context_user_in_scope(
    sandbox: SandboxServer, http: requests.Session, api_username: str, context_username: str
) -> None:
    response = api_user(sandbox, http, api_username, context_username)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"token"}
    profile = http.get(
        sandbox.url + USER,
        headers={"Authorization": f"bearer {response.json()['token']}"},
        timeout=5,
    )
    assert profile.json()["result"]["username"] == context_username


def test_api_user_tokens_differ_per_call(sandbox: SandboxServer, http: requests.Session) -> None:
    assert bearer(sandbox, http) != bearer(sandbox, http)


def test_wrong_key_and_unknown_api_user_are_the_same_refusal(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    wrong_key = assert_error(api_user(sandbox, http, key=DEMO_KEY[:-1] + "X"), 401, "UNAUTHORIZED")
    unknown = assert_error(api_user(sandbox, http, "nobody", key=DEMO_KEY), 401, "UNAUTHORIZED")
    assert wrong_key == unknown


def test_expired_api_user_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    assert_error(api_user(sandbox, http, "expired-api"), 401, "API_USER_EXPIRED")


def test_revoked_api_user_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    assert_error(api_user(sandbox, http, "revoked-api"), 401, "API_USER_REVOKED")


def test_revoked_api_user_with_a_wrong_key_learns_nothing(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    assert_error(api_user(sandbox, http, "revoked-api", key="wrong"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("api_username", "context_username"),
    [
        ("scope-user", "multi@example.com"),
        ("scope-other-env", "jdoe@example.com"),
        ("bridge-demo", "nobody@example.com"),
    ],
)
def test_context_user_outside_scope_or_unknown_is_forbidden(
    sandbox: SandboxServer, http: requests.Session, api_username: str, context_username: str
) -> None:
    body = assert_error(api_user(sandbox, http, api_username, context_username), 403, "FORBIDDEN")
    assert "nobody" not in body["summary"]


@pytest.mark.parametrize(
    ("context_username", "error_code"),
    [("locked@example.com", "USER_LOCKED"), ("inactive@example.com", "USER_INACTIVE")],
)
def test_unusable_context_user_is_refused(
    sandbox: SandboxServer, http: requests.Session, context_username: str, error_code: str
) -> None:
    assert_error(api_user(sandbox, http, context_username=context_username), 403, error_code)


@pytest.mark.parametrize("minutes", [0, 1441, "60", True, -5])
def test_session_length_outside_1_to_1440_is_a_bad_request(
    sandbox: SandboxServer, http: requests.Session, minutes: object
) -> None:
    response = api_user(sandbox, http, sessionLengthInMinutes=minutes)
    assert_error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"apiUsername": "bridge-demo"}', b'{"request": "x"}'])
def test_body_without_a_request_object_is_a_bad_request(
    sandbox: SandboxServer, http: requests.Session, body: bytes
) -> None:
    response = http.post(
        sandbox.url + API_USER,
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert_error(response, 400, "BAD_REQUEST")


def test_missing_key_is_a_bad_request(sandbox: SandboxServer, http: requests.Session) -> None:
    body = {"request": {"apiUsername": "bridge-demo", "contextUsername": "jdoe@example.com"}}
    response = http.post(sandbox.url + API_USER, json=body, timeout=5)
    assert_error(response, 400, "BAD_REQUEST")


def test_bearer_expires_after_the_session_length(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    token = bearer(sandbox, http, sessionLengthInMinutes=2)
    headers = {"Authorization": f"bearer {token}"}

    clock.advance(119)
    assert http.get(sandbox.url + USER, headers=headers, timeout=5).status_code == 200
    clock.advance(2)
    assert_error(http.get(sandbox.url + USER, headers=headers, timeout=5), 401, "UNAUTHORIZED")


def test_a_user_locked_by_legacy_failures_is_locked_for_api_users_too(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    sandbox.state.record_failure("jdoe@example.com", max_failures=1)

    assert_error(api_user(sandbox, http), 403, "USER_LOCKED")


@pytest.fixture(scope="module")
def wrapping_sandbox() -> Iterator[SandboxServer]:
    seed = parse_seed(
        """
environment: sandbox
organisation: example-org
wrap_token: true
users:
  - {username: a@example.com, password: pw, first_name: A, last_name: B,
     accounts: [{context_identifier: 821ae27f-027c-4f21-a2e5-1667fc9b650a, name: X, primary: true}]}
api_users:
  - {username: api, key: k, scope: {kind: organisation}, expires: 2099-12-31}
""",
        "wrap.yaml",
    )
    server = start_in_thread(seed)
    try:
        yield server
    finally:
        server.shutdown()


def test_wrap_token_seed_answers_the_token_inside_result(
    wrapping_sandbox: SandboxServer, http: requests.Session
) -> None:
    body = {"request": {"apiUsername": "api", "key": "k", "contextUsername": "a@example.com"}}
    response = http.post(wrapping_sandbox.url + API_USER, json=body, timeout=5)

    assert response.status_code == 200
    assert set(response.json()) == {"result"}
    token = response.json()["result"]["token"]
    profile = http.get(wrapping_sandbox.url + USER, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert profile.status_code == 200


# -- credentials ----------------------------------------------------------------


def test_credentials_answers_in_the_documented_shape(sandbox: SandboxServer, http: requests.Session) -> None:
    response = credentials(sandbox, http, "multi@example.com")

    assert response.status_code == 200
    result = response.json()["result"]
    assert set(result) == {"accounts", "lastLoginDate", "sessionToken"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d", result["lastLoginDate"])
    assert {a["accountId"]: (a["name"], a["isPrimary"]) for a in result["accounts"]} == (MULTI_ACCOUNTS)
    assert all(set(a) == {"accountId", "roleId", "name", "isPrimary"} for a in result["accounts"])
    role_ids = {a["roleId"] for a in result["accounts"]}
    assert len(role_ids) == 1
    uuid.UUID(role_ids.pop())
    assert result["sessionToken"]


def test_credentials_role_id_is_stable_per_user(sandbox: SandboxServer, http: requests.Session) -> None:
    first = credentials(sandbox, http, "jdoe@example.com").json()["result"]
    second = credentials(sandbox, http, "jdoe@example.com").json()["result"]
    other = credentials(sandbox, http, "multi@example.com").json()["result"]

    assert first["accounts"][0]["roleId"] == second["accounts"][0]["roleId"]
    assert first["accounts"][0]["roleId"] != other["accounts"][0]["roleId"]
    assert first["sessionToken"] != second["sessionToken"]


def test_credentials_session_token_works_with_its_own_scheme(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = credentials(sandbox, http, "jdoe@example.com").json()["result"]["sessionToken"]

    as_session = http.get(
        sandbox.url + USER, headers={"Authorization": f"X-AS-UserSessionToken {token}"}, timeout=5
    )
    as_bearer = http.get(sandbox.url + USER, headers={"Authorization": f"bearer {token}"}, timeout=5)

    assert as_session.status_code == 200
    assert as_session.json()["result"]["username"] == "jdoe@example.com"
    assert_error(as_bearer, 401, "UNAUTHORIZED")


def test_unknown_user_and_wrong_password_are_the_same_refusal(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    unknown = assert_error(credentials(sandbox, http, "nobody@example.com"), 401, "INVALID_CREDENTIALS")
    wrong = assert_error(
        credentials(sandbox, http, "jdoe@example.com", "password"), 401, "INVALID_CREDENTIALS"
    )
    assert unknown == wrong


@pytest.mark.parametrize(
    ("username", "error_code"),
    [
        ("locked@example.com", "USER_LOCKED"),
        ("inactive@example.com", "USER_INACTIVE"),
        ("expired@example.com", "PASSWORD_EXPIRED"),
    ],
)
def test_credentials_refuses_unusable_users(
    sandbox: SandboxServer, http: requests.Session, username: str, error_code: str
) -> None:
    assert_error(credentials(sandbox, http, username), 403, error_code)


def test_credentials_does_not_reveal_status_without_the_password(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    response = credentials(sandbox, http, "locked@example.com", "wrong")
    assert_error(response, 401, "INVALID_CREDENTIALS")


def test_api_user_on_credentials_fails_like_the_field_report(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    response = credentials(sandbox, http, "bridge-demo", DEMO_KEY)

    assert response.status_code == 500
    assert response.json() == {
        "errorCode": "INTERNAL_SERVER_ERROR",
        "summary": "An Unknown Error Occurred. (Error code: LRP8V)",
    }


def test_credentials_accepts_any_v3_version(sandbox: SandboxServer, http: requests.Session) -> None:
    body = {"request": {"authRequest": {"username": "jdoe@example.com", "password": "Password"}}}
    response = http.post(
        sandbox.url + "/api/documentnow/v3.5/authentication/credentials", json=body, timeout=5
    )
    assert response.status_code == 200


def test_credentials_without_auth_request_is_a_bad_request(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    body = {"request": {"username": "jdoe@example.com", "password": "Password"}}
    assert_error(http.post(sandbox.url + CREDENTIALS, json=body, timeout=5), 400, "BAD_REQUEST")


# -- sso ----------------------------------------------------------------------------


def test_sso_trades_a_bearer_for_a_30_second_sso_token(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    token = bearer(sandbox, http)

    response = http.post(sandbox.url + SSO, headers={"Authorization": f"BEARER {token}"}, timeout=5)

    assert response.status_code == 200
    sso_token = response.json()["result"]["ssoToken"]
    assert set(response.json()["result"]) == {"ssoToken"}
    grant = sandbox.state.grant(sso_token, "sso")
    assert grant is not None
    assert grant.username == "jdoe@example.com"
    clock.advance(30)
    assert sandbox.state.grant(sso_token, "sso") is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "bearer not-a-token"},
        {"Authorization": "Basic amRvZTpQYXNzd29yZA=="},
        {"Authorization": "bearer"},
    ],
)
def test_sso_without_a_valid_bearer_is_forbidden(
    sandbox: SandboxServer, http: requests.Session, headers: dict[str, str]
) -> None:
    assert_error(http.post(sandbox.url + SSO, headers=headers, timeout=5), 403, "FORBIDDEN")


def test_sso_with_an_expired_bearer_is_forbidden(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    token = bearer(sandbox, http, sessionLengthInMinutes=1)
    clock.advance(61)

    response = http.post(sandbox.url + SSO, headers={"Authorization": f"bearer {token}"}, timeout=5)

    assert_error(response, 403, "FORBIDDEN")


def test_sso_refuses_a_credentials_session_token(sandbox: SandboxServer, http: requests.Session) -> None:
    token = credentials(sandbox, http, "jdoe@example.com").json()["result"]["sessionToken"]
    for scheme in ("bearer", "X-AS-UserSessionToken"):
        response = http.post(sandbox.url + SSO, headers={"Authorization": f"{scheme} {token}"}, timeout=5)
        assert_error(response, 403, "FORBIDDEN")


# -- user (the sandbox's own profile endpoint) ----------------------------------


def test_user_profile_lists_the_context_users_accounts(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = bearer(sandbox, http, context_username="multi@example.com")

    response = http.get(sandbox.url + USER, headers={"Authorization": f"bearer {token}"}, timeout=5)

    assert response.status_code == 200
    result = response.json()["result"]
    assert (result["username"], result["firstName"], result["lastName"]) == (
        "multi@example.com",
        "Mary",
        "Multi",
    )
    assert {a["accountId"]: (a["name"], a["isPrimary"]) for a in result["accounts"]} == (MULTI_ACCOUNTS)


@pytest.mark.parametrize("account", list(MULTI_ACCOUNTS))
def test_user_context_naming_one_of_the_users_accounts_is_accepted(
    sandbox: SandboxServer, http: requests.Session, account: str
) -> None:
    token = bearer(sandbox, http, context_username="multi@example.com")
    headers = {
        "Authorization": f"bearer {token}",
        "X-AS-UserContext": f"multi@example.com:{account}",
    }

    assert http.get(sandbox.url + USER, headers=headers, timeout=5).status_code == 200


@pytest.mark.parametrize(
    "user_context",
    [
        "jdoe@example.com:821ae27f-027c-4f21-a2e5-1667fc9b650a",  # another user
        "multi@example.com:00000000-0000-0000-0000-000000000000",  # not her account
        "multi@example.com",  # no account at all
        "",
    ],
)
def test_user_context_not_matching_the_token_is_forbidden(
    sandbox: SandboxServer, http: requests.Session, user_context: str
) -> None:
    token = bearer(sandbox, http, context_username="multi@example.com")
    headers = {"Authorization": f"bearer {token}", "X-AS-UserContext": user_context}

    assert_error(http.get(sandbox.url + USER, headers=headers, timeout=5), 403, "FORBIDDEN")


@pytest.mark.parametrize("authorization", [None, "bearer nope", "X-AS-UserSessionToken nope"])
def test_user_profile_without_a_valid_token_is_unauthorized(
    sandbox: SandboxServer, http: requests.Session, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_error(http.get(sandbox.url + USER, headers=headers, timeout=5), 401, "UNAUTHORIZED")


# -- routing ----------------------------------------------------------------------


def test_unknown_path_is_a_vendor_shaped_404(sandbox: SandboxServer, http: requests.Session) -> None:
    assert_error(http.get(sandbox.url + "/api/v3.7/nothing", timeout=5), 404, "NOT_FOUND")


def test_wrong_method_is_a_405_naming_the_allowed_one(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.get(sandbox.url + API_USER, timeout=5)

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "POST"
