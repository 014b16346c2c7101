"""HTTP to an OAuth2 identity service: discovery, form posts to its endpoints, and an authorize
redirect read without following it. Its endpoints are absolute URLs (a discovery document may
name other hosts), so there is one kept-alive transport per origin."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit

from bridge.errors import UpstreamError
from bridge.upstream.rest import Endpoint
from bridge.upstream.transport import Answer, Transport

DISCOVERY = "/.well-known/openid-configuration"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class FormAnswer:
    """A form post's answer: its status and its JSON body (None if it was not JSON)."""

    status: int
    body: Any


class IdentityClient:
    """One identity service, reached with the timeouts of `endpoint` (its base_url the
    identity service's)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._transports: dict[str, Transport] = {}
        self._lock = threading.Lock()

    def discover(self) -> dict[str, Any]:
        answer = self._send("GET", self.endpoint.base_url + DISCOVERY, None,
                            {"Accept": "application/json"})
        document = _json(answer.body)
        if answer.status != 200 or not isinstance(document, dict):
            raise UpstreamError(self.endpoint.name, "protocol",
                                f"the discovery document answered {answer.status}, not JSON")
        return document

    def post_form(self, url: str, form: str, client_id: str, client_secret: str) -> FormAnswer:
        """POST a form with HTTP Basic client authentication (RFC 6749 §2.3.1: both parts
        form-urlencoded before they are joined)."""
        basic = base64.b64encode(
            f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()).decode()
        answer = self._send("POST", url, form.encode("utf-8"), {
            "Accept": "application/json", "Content-Type": FORM, "Authorization": f"Basic {basic}"})
        return FormAnswer(answer.status, _json(answer.body))

    def redirect_of(self, url: str) -> str | None:
        """The Location an authorize URL redirects to, read and not followed (for an identity
        service that consents unattended: the sandbox)."""
        answer = self._send("GET", url, None, {"Accept": "text/html"})
        if answer.status not in (301, 302, 303, 307, 308):
            return None
        location = answer.headers.get("Location")
        return str(location) if location else None

    def close(self) -> None:
        with self._lock:
            transports, self._transports = self._transports, {}
        for transport in transports.values():
            transport.close()

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamError(self.endpoint.name, "protocol", "an identity endpoint is not an "
                                "http(s) URL")
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            transport = self._transports.get(origin)
            if transport is None:
                settings = replace(self.endpoint, base_url=origin)
                transport = self._transports[origin] = Transport(
                    settings.name, origin, settings.connect_timeout, settings.read_timeout,
                    settings.verify_tls, settings.total_deadline, settings.max_answer_bytes)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return transport.send(method, path, body, headers)


def _json(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        return None
