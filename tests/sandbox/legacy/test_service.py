"""The legacy service's endpoints over real HTTP: routing, Ping, and the Faults for what is not emulated."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from bridge.sandbox import SandboxServer
from bridge.sandbox.legacy.contract import SERVICES

from .soap import envelope, fault_of, login, ns, operation, post, result_of

EMULATED = {
    "AuthenticateUser",
    "CreateUser",
    "GetUser",
    "UpdateUser",
    "DeleteUser",
    "ListUsers",
    "CreateAccount",
    "GetAccount",
    "UpdateAccount",
    "ListAccounts",
    "Ping",
    "ListTemplates",
}
NOT_EMULATED = [(s, op) for s, ops in SERVICES.items() for op in ops if op not in EMULATED]


# -- Ping ----------------------------------------------------------------------------


def test_ping_answers_success(
    sandbox: SandboxServer, http: requests.Session, vector: Callable[[str], bytes]
) -> None:
    result = result_of(post(sandbox, http, "Ping", vector("ping.request.xml")), "Ping", "Ping")

    assert dict(result.attrib) == {"Success": "true"}
    assert len(result) == 0


def test_ping_is_counted(sandbox: SandboxServer, http: requests.Session) -> None:
    post(sandbox, http, "Ping", envelope(f'<Ping xmlns="{ns("Ping")}"/>'))

    assert http.get(sandbox.url + "/_sandbox/stats", timeout=5).json()["calls"]["legacy:Ping"] == 1


# -- operations and endpoints not emulated ----------------------------------------------


def test_forty_five_operations_twelve_emulated() -> None:
    assert len(NOT_EMULATED) == 45 - len(EMULATED)


@pytest.mark.parametrize(("service", "name"), NOT_EMULATED, ids=[op for _, op in NOT_EMULATED])
def test_an_operation_not_emulated_is_a_server_fault_not_a_parse_error(
    sandbox: SandboxServer, http: requests.Session, service: str, name: str
) -> None:
    # Its members are not what the WSDL wants, and still the answer is about the operation.
    body = envelope(f'<{name} xmlns="{ns(service)}"><Whatever Anything="1"/></{name}>')

    code, message = fault_of(post(sandbox, http, service, body))

    assert (code, message) == ("soap:Server", f"Operation {name} is not emulated by the sandbox.")
    assert http.get(sandbox.url + "/_sandbox/stats", timeout=5).json()["calls"][f"legacy:{name}"] == 1


@pytest.mark.parametrize("service", ["Submit", "Envelopes", "DownloadTemplate"])
def test_the_mtom_endpoints_answer_a_clear_fault_without_reading_the_body(
    sandbox: SandboxServer, http: requests.Session, service: str
) -> None:
    multipart = b"--uuid:1\r\nContent-Type: application/xop+xml\r\n\r\n<not xml at all\r\n--uuid:1--\r\n"
    response = post(
        sandbox,
        http,
        service,
        multipart,
        content_type='multipart/related; type="application/xop+xml"; boundary="uuid:1"',
        endpoint="mtom",
    )

    code, message = fault_of(response)
    assert code == "soap:Server"
    assert f"{service}/mtom is not emulated by the sandbox" in message
    assert f"/Services/DocumentNOW/v2/DocumentNOW.svc/{service}/text" in message
    assert "well-formed" not in message
    assert http.get(sandbox.url + "/_sandbox/stats", timeout=5).json()["calls"]["legacy:mtom"] == 1


@pytest.mark.parametrize("path", ["Users/mtom", "Nowhere/text", "Users/text/extra"])
def test_paths_outside_the_wsdl_are_not_found(
    sandbox: SandboxServer, http: requests.Session, path: str
) -> None:
    response = http.post(f"{sandbox.url}/Services/DocumentNOW/v2/DocumentNOW.svc/{path}", data=b"", timeout=5)

    assert response.status_code == 404


# -- requests that are not right ----------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "body", "message_part"),
    [
        ("Users", b"", "well-formed"),
        ("Users", b"<soap:Envelope", "well-formed"),
        ("Users", b"<Envelope/>", "SOAP 1.1 Envelope"),
        ("Users", envelope(""), "exactly one"),
        ("Users", envelope("<a/><b/>"), "exactly one"),
        ("Users", envelope(f'<AuthenticateUser xmlns="{ns("Users")}"/>'), "needs a Request element"),
        ("Accounts", envelope(f'<ListAccounts xmlns="{ns("Accounts")}"/>'), "needs a Request element"),
        ("Users", envelope('<AuthenticateUser xmlns="urn:other"/>'), "not an operation of the Users service"),
        ("Users", envelope(f'<Frobnicate xmlns="{ns("Users")}"/>'), "not an operation of the Users service"),
        # An operation of another service, at this one's endpoint.
        (
            "Users",
            envelope(f'<ListAccounts xmlns="{ns("Accounts")}"/>'),
            "not an operation of the Users service",
        ),
        (
            "Accounts",
            envelope(f'<ListUsers xmlns="{ns("Accounts")}"/>'),
            "not an operation of the Accounts service",
        ),
        ("Ping", envelope(f'<Ping xmlns="{ns("Users")}"/>'), "not an operation of the Ping service"),
    ],
)
def test_malformed_requests_get_a_client_fault(
    sandbox: SandboxServer, http: requests.Session, service: str, body: bytes, message_part: str
) -> None:
    code, message = fault_of(post(sandbox, http, service, body))

    assert code == "soap:Client"
    assert message_part in message


@pytest.mark.parametrize(
    ("attributes", "message_part"),
    [
        ({"ContextIdentifier": "not-a-guid"}, "ContextIdentifier 'not-a-guid' is not a GUID."),
        ({"Inactive": "yes"}, "Inactive 'yes' is not an xs:boolean"),
    ],
)
def test_members_xmlserializer_could_not_read_are_a_client_fault(
    sandbox: SandboxServer, http: requests.Session, attributes: dict[str, str], message_part: str
) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    body = operation("Users", "CreateUser", AuthenticationToken=token, UserName="x@example.com", **attributes)

    code, message = fault_of(post(sandbox, http, "Users", body))

    assert (code, message_part in message) == ("soap:Client", True), message


@pytest.mark.parametrize(
    "payload",
    [
        # XXE: an external entity reading a local file.
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<AuthenticateUser xmlns="https://www.assuresign.net/Services/DocumentNOW/Users">'
        b'<Request UserName="&e;" Password="x"/></AuthenticateUser>'
        b"</soap:Body></soap:Envelope>",
        # An internal entity: harmless in itself, but any DOCTYPE is refused.
        b'<!DOCTYPE r [<!ENTITY u "jdoe@example.com">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<AuthenticateUser xmlns="https://www.assuresign.net/Services/DocumentNOW/Users">'
        b'<Request UserName="&u;" Password="Password"/></AuthenticateUser>'
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
    code, message = fault_of(post(sandbox, http, "Users", payload))

    assert code == "soap:Client"
    assert "root:" not in message
    assert sandbox.state.calls().get("legacy:AuthenticateUser", 0) == 0


def test_soap_12_envelope_is_a_version_mismatch(
    sandbox: SandboxServer, http: requests.Session, vector: Callable[[str], bytes]
) -> None:
    request = vector("authenticate-user.soap12.request.xml")

    code, _ = fault_of(post(sandbox, http, "Users", request, "application/soap+xml; charset=utf-8"))

    assert code == "soap:VersionMismatch"


def test_request_over_1_mib_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    padding = "<!--" + "x" * (1024 * 1024) + "-->"
    body = operation("Users", "AuthenticateUser", UserName="jdoe@example.com", Password="Password")

    code, message = fault_of(post(sandbox, http, "Users", body + padding.encode()))

    assert code == "soap:Client"
    assert "1 MiB" in message


def test_legacy_calls_are_counted_per_operation(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http, "jdoe@example.com")
    for _ in range(2):
        post(sandbox, http, "Users", operation("Users", "ListUsers", AuthenticationToken=token))
    post(sandbox, http, "Users", b"junk")
    post(sandbox, http, "Users", envelope(f'<Frobnicate xmlns="{ns("Users")}"/>'))

    calls = http.get(sandbox.url + "/_sandbox/stats", timeout=5).json()["calls"]

    assert calls["legacy:AuthenticateUser"] == 1
    assert calls["legacy:ListUsers"] == 2
    assert calls["legacy:invalid"] == 1
    assert calls["legacy:unknown"] == 1
    # Every operation of the WSDL is reported, called or not.
    assert calls["legacy:GetUser"] == calls["legacy:Submit"] == calls["legacy:GetSigningLinks"] == 0
