"""The WSGI edge's answers: in the vendor's REST form (bridge/facade's callers), every error
class as the vendor's {errorCode, summary}, with the status its JSON form has; as SOAP Faults in
both fault styles, WCF's (the AssureSign service's) and ASMX's (fault_style: asmx, Nmbrs')."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from lxml import etree

from bridge import logs
from bridge.errors import (
    BridgeError,
    Forbidden,
    InternalError,
    RateLimited,
    SoapClientError,
    SoapServerError,
    StoreError,
    UpstreamError,
)
from bridge.soap.envelope import ASMX, SOAP11, SOAP12
from bridge.wsgi import JSON, REST, error_response, rest_error
from tests.test_errors import ANSWERS

VENDOR_CODES = {"BAD_REQUEST", "VALIDATION_FAILED", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND",
                "INTERNAL_SERVER_ERROR", "TOO_MANY_REQUESTS"}


@pytest.fixture(autouse=True)
def _request_id() -> Iterator[None]:
    token = logs.request_id.set("req-1")
    yield
    logs.request_id.reset(token)


@pytest.mark.parametrize("cls", list(ANSWERS), ids=lambda cls: cls.__name__)
def test_each_error_in_the_vendors_rest_shape(cls: type[BridgeError]) -> None:
    error, _, _, _, message, json_status, _, headers = ANSWERS[cls]

    answer = error_response(error, REST)

    assert (answer.status, answer.content_type) == (json_status, "application/json; charset=utf-8")
    body = json.loads(answer.body)
    assert set(body) == {"errorCode", "summary"} and body["summary"] == message
    assert body["errorCode"] in VENDOR_CODES
    assert answer.headers == headers
    assert b"secret detail" not in answer.body


def test_the_codes_follow_the_status() -> None:
    assert json.loads(error_response(Forbidden("no"), REST).body)["errorCode"] == "FORBIDDEN"
    assert json.loads(error_response(RateLimited(3), REST).body)["errorCode"] == (
        "TOO_MANY_REQUESTS")
    for error in (StoreError("x"), UpstreamError("esign", "timeout", "x")):
        assert json.loads(error_response(error, REST).body)["errorCode"] == (
            "INTERNAL_SERVER_ERROR")


def test_details_only_when_there_are_some() -> None:
    assert json.loads(rest_error(400, "BAD_REQUEST", "s").body) == {"errorCode": "BAD_REQUEST",
                                                                    "summary": "s"}
    assert json.loads(rest_error(400, "BAD_REQUEST", "s", ["d"]).body)["details"] == ["d"]


# -- SOAP Faults: WCF and ASMX ------------------------------------------------------------

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
    assert text == ASMX_PREFIX + "Internal error (request id req-1)."
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
