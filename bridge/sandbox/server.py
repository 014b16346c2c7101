"""Serve the sandbox over HTTP with a threaded wsgiref server, in a thread or in the foreground."""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from .app import DropConnection, SandboxApp, make_app
from .exchange import INTERNAL_ERROR_SUMMARY, JSON_TYPE
from .seed import Seed, load_seed
from .state import SandboxState

logger = logging.getLogger(__name__)


class _Handler(ServerHandler):
    """wsgiref's handler, made to drop the connection on DropConnection and never print."""

    # Only reached if the app itself could not answer: still the vendor-shaped 500.
    error_status = "500 Internal Server Error"
    error_headers = [("Content-Type", JSON_TYPE)]
    error_body = json.dumps({"errorCode": "INTERNAL_SERVER_ERROR", "summary": INTERNAL_ERROR_SUMMARY}).encode(
        "utf-8"
    )

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], DropConnection):
            return  # nothing written: the socket closes when the request handler finishes
        super().handle_error()

    def log_exception(self, exc_info: Any) -> None:
        logger.error("sandbox: error while answering", exc_info=exc_info)


class _RequestHandler(WSGIRequestHandler):
    """wsgiref's request handler with request logging silenced and our _Handler."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        # wsgiref's own handle(), only with _Handler in place of ServerHandler.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _Handler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default backlog of 5 refuses connections under a soak's load.
    request_queue_size = 256

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn, a reverse DNS lookup that can
        # stall start-up for seconds on hosts without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up mid-answer (timeouts in fault-injection tests): not worth a traceback.
        logger.debug("sandbox: connection from %s ended badly", client_address, exc_info=True)


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class SandboxServer:
    """A listening sandbox: `url` to reach it, `app`/`state` to steer it, `shutdown()` to stop."""

    def __init__(self, host: str, port: int, seed: Seed) -> None:
        self.app: SandboxApp = make_app(seed)
        server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
        # Binding and listening happen here, so clients may connect as soon as this returns.
        self._server = server_class((host, port), _RequestHandler)
        self._server.set_app(self.app)
        self._thread: threading.Thread | None = None
        self.host = host

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, with a loopback address in place of a wildcard bind address."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> SandboxState:
        return self.app.state

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def shutdown(self) -> None:
        """Stop serving and close the listening socket; requests in flight may still finish."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def serve(host: str, port: int, seed: Seed) -> SandboxServer:
    """A sandbox listening on host:port (0 picks a free port), served from a daemon thread."""
    return SandboxServer(host, port, seed).start()


def start_in_thread(seed: Seed | None = None, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    """serve() with the demo's defaults: the bundled seed on a free loopback port."""
    return serve(host, port, seed if seed is not None else load_seed(None))


def serve_forever(host: str, port: int, seed: Seed, ready: Callable[[str], None] | None = None) -> None:
    """Serve in the calling thread until interrupted; ready(url) is called once listening."""
    server = SandboxServer(host, port, seed)
    try:
        if ready is not None:
            ready(server.url)
        server.serve_forever()
    finally:
        server.shutdown()
