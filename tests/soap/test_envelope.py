"""Envelope reading (versions, actions) and Fault writing for SOAP 1.1 and 1.2."""

from __future__ import annotations

import pytest
from lxml import etree

from bridge.errors import Fault, SoapClientError
from bridge.soap.envelope import (
    ASMX,
    SOAP11,
    SOAP12,
    asmx_text,
    fault_status,
    read_envelope,
    version_of,
    write_envelope,
    write_fault,
)
from bridge.soap.xmlparse import XmlLimits

ENV11 = "http://schemas.xmlsoap.org/soap/envelope/"
ENV12 = "http://www.w3.org/2003/05/soap-envelope"
BODY11 = f'<e:Envelope xmlns:e="{ENV11}"><e:Header><h/></e:Header><e:Body><op/></e:Body></e:Envelope>'
BODY12 = f'<e:Envelope xmlns:e="{ENV12}"><e:Body><op/></e:Body></e:Envelope>'


@pytest.mark.parametrize(("content_type", "soap_action", "body", "version", "action"), [
    ("text/xml", '"urn:a"', BODY11, SOAP11, "urn:a"),
    ("text/xml; charset=utf-8", "urn:a", BODY11, SOAP11, "urn:a"),
    ("TEXT/XML", None, BODY11, SOAP11, None),
    ("text/xml", '""', BODY11, SOAP11, None),
    ('application/soap+xml; charset=utf-8; action="urn:b"', None, BODY12, SOAP12, "urn:b"),
    ("application/soap+xml;action=urn:b", None, BODY12, SOAP12, "urn:b"),
    ("application/soap+xml", None, BODY12, SOAP12, None),
])
def test_read(content_type: str, soap_action: str | None, body: str, version: str,
              action: str | None) -> None:
    envelope = read_envelope(body.encode(), content_type, soap_action, XmlLimits())
    assert (envelope.version, envelope.action) == (version, action)
    assert envelope.payload is not None and envelope.payload.tag == "op"


def test_header_is_kept() -> None:
    envelope = read_envelope(BODY11.encode(), "text/xml", None, XmlLimits())
    assert envelope.header is not None and envelope.header[0].tag == "h"


@pytest.mark.parametrize(("content_type", "body", "message", "status"), [
    ("application/json", BODY11, "unsupported Content-Type", 415),
    ("", BODY11, r"unsupported Content-Type '\(none\)'", 415),
    ("application/soap+xml", BODY11, "SOAP 1.1 envelope was sent with the SOAP 1.2", None),
    ("text/xml", '<e:Envelope xmlns:e="urn:x"><e:Body/></e:Envelope>', "not in a SOAP envelope",
     None),
])
def test_refused(content_type: str, body: str, message: str, status: int | None) -> None:
    with pytest.raises(SoapClientError, match=message) as caught:
        read_envelope(body.encode(), content_type, None, XmlLimits())
    assert caught.value.http_status == status


def test_version_of() -> None:
    assert version_of("text/xml; charset=utf-8") == SOAP11
    assert version_of("application/soap+xml") == SOAP12
    assert version_of("text/plain") is None


def test_fault_11() -> None:
    fault = Fault("Client", "bad <input> & more")
    assert fault_status(fault, SOAP11) == 500
    root = etree.fromstring(write_fault(fault, SOAP11))
    node = root.find(f"{{{ENV11}}}Body/{{{ENV11}}}Fault")
    assert node is not None
    assert node.findtext("faultcode") == "s:Client"
    assert node.findtext("faultstring") == "bad <input> & more"
    # The prefix in faultcode must be bound to the envelope namespace.
    assert root.nsmap["s"] == ENV11


@pytest.mark.parametrize(("code", "value", "status"), [
    ("Client", "s:Sender", 400), ("Server", "s:Receiver", 500)])
def test_fault_12(code: str, value: str, status: int) -> None:
    fault = Fault(code, "why")
    assert fault_status(fault, SOAP12) == status
    root = etree.fromstring(write_fault(fault, SOAP12))
    base = f"{{{ENV12}}}Body/{{{ENV12}}}Fault"
    assert root.findtext(f"{base}/{{{ENV12}}}Code/{{{ENV12}}}Value") == value
    assert root.findtext(f"{base}/{{{ENV12}}}Reason/{{{ENV12}}}Text") == "why"


def test_write_envelope_wraps_the_payload() -> None:
    data = write_envelope(SOAP12, etree.Element("{urn:x}Answer"))
    root = etree.fromstring(data)
    assert root.tag == f"{{{ENV12}}}Envelope"
    assert root[0][0].tag == "{urn:x}Answer"
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")


# -- ASMX (fault_style: asmx) -------------------------------------------------------------


@pytest.mark.parametrize(("message", "text"), [
    ("1001: Invalid Authentication",
     "Server was unable to process request. ---> 1001: Invalid Authentication"),
    ("Too many requests.", "Server was unable to process request. ---> 9999: Unkown. Too many "
                           "requests."),
    ("", "Server was unable to process request. ---> 9999: Unkown"),
    ("Server was unable to process request. ---> 2046: Not Found",
     "Server was unable to process request. ---> 2046: Not Found"),
])
def test_asmx_text_always_carries_a_code(message: str, text: str) -> None:
    assert asmx_text(message) == text


@pytest.mark.parametrize("code", ["Client", "Server"])
def test_asmx_fault_11_is_soap_server_500_with_an_empty_detail(code: str) -> None:
    fault = Fault(code, "1002: Unauthorized Access")
    data = write_fault(fault, SOAP11, ASMX)

    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope ')
    root = etree.fromstring(data)
    assert root.nsmap == {"soap": ENV11, "xsi": "http://www.w3.org/2001/XMLSchema-instance",
                          "xsd": "http://www.w3.org/2001/XMLSchema"}
    node = root.find(f"{{{ENV11}}}Body/{{{ENV11}}}Fault")
    assert node is not None
    assert [child.tag for child in node] == ["faultcode", "faultstring", "detail"]
    assert node.findtext("faultcode") == "soap:Server"
    assert node.findtext("faultstring") == ("Server was unable to process request. ---> 1002: "
                                            "Unauthorized Access")
    assert fault_status(fault, SOAP11, ASMX) == 500


def test_asmx_fault_12_is_receiver_500() -> None:
    fault = Fault("Client", "1001: Invalid Authentication")
    root = etree.fromstring(write_fault(fault, SOAP12, ASMX))
    node = root.find(f"{{{ENV12}}}Body/{{{ENV12}}}Fault")

    assert node is not None
    assert node.findtext(f"{{{ENV12}}}Code/{{{ENV12}}}Value") == "soap:Receiver"
    assert node.findtext(f"{{{ENV12}}}Reason/{{{ENV12}}}Text") == (
        "Server was unable to process request. ---> 1001: Invalid Authentication")
    assert node.find(f"{{{ENV12}}}Detail") is not None
    # WCF answers a 1.2 Sender fault 400; ASMX every fault 500.
    assert (fault_status(fault, SOAP12), fault_status(fault, SOAP12, ASMX)) == (400, 500)


@pytest.mark.parametrize(("content_type", "soap_action", "body", "version", "action"), [
    ("text/xml; charset=utf-8", None, BODY12, SOAP12, None),
    ("text/xml", '"urn:a"', BODY12, SOAP12, "urn:a"),
    ('application/soap+xml; action="urn:b"', None, BODY11, SOAP11, "urn:b"),
])
def test_by_envelope_the_version_is_the_envelopes(content_type: str, soap_action: str | None,
                                                  body: str, version: str,
                                                  action: str | None) -> None:
    envelope = read_envelope(body.encode(), content_type, soap_action, XmlLimits(),
                             by_envelope=True)

    assert (envelope.version, envelope.action) == (version, action)
    assert envelope.payload is not None and envelope.payload.tag == "op"
    # WCF's reading refuses the same request.
    with pytest.raises(SoapClientError, match="envelope was sent with the SOAP"):
        read_envelope(body.encode(), content_type, soap_action, XmlLimits())
