"""The one place an error becomes an answer (bridge/wsgi.py's error_response), in both fault
styles: WCF's (the AssureSign service's) and ASMX's (fault_style: asmx, Nmbrs')."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from bridge.errors import (
    BridgeError,
    InternalError,
    RateLimited,
    SoapClientError,
    SoapServerError,
    StoreError,
)
from bridge.soap.envelope import ASMX, SOAP11, SOAP12
from bridge.wsgi import JSON, error_response

ENV11 = "http://schemas.xmlsoap.org/soap/envelope/"
ENV12 = "http://www.w3.org/2003/05/soap-envelope"
ASMX_PREFIX = "Server was unable to process request. ---> 9999: Unkown. "


def _fault11(body: bytes) -> tuple[str, str]:
    fault = etree.fromstring(body).find(f"{{{ENV11}}}Body/{{{ENV11}}}Fault")
    assert fault is not None
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


@pytest.mark.parametrize(("error", "message"), [
    (RateLimited(2.5), "Too many requests. Please try again later."),
    (SoapClientError("unsupported Content-Type 'application/json'", http_status=415),
     "unsupported Content-Type 'application/json'"),
    (SoapClientError("the Envelope has no Body"), "the Envelope has no Body"),
    (SoapServerError("Operation X is not yet migrated.", "not_migrated"),
     "Operation X is not yet migrated."),
    (StoreError(), "The bridge's state store is unavailable. Please try again later."),
], ids=["rate-limited", "unsupported-media", "client", "not-migrated", "store"])
def test_every_bridge_error_is_an_asmx_9999(error: BridgeError, message: str) -> None:
    response = error_response(error, SOAP11, ASMX)

    assert response.status == 500
    assert _fault11(response.body) == ("soap:Server", ASMX_PREFIX + message)
    # What the answer says besides the Fault still goes with it.
    assert response.headers == error.headers()


def test_an_internal_error_names_only_the_request_id() -> None:
    response = error_response(InternalError(), SOAP12, ASMX)

    fault = etree.fromstring(response.body).find(f"{{{ENV12}}}Body/{{{ENV12}}}Fault")
    assert fault is not None
    assert fault.findtext(f"{{{ENV12}}}Code/{{{ENV12}}}Value") == "soap:Receiver"
    text = fault.findtext(f"{{{ENV12}}}Reason/{{{ENV12}}}Text") or ""
    assert re.fullmatch(re.escape(ASMX_PREFIX) + r"Internal error \(request id .*\)\.", text)
    assert response.status == 500


def test_wcf_keeps_its_codes_and_statuses() -> None:
    limited = error_response(RateLimited(1), SOAP11)
    sender = error_response(SoapClientError("bad"), SOAP12)

    assert (limited.status, _fault11(limited.body)) == (
        429, ("s:Client", "Too many requests. Please try again later."))
    assert sender.status == 400


def test_the_json_api_is_not_styled() -> None:
    response = error_response(RateLimited(1), JSON, ASMX)

    assert (response.status, response.content_type) == (429, "application/json")
