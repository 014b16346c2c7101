"""HTTP to one upstream: kept-alive connections, one per thread, and every failure as an UpstreamError kind.

The standard library's http.client, not requests or urllib3: a login pays for each
upstream call on its way, and per call requests spends about 500 µs of CPU and
urllib3 about 270 µs where http.client spends about 150 (settings merging, hooks,
pool bookkeeping; measured on the bench machine, docs/performance.md). What the
bridge needs of a client is small: keep-alive, two timeouts, TLS checking, no
redirects, no proxies. A worker thread serves one request at a time, so a
connection per thread and upstream is a pool without locks.
"""

from __future__ import annotations

import http.client
import logging
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi

from bridge.errors import UpstreamError

log = logging.getLogger("bridge.upstream")


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
                 verify_tls: bool = True) -> None:
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
        what = f"{method} {path}"
        started = time.perf_counter()
        connection = self._connection()
        try:
            connection.request(method, self._prefix + path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except TimeoutError as exc:
            self._drop(connection)
            raise UpstreamError(self.name, "timeout", f"no answer from {what} in time") from exc
        except (OSError, http.client.HTTPException) as exc:
            # The connection broke after the request went out (in part, at least): it may
            # have been acted on, so this is not the `connect` kind that is safe to repeat.
            self._drop(connection)
            raise UpstreamError(self.name, "protocol",
                                f"{what}: connection dropped before an answer") from exc
        if response.will_close:
            self._drop(connection)
        return Answer(response.status, response.headers, data, time.perf_counter() - started)

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()

    def _connection(self) -> http.client.HTTPConnection:
        """This thread's open connection, checked for a peer that hung up while it idled."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and connection.sock is not None and _hung_up(connection.sock):
            self._drop(connection)
            connection = None
        if connection is None or connection.sock is None:
            connection = self._open()
        return connection

    def _open(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._tls is not None:
            connection = http.client.HTTPSConnection(self._host, self._port,
                                                     timeout=self._connect_timeout,
                                                     context=self._tls)
        else:
            connection = http.client.HTTPConnection(self._host, self._port,
                                                    timeout=self._connect_timeout)
        try:
            connection.connect()
        except (OSError, ssl.SSLError) as exc:
            connection.close()
            # Refused, unresolvable, no TLS handshake, or no connection in time: the request
            # never left, which is what makes a `connect` failure safe to repeat.
            raise UpstreamError(self.name, "connect", f"cannot reach {self.base_url}") from exc
        assert connection.sock is not None
        connection.sock.settimeout(self._read_timeout)
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.connection = connection
        with self._all_lock:
            self._all.append(connection)
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._all_lock:
            if connection in self._all:
                self._all.remove(connection)


def _hung_up(sock: socket.socket) -> bool:
    # An idle kept-alive socket that is readable has been closed (or spoken to out of turn)
    # by the peer: sending on it would fail only after the request was written.
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
