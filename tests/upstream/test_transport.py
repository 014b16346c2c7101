"""The transport against real loopback servers: kept-alive connections, TLS checking, failure kinds."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bridge.errors import UpstreamError
from bridge.upstream.transport import Transport


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the vendor's gateways

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.connections.add(self.client_address)  # type: ignore[attr-defined]
        answer = (b'{"got": "' + body + b'", "accept": "' + self.headers["Accept"].encode()
                  + b'", "path": "' + self.path.encode() + b'"}')
        if self.path.endswith("/hang-up"):
            # Like a gateway's idle timeout: the connection goes away after the answer,
            # without a Connection: close to warn the client.
            self.close_connection = True
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        # /size/N: N bytes with their length; /chunked/N: N bytes in chunks of 1000;
        # /drip/N: N bytes with their length, one every 50 ms.
        shape, size = self.path.strip("/").split("/")
        body = b"x" * int(size)
        self.send_response(200)
        if shape == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 1000):
                piece = body[start:start + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", size)
        self.end_headers()
        if shape == "drip":
            for byte in body:
                time.sleep(0.05)
                try:
                    self.wfile.write(bytes([byte]))
                except OSError:
                    return  # the client gave up
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    connections: set[tuple[str, int]]

    @property
    def url(self) -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Echo)
    server.connections = set()
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def echo() -> Iterator[_Server]:
    yield from _serve()


@pytest.fixture
def https_url(certificate: tuple[Path, Path]) -> Iterator[str]:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for server in _serve(context):
        yield server.url


def test_calls_share_one_kept_alive_connection(echo: _Server) -> None:
    transport = Transport("echo", echo.url, connect_timeout=1, read_timeout=2)
    answers = [transport.send("POST", "/x", f"n{n}".encode(), {"Accept": "application/json"})
               for n in range(5)]
    assert [a.status for a in answers] == [201] * 5
    assert answers[3].body == b'{"got": "n3", "accept": "application/json", "path": "/x"}'
    assert answers[0].headers["content-type"] == "application/json"
    assert len(echo.connections) == 1
    transport.close()


def test_tls_is_checked_unless_turned_off(https_url: str) -> None:
    checked = Transport("tls", https_url, connect_timeout=1, read_timeout=2)
    with pytest.raises(UpstreamError) as caught:
        checked.send("POST", "/", b"x", {"Accept": "*/*"})
    # A certificate nobody vouches for: the request never left, so it is a connect failure.
    assert caught.value.kind == "connect"
    unchecked = Transport("tls", https_url, connect_timeout=1, read_timeout=2, verify_tls=False)
    assert unchecked.send("POST", "/", b"x", {"Accept": "*/*"}).status == 201
    unchecked.close()


def test_nothing_listening_is_a_connect_failure() -> None:
    transport = Transport("down", "http://127.0.0.1:9", connect_timeout=1, read_timeout=1)
    with pytest.raises(UpstreamError, match=r"cannot reach http://127\.0\.0\.1:9") as caught:
        transport.send("GET", "/", None, {})
    assert caught.value.kind == "connect"


def test_a_connection_the_peer_hung_up_is_replaced_before_sending(echo: _Server) -> None:
    transport = Transport("echo", echo.url, connect_timeout=1, read_timeout=2)
    assert transport.send("POST", "/hang-up", b"a", {"Accept": "*/*"}).status == 201
    time.sleep(0.1)  # the peer's close arrives while the connection idles
    # Sent on the dead connection, this would fail after the request went out (`protocol`).
    assert transport.send("POST", "/again", b"b", {"Accept": "*/*"}).status == 201
    assert len(echo.connections) == 2
    transport.close()


def test_the_base_url_path_prefixes_every_request(echo: _Server) -> None:
    transport = Transport("echo", echo.url + "/gateway/", connect_timeout=1, read_timeout=2)
    answer = transport.send("POST", "/api/v3.7/authentication/apiUser", b"k", {"Accept": "*/*"})
    assert b'"path": "/gateway/api/v3.7/authentication/apiUser"' in answer.body
    transport.close()


def test_each_thread_keeps_a_connection_of_its_own(echo: _Server) -> None:
    transport = Transport("echo", echo.url, connect_timeout=1, read_timeout=2)
    bodies: list[bytes] = []

    def login(name: str) -> None:
        for n in range(10):
            bodies.append(transport.send("POST", "/", f"{name}{n}".encode(), {"Accept": "*/*"}).body)

    threads = [threading.Thread(target=login, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bodies) == 30 and all(b'"got": "' in body for body in bodies)
    assert len(echo.connections) == 3  # ten calls each, over one kept-alive connection each
    transport.close()


def test_an_answer_dripping_in_is_cut_at_the_deadline(echo: _Server) -> None:
    # Each byte comes well within read_timeout: only the deadline of the whole call ends it.
    transport = Transport("echo", echo.url, connect_timeout=1, read_timeout=2, deadline=0.3)
    with pytest.raises(UpstreamError, match=r"within the deadline of 0\.3s") as caught:
        transport.send("GET", "/drip/100", None, {})
    assert (caught.value.kind, caught.value.limit) == ("timeout", "deadline")
    # The cut connection is not used again.
    assert transport.send("GET", "/size/10", None, {}).body == b"x" * 10
    transport.close()


def test_the_deadline_is_connect_and_read_timeout_unless_set(echo: _Server) -> None:
    transport = Transport("echo", echo.url, connect_timeout=0.2, read_timeout=0.2)
    with pytest.raises(UpstreamError) as caught:
        transport.send("GET", "/drip/100", None, {})
    assert (caught.value.kind, caught.value.limit) == ("timeout", "deadline")
    transport.close()


@pytest.mark.parametrize("shape", ["size", "chunked"])
def test_answers_over_the_size_cap_are_refused(echo: _Server, shape: str) -> None:
    transport = Transport("echo", echo.url, connect_timeout=1, read_timeout=2,
                          max_answer_bytes=4000)
    assert len(transport.send("GET", f"/{shape}/4000", None, {}).body) == 4000
    with pytest.raises(UpstreamError, match="answered more than 4000 bytes") as caught:
        transport.send("GET", f"/{shape}/4001", None, {})
    assert (caught.value.kind, caught.value.limit) == ("too_large", "max_answer_bytes")
    assert len(transport.send("GET", f"/{shape}/10", None, {}).body) == 10
    transport.close()
