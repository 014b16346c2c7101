"""Whole requests read in each worker's event loop, within deadlines, before a thread serves them.

gunicorn's gthread worker hands a connection to a thread as soon as it is readable
and lets the thread read the headers and the body from the socket: a client that
sends one byte every few seconds holds a thread for as long as it likes, and eight
of them hold every thread of a default bridge. `IntakeWorker` keeps gthread's
threads and everything else, and changes one thing: a connection reaches a thread
only with a whole request already read, by the worker's event loop, without
blocking. A slow client costs a socket and its buffer, never a thread.

- The headers must be in within `header_timeout` of the connection (or, on a
  kept-alive one, of the request's first byte), the body within `body_timeout`
  of the headers; else the client gets `408` and the connection closes.
- Headers over 64 KiB get `431`. A body over `max_body_bytes`, or framing the
  scan cannot follow, goes to a thread with the bytes in so far, to be answered
  (`413`, a Fault, gunicorn's `400`), and the connection then closes.
- `Expect: 100-continue` is answered here, so a client that waits for it sends
  its body.
- The thread's parser reads from the bytes read here, never from the socket.
- Connections are closed the way gunicorn closes them (half-close, drain what the
  client still sends, then close), but in the event loop without blocking it.
"""

from __future__ import annotations

import logging
import re
import selectors
import socket
import ssl
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import http, sock
from gunicorn.workers.gthread import ThreadWorker

log = logging.getLogger("bridge.intake")

MAX_HEADER_BYTES = 64 * 1024
# A chunk-size line longer than this is not one.
_MAX_CHUNK_LINE = 1024
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 64 * 1024
_RECV = 64 * 1024
# The header fields that say where a request ends (in a lower-cased header block).
_FRAMING_FIELDS = re.compile(rb"\r\n(content-length|transfer-encoding|expect)[ \t]*:([^\r\n]*)")


@dataclass(frozen=True)
class ReadLimits:
    """How long a client may take to send a request, and how much of it is read."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_body_bytes: int = 1024 * 1024


def _answer(status: str, text: str) -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: text/plain; "
            f"charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


_TIMED_OUT = _answer("408 Request Timeout", "The request was not received in time.\n")
_HEADERS_TOO_LARGE = _answer("431 Request Header Fields Too Large",
                             "The request's headers are too large.\n")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Framing:
    """Where the request at the start of the bytes received so far ends.

    Fed as bytes arrive; each byte is looked at once or twice, so a body that
    trickles in costs time linear in its size. `done` is set when the request is
    whole, `cut` when it will not be (too large, or framing this scan does not
    follow): the thread gets what is in, and the connection closes after the answer.
    """

    def __init__(self, max_body_bytes: int, data: bytes = b"") -> None:
        self.max_body_bytes = max_body_bytes
        self.buffer = bytearray()
        self.headers_done = self.done = self.cut = self.headers_too_large = False
        self.expects_continue = False
        self._scan = 0  # where the next search starts
        self._body_end = 0  # Content-Length framing: where the body ends
        self._chunked = False
        self._chunk_left = -1  # chunk data (and its CRLF) still due; -1: a size line is due
        self._decoded = 0
        self._trailer = False
        self._trailer_scan = 0
        if data:
            self.feed(data)

    @property
    def received(self) -> int:
        return len(self.buffer)

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if not self.headers_done:
            self._headers()
        if self.headers_done and not (self.done or self.cut):
            if self._chunked:
                self._chunks()
            elif len(self.buffer) >= self._body_end:
                self.done = True

    def _headers(self) -> None:
        # A blank line or two may come before a request line (RFC 9112 §2.2).
        while self.buffer[:2] == b"\r\n":
            del self.buffer[:2]
        end = self.buffer.find(b"\r\n\r\n", max(0, self._scan - 3))
        if end < 0:
            self._scan = len(self.buffer)
            if len(self.buffer) > MAX_HEADER_BYTES:
                self.headers_too_large = True
            return
        if end > MAX_HEADER_BYTES:
            self.headers_too_large = True
            return
        self.headers_done = True
        body_start = end + 4
        fields: dict[bytes, list[bytes]] = {}
        for name, value in _FRAMING_FIELDS.findall(bytes(self.buffer[:end]).lower()):
            fields.setdefault(name, []).append(value.strip())
        encodings = b",".join(fields.get(b"transfer-encoding", []))
        lengths = set(fields.get(b"content-length", []))
        if encodings:
            # Only chunked last is framing anyone can follow; gunicorn refuses the rest.
            self._chunked = encodings.rsplit(b",", 1)[-1].strip() == b"chunked" and not lengths
            self.cut = not self._chunked
            self._scan = body_start
        elif lengths:
            length = lengths.pop()
            if lengths or not length.isdigit():
                self.cut = True  # gunicorn answers 400
                return
            # Over the limit: the app refuses it on its Content-Length, unread.
            self.cut = int(length) > self.max_body_bytes
            self._body_end = body_start + int(length)
        else:
            self._body_end = body_start
        has_body = self._chunked or self._body_end > body_start
        self.expects_continue = has_body and b"100-continue" in fields.get(b"expect", [])

    def _chunks(self) -> None:
        buffer = self.buffer
        while not (self.done or self.cut):
            if self._trailer:
                # No trailer fields (CRLF at once), or fields ending in an empty line.
                ended = (buffer[self._scan:self._scan + 2] == b"\r\n"
                         or buffer.find(b"\r\n\r\n", max(self._scan, self._trailer_scan)) >= 0)
                self._trailer_scan = len(buffer) - 3
                self.done = ended
                self.cut = not ended and len(buffer) - self._scan > MAX_HEADER_BYTES
                return
            if self._chunk_left < 0:
                end = buffer.find(b"\r\n", self._scan)
                if end < 0:
                    self.cut = len(buffer) - self._scan > _MAX_CHUNK_LINE
                    return
                size = bytes(buffer[self._scan:end]).split(b";", 1)[0].strip()
                try:
                    if not size or len(size) > 16:
                        raise ValueError
                    self._chunk_left = int(size, 16) + 2
                except ValueError:
                    self.cut = True  # gunicorn answers 400
                    return
                self._scan = end + 2
                if self._chunk_left == 2:
                    self._trailer = True
                continue
            if len(buffer) - self._scan < self._chunk_left:
                # Framing-heavy bodies (tiny chunks) are cut at twice the limit.
                self.cut = len(buffer) > 2 * self.max_body_bytes + MAX_HEADER_BYTES
                return
            self._scan += self._chunk_left
            if buffer[self._scan - 2:self._scan] != b"\r\n":
                self.cut = True
                return
            self._decoded += self._chunk_left - 2
            self._chunk_left = -1
            # Over the limit with the limit's worth in: the app refuses it with 413.
            self.cut = self._decoded > self.max_body_bytes


class _Intake:
    """One connection being read: its framing and its deadline."""

    def __init__(self, framing: Framing, deadline: float, handshaking: bool) -> None:
        self.framing = framing
        self.deadline = deadline
        self.handshaking = handshaking
        self.continued = False


class IntakeWorker(ThreadWorker):
    """gunicorn's gthread worker, with requests read whole in the event loop (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_limits: ReadLimits = getattr(self.app, "read_limits", None) or ReadLimits()
        self._intakes: dict[Any, _Intake] = {}
        self._lingering: dict[socket.socket, float] = {}

    # -- where gthread hands a connection to a thread ----------------------------------

    def enqueue_req(self, conn: Any) -> None:
        """Every path to a thread comes here: new connections, kept-alive ones that became
        readable, and bytes of a next request read along with the last one."""
        if getattr(conn, "request_ready", False):
            conn.request_ready = False
            super().enqueue_req(conn)
            return
        left_over = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        handshaking = False
        try:
            if self.cfg.is_ssl and not isinstance(conn.sock, ssl.SSLSocket):
                conn.sock = sock.ssl_context(self.cfg).wrap_socket(
                    conn.sock, server_side=True, do_handshake_on_connect=False,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs)
                handshaking = True
            conn.sock.setblocking(False)
        except (OSError, ValueError):
            self.nr_conns -= 1
            self._close(conn.sock)
            return
        limits = self.read_limits
        intake = _Intake(Framing(limits.max_body_bytes, left_over),
                         time.monotonic() + limits.header_timeout, handshaking)
        self._intakes[conn] = intake
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))
        # A kept-alive connection comes here because its next request is arriving: read now.
        self._readable(conn)

    def handle(self, conn: Any) -> Any:
        result = super().handle(conn)
        # The rest of a request that was cut is still coming: never read it as a request.
        return False if getattr(conn, "cut", False) else result

    def handle_request(self, req: Any, conn: Any) -> Any:
        # The body is in already (and 100 Continue was sent if it was asked for).
        req._expected_100_continue = False
        return super().handle_request(req, conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        try:
            keep = fs.result() if not fs.cancelled() else False
        except Exception:
            keep = False
        if keep:
            super().finish_request(conn, fs)
            return
        self.nr_conns -= 1
        self._linger(conn.sock)

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force)
        now = time.monotonic()
        for conn, intake in list(self._intakes.items()):
            if force or intake.deadline <= now:
                self._timed_out(conn, intake)
        for client, until in list(self._lingering.items()):
            if force or until <= now:
                self._close(client)

    # -- reading ----------------------------------------------------------------------------

    def _readable(self, conn: Any, _fileobj: Any = None) -> None:
        intake = self._intakes.get(conn)
        if intake is None:
            return
        client = conn.sock
        if intake.handshaking:
            try:
                client.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ssl.SSLError, OSError):
                self._drop(conn)
                return
            intake.handshaking = False
        framing = intake.framing
        while not (framing.done or framing.cut or framing.headers_too_large):
            try:
                data = client.recv(_RECV)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except OSError:
                self._drop(conn)
                return
            if not data:
                self._drop(conn)  # the client went away before its request was whole
                return
            framing.feed(data)
        self._advance(conn, intake)

    def _advance(self, conn: Any, intake: _Intake) -> None:
        framing = intake.framing
        if framing.headers_too_large:
            self._refuse(conn, _HEADERS_TOO_LARGE)
            return
        if framing.done or framing.cut:
            self._hand_over(conn, framing)
            return
        if framing.headers_done and not intake.continued:
            intake.continued = True
            intake.deadline = time.monotonic() + self.read_limits.body_timeout
            if framing.expects_continue:
                self._send(conn.sock, _CONTINUE)

    def _hand_over(self, conn: Any, framing: Framing) -> None:
        self._forget(conn)
        conn.parser = http.get_parser(self.cfg, iter([bytes(framing.buffer)]), conn.client)
        conn.initialized = conn.data_ready = conn.request_ready = True
        conn.cut = framing.cut
        self.enqueue_req(conn)

    def _timed_out(self, conn: Any, intake: _Intake) -> None:
        framing = intake.framing
        if framing.received == 0 and not intake.continued:
            self._drop(conn)  # nothing asked: an idle connection, closed like gthread's
            return
        phase = "body" if framing.headers_done else "headers"
        log.info("request not received in time", extra={
            "phase": phase, "received_bytes": framing.received,
            "seconds": self.read_limits.body_timeout if framing.headers_done
            else self.read_limits.header_timeout})
        _count_timeout(phase)
        self._refuse(conn, _TIMED_OUT)

    # -- closing ----------------------------------------------------------------------------

    def _forget(self, conn: Any) -> None:
        del self._intakes[conn]
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _drop(self, conn: Any) -> None:
        self._forget(conn)
        self.nr_conns -= 1
        self._close(conn.sock)

    def _refuse(self, conn: Any, answer: bytes) -> None:
        self._forget(conn)
        self.nr_conns -= 1
        self._send(conn.sock, answer)
        self._linger(conn.sock)

    def _linger(self, client: socket.socket) -> None:
        """gunicorn's graceful close without its blocking wait: half-close, then drain
        what the client still sends (so the answer is not cut by a reset) until it closes,
        64 KiB or 2 s, in the event loop."""
        try:
            client.setblocking(False)
            client.shutdown(socket.SHUT_WR)
            self.poller.register(client, selectors.EVENT_READ, self._drain)
        except (OSError, ValueError, KeyError):
            self._close(client)
            return
        self._lingering[client] = time.monotonic() + _LINGER_SECONDS

    def _drain(self, client: socket.socket) -> None:
        try:
            data = client.recv(_LINGER_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except OSError:
            data = b""
        if not data or len(data) >= _LINGER_BYTES:
            self._close(client)

    def _close(self, client: socket.socket) -> None:
        self._lingering.pop(client, None)
        try:
            self.poller.unregister(client)
        except (KeyError, ValueError, OSError):
            pass
        try:
            client.close()
        except OSError:
            pass

    @staticmethod
    def _send(client: socket.socket, data: bytes) -> None:
        # Small, on a connection that has sent nothing back yet: the socket buffer takes it.
        try:
            client.send(data)
        except (OSError, ssl.SSLError):
            pass


def _count_timeout(phase: str) -> None:
    # Imported here: prometheus-client must be imported after `serve` prepared its folder.
    from bridge.metrics import READ_TIMEOUTS

    READ_TIMEOUTS.labels(phase).inc()
