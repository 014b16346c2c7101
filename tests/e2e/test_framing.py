"""Bodies whose HTTP framing is broken, sent over a raw socket (requests will not send them):
a 400 in the endpoint's own shape, never a 500 or a traceback."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from tests.servers import (
    AUTH_ACTION,
    SERVERS,
    USERS_PATH,
    Server,
    soap11_login,
    start_bridge,
    write_config,
)
from tests.soapxml import SOAP11, SOAP12

LOGIN = soap11_login("jdoe@example.com", "Password")
MALFORMED = {
    "bad chunk size": b"zz\r\n" + LOGIN + b"\r\n0\r\n\r\n",
    "no CRLF after a chunk": b"5\r\n<soapXX0\r\n\r\n",
    "bad chunk extension": b"5;=x\r\n<soap\r\n0\r\n\r\n",
    "chunk size line without an end": b"1" * 9000,
}


@pytest.fixture(scope="module", params=SERVERS)
def served(request: pytest.FixtureRequest, sandbox: Server,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """The session's bridge under gunicorn, one of the module's own under granian."""
    if request.param == SERVERS[0]:
        yield request.getfixturevalue("bridge"), request.param
        return
    workdir: Path = tmp_path_factory.mktemp("framing")
    server = start_bridge(workdir, write_config(workdir, sandbox.url), server=request.param)
    yield server, request.param
    server.stop()


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
def test_broken_chunked_framing_is_a_client_fault(served: tuple[Server, str], body: bytes) -> None:
    bridge, server = served
    for content_type, envelope, code in (("text/xml; charset=utf-8", SOAP11, "s:Client"),
                                         ("application/soap+xml; charset=utf-8", SOAP12,
                                          "s:Sender")):
        status, answer = _exchange(bridge, USERS_PATH, content_type, body)
        fault = etree.fromstring(answer).find(f"{{{envelope}}}Body/{{{envelope}}}Fault")
        assert fault is not None and code.encode() in answer
        if server == "gunicorn":
            assert status == 400 and b"chunked framing" in answer, answer
        # granian hands the app the body cut where its framing broke, with no error
        # (docs/performance.md#servers): still the caller's fault, for what the cut lacks.


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_broken_chunked_framing_on_the_json_api_is_a_json_400(served: tuple[Server, str],
                                                               body: bytes) -> None:
    bridge, server = served
    status, answer = _exchange(bridge, "/v1/token", "application/x-www-form-urlencoded", body)
    assert status == 400
    if server == "gunicorn":  # granian: refused for the fields the cut body lacks
        assert json.loads(answer)["error"] == "invalid_request"


def test_broken_chunked_framing_on_an_mtom_twin(served: tuple[Server, str]) -> None:
    bridge, server = served
    status, answer = _exchange(bridge, USERS_PATH[: -len("text")] + "mtom",
                               "multipart/related; type=\"application/xop+xml\"",
                               MALFORMED["bad chunk size"])
    fault = etree.fromstring(answer).find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None
    if server == "gunicorn":  # granian: the twin's answer to an empty body
        assert status == 400 and b"s:Client" in answer


def test_no_traceback_after_broken_framing(served: tuple[Server, str]) -> None:
    bridge, _server = served
    for body in MALFORMED.values():
        _exchange(bridge, USERS_PATH, "text/xml; charset=utf-8", body)
    output = bridge.output()
    assert "Traceback" not in output and "unhandled error" not in output
    # A well-framed chunked login still works on the same bridge.
    status, answer = _exchange(bridge, USERS_PATH, "text/xml; charset=utf-8",
                               b"%x\r\n" % len(LOGIN) + LOGIN + b"\r\n0\r\n\r\n")
    assert status == 200 and b'Success="true"' in answer
