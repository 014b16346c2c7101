"""Reading SOAP answers in tests: the AuthenticateUser result, refusals and Faults."""

from __future__ import annotations

from lxml import etree

from tests.servers import USERS_NS

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def auth_result(body: bytes, env_ns: str = SOAP11) -> etree._Element:
    """The AuthenticateUserResult element of an answer; fails the test if it is not one."""
    root = etree.fromstring(body)
    assert root.tag == f"{{{env_ns}}}Envelope", body
    result = root.find(f"{{{env_ns}}}Body/{{{USERS_NS}}}AuthenticateUserResponse/"
                       f"{{{USERS_NS}}}AuthenticateUserResult")
    assert result is not None, body
    return result


def refusal(body: bytes) -> tuple[str, str, str | None]:
    """(message, severity, ExpiredPasswordUrl) of a legacy refusal; asserts there is no token."""
    result = auth_result(body)
    assert result.get("Success") == "false"
    assert result.get("AuthenticationToken") is None
    exceptions = result.findall(f"{{{USERS_NS}}}Exceptions/{{{USERS_NS}}}UserException")
    assert len(exceptions) == 1
    return exceptions[0].text or "", exceptions[0].get("Severity") or "", result.get(
        "ExpiredPasswordUrl")


def fault11(body: bytes) -> tuple[str, str]:
    """(faultcode, faultstring) of a SOAP 1.1 Fault."""
    fault = etree.fromstring(body).find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None, body
    assert b"Traceback" not in body
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def fault12(body: bytes) -> tuple[str, str]:
    """(Code/Value, Reason/Text) of a SOAP 1.2 Fault."""
    fault = etree.fromstring(body).find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault is not None, body
    assert b"Traceback" not in body
    return (fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") or "",
            fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") or "")
