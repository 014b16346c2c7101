"""The sandbox's legacy Users SOAP service over real HTTP, raw XML in and out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from lxml import etree

from bridge.sandbox import SandboxServer, parse_seed, start_in_thread

from .conftest import EXAMPLE_INC, USERS_PATH, Clock

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
USERS = "https://www.assuresign.net/Services/DocumentNOW/Users"
NS = {"soap": SOAP, "u": USERS}


def envelope(body: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>{body}</soap:Body></soap:Envelope>').encode()


def authenticate(username: str, password: str = "Password") -> bytes:  # noqa: S107
    return envelope(
        f'<AuthenticateUser xmlns="{USERS}">'
        f'<AuthenticateUserRequest UserName="{username}" Password="{password}"/>'
        "</AuthenticateUser>"
    )


def user_request(operation: str, token: str, context: str = EXAMPLE_INC, **extra: str) -> bytes:
    attributes = "".join(f' {name}="{value}"' for name, value in extra.items())
    return envelope(
        f'<{operation} xmlns="{USERS}"><Request ContextIdentifier="{context}"'
        f' AuthenticationToken="{token}"{attributes}/></{operation}>'
    )


def post(
    server: SandboxServer, http: requests.Session, body: bytes, content_type: str = "text/xml"
) -> requests.Response:
    return http.post(server.url + USERS_PATH, data=body, headers={"Content-Type": content_type}, timeout=5)


def result_of(response: requests.Response, operation: str) -> etree._Element:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = etree.fromstring(response.content)
    found = root.find(f"soap:Body/u:{operation}Response/u:{operation}Result", NS)
    assert found is not None, response.text
    return found


def refusal_message(result: etree._Element) -> str:
    assert result.get("Success") == "false"
    exceptions = result.findall("u:Exceptions/u:UserException", NS)
    assert len(exceptions) == 1
    assert exceptions[0].get("Severity") == "Error"
    return exceptions[0].text or ""


def fault_of(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 500, response.text
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    fault = etree.fromstring(response.content).find("soap:Body/soap:Fault", NS)
    assert fault is not None, response.text
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def login(server: SandboxServer, http: requests.Session, username: str) -> str:
    result = result_of(post(server, http, authenticate(username)), "AuthenticateUser")
    assert result.get("Success") == "true"
    return result.get("AuthenticationToken") or ""


# -- AuthenticateUser ------------------------------------------------------------


def test_authenticate_user_answers_like_the_documented_vector(
    sandbox: SandboxServer, http: requests.Session, vector: Callable[[str], bytes]
) -> None:
    request = vector("authenticate-user.soap11.request.xml")
    expected_root = etree.fromstring(vector("authenticate-user.soap11.response.xml"))
    expected = expected_root.find("soap:Body/u:AuthenticateUserResponse/u:AuthenticateUserResult", NS)
    assert expected is not None

    actual = result_of(post(sandbox, http, request), "AuthenticateUser")

    def described(result: etree._Element) -> tuple[dict[Any, Any], list[dict[Any, Any]]]:
        attributes = {k: v for k, v in result.attrib.items() if k != "AuthenticationToken"}
        accounts = [dict(a.attrib) for a in result.findall("u:Accounts/u:UserAccount", NS)]
        return attributes, accounts

    assert described(actual) == described(expected)
    assert list(actual.attrib) == list(expected.attrib)
    assert len(actual.get("AuthenticationToken") or "") >= 20
    assert actual.find("u:Exceptions", NS) is None
    answer = actual.getparent()
    assert answer is not None
    assert answer.nsmap.get(None) == USERS  # the default namespace, as in the vector


def test_wcf_style_request_is_answered(
    sandbox: SandboxServer, http: requests.Session, vector: Callable[[str], bytes]
) -> None:
    request = vector("authenticate-user.wcf-style.request.xml")
    assert result_of(post(sandbox, http, request), "AuthenticateUser").get("Success") == "true"


def test_authenticate_user_reports_every_account_of_a_multi_account_user(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    result = result_of(post(sandbox, http, authenticate("multi@example.com")), "AuthenticateUser")

    accounts = result.findall("u:Accounts/u:UserAccount", NS)
    assert len(accounts) == 3
    assert [a.get("IsPrimary") for a in accounts].count("true") == 1
    assert EXAMPLE_INC in {a.get("ContextIdentifier") for a in accounts}


def test_unknown_user_and_wrong_password_get_the_same_message(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    unknown = result_of(post(sandbox, http, authenticate("nobody@example.com")), "AuthenticateUser")
    wrong = result_of(post(sandbox, http, authenticate("jdoe@example.com", "x")), "AuthenticateUser")

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
    result = result_of(post(sandbox, http, authenticate(username)), "AuthenticateUser")

    assert refusal_message(result) == message
    assert result.get("ExpiredPasswordUrl") is None


def test_expired_password_refusal_carries_the_seed_url(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    result = result_of(post(sandbox, http, authenticate("expired@example.com")), "AuthenticateUser")

    assert refusal_message(result) == "The password has expired."
    assert result.get("ExpiredPasswordUrl") == "https://sandbox.invalid/ChangePassword?expired=1"


def test_five_consecutive_failures_lock_the_user(sandbox: SandboxServer, http: requests.Session) -> None:
    for _ in range(5):
        wrong = result_of(post(sandbox, http, authenticate("jdoe@example.com", "x")), "AuthenticateUser")
        assert refusal_message(wrong) == "Invalid user name or password."

    right = result_of(post(sandbox, http, authenticate("jdoe@example.com")), "AuthenticateUser")

    assert refusal_message(right) == "The user account is locked."
    assert http.post(sandbox.url + "/_sandbox/reset", timeout=5).status_code == 204
    assert login(sandbox, http, "jdoe@example.com")


def test_a_success_resets_the_failure_count(sandbox: SandboxServer, http: requests.Session) -> None:
    for _ in range(4):
        post(sandbox, http, authenticate("jdoe@example.com", "x"))
    login(sandbox, http, "jdoe@example.com")
    for _ in range(4):
        post(sandbox, http, authenticate("jdoe@example.com", "x"))

    assert login(sandbox, http, "jdoe@example.com")
    assert sandbox.state.failures("jdoe@example.com") == 0


def test_failures_for_unknown_users_lock_nobody(sandbox: SandboxServer, http: requests.Session) -> None:
    for _ in range(6):
        post(sandbox, http, authenticate("ghost@example.com", "x"))
    assert not sandbox.state.is_locked("ghost@example.com")


# -- ListUsers / GetUser ------------------------------------------------------------


def test_legacy_token_lists_the_users_of_the_account(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    result = result_of(post(sandbox, http, user_request("ListUsers", token)), "ListUsers")

    assert result.get("Success") == "true"
    users = {u.get("UserName"): u for u in result.findall("u:Users/u:User", NS)}
    assert set(users) == {
        "jdoe@example.com",
        "multi@example.com",
        "locked@example.com",
        "inactive@example.com",
        "expired@example.com",
    }
    assert dict(users["jdoe@example.com"].attrib.items()) == {
        "UserName": "jdoe@example.com",
        "FirstName": "John",
        "LastName": "Doe",
        "Role": "User",
        "RequirePasswordChange": "false",
        "Inactive": "false",
        "Locked": "false",
    }
    assert users["locked@example.com"].get("Locked") == "true"
    assert users["inactive@example.com"].get("Inactive") == "true"


def test_list_users_of_an_account_the_caller_lacks_is_refused(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    other = "06fd91ef-dab3-4d55-8b2c-214401174fbc"  # Multi Holdings

    result = result_of(post(sandbox, http, user_request("ListUsers", token, other)), "ListUsers")

    assert other in refusal_message(result)
    assert result.find("u:Users", NS) is None


@pytest.mark.parametrize("operation", ["ListUsers", "GetUser"])
def test_invalid_token_is_refused(sandbox: SandboxServer, http: requests.Session, operation: str) -> None:
    body = user_request(operation, "forged", UserName="jdoe@example.com")
    result = result_of(post(sandbox, http, body), operation)
    assert refusal_message(result) == "Authentication token is invalid or has expired."


def test_legacy_token_expires_after_30_minutes(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    token = login(sandbox, http, "jdoe@example.com")

    clock.advance(30 * 60 - 1)
    assert (
        result_of(post(sandbox, http, user_request("ListUsers", token)), "ListUsers").get("Success") == "true"
    )
    clock.advance(1)
    result = result_of(post(sandbox, http, user_request("ListUsers", token)), "ListUsers")
    assert refusal_message(result) == "Authentication token is invalid or has expired."


def test_rest_tokens_are_not_legacy_tokens(sandbox: SandboxServer, http: requests.Session) -> None:
    body = {"request": {"authRequest": {"username": "jdoe@example.com", "password": "Password"}}}
    session_token = http.post(
        sandbox.url + "/api/documentnow/v3.7/authentication/credentials", json=body, timeout=5
    ).json()["result"]["sessionToken"]

    result = result_of(post(sandbox, http, user_request("ListUsers", session_token)), "ListUsers")

    assert refusal_message(result) == "Authentication token is invalid or has expired."


def test_get_user_answers_one_user_of_the_account(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "multi@example.com")

    body = user_request("GetUser", token, UserName="inactive@example.com")
    result = result_of(post(sandbox, http, body), "GetUser")

    assert result.get("Success") == "true"
    user = result.find("u:User", NS)
    assert user is not None
    assert (user.get("UserName"), user.get("FirstName"), user.get("Inactive")) == (
        "inactive@example.com",
        "Ian",
        "true",
    )


def test_get_user_outside_the_account_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "multi@example.com")
    holdings = "06fd91ef-dab3-4d55-8b2c-214401174fbc"

    body = user_request("GetUser", token, holdings, UserName="jdoe@example.com")
    result = result_of(post(sandbox, http, body), "GetUser")

    assert "jdoe@example.com" in refusal_message(result)
    assert result.find("u:User", NS) is None


# -- legacy differences from the seed -------------------------------------------------


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
urls:
  expired_password: https://example.invalid/expired
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
    legacy_quirks.state.reset()
    result = result_of(post(legacy_quirks, http, authenticate("a@example.com", "pw")), "AuthenticateUser")
    legacy = {a.get("ContextIdentifier"): a.get("Name") for a in result.findall(".//u:UserAccount", NS)}

    body = {"request": {"authRequest": {"username": "a@example.com", "password": "pw"}}}
    rest = http.post(
        legacy_quirks.url + "/api/documentnow/v3.7/authentication/credentials",
        json=body,
        timeout=5,
    ).json()["result"]["accounts"]

    assert legacy == {EXAMPLE_INC: "X", "11111111-2222-3333-4444-555555555555": "Old"}
    assert [a["accountId"] for a in rest] == [EXAMPLE_INC]


def test_lockout_threshold_comes_from_the_seed(legacy_quirks: SandboxServer, http: requests.Session) -> None:
    legacy_quirks.state.reset()
    for _ in range(2):
        post(legacy_quirks, http, authenticate("a@example.com", "wrong"))
    result = result_of(post(legacy_quirks, http, authenticate("a@example.com", "pw")), "AuthenticateUser")
    assert refusal_message(result) == "The user account is locked."


# -- faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        # XXE: an external entity reading a local file.
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<AuthenticateUser xmlns="https://www.assuresign.net/Services/DocumentNOW/Users">'
        b'<AuthenticateUserRequest UserName="&e;" Password="x"/></AuthenticateUser>'
        b"</soap:Body></soap:Envelope>",
        # An internal entity: harmless in itself, but any DOCTYPE is refused.
        b'<!DOCTYPE r [<!ENTITY u "jdoe@example.com">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<AuthenticateUser xmlns="https://www.assuresign.net/Services/DocumentNOW/Users">'
        b'<AuthenticateUserRequest UserName="&u;" Password="Password"/></AuthenticateUser>'
        b"</soap:Body></soap:Envelope>",
        # Billion laughs.
        b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
        b'<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body><x>&d;&d;&d;&d;</x></soap:Body></soap:Envelope>",
    ],
    ids=["xxe", "internal-entity", "billion-laughs"],
)
def test_doctype_payloads_are_refused_with_a_client_fault(
    sandbox: SandboxServer, http: requests.Session, payload: bytes
) -> None:
    code, message = fault_of(post(sandbox, http, payload))

    assert code == "soap:Client"
    assert "root:" not in message
    assert sandbox.state.calls().get("legacy:AuthenticateUser", 0) == 0


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        (b"", "well-formed"),
        (b"<soap:Envelope", "well-formed"),
        (b"<Envelope/>", "SOAP 1.1 Envelope"),
        (envelope(""), "exactly one"),
        (envelope("<a/><b/>"), "exactly one"),
        (envelope(f'<AuthenticateUser xmlns="{USERS}"/>'), "AuthenticateUserRequest"),
        (envelope('<AuthenticateUser xmlns="urn:other"/>'), "not an operation"),
        (envelope(f'<ListUsers xmlns="{USERS}"/>'), "Request"),
    ],
)
def test_malformed_requests_get_a_client_fault(
    sandbox: SandboxServer, http: requests.Session, body: bytes, message_part: str
) -> None:
    code, message = fault_of(post(sandbox, http, body))

    assert code == "soap:Client"
    assert message_part in message


@pytest.mark.parametrize("operation", ["CreateUser", "DeleteUser", "UpdateUser", "Frobnicate"])
def test_other_operations_are_not_supported(
    sandbox: SandboxServer, http: requests.Session, operation: str
) -> None:
    code, message = fault_of(post(sandbox, http, envelope(f'<{operation} xmlns="{USERS}"/>')))

    assert code == "soap:Client"
    assert message == f"Operation {operation} is not supported by the sandbox"


def test_soap_12_envelope_is_a_version_mismatch(
    sandbox: SandboxServer, http: requests.Session, vector: Callable[[str], bytes]
) -> None:
    request = vector("authenticate-user.soap12.request.xml")

    code, _ = fault_of(post(sandbox, http, request, "application/soap+xml; charset=utf-8"))

    assert code == "soap:VersionMismatch"


def test_request_over_1_mib_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    padding = "<!--" + "x" * (1024 * 1024) + "-->"
    code, message = fault_of(post(sandbox, http, authenticate("jdoe@example.com") + padding.encode()))

    assert code == "soap:Client"
    assert "1 MiB" in message


def test_legacy_calls_are_counted_per_operation(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    post(sandbox, http, user_request("ListUsers", token))
    post(sandbox, http, user_request("ListUsers", token))
    post(sandbox, http, b"junk")

    calls = http.get(sandbox.url + "/_sandbox/stats", timeout=5).json()["calls"]

    assert calls["legacy:AuthenticateUser"] == 1
    assert calls["legacy:ListUsers"] == 2
    assert calls["legacy:invalid"] == 1
    assert calls["legacy:GetUser"] == 0
