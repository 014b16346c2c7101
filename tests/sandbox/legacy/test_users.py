"""The Users service over real HTTP: AuthenticateUser and the user management operations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from lxml import etree

from bridge.sandbox import SandboxServer, parse_seed, start_in_thread

from ..conftest import EXAMPLE_INC, Clock
from .soap import child, fault_of, flag_element, items, login, ns, operation, post, refusal_message, result_of

USERS = ns("Users")
HOLDINGS = "06fd91ef-dab3-4d55-8b2c-214401174fbc"  # Multi Holdings: multi@ only
INVALID_TOKEN = "Authentication token is invalid or has expired."


def call(server: SandboxServer, http: requests.Session, name: str, body: bytes) -> etree._Element:
    return result_of(post(server, http, "Users", body), "Users", name)


def authenticate(username: str, password: str = "Password", child_name: str = "Request") -> bytes:  # noqa: S107
    return operation("Users", "AuthenticateUser", child_name, UserName=username, Password=password)


def manage(name: str, token: str, context: str = EXAMPLE_INC, inner: str = "", **attributes: str) -> bytes:
    return operation(
        "Users", name, inner=inner, ContextIdentifier=context, AuthenticationToken=token, **attributes
    )


def get_user(server: SandboxServer, http: requests.Session, token: str, username: str) -> etree._Element:
    return call(server, http, "GetUser", manage("GetUser", token, UserName=username))


def usernames(
    server: SandboxServer, http: requests.Session, token: str, context: str = EXAMPLE_INC
) -> set[str]:
    result = call(server, http, "ListUsers", manage("ListUsers", token, context))
    return {u.get("UserName") or "" for u in items(result, "Users/User")}


# -- AuthenticateUser ------------------------------------------------------------------


def test_authenticate_user_answers_like_the_documented_vector(
    sandbox: SandboxServer, http: requests.Session, vector: Callable[[str], bytes]
) -> None:
    expected_root = etree.fromstring(vector("authenticate-user.soap11.response.xml"))
    expected = expected_root.find(f".//{{{USERS}}}AuthenticateUserResult")
    assert expected is not None

    actual = call(sandbox, http, "AuthenticateUser", vector("authenticate-user.soap11.request.xml"))

    def described(result: etree._Element) -> tuple[dict[Any, Any], list[dict[Any, Any]]]:
        attributes = {k: v for k, v in result.attrib.items() if k != "AuthenticationToken"}
        return attributes, [dict(a.attrib) for a in items(result, "Accounts/UserAccount")]

    assert described(actual) == described(expected)
    assert list(actual.attrib) == list(expected.attrib)
    assert len(actual.get("AuthenticationToken") or "") >= 20
    assert not items(actual, "Exceptions")


@pytest.mark.parametrize(
    "name",
    [
        "authenticate-user.soap11.request.xml",  # the 2016 article: AuthenticateUserRequest
        "authenticate-user.generated-client.request.xml",  # the WSDL's Request
        "authenticate-user.wcf-style.request.xml",
    ],
)
def test_every_vector_logs_in(
    sandbox: SandboxServer, http: requests.Session, vector: Callable[[str], bytes], name: str
) -> None:
    assert call(sandbox, http, "AuthenticateUser", vector(name)).get("Success") == "true"


@pytest.mark.parametrize("child_name", ["Request", "AuthenticateUserRequest"])
@pytest.mark.parametrize(("password", "success"), [("Password", "true"), ("wrong", "false")])
def test_both_child_names_are_read(
    sandbox: SandboxServer, http: requests.Session, child_name: str, password: str, success: str
) -> None:
    result = call(sandbox, http, "AuthenticateUser", authenticate("jdoe@example.com", password, child_name))

    assert result.get("Success") == success


def test_another_child_name_is_a_client_fault(sandbox: SandboxServer, http: requests.Session) -> None:
    body = authenticate("jdoe@example.com", child_name="Credentials")

    assert fault_of(post(sandbox, http, "Users", body)) == (
        "soap:Client",
        "AuthenticateUser needs a Request element.",
    )


def test_absent_user_name_and_password_read_as_null(sandbox: SandboxServer, http: requests.Session) -> None:
    result = call(sandbox, http, "AuthenticateUser", operation("Users", "AuthenticateUser"))

    assert refusal_message(result) == "Invalid user name or password."


def test_a_multi_account_user_gets_every_usable_account(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    result = call(sandbox, http, "AuthenticateUser", authenticate("multi@example.com"))

    accounts = items(result, "Accounts/UserAccount")
    assert [a.get("Name") for a in accounts] == ["Multi Holdings", "Multi Europe", "Example, Inc."]
    assert [a.get("IsPrimary") for a in accounts] == ["true", "false", "false"]


def test_unknown_user_and_wrong_password_get_the_same_message(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    unknown = call(sandbox, http, "AuthenticateUser", authenticate("nobody@example.com"))
    wrong = call(sandbox, http, "AuthenticateUser", authenticate("jdoe@example.com", "x"))

    assert refusal_message(unknown) == refusal_message(wrong) == "Invalid user name or password."
    assert unknown.get("AuthenticationToken") is None
    assert wrong.get("AuthenticationToken") is None


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("locked@example.com", "The user account is locked."),
        ("inactive@example.com", "The user account is inactive."),
    ],
)
def test_seed_status_refusals(
    sandbox: SandboxServer, http: requests.Session, username: str, message: str
) -> None:
    result = call(sandbox, http, "AuthenticateUser", authenticate(username))

    assert refusal_message(result) == message
    assert result.get("ExpiredPasswordUrl") is None


def test_expired_password_refusal_carries_the_seed_url(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    result = call(sandbox, http, "AuthenticateUser", authenticate("expired@example.com"))

    assert refusal_message(result) == "The password has expired."
    assert result.get("ExpiredPasswordUrl") == "https://sandbox.invalid/ChangePassword?expired=1"


def test_five_consecutive_failures_lock_the_user(sandbox: SandboxServer, http: requests.Session) -> None:
    for _ in range(5):
        wrong = call(sandbox, http, "AuthenticateUser", authenticate("jdoe@example.com", "x"))
        assert refusal_message(wrong) == "Invalid user name or password."

    right = call(sandbox, http, "AuthenticateUser", authenticate("jdoe@example.com"))

    assert refusal_message(right) == "The user account is locked."
    assert http.post(sandbox.url + "/_sandbox/reset", timeout=5).status_code == 204
    assert login(sandbox, http, "jdoe@example.com")


def test_a_success_resets_the_failure_count(sandbox: SandboxServer, http: requests.Session) -> None:
    for _ in range(4):
        post(sandbox, http, "Users", authenticate("jdoe@example.com", "x"))
    login(sandbox, http, "jdoe@example.com")
    for _ in range(4):
        post(sandbox, http, "Users", authenticate("jdoe@example.com", "x"))

    assert login(sandbox, http, "jdoe@example.com")
    assert sandbox.state.failures("jdoe@example.com") == 0


def test_failures_for_unknown_users_lock_nobody(sandbox: SandboxServer, http: requests.Session) -> None:
    for _ in range(6):
        post(sandbox, http, "Users", authenticate("ghost@example.com", "x"))

    assert not sandbox.state.is_locked("ghost@example.com")


# -- the AuthenticationToken of the management operations ------------------------------------


@pytest.mark.parametrize("name", ["ListUsers", "GetUser", "CreateUser", "UpdateUser", "DeleteUser"])
def test_a_forged_token_is_refused(sandbox: SandboxServer, http: requests.Session, name: str) -> None:
    body = manage(name, "forged", UserName="jdoe@example.com", Password="pw")

    assert refusal_message(call(sandbox, http, name, body)) == INVALID_TOKEN


def test_the_token_expires_after_30_minutes(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    clock.advance(30 * 60 - 1)
    assert call(sandbox, http, "ListUsers", manage("ListUsers", token)).get("Success") == "true"
    clock.advance(1)
    assert refusal_message(call(sandbox, http, "ListUsers", manage("ListUsers", token))) == INVALID_TOKEN


def test_rest_tokens_are_not_legacy_tokens(sandbox: SandboxServer, http: requests.Session) -> None:
    body = {"request": {"authRequest": {"username": "jdoe@example.com", "password": "Password"}}}
    session_token = http.post(
        sandbox.url + "/api/documentnow/v3.7/authentication/credentials", json=body, timeout=5
    ).json()["result"]["sessionToken"]

    assert (
        refusal_message(call(sandbox, http, "ListUsers", manage("ListUsers", session_token))) == INVALID_TOKEN
    )


def test_an_account_the_caller_lacks_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = call(sandbox, http, "ListUsers", manage("ListUsers", token, HOLDINGS))

    assert refusal_message(result) == f"The user has no access to the account {HOLDINGS}."
    assert not items(result, "Users")


def test_an_absent_context_identifier_is_the_empty_guid(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    body = operation("Users", "ListUsers", AuthenticationToken=token)

    result = call(sandbox, http, "ListUsers", body)

    assert "00000000-0000-0000-0000-000000000000" in refusal_message(result)


# -- ListUsers / GetUser ------------------------------------------------------------------


def test_list_users_lists_the_account_users_with_an_empty_exceptions(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = call(sandbox, http, "ListUsers", manage("ListUsers", token))

    assert result.get("Success") == "true"
    users = {u.get("UserName"): u for u in items(result, "Users/User")}
    assert set(users) == {
        "jdoe@example.com",
        "multi@example.com",
        "locked@example.com",
        "inactive@example.com",
        "expired@example.com",
    }
    assert dict(users["jdoe@example.com"].attrib) == {
        "RequirePasswordChange": "false",
        "Inactive": "false",
        "Locked": "false",
        "UserName": "jdoe@example.com",
        "FirstName": "John",
        "LastName": "Doe",
        "Role": "User",
    }
    assert users["locked@example.com"].get("Locked") == "true"
    assert users["inactive@example.com"].get("Inactive") == "true"
    # As in the vendor's sample: an empty Exceptions after the users.
    assert len(child(result, "Exceptions")) == 0


def test_list_users_reports_a_lock_set_by_failures(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    for _ in range(5):
        post(sandbox, http, "Users", authenticate("expired@example.com", "x"))

    assert get_user(sandbox, http, token, "expired@example.com").get("Locked") == "true"


def test_get_user_result_is_flat(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "multi@example.com")

    result = get_user(sandbox, http, token, "inactive@example.com")

    assert dict(result.attrib) == {
        "RequirePasswordChange": "false",
        "Inactive": "true",
        "Locked": "false",
        "Success": "true",
        "UserName": "inactive@example.com",
        "FirstName": "Ian",
        "LastName": "Inactive",
        "Role": "User",
    }
    assert len(result) == 0  # no nested <User>, no Tags for a user without tags


def test_get_user_outside_the_account_is_refused_with_the_value_type_defaults(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "multi@example.com")

    result = call(sandbox, http, "GetUser", manage("GetUser", token, HOLDINGS, UserName="jdoe@example.com"))

    assert refusal_message(result) == "User 'jdoe@example.com' was not found in the account."
    assert dict(result.attrib) == {
        "RequirePasswordChange": "false",
        "Inactive": "false",
        "Locked": "false",
        "Success": "false",
    }


# -- CreateUser ---------------------------------------------------------------------------------

NEW = "new.user@example.com"
TAGS = '<Tags><UserTag Name="Department" Value="Sales"/><UserTag Name="Region" Value="EMEA"/></Tags>'


def test_create_user_makes_a_user_who_logs_in_with_tags_and_role(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    body = manage(
        "CreateUser",
        token,
        inner=TAGS,
        UserName=NEW,
        FirstName="New",
        LastName="User",
        Password="Secret-1",
        Role="Limited User",
        RequirePasswordChange="false",
        Inactive="false",
    )

    result = call(sandbox, http, "CreateUser", body)

    assert dict(result.attrib) == {"Success": "true"}
    assert NEW in usernames(sandbox, http, token)
    created = get_user(sandbox, http, token, NEW)
    assert (created.get("FirstName"), created.get("Role")) == ("New", "Limited User")
    assert [(t.get("Name"), t.get("Value")) for t in items(created, "Tags/UserTag")] == [
        ("Department", "Sales"),
        ("Region", "EMEA"),
    ]
    assert login(sandbox, http, NEW, "Secret-1")


def test_create_user_flags_the_wsdl_requires_may_be_absent(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    call(sandbox, http, "CreateUser", manage("CreateUser", token, UserName=NEW, Password="Secret-1"))

    created = get_user(sandbox, http, token, NEW)
    assert (created.get("RequirePasswordChange"), created.get("Inactive"), created.get("Role")) == (
        "false",
        "false",
        "User",
    )


@pytest.mark.parametrize(
    ("form", "generated"), [("absent", False), ("nil", False), ("false", False), ("true", True)]
)
def test_create_user_auto_generate_password_is_nillable(
    sandbox: SandboxServer, http: requests.Session, form: str, generated: bool
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    inner = (
        flag_element("AutoGeneratePassword", form) + "<SendCredentialsViaEmail>true</SendCredentialsViaEmail>"
    )

    result = call(sandbox, http, "CreateUser", manage("CreateUser", token, inner=inner, UserName=NEW))

    if generated:
        assert result.get("Success") == "true"
        password = sandbox.app.registry.sent_credentials(NEW)
        assert password
        assert login(sandbox, http, NEW, password)
    else:
        assert refusal_message(result) == "A Password is required unless AutoGeneratePassword is true."
        assert NEW not in usernames(sandbox, http, token)


@pytest.mark.parametrize(
    ("form", "sent"), [("absent", False), ("nil", False), ("false", False), ("true", True)]
)
def test_create_user_send_credentials_via_email_is_nillable(
    sandbox: SandboxServer, http: requests.Session, form: str, sent: bool
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    inner = flag_element("SendCredentialsViaEmail", form)

    call(
        sandbox,
        http,
        "CreateUser",
        manage("CreateUser", token, inner=inner, UserName=NEW, Password="Secret-1"),
    )

    assert sandbox.app.registry.sent_credentials(NEW) == ("Secret-1" if sent else None)


def test_a_user_created_to_change_the_password_is_sent_to_change_it(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    body = manage("CreateUser", token, UserName=NEW, Password="Secret-1", RequirePasswordChange="true")
    call(sandbox, http, "CreateUser", body)

    result = call(sandbox, http, "AuthenticateUser", authenticate(NEW, "Secret-1"))

    assert refusal_message(result) == "The password must be changed."
    assert result.get("ChangePasswordUrl") == "https://sandbox.invalid/ChangePassword"
    assert get_user(sandbox, http, token, NEW).get("RequirePasswordChange") == "true"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"UserName": "jdoe@example.com"}, "A user named 'jdoe@example.com' already exists."),
        ({"UserName": "JDOE@example.com"}, "A user named 'JDOE@example.com' already exists."),
        ({"UserName": "not-an-address"}, "The user name 'not-an-address' is not an e-mail address."),
        ({"UserName": NEW, "Role": "Overlord"}, "Role 'Overlord' is not one of the account's roles."),
    ],
)
def test_create_user_refusals(
    sandbox: SandboxServer, http: requests.Session, attributes: dict[str, str], message: str
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = call(sandbox, http, "CreateUser", manage("CreateUser", token, Password="Secret-1", **attributes))

    assert refusal_message(result) == message


# -- UpdateUser -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("form", "inactive"), [("absent", "true"), ("nil", "true"), ("false", "false")])
def test_update_user_inactive_is_nillable(
    sandbox: SandboxServer, http: requests.Session, form: str, inactive: str
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    body = manage("UpdateUser", token, inner=flag_element("Inactive", form), UserName="inactive@example.com")

    assert call(sandbox, http, "UpdateUser", body).get("Success") == "true"

    assert get_user(sandbox, http, token, "inactive@example.com").get("Inactive") == inactive
    logged_in = call(sandbox, http, "AuthenticateUser", authenticate("inactive@example.com"))
    assert logged_in.get("Success") == ("true" if inactive == "false" else "false")


@pytest.mark.parametrize(("form", "locked"), [("absent", "true"), ("nil", "true"), ("false", "false")])
def test_update_user_locked_false_lifts_a_lockout(
    sandbox: SandboxServer, http: requests.Session, form: str, locked: str
) -> None:
    token = login(sandbox, http, "multi@example.com")
    for _ in range(5):
        post(sandbox, http, "Users", authenticate("jdoe@example.com", "x"))
    body = manage("UpdateUser", token, inner=flag_element("Locked", form), UserName="jdoe@example.com")

    call(sandbox, http, "UpdateUser", body)

    assert get_user(sandbox, http, token, "jdoe@example.com").get("Locked") == locked
    assert call(sandbox, http, "AuthenticateUser", authenticate("jdoe@example.com")).get("Success") == (
        "true" if locked == "false" else "false"
    )


def test_update_user_sets_every_nillable_flag(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    inner = "<RequirePasswordChange>1</RequirePasswordChange><Inactive>true</Inactive><Locked>true</Locked>"

    call(sandbox, http, "UpdateUser", manage("UpdateUser", token, inner=inner, UserName="multi@example.com"))

    changed = get_user(sandbox, http, token, "multi@example.com")
    assert (changed.get("RequirePasswordChange"), changed.get("Inactive"), changed.get("Locked")) == (
        "true",
        "true",
        "true",
    )


def test_update_user_leaves_what_is_not_given(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    call(sandbox, http, "UpdateUser", manage("UpdateUser", token, inner=TAGS, UserName="multi@example.com"))

    # Empty attributes, nil flags and no Tags element: nothing changes.
    inner = '<Inactive xsi:nil="true"/><Locked xsi:nil="true"/>'
    body = manage("UpdateUser", token, inner=inner, UserName="multi@example.com", FirstName="", Role="")
    call(sandbox, http, "UpdateUser", body)

    unchanged = get_user(sandbox, http, token, "multi@example.com")
    assert (unchanged.get("FirstName"), unchanged.get("Role"), unchanged.get("Inactive")) == (
        "Mary",
        "User",
        "false",
    )
    assert len(items(unchanged, "Tags/UserTag")) == 2
    assert login(sandbox, http, "multi@example.com")


def test_update_user_renames_and_changes_the_password(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    body = manage(
        "UpdateUser",
        token,
        inner="<Tags/>",
        UserName="expired@example.com",
        NewUserName="eve@example.com",
        Password="Fresh-1",
        LastName="Renewed",
    )

    assert call(sandbox, http, "UpdateUser", body).get("Success") == "true"

    assert "expired@example.com" not in usernames(sandbox, http, token)
    renamed = get_user(sandbox, http, token, "eve@example.com")
    assert (renamed.get("FirstName"), renamed.get("LastName")) == ("Eve", "Renewed")
    # A password set for her is no expired one.
    assert login(sandbox, http, "eve@example.com", "Fresh-1")


def test_update_user_auto_generates_and_sends_a_new_password(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    inner = flag_element("AutoGenerateNewPassword", "true") + flag_element("SendCredentialsViaEmail", "true")

    call(sandbox, http, "UpdateUser", manage("UpdateUser", token, inner=inner, UserName="multi@example.com"))

    password = sandbox.app.registry.sent_credentials("multi@example.com")
    assert password and password != "Password"
    assert login(sandbox, http, "multi@example.com", password)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"UserName": "nobody@example.com"}, "User 'nobody@example.com' was not found in the account."),
        (
            {"UserName": "multi@example.com", "NewUserName": "jdoe@example.com"},
            "A user named 'jdoe@example.com' already exists.",
        ),
        (
            {"UserName": "multi@example.com", "NewUserName": "nope"},
            "The user name 'nope' is not an e-mail address.",
        ),
        (
            {"UserName": "multi@example.com", "Role": "Overlord"},
            "Role 'Overlord' is not one of the account's roles.",
        ),
    ],
)
def test_update_user_refusals(
    sandbox: SandboxServer, http: requests.Session, attributes: dict[str, str], message: str
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    assert (
        refusal_message(call(sandbox, http, "UpdateUser", manage("UpdateUser", token, **attributes)))
        == message
    )


def test_a_renamed_user_needs_a_new_token(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "multi@example.com")
    other = login(sandbox, http, "jdoe@example.com")
    call(
        sandbox,
        http,
        "UpdateUser",
        manage("UpdateUser", other, UserName="multi@example.com", NewUserName="mary@example.com"),
    )

    assert refusal_message(call(sandbox, http, "ListUsers", manage("ListUsers", token))) == INVALID_TOKEN


# -- DeleteUser -----------------------------------------------------------------------------------


def test_delete_user_takes_the_user_out_of_the_account(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "multi@example.com")
    victim = login(sandbox, http, "jdoe@example.com")

    result = call(sandbox, http, "DeleteUser", manage("DeleteUser", token, UserName="jdoe@example.com"))

    assert dict(result.attrib) == {"Success": "true"}
    assert "jdoe@example.com" not in usernames(sandbox, http, token)
    # Example, Inc. was his only account: he is gone, and so is his token.
    gone = call(sandbox, http, "AuthenticateUser", authenticate("jdoe@example.com"))
    assert refusal_message(gone) == "Invalid user name or password."
    assert refusal_message(call(sandbox, http, "ListUsers", manage("ListUsers", victim))) == INVALID_TOKEN


def test_a_user_deleted_from_one_account_keeps_the_others(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    call(sandbox, http, "DeleteUser", manage("DeleteUser", token, UserName="multi@example.com"))

    result = call(sandbox, http, "AuthenticateUser", authenticate("multi@example.com"))
    assert [a.get("Name") for a in items(result, "Accounts/UserAccount")] == [
        "Multi Holdings",
        "Multi Europe",
    ]


def test_delete_user_of_someone_not_in_the_account_is_refused(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "multi@example.com")

    result = call(
        sandbox, http, "DeleteUser", manage("DeleteUser", token, HOLDINGS, UserName="jdoe@example.com")
    )

    assert refusal_message(result) == "User 'jdoe@example.com' was not found in the account."
    assert login(sandbox, http, "jdoe@example.com")


def test_the_registry_goes_back_to_the_seed_on_reset(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "multi@example.com")
    call(sandbox, http, "DeleteUser", manage("DeleteUser", token, UserName="jdoe@example.com"))

    assert http.post(sandbox.url + "/_sandbox/reset", timeout=5).status_code == 204

    assert login(sandbox, http, "jdoe@example.com")


# -- legacy differences from the seed -------------------------------------------------------


@pytest.fixture(scope="module")
def legacy_quirks() -> Iterator[SandboxServer]:
    seed = parse_seed(
        """
environment: sandbox
organisation: example-org
users:
  - username: a@example.com
    password: pw
    first_name: A
    last_name: B
    accounts: [{context_identifier: 821ae27f-027c-4f21-a2e5-1667fc9b650a, name: X, primary: true}]
legacy:
  extra_accounts:
    a@example.com: [{context_identifier: 11111111-2222-3333-4444-555555555555, name: Old}]
  lockout: {max_failures: 2}
  change_password_url: https://example.invalid/change
""",
        "quirks.yaml",
    )
    server = start_in_thread(seed)
    try:
        yield server
    finally:
        server.shutdown()


def test_extra_accounts_appear_only_on_the_legacy_side(
    legacy_quirks: SandboxServer, http: requests.Session
) -> None:
    http.post(legacy_quirks.url + "/_sandbox/reset", timeout=5)
    result = call(legacy_quirks, http, "AuthenticateUser", authenticate("a@example.com", "pw"))
    legacy = {a.get("ContextIdentifier"): a.get("Name") for a in items(result, "Accounts/UserAccount")}

    rest = http.get(
        legacy_quirks.url + "/api/documentnow/v3.7/users/a@example.com/accounts",
        headers={"Authorization": f"X-AS-UserSessionToken {_session(legacy_quirks, http)}"},
        timeout=5,
    )

    assert legacy == {EXAMPLE_INC: "X", "11111111-2222-3333-4444-555555555555": "Old"}
    assert rest.status_code == 200, rest.text
    assert EXAMPLE_INC in rest.text
    assert "11111111-2222-3333-4444-555555555555" not in rest.text


def _session(server: SandboxServer, http: requests.Session) -> str:
    body = {"request": {"authRequest": {"username": "a@example.com", "password": "pw"}}}
    response = http.post(
        server.url + "/api/documentnow/v3.7/authentication/credentials", json=body, timeout=5
    )
    return str(response.json()["result"]["sessionToken"])


def test_lockout_threshold_and_urls_come_from_the_seed(
    legacy_quirks: SandboxServer, http: requests.Session
) -> None:
    http.post(legacy_quirks.url + "/_sandbox/reset", timeout=5)
    for _ in range(2):
        post(legacy_quirks, http, "Users", authenticate("a@example.com", "wrong"))
    result = call(legacy_quirks, http, "AuthenticateUser", authenticate("a@example.com", "pw"))
    assert refusal_message(result) == "The user account is locked."

    http.post(legacy_quirks.url + "/_sandbox/reset", timeout=5)
    token = login(legacy_quirks, http, "a@example.com", "pw")
    body = manage(
        "UpdateUser",
        token,
        inner="<RequirePasswordChange>true</RequirePasswordChange>",
        UserName="a@example.com",
    )
    call(legacy_quirks, http, "UpdateUser", body)
    changed = call(legacy_quirks, http, "AuthenticateUser", authenticate("a@example.com", "pw"))
    assert changed.get("ChangePasswordUrl") == "https://example.invalid/change"
