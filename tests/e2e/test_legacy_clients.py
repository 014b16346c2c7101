"""Independent SOAP clients built from the served WSDL, and the documented raw messages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from suds import WebFault
from suds.client import Client as SudsClient

from tests.contract import VECTORS
from tests.servers import AUTH_ACTION, USERS_NS, USERS_PATH, WSDL_PATH, Server
from tests.soapxml import SOAP11, SOAP12
from tests.soapxml import auth_result as _result

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43,}$")  # ≥ 256 bits of URL-safe base64


def _normalised(result: etree._Element) -> tuple[dict[str, str], list[dict[str, str]]]:
    attributes = dict(result.attrib)
    attributes.pop("AuthenticationToken", None)
    accounts = [dict(a.attrib) for a in result.iter(f"{{{USERS_NS}}}UserAccount")]
    return attributes, accounts


def _users(client: zeep.Client) -> Any:
    return client.bind("DocumentNOW", "BasicHttpBinding_IUserService")


def test_zeep_client_from_served_wsdl_logs_in(bridge: Server) -> None:
    client = zeep.Client(bridge.url + WSDL_PATH + "?wsdl")
    answer = _users(client).AuthenticateUser(
        Request={"UserName": "multi@example.com", "Password": "Password"}
    )
    assert answer.Success is True
    assert TOKEN.match(answer.AuthenticationToken)
    assert (answer.UserName, answer.FirstName, answer.LastName) == (
        "multi@example.com", "Mary", "Multi")
    accounts = answer.Accounts.UserAccount
    assert len(accounts) >= 2
    assert [a.IsPrimary for a in accounts].count(True) == 1
    assert all(re.match(r"^[0-9a-f-]{36}$", a.ContextIdentifier) for a in accounts)


def test_zeep_client_sees_refusal_shape(bridge: Server) -> None:
    client = zeep.Client(bridge.url + WSDL_PATH + "?wsdl")
    answer = _users(client).AuthenticateUser(
        Request={"UserName": "jdoe@example.com", "Password": "not it"}
    )
    assert answer.Success is False
    assert answer.AuthenticationToken is None
    (exception,) = answer.Exceptions.UserException
    assert exception.Severity == "Error"
    assert exception._value_1 == "Invalid user name or password."


def test_suds_client_from_served_wsdl_logs_in(bridge: Server) -> None:
    client = SudsClient(bridge.url + WSDL_PATH + "?wsdl", cache=None)
    request = client.factory.create(f"{{{USERS_NS}}}AuthenticateUserRequest")
    request._UserName = "jdoe@example.com"
    request._Password = "Password"
    answer = client.service["BasicHttpBinding_IUserService"].AuthenticateUser(request)
    # The child as the WSDL names it, not the 2016 article's AuthenticateUserRequest.
    assert re.search(r"<(\w+:)?Request ", str(client.last_sent()))
    assert answer._Success is True
    assert TOKEN.match(answer._AuthenticationToken)
    assert (answer._FirstName, answer._LastName) == ("John", "Doe")
    (account,) = answer.Accounts.UserAccount
    assert account._ContextIdentifier == "821ae27f-027c-4f21-a2e5-1667fc9b650a"
    assert account._Name == "Example, Inc."
    assert account._IsPrimary is True


def test_served_wsdl_points_back_at_the_url_it_was_fetched_from(bridge: Server) -> None:
    port = bridge.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        wsdl = requests.get(f"http://{host}{WSDL_PATH}?wsdl", timeout=5)
        assert wsdl.status_code == 200
        assert wsdl.headers["Content-Type"].startswith("text/xml")
        locations = re.findall(rb'location="([^"]+)"', wsdl.content)
        assert len(locations) == 24
        assert all(location.startswith(f"http://{host}{WSDL_PATH}/".encode())
                   and location.endswith(b"/text") for location in locations)
        assert f"http://{host}{USERS_PATH}".encode() in locations


def test_zeep_calls_ping_and_sees_a_fault_for_an_unmigrated_operation(bridge: Server) -> None:
    client = zeep.Client(bridge.url + WSDL_PATH + "?wsdl")
    ping = client.bind("DocumentNOW", "BasicHttpBinding_IPingService")
    assert ping.Ping().Success is True
    templates = client.bind("DocumentNOW", "BasicHttpBinding_IListTemplatesService")
    with pytest.raises(zeep.exceptions.Fault) as caught:
        templates.ListTemplates(
            TemplateListQuery={"ContextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a"})
    assert caught.value.code == "s:Server"
    assert "ListTemplates is not yet migrated" in caught.value.message


def test_suds_calls_ping_and_sees_a_fault_for_an_unmigrated_operation(bridge: Server) -> None:
    client = SudsClient(bridge.url + WSDL_PATH + "?wsdl", cache=None)
    answer = client.service["BasicHttpBinding_IPingService"].Ping()
    assert answer._Success is True
    query = client.factory.create("{https://www.assuresign.net/Services/DocumentNOW/ListTemplates}"
                                  "TemplateListQuery")
    query._ContextIdentifier = "821ae27f-027c-4f21-a2e5-1667fc9b650a"
    with pytest.raises(WebFault) as caught:
        client.service["BasicHttpBinding_IListTemplatesService"].ListTemplates(query)
    assert caught.value.fault.faultcode == "s:Server"
    assert "ListTemplates is not yet migrated" in caught.value.fault.faultstring


@pytest.mark.parametrize("soap_action", [f'"{AUTH_ACTION}"', AUTH_ACTION, None])
@pytest.mark.parametrize("vector", ["authenticate-user.generated-client.request.xml",
                                    "authenticate-user.soap11.request.xml",
                                    "authenticate-user.wcf-style.request.xml"])
def test_documented_soap11_requests_get_the_documented_answer(
    bridge: Server, vector: str, soap_action: str | None
) -> None:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if soap_action is not None:
        headers["SOAPAction"] = soap_action
    response = requests.post(bridge.url + USERS_PATH, data=(VECTORS / vector).read_bytes(),
                             headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    expected = _result((VECTORS / "authenticate-user.soap11.response.xml").read_bytes())
    actual = _result(response.content)
    assert _normalised(actual) == _normalised(expected)
    assert TOKEN.match(actual.get("AuthenticationToken", ""))


def test_documented_soap12_request_is_answered_in_soap12(bridge: Server) -> None:
    response = requests.post(
        bridge.url + USERS_PATH,
        data=(VECTORS / "authenticate-user.soap12.request.xml").read_bytes(),
        headers={"Content-Type": f'application/soap+xml; charset=utf-8; action="{AUTH_ACTION}"'},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/soap+xml")
    expected = _result((VECTORS / "authenticate-user.soap11.response.xml").read_bytes())
    assert _normalised(_result(response.content, SOAP12)) == _normalised(expected)


@pytest.mark.parametrize("soap_action", [None, '"https://www.assuresign.net/Services/DocumentNOW/Ping/IPingService/Ping"'])
def test_documented_ping_is_answered_by_the_bridge(bridge: Server, soap_action: str | None) -> None:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if soap_action:
        headers["SOAPAction"] = soap_action
    response = requests.post(bridge.url + WSDL_PATH + "/Ping/text",
                             data=(VECTORS / "ping.request.xml").read_bytes(), headers=headers, timeout=10)
    assert response.status_code == 200
    result = etree.fromstring(response.content).find(
        ".//{https://www.assuresign.net/Services/DocumentNOW/Ping}PingResult")
    assert result is not None and result.get("Success") == "true"


def test_each_login_gets_a_different_token(bridge: Server) -> None:
    tokens = set()
    for _ in range(3):
        response = requests.post(
            bridge.url + USERS_PATH,
            data=(VECTORS / "authenticate-user.soap11.request.xml").read_bytes(),
            headers={"Content-Type": "text/xml"}, timeout=10,
        )
        tokens.add(_result(response.content).get("AuthenticationToken"))
    assert len(tokens) == 3 and all(t and TOKEN.match(t) for t in tokens)


def test_any_namespace_prefixes_are_accepted(bridge: Server) -> None:
    body = (
        f'<x:Envelope xmlns:x="{SOAP11}"><x:Header/><x:Body>'
        f'<q:AuthenticateUser xmlns:q="{USERS_NS}">'
        '<q:Request UserName="jdoe@example.com" Password="Password"/>'
        "</q:AuthenticateUser></x:Body></x:Envelope>"
    )
    response = requests.post(bridge.url + USERS_PATH, data=body,
                             headers={"Content-Type": "text/xml"}, timeout=10)
    assert _result(response.content).get("Success") == "true"


def test_the_request_id_travels_to_the_upstream_and_back(bridge: Server, sandbox: Server) -> None:
    response = requests.post(
        bridge.url + USERS_PATH,
        data=(VECTORS / "authenticate-user.soap11.request.xml").read_bytes(),
        headers={"Content-Type": "text/xml", "X-Request-ID": "trace-123"}, timeout=10,
    )
    assert response.headers["X-Request-ID"] == "trace-123"
    seen = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["request_ids"]
    assert seen["credentials"] == "trace-123"
    generated = requests.post(
        bridge.url + USERS_PATH,
        data=(VECTORS / "authenticate-user.soap11.request.xml").read_bytes(),
        headers={"Content-Type": "text/xml", "X-Request-ID": "bad id with spaces"}, timeout=10,
    ).headers["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_vectors_folder_is_complete() -> None:
    # Guards the tests of every vector (here and in test_rest_vectors.py): a new
    # documented vector must get a test of its own.
    assert {p.name for p in Path(VECTORS).iterdir()} == {
        "authenticate-user.generated-client.request.xml", "ping.request.xml",
        "authenticate-user.soap11.request.xml", "authenticate-user.soap11.response.xml",
        "authenticate-user.soap12.request.xml", "authenticate-user.wcf-style.request.xml",
        "apiuser.request.json", "credentials.response.json", "rest-error.response.json",
    }
