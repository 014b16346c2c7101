"""The WSGI edge's answers in the vendor's REST form (bridge/facade's callers): every error
class as the vendor's {errorCode, summary}, with the status its JSON form has."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bridge import logs
from bridge.errors import BridgeError, Forbidden, RateLimited, StoreError, UpstreamError
from bridge.wsgi import REST, error_response, rest_error
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
