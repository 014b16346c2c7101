"""HTTP to one upstream: kept-alive connections, one per thread, and every failure as an UpstreamError kind.

The standard library's http.client, not requests or urllib3: a login pays for each
upstream call on its way, and per call requests spends about 500 µs of CPU and
urllib3 about 270 µs where http.client spends about 150 (settings merging, hooks,
pool bookkeeping; measured on the bench machine, docs/performance.md). What the
bridge needs of a client is small: keep-alive, two timeouts, TLS checking, no
redirects, no proxies. A worker thread serves one request at a time, so a
connection per thread and upstream is a pool without locks.

`read_timeout` bounds each wait for bytes; an upstream that drips its answer a
few bytes at a time never waits that long, so every call also has a deadline
for the whole exchange and a cap on the answer's size.
"""

from __future__ import annotations

import http.client
import io
import logging
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import certifi

from bridge.errors import UpstreamError

log = logging.getLogger("bridge.upstream")

# An answer whose size is not announced is read in pieces this large.
_PIECE = 64 * 1024

# The UpstreamError kind of a request http.client refuses to send (a header value or path no
# HTTP message can carry): nothing went out, the upstream is not at fault (no circuit breaker
# failure), and sending it again cannot help (no `retry` takes it).
UNSENDABLE = "unsendable"


# A header value carries tab and visible Latin-1 text only (RFC 9110 §5.5), checked as text:
# a str past Latin-1 is http.client's UnicodeEncodeError.
_NOT_IN_A_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _unsendable_part(exc: BaseException, path: str) -> str:
    """Which part could not be sent, without the value itself (a header may hold a secret)."""
    if isinstance(exc, http.client.InvalidURL):
        return "the path holds control characters or spaces"
    if isinstance(exc, UnicodeEncodeError) and path and path in str(exc.object):
        return "the path holds characters outside ASCII"
    return "a header value holds a line break, a control character or a character outside Latin-1"


@dataclass(frozen=True)
class Streamed:
    """An answer whose body is still coming: status, headers (case-insensitive), and the
    body's pieces as they arrive."""

    status: int
    headers: Any
    body: Iterator[bytes]
    elapsed: float


@dataclass(frozen=True)
class Answer:
    """What came back, whole: status, headers (case-insensitive) and body."""

    status: int
    headers: Any
    body: bytes
    elapsed: float


class Transport:
    """Sends requests to one upstream base URL over kept-alive connections."""

    def __init__(self, name: str, base_url: str, connect_timeout: float, read_timeout: float,
                 verify_tls: bool = True, deadline: float | None = None,
                 max_answer_bytes: int = 1024 * 1024) -> None:
        self.name = name
        self.base_url = base_url
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream {name}: base_url must be http(s)://host[:port][/path]")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._deadline = deadline if deadline is not None else connect_timeout + read_timeout
        self._max_answer_bytes = max_answer_bytes
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._tls = ssl.create_default_context(cafile=certifi.where())
            if not verify_tls:
                # Said once here, where the operator's choice takes effect, not on every call.
                log.warning("TLS certificates of this upstream are not checked (verify_tls: false)",
                            extra={"upstream": name})
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._all_lock = threading.Lock()

    def send(self, method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> Answer:
        connection, response, started = self._head(method, path, body, headers)
        try:
            data = self._read(response)
        except (_TooLarge, OSError, http.client.HTTPException) as exc:
            self._drop(connection, response)
            raise self._failure(exc, f"{method} {path}") from exc
        if response.will_close:
            self._drop(connection)
        return Answer(response.status, response.headers, data, time.perf_counter() - started)

    def stream(self, method: str, path: str, body: bytes | None,
               headers: dict[str, str]) -> Streamed:
        """Like `send`, but the body is read as the caller iterates `Streamed.body`, within
        the same deadline and size cap: for answers passed on as they come (the REST facade).
        Failures before the answer's head are UpstreamErrors here; later ones, from the
        iteration, which also gives the connection back (or drops it) when it ends."""
        connection, response, started = self._head(method, path, body, headers)
        what = f"{method} {path}"
        if response.length is not None and response.length > self._max_answer_bytes:
            self._drop(connection, response)
            raise self._failure(_TooLarge(), what)
        return Streamed(response.status, response.headers,
                        self._pieces(connection, response, what), time.perf_counter() - started)

    def _head(self, method: str, path: str, body: bytes | None, headers: dict[str, str]
              ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, float]:
        """The request sent and the answer's status and headers read, within the deadline."""
        started = time.perf_counter()
        deadline = time.monotonic() + self._deadline
        connection = self._connection(deadline)
        _timed(connection).deadline = deadline
        try:
            if any(isinstance(value, str) and _NOT_IN_A_HEADER.search(value)
                   for value in headers.values()):
                # http.client refuses a bare CR or LF but sends CR LF + space (obsolete line
                # folding) and NUL as they are: an upstream could read either as a header of
                # its own, so no control character goes out.
                raise ValueError("a header value holds a control character")
            connection.request(method, self._prefix + path, body=body, headers=headers)
        except (ValueError, http.client.InvalidURL) as exc:
            # http.client refuses a header value with a CR/LF or a character outside
            # Latin-1 (ValueError, UnicodeEncodeError) and a path with control characters or
            # spaces (InvalidURL) before a byte is sent: what a rule put there (a user name
            # from the caller's request) cannot be sent, which is no failure of the upstream.
            self._drop(connection)
            raise UpstreamError(self.name, UNSENDABLE, f"{method}: the request cannot be "
                                f"sent ({_unsendable_part(exc, path)})") from exc
        except (OSError, http.client.HTTPException) as exc:
            self._drop(connection)
            raise self._failure(exc, f"{method} {path}") from exc
        try:
            return connection, connection.getresponse(), started
        except (OSError, http.client.HTTPException) as exc:
            self._drop(connection)
            raise self._failure(exc, f"{method} {path}") from exc

    def _pieces(self, connection: http.client.HTTPConnection,
                response: http.client.HTTPResponse, what: str) -> Iterator[bytes]:
        size, whole = 0, False
        try:
            while piece := response.read1(_PIECE):
                size += len(piece)
                if size > self._max_answer_bytes:
                    raise _TooLarge
                yield piece
            whole = True
        except (_TooLarge, OSError, http.client.HTTPException) as exc:
            raise self._failure(exc, what) from exc
        finally:
            # Cut short (by a failure, or a caller that went away): the rest of the answer
            # is still on the wire, so the connection cannot carry another request.
            if not whole or response.will_close:
                self._drop(connection, response)

    def _failure(self, exc: BaseException, what: str) -> UpstreamError:
        """The UpstreamError kind for what broke a call after its connection was open."""
        if isinstance(exc, _DeadlinePassed):
            return UpstreamError(self.name, "timeout", f"no whole answer from {what} within "
                                 f"the deadline of {self._deadline:g}s", "deadline")
        if isinstance(exc, _TooLarge):
            return UpstreamError(self.name, "too_large", f"{what} answered more than "
                                 f"{self._max_answer_bytes} bytes", "max_answer_bytes")
        if isinstance(exc, TimeoutError):
            return UpstreamError(self.name, "timeout", f"no answer from {what} in time")
        # The connection broke after the request went out (in part, at least): it may have
        # been acted on, so this is not the `connect` kind that is safe to repeat.
        return UpstreamError(self.name, "protocol", f"{what}: connection dropped before an "
                             "answer")

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        """The whole body, refused as soon as it is known to be over the cap."""
        cap = self._max_answer_bytes
        if response.length is not None:
            if response.length > cap:
                raise _TooLarge
            return response.read()
        # Chunked, or until the upstream closes: count as it comes.
        pieces: list[bytes] = []
        size = 0
        while piece := response.read1(_PIECE):
            size += len(piece)
            if size > cap:
                raise _TooLarge
            pieces.append(piece)
        return b"".join(pieces)

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()

    def _connection(self, deadline: float) -> http.client.HTTPConnection:
        """This thread's open connection, checked for a peer that hung up while it idled."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and connection.sock is not None and _hung_up(connection.sock):
            self._drop(connection)
            connection = None
        if connection is None or connection.sock is None:
            connection = self._open(min(self._connect_timeout, deadline - time.monotonic()))
        return connection

    def _open(self, connect_timeout: float) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._tls is not None:
            connection = http.client.HTTPSConnection(self._host, self._port,
                                                     timeout=connect_timeout,
                                                     context=self._tls)
        else:
            connection = http.client.HTTPConnection(self._host, self._port,
                                                    timeout=connect_timeout)
        try:
            connection.connect()
        except (OSError, ssl.SSLError) as exc:
            connection.close()
            # Refused, unresolvable, no TLS handshake, or no connection in time: the request
            # never left, which is what makes a `connect` failure safe to repeat.
            raise UpstreamError(self.name, "connect", f"cannot reach {self.base_url}") from exc
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # http.client reads and writes through whatever is in .sock.
        connection.sock = cast(socket.socket, _TimedSocket(connection.sock, self._read_timeout))
        self._local.connection = connection
        with self._all_lock:
            self._all.append(connection)
        return connection

    def _drop(self, connection: http.client.HTTPConnection,
              response: http.client.HTTPResponse | None = None) -> None:
        if response is not None:
            response.close()  # an answer cut short still holds the socket open
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._all_lock:
            if connection in self._all:
                self._all.remove(connection)


class _DeadlinePassed(TimeoutError):
    """The call's deadline passed while its answer was still coming."""


class _TooLarge(Exception):
    """The answer is larger than the upstream's max_answer_bytes."""


class _TimedSocket:
    """A connection's socket that gives each wait the read timeout or what is left of the
    call's deadline, whichever is shorter; everything else goes to the socket itself."""

    def __init__(self, sock: socket.socket, read_timeout: float) -> None:
        self._sock = sock
        self._read_timeout = read_timeout
        self.deadline = float("inf")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def wait(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed
        self._sock.settimeout(min(self._read_timeout, left))

    def sendall(self, data: Any) -> None:
        self.wait()
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        # http.client reads each answer through this, so every read comes by wait().
        return io.BufferedReader(_Reader(self, self._sock.makefile("rb", buffering=0)))


class _Reader(io.RawIOBase):
    def __init__(self, timed: _TimedSocket, raw: Any) -> None:
        self._timed = timed
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._timed.wait()
        try:
            count: int = self._raw.readinto(buffer)
        except TimeoutError as exc:
            if self._timed.deadline <= time.monotonic():
                raise _DeadlinePassed from exc
            raise
        return count

    def close(self) -> None:
        # The socket's own reader: closing it lets a closed connection's socket go.
        self._raw.close()
        super().close()


def _timed(connection: http.client.HTTPConnection) -> _TimedSocket:
    return cast(_TimedSocket, connection.sock)


def _hung_up(sock: socket.socket) -> bool:
    # An idle kept-alive socket that is readable has been closed (or spoken to out of turn)
    # by the peer: sending on it would fail only after the request was written.
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
