"""Errors to answers, in one place: each error class's Fault (SOAP 1.1 and 1.2) and `/v1/*`
JSON error, and a failure for any error class that does not say how it is answered."""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree

import bridge
from bridge import logs
from bridge.config import MissingSecret
from bridge.errors import (
    BridgeError,
    ConfigError,
    Forbidden,
    InternalError,
    Problem,
    RateLimited,
    SoapClientError,
    SoapServerError,
    StoreError,
    UpstreamError,
)
from bridge.soap.envelope import SOAP11, SOAP12
from bridge.wsgi import JSON, Response, answering, error_response

ENV11 = "http://schemas.xmlsoap.org/soap/envelope/"
ENV12 = "http://www.w3.org/2003/05/soap-envelope"
INTERNAL = "Internal error (request id req-1)."
STORE = "The bridge's state store is unavailable. Please try again later."
TOO_MANY = "Too many requests. Please try again later."


def _error_classes(root: type[BridgeError] = BridgeError) -> Iterator[type[BridgeError]]:
    for sub in root.__subclasses__():
        yield sub
        yield from _error_classes(sub)


def _import_the_bridge() -> None:
    """Every module of the bridge, so every error class it defines is known."""
    for module in pkgutil.walk_packages(bridge.__path__, "bridge."):
        if module.name != "bridge.__main__" and not module.name.startswith("bridge.sandbox"):
            importlib.import_module(module.name)


# One error of each class, and what the caller gets for it: the Fault's code, its status in
# SOAP 1.1 and 1.2, the message, then the /v1/* status and error, and the extra headers.
ANSWERS: dict[type[BridgeError], tuple[BridgeError, str, int, int, str, int, str, tuple[Any, ...]]] = {
    InternalError: (InternalError(), "Server", 500, 500, INTERNAL, 500, "server_error", ()),
    ConfigError: (ConfigError([Problem("rules.yaml", 3, "secret detail")]), "Server", 500, 500,
                  INTERNAL, 500, "server_error", ()),
    MissingSecret: (MissingSecret([Problem("env", None, "API_KEY is not set")]), "Server", 500,
                    500, INTERNAL, 500, "server_error", ()),
    SoapClientError: (SoapClientError("the Envelope has no Body"), "Client", 500, 400,
                      "the Envelope has no Body", 400, "invalid_request", ()),
    RateLimited: (RateLimited(1.2), "Client", 429, 429, TOO_MANY, 429, "too_many_requests",
                  (("Retry-After", "2"),)),
    SoapServerError: (SoapServerError("Operation ListUsers is not yet migrated.", "not_migrated"),
                      "Server", 500, 500, "Operation ListUsers is not yet migrated.", 500,
                      "server_error", ()),
    UpstreamError: (UpstreamError("esign", "timeout", "secret detail"), "Server", 500, 500,
                    INTERNAL, 500, "server_error", ()),
    StoreError: (StoreError("redis said secret detail"), "Server", 500, 500, STORE, 503,
                 "temporarily_unavailable", ()),
    Forbidden: (Forbidden("The session token is invalid or has expired."), "Client", 403, 403,
                "The session token is invalid or has expired.", 403, "forbidden", ()),
}


@pytest.fixture(autouse=True)
def _request_id() -> Iterator[None]:
    token = logs.request_id.set("req-1")
    yield
    logs.request_id.reset(token)


def test_every_error_class_says_how_it_is_answered() -> None:
    _import_the_bridge()
    classes = set(_error_classes())
    # A new error class fails here until it says how it is answered and has its row above.
    assert classes == set(ANSWERS), "error classes without a row in ANSWERS"
    for cls in classes:
        for attribute in ("fault_code", "reason", "json_error", "json_status"):
            assert hasattr(cls, attribute), f"{cls.__name__} does not say its {attribute}"
        assert cls.fault_code in ("Client", "Server")


def _fault(response: Response, envelope: str) -> tuple[str | None, str | None]:
    root = etree.fromstring(response.body)
    fault = root.find(f"{{{envelope}}}Body/{{{envelope}}}Fault")
    assert fault is not None
    if envelope == ENV11:
        return fault.findtext("faultcode"), fault.findtext("faultstring")
    return (fault.findtext(f"{{{ENV12}}}Code/{{{ENV12}}}Value"),
            fault.findtext(f"{{{ENV12}}}Reason/{{{ENV12}}}Text"))


@pytest.mark.parametrize("cls", list(ANSWERS), ids=lambda cls: cls.__name__)
def test_the_answer_to_each_error(cls: type[BridgeError]) -> None:
    error, code, status11, status12, message, json_status, json_error, headers = ANSWERS[cls]

    soap11 = error_response(error, SOAP11)
    soap12 = error_response(error, SOAP12)
    answer = error_response(error, JSON)

    assert (soap11.status, soap11.content_type) == (status11, "text/xml; charset=utf-8")
    assert _fault(soap11, ENV11) == (f"s:{code}", message)
    assert (soap12.status, soap12.content_type) == (status12,
                                                   "application/soap+xml; charset=utf-8")
    assert _fault(soap12, ENV12) == ("s:" + {"Client": "Sender", "Server": "Receiver"}[code],
                                     message)
    assert (answer.status, answer.content_type) == (json_status, "application/json")
    assert json.loads(answer.body) == {"error": json_error, "error_description": message}
    assert soap11.headers == soap12.headers == answer.headers == headers
    # What only the log may read never reaches the caller.
    assert b"secret detail" not in soap11.body + soap12.body + answer.body


def test_a_client_error_keeps_its_own_status() -> None:
    error = SoapClientError("request body exceeds 10 bytes", http_status=413)

    assert error_response(error, SOAP11).status == error_response(error, SOAP12).status == 413
    assert error_response(error, JSON).status == 413


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert RateLimited(0.01).headers() == (("Retry-After", "1"),)
    assert RateLimited(59.2).headers() == (("Retry-After", "60"),)


def test_answering_passes_an_answer_through() -> None:
    response = Response(200, b"ok", "text/plain")

    assert answering(SOAP11, lambda: response) == (response, None)


def test_answering_turns_an_error_into_its_answer(caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> Response:
        raise StoreError("connection refused")

    with caplog.at_level(logging.INFO, logger="bridge.app"):
        response, error = answering(JSON, fail)

    assert isinstance(error, StoreError) and response.status == 503
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "store unavailable")]


def test_a_bug_is_an_internal_error_with_its_traceback_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> Response:
        raise KeyError("oops")

    response, error = answering(SOAP12, fail)

    assert isinstance(error, InternalError)
    assert _fault(response, ENV12) == ("s:Receiver", INTERNAL)
    record = next(r for r in caplog.records if r.getMessage() == "unhandled error")
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_a_caller_mistake_is_not_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> Response:
        raise SoapClientError("the Envelope has no Body")

    answering(SOAP11, fail)

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
