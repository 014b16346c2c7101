"""The sandbox's REST endpoints over real HTTP: apiUser, credentials, sso and users/{username}/accounts."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import requests

from bridge.sandbox import SandboxServer

from .conftest import API_KEYS, DEMO_KEY, EXAMPLE_INC, Clock

API_USER = "/api/v3.7/authentication/apiUser"
CREDENTIALS = "/api/documentnow/v3.7/authentication/credentials"
SSO = "/api/documentnow/v3.5/authentication/sso"
MULTI_ACCOUNTS = {
    "06fd91ef-dab3-4d55-8b2c-214401174fbc": ("Multi Holdings", True),
    "4ed5cdfd-2302-42be-ace6-72a8ec6bcbbb": ("Multi Europe", False),
    EXAMPLE_INC: ("Example, Inc.", False),
}
MULTI_ARCHIVE = "5c1d7e2a-9b34-4f0e-8a61-3f2b9c7d4e15"  # disabled for her in the seed
ERROR_CODES = {
    "BAD_REQUEST",
    "VALIDATION_FAILED",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "INTERNAL_SERVER_ERROR",
}
NOT_FOUND_BODY = {"errorCode": "NOT_FOUND", "summary": "The requested resource was not found."}


def accounts_path(username: str, version: str = "v3.7") -> str:
    return f"/api/documentnow/{version}/users/{username}/accounts"


def api_user(
    sandbox: SandboxServer,
    http: requests.Session,
    api_username: str = "bridge-demo",
    context_username: str = "jdoe@example.com",
    key: str | None = None,
    path: str = API_USER,
    **extra: Any,
) -> requests.Response:
    request = {
        "apiUsername": api_username,
        "key": API_KEYS.get(api_username, "x") if key is None else key,
        "contextUsername": context_username,
        **extra,
    }
    return http.post(sandbox.url + path, json={"request": request}, timeout=5)


def bearer(sandbox: SandboxServer, http: requests.Session, **kwargs: Any) -> str:
    response = api_user(sandbox, http, **kwargs)
    assert response.status_code == 200, response.text
    token: str = response.json()["result"]["token"]
    return token


def credentials(
    sandbox: SandboxServer,
    http: requests.Session,
    username: str,
    password: str = "Password",  # noqa: S107
) -> requests.Response:
    body = {"request": {"authRequest": {"username": username, "password": password}}}
    return http.post(sandbox.url + CREDENTIALS, json=body, timeout=5)


def user_accounts(
    sandbox: SandboxServer, http: requests.Session, username: str, authorization: str | None
) -> requests.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return http.get(sandbox.url + accounts_path(username), headers=headers, timeout=5)


def assert_error(
    response: requests.Response, status: int, error_code: str, summary: str | None = None
) -> dict[str, Any]:
    """The vendor's error shape: top level, one of its six codes, details only as strings."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) in ({"errorCode", "summary"}, {"errorCode", "summary", "details"})
    assert body["errorCode"] == error_code
    assert error_code in ERROR_CODES
    assert isinstance(body["summary"], str) and body["summary"]
    if summary is not None:
        assert body["summary"] == summary
    if "details" in body:
        assert body["details"] and all(isinstance(d, str) for d in body["details"])
    return body


def assert_success(response: requests.Response) -> dict[str, Any]:
    """The vendor's success shape: `messages` (empty here) beside `result`."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"messages", "result"}
    assert body["messages"] == []
    result: dict[str, Any] = body["result"]
    return result


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

    result = assert_success(response)
    assert set(result) == {"token"}  # no expiry: clients compute it
    listed = user_accounts(sandbox, http, context_username, f"bearer {result['token']}")
    assert listed.status_code == 200


@pytest.mark.parametrize("minor", range(7))
def test_api_user_before_v3_7_answers_a_top_level_token(
    sandbox: SandboxServer, http: requests.Session, minor: int
) -> None:
    response = api_user(sandbox, http, path=f"/api/v3.{minor}/authentication/apiUser")

    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    token = response.json()["token"]
    assert user_accounts(sandbox, http, "jdoe@example.com", f"bearer {token}").status_code == 200


def test_api_user_of_an_unknown_version_is_not_found(sandbox: SandboxServer, http: requests.Session) -> None:
    response = api_user(sandbox, http, path="/api/v3.8/authentication/apiUser")
    assert response.json() == NOT_FOUND_BODY
    assert response.status_code == 404


def test_api_user_tokens_differ_per_call(sandbox: SandboxServer, http: requests.Session) -> None:
    assert bearer(sandbox, http) != bearer(sandbox, http)


def test_wrong_key_and_unknown_api_user_are_the_same_refusal(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    wrong_key = assert_error(
        api_user(sandbox, http, key=DEMO_KEY[:-1] + "X"),
        401,
        "UNAUTHORIZED",
        "The provided key for the API User was not valid",
    )
    unknown = assert_error(api_user(sandbox, http, "nobody", key=DEMO_KEY), 401, "UNAUTHORIZED")
    assert wrong_key == unknown
    assert "details" not in wrong_key


@pytest.mark.parametrize(
    ("api_username", "summary"),
    [("expired-api", "The API User has expired"), ("revoked-api", "The API User has been revoked")],
)
def test_dead_api_users_are_unauthorized_and_say_why(
    sandbox: SandboxServer, http: requests.Session, api_username: str, summary: str
) -> None:
    assert_error(api_user(sandbox, http, api_username), 401, "UNAUTHORIZED", summary)


def test_revoked_api_user_with_a_wrong_key_learns_nothing(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    body = assert_error(api_user(sandbox, http, "revoked-api", key="wrong"), 401, "UNAUTHORIZED")
    assert body["summary"] == "The provided key for the API User was not valid"


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
    assert body["summary"] == "The API User may not act for this user"


@pytest.mark.parametrize(
    ("context_username", "summary"),
    [
        ("locked@example.com", "The user account is locked."),
        ("inactive@example.com", "The user account is inactive."),
    ],
)
def test_unusable_context_user_is_forbidden_with_a_summary_that_says_why(
    sandbox: SandboxServer, http: requests.Session, context_username: str, summary: str
) -> None:
    assert_error(api_user(sandbox, http, context_username=context_username), 403, "FORBIDDEN", summary)


@pytest.mark.parametrize("minutes", [0, 1441, "60", True, -5])
def test_session_length_outside_1_to_1440_is_a_bad_request(
    sandbox: SandboxServer, http: requests.Session, minutes: object
) -> None:
    response = api_user(sandbox, http, sessionLengthInMinutes=minutes)
    body = assert_error(response, 400, "BAD_REQUEST")
    assert body["details"] == ["'SessionLengthInMinutes' must be between 1 and 1440."]


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
    assert assert_error(response, 400, "BAD_REQUEST")["details"] == ["'Request' should not be empty."]


@pytest.mark.parametrize(
    ("left_out", "details"),
    [
        (("key",), ["'Key' should not be empty."]),
        (("contextUsername",), ["'ContextUsername' should not be empty."]),
        (("apiUsername",), ["'ApiUsername' should not be empty."]),
        (
            ("apiUsername", "key", "contextUsername"),
            [
                "'ApiUsername' should not be empty.",
                "'Key' should not be empty.",
                "'ContextUsername' should not be empty.",
            ],
        ),
    ],
)
def test_missing_fields_are_a_bad_request_naming_each_of_them(
    sandbox: SandboxServer, http: requests.Session, left_out: tuple[str, ...], details: list[str]
) -> None:
    request = {"apiUsername": "bridge-demo", "key": DEMO_KEY, "contextUsername": "jdoe@example.com"}
    for name in left_out:
        request[name] = ""
    response = http.post(sandbox.url + API_USER, json={"request": request}, timeout=5)
    assert assert_error(response, 400, "BAD_REQUEST", "Error validating request")["details"] == details


def test_a_body_over_1_mib_is_a_bad_request(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.post(
        sandbox.url + API_USER,
        data=b'{"request": {"pad": "' + b"x" * (1024 * 1024) + b'"}}',
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert_error(response, 400, "BAD_REQUEST")


def test_bearer_expires_after_the_session_length(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    token = bearer(sandbox, http, sessionLengthInMinutes=2)

    clock.advance(119)
    assert user_accounts(sandbox, http, "jdoe@example.com", f"bearer {token}").status_code == 200
    clock.advance(2)
    assert_error(user_accounts(sandbox, http, "jdoe@example.com", f"bearer {token}"), 401, "UNAUTHORIZED")


def test_a_user_locked_by_legacy_failures_is_locked_for_api_users_too(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    sandbox.state.record_failure("jdoe@example.com", max_failures=1)

    assert_error(api_user(sandbox, http), 403, "FORBIDDEN", "The user account is locked.")


# -- credentials ----------------------------------------------------------------


def test_credentials_answers_in_the_documented_shape(sandbox: SandboxServer, http: requests.Session) -> None:
    result = assert_success(credentials(sandbox, http, "multi@example.com"))

    assert set(result) == {"accounts", "lastLoginDate", "sessionToken"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d", result["lastLoginDate"])
    # Her disabled account is not among them: this answer has no flag to mark it with.
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


def test_credentials_session_token_works_with_its_own_scheme_for_its_own_user(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = credentials(sandbox, http, "jdoe@example.com").json()["result"]["sessionToken"]

    own = user_accounts(sandbox, http, "jdoe@example.com", f"X-AS-UserSessionToken {token}")
    as_bearer = user_accounts(sandbox, http, "jdoe@example.com", f"bearer {token}")
    others = user_accounts(sandbox, http, "multi@example.com", f"X-AS-UserSessionToken {token}")

    assert [a["accountID"] for a in assert_success(own)["userAccounts"]] == [EXAMPLE_INC]
    assert_error(as_bearer, 401, "UNAUTHORIZED")
    assert_error(others, 401, "UNAUTHORIZED")


def test_unknown_user_and_wrong_password_are_the_same_refusal(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    unknown = assert_error(credentials(sandbox, http, "nobody@example.com"), 401, "UNAUTHORIZED")
    wrong = assert_error(credentials(sandbox, http, "jdoe@example.com", "password"), 401, "UNAUTHORIZED")
    assert unknown == wrong


@pytest.mark.parametrize(
    ("username", "summary"),
    [
        ("locked@example.com", "The user account is locked."),
        ("inactive@example.com", "The user account is inactive."),
        ("expired@example.com", "The password has expired."),
    ],
)
def test_credentials_tells_unusable_users_apart_by_the_summary(
    sandbox: SandboxServer, http: requests.Session, username: str, summary: str
) -> None:
    assert_error(credentials(sandbox, http, username), 403, "FORBIDDEN", summary)


def test_credentials_does_not_reveal_status_without_the_password(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    locked = assert_error(credentials(sandbox, http, "locked@example.com", "wrong"), 401, "UNAUTHORIZED")
    assert locked == credentials(sandbox, http, "nobody@example.com").json()


def test_api_user_on_credentials_fails_like_the_field_report(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    response = credentials(sandbox, http, "bridge-demo", DEMO_KEY)

    assert response.status_code == 500
    assert response.json() == {
        "errorCode": "INTERNAL_SERVER_ERROR",
        "summary": "An Unknown Error Occurred. (Error code: LRP8V)",
    }


@pytest.mark.parametrize(("version", "status"), [("v3.0", 200), ("v3.5", 200), ("v3.8", 404), ("v4.0", 404)])
def test_credentials_answers_on_v3_0_to_v3_7(
    sandbox: SandboxServer, http: requests.Session, version: str, status: int
) -> None:
    body = {"request": {"authRequest": {"username": "jdoe@example.com", "password": "Password"}}}
    response = http.post(
        sandbox.url + f"/api/documentnow/{version}/authentication/credentials", json=body, timeout=5
    )
    assert response.status_code == status


def test_credentials_without_auth_request_is_a_bad_request(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    body = {"request": {"username": "jdoe@example.com", "password": "Password"}}
    response = http.post(sandbox.url + CREDENTIALS, json=body, timeout=5)
    assert assert_error(response, 400, "BAD_REQUEST")["details"] == ["'AuthRequest' should not be empty."]


def test_credentials_without_a_password_is_a_bad_request_naming_it(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    response = credentials(sandbox, http, "jdoe@example.com", "")
    assert assert_error(response, 400, "BAD_REQUEST")["details"] == ["'Password' should not be empty."]


# -- sso ----------------------------------------------------------------------------


def test_sso_trades_a_bearer_for_a_30_second_sso_token(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    token = bearer(sandbox, http)

    response = http.post(sandbox.url + SSO, headers={"Authorization": f"BEARER {token}"}, timeout=5)

    result = assert_success(response)
    assert set(result) == {"ssoToken"}
    grant = sandbox.state.grant(result["ssoToken"], "sso")
    assert grant is not None
    assert grant.username == "jdoe@example.com"
    clock.advance(30)
    assert sandbox.state.grant(result["ssoToken"], "sso") is None


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


@pytest.mark.parametrize(
    "user_context",
    [f"multi@example.com:{account}" for account in MULTI_ACCOUNTS]
    + ["multi@example.com: 4ed5cdfd-2302-42be-ace6-72a8ec6bcbbb", "multi@example.com"],
)
def test_sso_accepts_a_user_context_naming_one_of_the_users_accounts(
    sandbox: SandboxServer, http: requests.Session, user_context: str
) -> None:
    token = bearer(sandbox, http, context_username="multi@example.com")
    headers = {"Authorization": f"bearer {token}", "X-AS-UserContext": user_context}

    assert http.post(sandbox.url + SSO, headers=headers, timeout=5).status_code == 200


@pytest.mark.parametrize(
    "user_context",
    [
        "jdoe@example.com:821ae27f-027c-4f21-a2e5-1667fc9b650a",  # another user
        "multi@example.com:00000000-0000-0000-0000-000000000000",  # not her account
        f"multi@example.com:{MULTI_ARCHIVE}",  # hers, but disabled for her
        "",
    ],
)
def test_sso_refuses_a_user_context_not_matching_the_token(
    sandbox: SandboxServer, http: requests.Session, user_context: str
) -> None:
    token = bearer(sandbox, http, context_username="multi@example.com")
    headers = {"Authorization": f"bearer {token}", "X-AS-UserContext": user_context}

    assert_error(http.post(sandbox.url + SSO, headers=headers, timeout=5), 403, "FORBIDDEN")


# -- users/{username}/accounts --------------------------------------------------------


def test_accounts_lists_every_account_of_the_user_flagging_the_disabled_one(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = bearer(sandbox, http, context_username="multi@example.com")

    result = assert_success(user_accounts(sandbox, http, "multi@example.com", f"bearer {token}"))

    assert set(result) == {"userAccounts"}
    listed = result["userAccounts"]
    assert all(set(a) == {"accountID", "accountName", "isDefault", "isDisabled"} for a in listed)
    assert {a["accountID"]: (a["accountName"], a["isDefault"], a["isDisabled"]) for a in listed} == {
        **{guid: (name, default, False) for guid, (name, default) in MULTI_ACCOUNTS.items()},
        MULTI_ARCHIVE: ("Multi Archive", False, True),
    }


@pytest.mark.parametrize("version", [f"v3.{minor}" for minor in range(8)])
def test_accounts_answers_on_every_version_and_takes_an_encoded_user_name(
    sandbox: SandboxServer, http: requests.Session, version: str
) -> None:
    token = bearer(sandbox, http)
    response = http.get(
        sandbox.url + accounts_path("JDoe%40Example.com", version),
        headers={"Authorization": f"bearer {token}"},
        timeout=5,
    )
    assert [a["accountID"] for a in assert_success(response)["userAccounts"]] == [EXAMPLE_INC]


def test_accounts_of_an_unknown_user_are_not_found(sandbox: SandboxServer, http: requests.Session) -> None:
    response = user_accounts(sandbox, http, "nobody@example.com", f"bearer {bearer(sandbox, http)}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND_BODY


@pytest.mark.parametrize("authorization", [None, "bearer nope", "X-AS-UserSessionToken nope", "Basic x"])
def test_accounts_without_a_valid_token_are_unauthorized(
    sandbox: SandboxServer, http: requests.Session, authorization: str | None
) -> None:
    assert_error(user_accounts(sandbox, http, "jdoe@example.com", authorization), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("api_username", "context_username", "reads", "status"),
    [
        ("bridge-demo", "jdoe@example.com", "multi@example.com", 200),  # organisation scope
        ("scope-env", "jdoe@example.com", "multi@example.com", 200),  # the environment's users
        ("scope-user", "jdoe@example.com", "jdoe@example.com", 200),
        ("scope-user", "jdoe@example.com", "multi@example.com", 401),  # outside its one user
    ],
)
def test_a_bearer_reads_the_accounts_of_whoever_its_api_users_scope_covers(
    sandbox: SandboxServer,
    http: requests.Session,
    api_username: str,
    context_username: str,
    reads: str,
    status: int,
) -> None:
    token = bearer(sandbox, http, api_username=api_username, context_username=context_username)
    response = user_accounts(sandbox, http, reads, f"bearer {token}")
    assert response.status_code == status
    if status != 200:
        assert_error(response, status, "UNAUTHORIZED")


# -- routing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v3.7/nothing"),
        ("GET", "/api/documentnow/v3.7/user"),  # no profile endpoint: the vendor has none
        ("GET", API_USER),  # a known path, another method
        ("POST", accounts_path("jdoe@example.com")),
        ("GET", "/api/documentnow/v3.7/users//accounts"),
    ],
)
def test_no_route_is_the_vendors_404(
    sandbox: SandboxServer, http: requests.Session, method: str, path: str
) -> None:
    response = http.request(method, sandbox.url + path, timeout=5)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == NOT_FOUND_BODY
