"""The WSDL-driven (de)serialisation: requests to plain data, plain data to the legacy XML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from bridge.errors import ConfigError, SoapClientError
from bridge.soap.envelope import Envelope, read_envelope
from bridge.soap.service import SoapService
from bridge.soap.shapes import coerce_simple
from bridge.soap.xmlparse import XmlLimits
from tests.contract import VECTORS

REPO = Path(__file__).resolve().parents[2]
USERS = "/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text"
PING = "/Services/DocumentNOW/v2/DocumentNOW.svc/Ping/text"
NS_ROOT = "https://www.assuresign.net/Services/DocumentNOW"
NS = NS_ROOT + "/Users"


@pytest.fixture(scope="module")
def service() -> SoapService:
    return SoapService(str(REPO / "wsdl" / "DocumentNOW.wsdl"))


def _c14n(element: etree._Element) -> bytes:
    """Canonical form without whitespace-only text and comments, for golden comparisons."""
    copy = etree.fromstring(etree.tostring(element))
    for node in copy.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(copy, method="c14n2", strip_text=True)


def test_operations_and_ports(service: SoapService) -> None:
    assert len(service.operations) == 45
    assert len(service.ports) == 24
    assert USERS in service.ports and PING in service.ports
    operation = service.operations["AuthenticateUser"]
    assert operation.action == f"{NS}/IUserService/AuthenticateUser"
    assert operation.input_qname == f"{{{NS}}}AuthenticateUser"


@pytest.mark.parametrize("vector", ["authenticate-user.generated-client.request.xml",
                                    "authenticate-user.soap11.request.xml",
                                    "authenticate-user.wcf-style.request.xml"])
def test_decode_the_documented_requests(service: SoapService, vector: str) -> None:
    # The WSDL's child (Request) and the 2016 article's (AuthenticateUserRequest) read alike.
    envelope = read_envelope((VECTORS / vector).read_bytes(), "text/xml", None, XmlLimits())
    operation = service.find(USERS, envelope)
    assert service.decode(operation, envelope) == {
        "body": {"Request": {"UserName": "jdoe@example.com", "Password": "Password"}},
        "header": {},
    }


def _envelope(body: str, action: str | None = None) -> Envelope:
    data = f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{body}</s:Body></s:Envelope>'
    return read_envelope(data.encode(), "text/xml", action, XmlLimits())


def test_a_child_named_after_its_type_is_read_as_the_declared_child(service: SoapService) -> None:
    envelope = _envelope(f'<Download xmlns="{NS_ROOT}/Download"><DownloadRequest '
                         'ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a"/></Download>')
    operation = service.find(USERS.replace("Users", "Download"), envelope)
    body = service.decode(operation, envelope)["body"]
    assert body == {"Request": {"ContextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a"}}


def test_members_out_of_order_and_absent_value_types_are_read(service: SoapService) -> None:
    # UpdateUserRequest's sequence starts with five required nillable flags; a client may
    # leave them out and write Tags first, as an XmlSerializer service accepts.
    envelope = _envelope(f'<UpdateUser xmlns="{NS}"><Request UserName="a@example.com">'
                         '<Tags><UserTag Name="team" Value="ops"/></Tags><Locked>true</Locked>'
                         '</Request></UpdateUser>')
    operation = service.find(USERS, envelope)
    assert service.decode(operation, envelope)["body"] == {"Request": {
        "UserName": "a@example.com", "Locked": True,
        "Tags": {"UserTag": [{"Name": "team", "Value": "ops"}]}}}


def test_an_unknown_member_is_refused_naming_the_expected_shape(service: SoapService) -> None:
    envelope = _envelope(f'<AuthenticateUser xmlns="{NS}"><Credentials UserName="u"/></AuthenticateUser>')
    operation = service.find(USERS, envelope)
    with pytest.raises(SoapClientError) as caught:
        service.decode(operation, envelope)
    assert "Credentials" in caught.value.message
    assert 'Expected <AuthenticateUser><Request UserName="…" Password="…"/></AuthenticateUser>' \
        in caught.value.message


@pytest.mark.parametrize("action", [None, "http://tempuri.org/IPingService/Ping",
                                    f"{NS_ROOT}/Ping/IPingService/Ping"])
def test_an_operation_in_another_namespace_is_found_and_answered_there(
        service: SoapService, action: str | None) -> None:
    # Ping's namespace is inferred: a client generated from the vendor's real one must work.
    envelope = _envelope('<Ping xmlns="http://tempuri.org/"/>', action)
    operation = service.find(PING, envelope)
    assert operation.name == "Ping"
    assert service.foreign_namespace(operation, envelope) == "http://tempuri.org/"
    answer = service.answer(operation, {"PingResult": {"Success": True}}, "1.1",
                            service.foreign_namespace(operation, envelope))
    result = etree.fromstring(answer).find(".//{http://tempuri.org/}PingResult")
    assert result is not None and result.get("Success") == "true"
    assert NS_ROOT.encode() not in answer


def test_our_namespace_is_not_foreign(service: SoapService) -> None:
    envelope = _envelope(f'<Ping xmlns="{NS_ROOT}/Ping"/>')
    assert service.foreign_namespace(service.find(PING, envelope), envelope) is None


def test_an_action_naming_another_operation_is_refused(service: SoapService) -> None:
    envelope = _envelope(f'<GetUser xmlns="{NS}"/>', f"{NS}/IUserService/AuthenticateUser")
    with pytest.raises(SoapClientError, match="does not hold AuthenticateUser"):
        service.find(USERS, envelope)


def test_encode_matches_the_documented_answer(service: SoapService) -> None:
    operation = service.operations["AuthenticateUser"]
    element = service.encode(operation, {"AuthenticateUserResult": {
        "Success": "true", "AuthenticationToken": "[authentication token]",
        "UserName": "jdoe@example.com", "FirstName": "John", "LastName": "Doe",
        "Accounts": {"UserAccount": [{"Name": "Example, Inc.", "IsPrimary": True,
                                      "ContextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a"}]},
    }})
    golden = etree.parse(str(VECTORS / "authenticate-user.soap11.response.xml")).getroot()
    expected = golden.find(f"{{http://schemas.xmlsoap.org/soap/envelope/}}Body/{{{NS}}}"
                           "AuthenticateUserResponse")
    assert expected is not None
    assert _c14n(element) == _c14n(expected)


def test_encode_refusal_with_text_content(service: SoapService) -> None:
    operation = service.operations["AuthenticateUser"]
    element = service.encode(operation, {"AuthenticateUserResult": {
        "Success": False, "ExpiredPasswordUrl": "https://x/y?a=1&b=2",
        "Exceptions": {"UserException": [{"_value": "The password has expired.",
                                          "Severity": "Error"}]},
    }})
    result = element[0]
    assert result.get("Success") == "false"
    assert result.get("ExpiredPasswordUrl") == "https://x/y?a=1&b=2"
    exception = result.find(f"{{{NS}}}Exceptions/{{{NS}}}UserException")
    assert exception is not None
    assert (exception.text, exception.get("Severity")) == ("The password has expired.", "Error")


def test_parse_response_round_trips(service: SoapService) -> None:
    operation = service.operations["AuthenticateUser"]
    value = {"AuthenticateUserResult": {"Success": True, "UserName": "u", "Accounts": {
        "UserAccount": [{"ContextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a",
                         "IsPrimary": False, "Name": "N"}]}}}
    assert service.parse_response(operation, service.encode(operation, value)) == value


def test_wrong_service_for_the_operation(service: SoapService) -> None:
    data = (VECTORS / "authenticate-user.soap11.request.xml").read_bytes()
    envelope = read_envelope(data, "text/xml", None, XmlLimits())
    with pytest.raises(SoapClientError, match=re.escape(
            f"unknown operation 'AuthenticateUser' at {USERS.replace('Users', 'Accounts')}")):
        service.find(USERS.replace("Users", "Accounts"), envelope)


@pytest.mark.parametrize(("value", "type_name", "expected"), [
    ("true", "boolean", True), ("0", "boolean", False), (True, "boolean", True),
    ("", "boolean", False), (5, "string", "5"), (False, "string", "false"), ("7", "int", 7),
])
def test_coerce_simple(value: object, type_name: str, expected: object) -> None:
    assert coerce_simple(value, type_name) == expected


def test_coerce_refuses_non_booleans() -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        coerce_simple("maybe", "boolean")


def test_broken_wsdl_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "x.wsdl"
    path.write_text("<definitions")
    with pytest.raises(ConfigError, match="cannot load WSDL"):
        SoapService(str(path))
