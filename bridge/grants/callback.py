"""The loopback listener `connect` receives the authorization code on (RFC 8252 §7.3): one
GET to the redirect URI's path on 127.0.0.1, answered with a short page, then closed."""

from __future__ import annotations

import http.server
import threading
from urllib.parse import urlsplit, urlunsplit

_PAGE = (b"<!doctype html><html><head><meta charset=utf-8><title>soap-bridge</title></head>"
         b"<body><p>soap-bridge received the authorization. You can close this window.</p>"
         b"</body></html>")


class Callback:
    """Listens on 127.0.0.1 (the redirect URI's port, or any free one) until one request
    reaches the redirect path; `url` is the redirect URI to register the request with."""

    def __init__(self, redirect_uri: str, port: int | None = None) -> None:
        parts = urlsplit(redirect_uri)
        self._path = parts.path or "/"
        self._received: str | None = None
        self._done = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != owner._path:
                    self.send_error(404)
                    return
                owner._received = self.path
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(_PAGE)))
                self.end_headers()
                self.wfile.write(_PAGE)
                owner._done.set()

            def log_message(self, format: str, *args: object) -> None:
                return  # the query holds the code: nothing of it goes to a terminal

        wanted = port if port is not None else (parts.port or 0)
        self._server = http.server.HTTPServer(("127.0.0.1", wanted), Handler)
        bound = self._server.server_address[1]
        self.url = urlunsplit((parts.scheme, f"{parts.hostname}:{bound}", self._path,
                               parts.query, ""))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> str | None:
        """The full callback URL the browser was sent to, or None after `timeout`."""
        self._done.wait(timeout)
        received = self._received
        return None if received is None else urlunsplit(
            (urlsplit(self.url).scheme, urlsplit(self.url).netloc, urlsplit(received).path,
             urlsplit(received).query, ""))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
