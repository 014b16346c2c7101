"""Slow and hostile connections: they cost the bridge a socket, never a thread; each gets
408 at its deadline, while other users' logins are answered all along."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.servers import (
    AUTH_ACTION,
    SERVERS,
    USERS_PATH,
    Server,
    post_login,
    soap11_login,
    start_bridge,
    write_config,
)
from tests.soapxml import auth_result

BODY = soap11_login("jdoe@example.com", "Password")
HEAD = (f"POST {USERS_PATH} HTTP/1.1\r\nHost: bridge\r\nContent-Type: text/xml; charset=utf-8\r\n"
        f"SOAPAction: \"{AUTH_ACTION}\"\r\nContent-Length: {len(BODY)}\r\n").encode()


@pytest.fixture(scope="module", params=SERVERS)
def bridge(request: pytest.FixtureRequest, sandbox: Server,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("slow")
    # Short deadlines, so the test sees them pass; 2 workers of 4 threads, as shipped.
    config = write_config(workdir, sandbox.url,
                          limits={"header_timeout": "3s", "body_timeout": "3s"})
    server = start_bridge(workdir, config, workers=2, server=request.param)
    server.extra["server"] = request.param
    yield server
    server.stop()


def _connect(bridge: Server) -> socket.socket:
    host, port = bridge.url.rsplit("/", 1)[1].split(":")
    client = socket.create_connection((host, int(port)), timeout=15)
    return client


def _answer(client: socket.socket) -> bytes:
    """Everything the bridge sends until it closes the connection."""
    received = b""
    while chunk := client.recv(65536):
        received += chunk
    return received


def _response(client: socket.socket) -> bytes:
    """One whole answer, by its Content-Length."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += client.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += client.recv(65536)
    return head + b"\r\n\r\n" + body


def _metric(bridge: Server, name: str) -> str:
    return "\n".join(line for line in requests.get(bridge.url + "/metrics", timeout=5).text
                     .splitlines() if line.startswith(name))


def test_slow_bodies_and_headers_do_not_starve_logins(bridge: Server) -> None:
    if bridge.extra["server"] == "granian":
        # Not run: it would wait out the logins' timeouts. Under granian a trickled body
        # holds a thread with no deadline and late headers are cut without a 408
        # (docs/performance.md#servers): why gunicorn is the default.
        pytest.xfail("granian bounds no body's time and answers no 408")
    slow_bodies = [_connect(bridge) for _ in range(32)]
    slow_headers = [_connect(bridge) for _ in range(32)]
    for client in slow_bodies:
        client.sendall(HEAD + b"\r\n" + BODY[:10])  # headers whole, the body never
    for client in slow_headers:
        client.sendall(HEAD[:20])  # half a request line
    # One more that drips a byte every 300 ms: each read is quick, the whole is not.
    dripping = _connect(bridge)
    dripping.sendall(HEAD + b"\r\n")
    stop = threading.Event()

    def drip() -> None:
        for byte in BODY:
            if stop.wait(0.3):
                return
            try:
                dripping.sendall(bytes([byte]))
            except OSError:
                return  # answered and closed: the deadline holds for the whole body

    dripper = threading.Thread(target=drip)
    dripper.start()
    try:
        # Meanwhile, other users' logins, four at a time, are answered (within the client's
        # usual 10 s: post_login's timeout).
        users = ["jdoe@example.com", "multi@example.com"] * 16
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda user: post_login(bridge, user, "Password"), users))
        assert [auth_result(a.content).get("Success") for a in answers] == ["true"] * 32
        # At their deadline each slow client is told so and let go.
        for client in slow_bodies + slow_headers + [dripping]:
            assert _answer(client).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    finally:
        stop.set()
        dripper.join()
        for client in slow_bodies + slow_headers + [dripping]:
            client.close()
    timeouts = _metric(bridge, "soap_bridge_read_timeouts_total")
    assert 'soap_bridge_read_timeouts_total{phase="body"} 33.0' in timeouts
    assert 'soap_bridge_read_timeouts_total{phase="headers"} 32.0' in timeouts


def test_late_headers_are_cut_at_their_deadline_under_granian(bridge: Server) -> None:
    if bridge.extra["server"] != "granian":
        pytest.skip("gunicorn answers 408: test_slow_bodies_and_headers_do_not_starve_logins")
    # What granian does instead (docs/performance.md#servers): the connection is closed at
    # header_timeout with no answer; no thread was held meanwhile.
    client = _connect(bridge)
    client.sendall(HEAD[:20])
    assert _answer(client) == b""
    client.close()


def test_a_request_sent_in_pieces_within_the_deadlines_is_served(bridge: Server) -> None:
    client = _connect(bridge)
    for piece in (HEAD[:7], HEAD[7:] + b"\r\n", BODY[:50], BODY[50:]):
        client.sendall(piece)
        threading.Event().wait(0.2)
    head, _, body = _response(client).partition(b"\r\n\r\n")
    client.close()
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'Success="true"' in body


def test_a_client_that_waits_for_100_continue_gets_it(bridge: Server) -> None:
    client = _connect(bridge)
    client.sendall(HEAD + b"Expect: 100-continue\r\n\r\n")
    assert client.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.sendall(BODY)
    answer = _response(client)
    client.close()
    # Once: the 100 is not sent a second time before the answer.
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'Success="true"' in answer


def test_pipelined_and_chunked_requests_are_each_answered(bridge: Server) -> None:
    chunked = HEAD.replace(f"Content-Length: {len(BODY)}".encode(),
                           b"Transfer-Encoding: chunked") + b"\r\n"
    chunked += b"".join(b"%x\r\n%s\r\n" % (len(BODY[i:i + 100]), BODY[i:i + 100])
                        for i in range(0, len(BODY), 100)) + b"0\r\n\r\n"
    client = _connect(bridge)
    # Two requests in one write, the second one chunked and asking to close after.
    client.sendall(HEAD + b"\r\n" + BODY + chunked.replace(b"Host: bridge\r\n",
                                                         b"Host: bridge\r\nConnection: close\r\n"))
    answers = _answer(client)
    client.close()
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert answers.count(b'Success="true"') == 2
