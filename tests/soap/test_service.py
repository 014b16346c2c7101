"""The WSDL-driven (de)serialisation: requests to plain data, plain data to the legacy XML."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from bridge.errors import ConfigError, SoapClientError
from bridge.soap.envelope import read_envelope
from bridge.soap.service import SoapService, coerce_simple
from bridge.soap.xmlparse import XmlLimits

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO.parent / "shared" / "contract" / "vectors"
USERS = "/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text"
NS = "https://www.assuresign.net/Services/DocumentNOW/Users"


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
    assert set(service.ports) == {USERS, USERS.replace("Users/text", "Accounts/text")}
    operation = service.operations["AuthenticateUser"]
    assert operation.action == f"{NS}/IUserService/AuthenticateUser"
    assert operation.input_qname == f"{{{NS}}}AuthenticateUser"


def test_decode_the_documented_request(service: SoapService) -> None:
    data = (VECTORS / "authenticate-user.soap11.request.xml").read_bytes()
    envelope = read_envelope(data, "text/xml", None, XmlLimits())
    operation = service.find(USERS, envelope)
    assert service.decode(operation, envelope) == {
        "body": {"AuthenticateUserRequest": {"UserName": "jdoe@example.com",
                                             "Password": "Password"}},
        "header": {},
    }


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
    with pytest.raises(SoapClientError, match="unknown operation 'AuthenticateUser' for service "
                                              "AccountService"):
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
