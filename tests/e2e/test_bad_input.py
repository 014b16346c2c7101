"""Malformed, hostile and misdirected requests: a Fault or the proper HTTP status, never a traceback."""

from __future__ import annotations

import pytest
import requests
from lxml import etree

from tests.servers import AUTH_ACTION, USERS_NS, USERS_PATH, WSDL_PATH, Server, soap11_login
from tests.soapxml import SOAP11, SOAP12, fault11


def _post(bridge: Server, body: bytes | str, content_type: str = "text/xml; charset=utf-8",
          **headers: str) -> requests.Response:
    return requests.post(bridge.url + USERS_PATH, data=body,
                         headers={"Content-Type": content_type, **headers}, timeout=10)


def _fault11(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    return fault11(response.content)


@pytest.mark.parametrize(("body", "expected"), [
    (b"<soap:Envelope", "not well-formed"),
    (b"", "empty"),
    (b"\xff\xfe<a/>", "not well-formed"),
    (b"<a/>", "not a SOAP Envelope"),
    (f'<s:Envelope xmlns:s="{SOAP11}"><s:Header/></s:Envelope>'.encode(), "no Body"),
    (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body/></s:Envelope>'.encode(), "Body is empty"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
     + soap11_login("&e;", "x"), "DTD"),
    (b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
     + soap11_login("&b;", "x"), "DTD"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]>'
     + soap11_login("&e;", "x"), "DTD"),
    (b'<!DOCTYPE q [<!ENTITY a "' + b"x" * 50_000 + b'">]>'
     + soap11_login("&a;" * 2000, "x"), "DTD"),
    (f'<s:Envelope xmlns:s="{SOAP12}"><s:Body/></s:Envelope>'.encode(),
     "SOAP 1.2 envelope was sent with the SOAP 1.1 content type"),
    (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>{"<a>" * 100}{"</a>" * 100}</s:Body>'
     "</s:Envelope>".encode(), "nesting deeper than 64 levels"),
    (soap11_login("jdoe@example.com", "p" * 100_000), "attribute longer than 65536 characters"),
], ids=["truncated", "empty", "invalid-utf8", "not-envelope", "no-body", "empty-body", "xxe",
        "entity-expansion", "xxe-url", "quadratic-blowup", "soap12-as-soap11", "deep-nesting",
        "huge-attribute"])
def test_malformed_requests_get_a_client_fault(bridge: Server, body: bytes, expected: str) -> None:
    code, message = _fault11(_post(bridge, body))
    assert code == "s:Client"
    assert expected in message
    assert "/etc/passwd" not in message and "root:" not in message


def test_unknown_operation_element(bridge: Server) -> None:
    body = (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><Frobnicate xmlns="{USERS_NS}"/>'
            "</s:Body></s:Envelope>")
    assert _fault11(_post(bridge, body)) == (
        "s:Client", f"unknown operation 'Frobnicate' at {USERS_PATH}")


def test_unknown_soap_action_and_body(bridge: Server) -> None:
    body = (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><Frobnicate xmlns="{USERS_NS}"/>'
            "</s:Body></s:Envelope>")
    code, message = _fault11(_post(bridge, body, SOAPAction='"urn:nope"'))
    assert (code, message) == ("s:Client", f"unknown SOAP action 'urn:nope' at {USERS_PATH}")


def test_an_unknown_soap_action_with_a_known_body_is_served_by_the_body(bridge: Server) -> None:
    # Several of the vendor's namespaces (and so actions) are inferred: the Body decides.
    answer = _post(bridge, soap11_login("jdoe@example.com", "Password"), SOAPAction='"urn:nope"')
    assert answer.status_code == 200
    assert b'Success="true"' in answer.content


def test_soap_action_and_body_must_agree(bridge: Server) -> None:
    action = USERS_NS + "/IUserService/ListUsers"
    code, message = _fault11(_post(bridge, soap11_login("a", "b"), SOAPAction=action))
    assert code == "s:Client" and "does not hold ListUsers" in message


def test_operation_without_a_rule_is_named_as_not_migrated(bridge: Server) -> None:
    body = (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><ListUsers xmlns="{USERS_NS}">'
            '<Request ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a" '
            'AuthenticationToken="t"/></ListUsers></s:Body></s:Envelope>')
    answer = _post(bridge, body)
    code, message = _fault11(answer)
    # The request was valid: the gap is the bridge's, so a Server fault (HTTP 500 in SOAP 1.1).
    assert (answer.status_code, code) == (500, "s:Server")
    assert message.startswith("Operation ListUsers is not yet migrated")


def test_operation_without_a_rule_is_a_receiver_fault_in_soap12(bridge: Server) -> None:
    body = (f'<s:Envelope xmlns:s="{SOAP12}"><s:Body><ListUsers xmlns="{USERS_NS}">'
            '<Request ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a"/>'
            "</ListUsers></s:Body></s:Envelope>")
    answer = _post(bridge, body, "application/soap+xml; charset=utf-8")
    fault = etree.fromstring(answer.content).find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault is not None and answer.status_code == 500
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "s:Receiver"
    assert "ListUsers is not yet migrated" in (fault.findtext(f".//{{{SOAP12}}}Text") or "")


@pytest.mark.parametrize("inner", ["", "<Request/>", '<Credentials UserName="jdoe@example.com"/>'])
def test_a_login_without_credentials_is_told_what_was_expected(bridge: Server, inner: str) -> None:
    # A client generated from another WSDL drops the element it does not know and sends
    # <AuthenticateUser/>: "Invalid user name or password." would send it hunting a password.
    body = (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><AuthenticateUser xmlns="{USERS_NS}">{inner}'
            "</AuthenticateUser></s:Body></s:Envelope>")
    code, message = _fault11(_post(bridge, body))
    assert code == "s:Client"
    assert 'Expected <AuthenticateUser><Request UserName="…" Password="…"/></AuthenticateUser>' in message
    assert "Invalid user name or password" not in message
    metrics = requests.get(bridge.url + "/metrics", timeout=5).text
    assert 'operation="AuthenticateUser",outcome="client_error"' in metrics


@pytest.mark.parametrize("path", ["Submit/mtom", "Envelopes/mtom", "DownloadTemplate/mtom"])
def test_mtom_twins_answer_a_clear_fault(bridge: Server, path: str) -> None:
    answer = requests.post(f"{bridge.url}{WSDL_PATH}/{path}", data=b"--boundary\r\n\r\nnot xml",
                           headers={"Content-Type": 'multipart/related; type="application/xop+xml"; '
                                    'start-info="text/xml"; boundary="boundary"'}, timeout=10)
    code, message = _fault11(answer)
    assert code == "s:Server"
    assert f"{WSDL_PATH}/{path.replace('mtom', 'text')}" in message


def test_request_not_matching_the_wsdl(bridge: Server) -> None:
    body = (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><AuthenticateUser xmlns="{USERS_NS}">'
            "<Unexpected/></AuthenticateUser></s:Body></s:Envelope>")
    code, message = _fault11(_post(bridge, body))
    assert code == "s:Client" and "does not match the WSDL" in message


def test_soap12_client_error_is_a_sender_fault_with_400(bridge: Server) -> None:
    response = _post(bridge, b"<broken", f'application/soap+xml; action="{AUTH_ACTION}"')
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/soap+xml")
    root = etree.fromstring(response.content)
    value = root.findtext(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault/{{{SOAP12}}}Code/{{{SOAP12}}}Value")
    assert value == "s:Sender"


def test_wrong_content_type_is_415(bridge: Server) -> None:
    response = _post(bridge, soap11_login("a", "b"), "application/json")
    assert response.status_code == 415
    assert b"unsupported Content-Type" in response.content


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_the_endpoint_are_405(bridge: Server, method: str) -> None:
    response = requests.request(method, bridge.url + USERS_PATH, timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_oversized_body_is_refused_before_parsing(bridge: Server) -> None:
    padding = "x" * (1024 * 1024)
    response = _post(bridge, soap11_login("jdoe@example.com", padding))
    assert response.status_code == 413
    assert b"exceeds" in response.content


def test_unknown_paths_are_404(bridge: Server) -> None:
    assert requests.get(bridge.url + "/nope", timeout=5).status_code == 404
    assert requests.get(bridge.url + WSDL_PATH, timeout=5).status_code == 404


def test_the_bridge_is_still_up_after_all_that(bridge: Server) -> None:
    assert requests.get(bridge.url + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(bridge.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert bridge.process.poll() is None
    assert "Traceback" not in bridge.output()
