"""The Accounts service over real HTTP: child accounts created, read, changed and listed."""

from __future__ import annotations

import re

import pytest
import requests
from lxml import etree

from bridge.sandbox import SandboxServer

from ..conftest import EXAMPLE_INC
from .soap import EMPTY_GUID, child, flag_element, items, login, operation, post, refusal_message, result_of

SALES = "d29e2e80-aaf7-4865-a11c-cf9e2a05d1a7"
ARCHIVE = "4560e159-5256-4d73-8264-8b37ceefb017"
HOLDINGS = "06fd91ef-dab3-4d55-8b2c-214401174fbc"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def call(server: SandboxServer, http: requests.Session, name: str, body: bytes) -> etree._Element:
    return result_of(post(server, http, "Accounts", body), "Accounts", name)


def manage(name: str, token: str, context: str = EXAMPLE_INC, inner: str = "", **attributes: str) -> bytes:
    return operation(
        "Accounts", name, inner=inner, ContextIdentifier=context, AuthenticationToken=token, **attributes
    )


def children(
    server: SandboxServer, http: requests.Session, token: str, context: str
) -> dict[str, dict[str, str]]:
    result = call(server, http, "ListAccounts", manage("ListAccounts", token, context))
    assert result.get("Success") == "true"
    return {a.get("ContextIdentifier") or "": dict(a.attrib) for a in items(result, "Accounts/Account")}


def get_account(server: SandboxServer, http: requests.Session, token: str, context: str) -> etree._Element:
    return call(server, http, "GetAccount", manage("GetAccount", token, context))


def create(server: SandboxServer, http: requests.Session, token: str, **attributes: str) -> etree._Element:
    return call(server, http, "CreateAccount", manage("CreateAccount", token, **attributes))


# -- GetAccount ---------------------------------------------------------------------------------


def test_get_account_result_is_flat_with_the_choices_it_offers(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = get_account(sandbox, http, token, EXAMPLE_INC)

    assert dict(result.attrib) == {
        "ContextIdentifier": EXAMPLE_INC,
        "Inactive": "false",
        "Success": "true",
        "Name": "Example, Inc.",
        "DisplayName": "Example, Inc.",
        "AccountGroup": "All",
    }
    assert [c.text for c in child(result, "Roles")] == ["Administrator", "User", "Limited User"]
    assert [c.text for c in items(result, "AccountTemplates/AccountTemplate")] == ["Standard"]
    assert [c.text for c in items(result, "AccountGroups/AccountGroup")] == ["All"]
    assert not items(result, "Account")  # flat: no nested <Account>
    assert not items(result, "Exceptions")


def test_get_account_refusal_carries_the_value_type_defaults(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = get_account(sandbox, http, token, HOLDINGS)

    assert refusal_message(result, "AccountException") == f"The user has no access to the account {HOLDINGS}."
    assert dict(result.attrib) == {"ContextIdentifier": EMPTY_GUID, "Inactive": "false", "Success": "false"}


def test_the_parent_account_users_manage_its_children(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = get_account(sandbox, http, token, SALES)

    assert (result.get("Name"), result.get("DisplayName")) == ("Example Sales", "Example, Inc. (Sales)")


def test_a_forged_token_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    result = get_account(sandbox, http, "forged", EXAMPLE_INC)

    assert refusal_message(result, "AccountException") == "Authentication token is invalid or has expired."


# -- ListAccounts ----------------------------------------------------------------------------------


def test_list_accounts_lists_the_children_with_an_empty_exceptions(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "multi@example.com")

    result = call(sandbox, http, "ListAccounts", manage("ListAccounts", token))

    assert [dict(a.attrib) for a in items(result, "Accounts/Account")] == [
        {
            "ContextIdentifier": SALES,
            "Inactive": "false",
            "Name": "Example Sales",
            "DisplayName": "Example, Inc. (Sales)",
            "AccountGroup": "All",
        },
        {"ContextIdentifier": ARCHIVE, "Inactive": "true", "Name": "Example Archive"},
    ]
    assert len(child(result, "Exceptions")) == 0


def test_an_account_without_children_lists_none(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "multi@example.com")

    assert children(sandbox, http, token, HOLDINGS) == {}


# -- CreateAccount ----------------------------------------------------------------------------------


def test_create_account_makes_a_child_of_the_request_account(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = create(
        sandbox,
        http,
        token,
        Name="Acme",
        DisplayName="Acme, Inc.",
        AccountTemplate="Standard",
        AccountGroup="All",
        Inactive="false",
    )

    assert result.get("Success") == "true"
    created = result.get("ContextIdentifier") or ""
    assert GUID.fullmatch(created)
    assert list(result.attrib) == ["ContextIdentifier", "Success"]
    assert children(sandbox, http, token, EXAMPLE_INC)[created] == {
        "ContextIdentifier": created,
        "Inactive": "false",
        "Name": "Acme",
        "DisplayName": "Acme, Inc.",
        "AccountGroup": "All",
    }
    assert get_account(sandbox, http, token, created).get("Name") == "Acme"


def test_create_account_inactive_may_be_absent(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    created = create(sandbox, http, token, Name="Acme", AccountGroup="All").get("ContextIdentifier") or ""

    assert get_account(sandbox, http, token, created).get("Inactive") == "false"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"AccountGroup": "All"}, "A Name is required."),
        ({"Name": "Acme"}, "An AccountGroup is required."),
        ({"Name": "Acme", "AccountGroup": "Nowhere"}, "AccountGroup 'Nowhere' was not found."),
        (
            {"Name": "Acme", "AccountGroup": "All", "AccountTemplate": "Fancy"},
            "AccountTemplate 'Fancy' was not found.",
        ),
    ],
)
def test_create_account_refusals(
    sandbox: SandboxServer, http: requests.Session, attributes: dict[str, str], message: str
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = create(sandbox, http, token, **attributes)

    assert refusal_message(result, "AccountException") == message
    assert dict(result.attrib) == {"ContextIdentifier": EMPTY_GUID, "Success": "false"}
    assert len(children(sandbox, http, token, EXAMPLE_INC)) == 2


def test_a_child_account_user_does_not_manage_the_parent(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    user = operation(
        "Users",
        "CreateUser",
        ContextIdentifier=SALES,
        AuthenticationToken=token,
        UserName="seller@example.com",
        Password="Secret-1",
    )
    assert result_of(post(sandbox, http, "Users", user), "Users", "CreateUser").get("Success") == "true"
    seller = login(sandbox, http, "seller@example.com", "Secret-1")

    assert get_account(sandbox, http, seller, SALES).get("Success") == "true"
    assert get_account(sandbox, http, seller, EXAMPLE_INC).get("Success") == "false"


# -- UpdateAccount ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "inactive"), [("absent", "true"), ("nil", "true"), ("false", "false"), ("0", "false")]
)
def test_update_account_inactive_is_nillable(
    sandbox: SandboxServer, http: requests.Session, form: str, inactive: str
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    body = manage("UpdateAccount", token, ARCHIVE, inner=flag_element("Inactive", form))

    assert dict(call(sandbox, http, "UpdateAccount", body).attrib) == {"Success": "true"}

    assert children(sandbox, http, token, EXAMPLE_INC)[ARCHIVE]["Inactive"] == inactive


def test_update_account_changes_names_and_leaves_the_rest(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    # The article's sample: Inactive as a nil element, ParentAccountContextIdentifier left out.
    body = manage(
        "UpdateAccount", token, SALES, inner=flag_element("Inactive", "nil"), Name="Sales", DisplayName=""
    )

    call(sandbox, http, "UpdateAccount", body)

    assert children(sandbox, http, token, EXAMPLE_INC)[SALES] == {
        "ContextIdentifier": SALES,
        "Inactive": "false",
        "Name": "Sales",
        "DisplayName": "Example, Inc. (Sales)",
        "AccountGroup": "All",
    }


def test_update_account_moves_an_account_to_another_parent(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "multi@example.com")
    inner = f"<ParentAccountContextIdentifier>{HOLDINGS}</ParentAccountContextIdentifier>"

    call(sandbox, http, "UpdateAccount", manage("UpdateAccount", token, SALES, inner=inner))

    assert SALES not in children(sandbox, http, token, EXAMPLE_INC)
    assert SALES in children(sandbox, http, token, HOLDINGS)


@pytest.mark.parametrize(
    ("user", "parent", "message"),
    [
        # Example, Inc. below its own child.
        ("jdoe@example.com", SALES, f"Account {EXAMPLE_INC} cannot be moved below itself."),
        ("jdoe@example.com", EXAMPLE_INC.replace("821a", "0000"), "The user has no access to the account"),
        ("jdoe@example.com", HOLDINGS, f"The user has no access to the account {HOLDINGS}."),
    ],
)
def test_update_account_refuses_a_parent_it_cannot_have(
    sandbox: SandboxServer, http: requests.Session, user: str, parent: str, message: str
) -> None:
    token = login(sandbox, http, user)
    inner = f"<ParentAccountContextIdentifier>{parent}</ParentAccountContextIdentifier>"

    result = call(sandbox, http, "UpdateAccount", manage("UpdateAccount", token, inner=inner))

    assert refusal_message(result, "AccountException").startswith(message)
    assert get_account(sandbox, http, token, EXAMPLE_INC).get("Success") == "true"


def test_an_inactive_account_is_left_out_of_the_login(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    call(sandbox, http, "UpdateAccount", manage("UpdateAccount", token, inner="<Inactive>true</Inactive>"))

    body = operation("Users", "AuthenticateUser", UserName="multi@example.com", Password="Password")
    result = result_of(post(sandbox, http, "Users", body), "Users", "AuthenticateUser")

    assert [a.get("Name") for a in items(result, "Accounts/UserAccount")] == [
        "Multi Holdings",
        "Multi Europe",
    ]


def test_created_accounts_are_gone_after_a_reset(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    create(sandbox, http, token, Name="Acme", AccountGroup="All")

    assert http.post(sandbox.url + "/_sandbox/reset", timeout=5).status_code == 204

    token = login(sandbox, http, "jdoe@example.com")
    assert set(children(sandbox, http, token, EXAMPLE_INC)) == {SALES, ARCHIVE}
