"""Bodies whose HTTP framing is broken, sent over a raw socket (requests will not send them):
a 400 in the endpoint's own shape, never a 500 or a traceback."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest
from lxml import etree

from tests.servers import AUTH_ACTION, USERS_PATH, Server, soap11_login
from tests.soapxml import SOAP11, SOAP12

LOGIN = soap11_login("jdoe@example.com", "Password")
MALFORMED = {
    "bad chunk size": b"zz\r\n" + LOGIN + b"\r\n0\r\n\r\n",
    "no CRLF after a chunk": b"5\r\n<soapXX0\r\n\r\n",
    "bad chunk extension": b"5;=x\r\n<soap\r\n0\r\n\r\n",
    "chunk size line without an end": b"1" * 9000,
}


def _exchange(bridge: Server, path: str, content_type: str, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(bridge.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: "
                     f"{content_type}\r\nSOAPAction: \"{AUTH_ACTION}\"\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode() + body)
        answer = http.client.HTTPResponse(conn)
        answer.begin()
        return answer.status, answer.read()


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_broken_chunked_framing_is_a_client_fault(bridge: Server, body: bytes) -> None:
    for content_type, envelope, code in (("text/xml; charset=utf-8", SOAP11, "s:Client"),
                                         ("application/soap+xml; charset=utf-8", SOAP12,
                                          "s:Sender")):
        status, answer = _exchange(bridge, USERS_PATH, content_type, body)
        assert status == 400, answer
        fault = etree.fromstring(answer).find(f"{{{envelope}}}Body/{{{envelope}}}Fault")
        assert fault is not None
        assert code.encode() in answer and b"chunked framing" in answer


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_broken_chunked_framing_on_the_json_api_is_a_json_400(bridge: Server,
                                                               body: bytes) -> None:
    status, answer = _exchange(bridge, "/v1/token", "application/x-www-form-urlencoded", body)
    assert status == 400
    assert json.loads(answer)["error"] == "invalid_request"


def test_broken_chunked_framing_on_an_mtom_twin(bridge: Server) -> None:
    status, answer = _exchange(bridge, USERS_PATH[: -len("text")] + "mtom",
                               "multipart/related; type=\"application/xop+xml\"",
                               MALFORMED["bad chunk size"])
    assert status == 400 and b"s:Client" in answer


def test_no_traceback_after_broken_framing(bridge: Server) -> None:
    for body in MALFORMED.values():
        _exchange(bridge, USERS_PATH, "text/xml; charset=utf-8", body)
    output = bridge.output()
    assert "Traceback" not in output and "unhandled error" not in output
    # A well-framed chunked login still works on the same bridge.
    status, answer = _exchange(bridge, USERS_PATH, "text/xml; charset=utf-8",
                               b"%x\r\n" % len(LOGIN) + LOGIN + b"\r\n0\r\n\r\n")
    assert status == 200 and b'Success="true"' in answer
