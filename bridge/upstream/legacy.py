"""The legacy SOAP service as an upstream: requests forwarded byte for byte, answers kept whole."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from bridge.upstream.rest import Endpoint, new_session, upstream_errors

# Only what describes the message travels on; hop-by-hop and Host headers do not.
FORWARDED_HEADERS = ("Content-Type", "SOAPAction", "X-Request-ID")


@dataclass(frozen=True)
class LegacyReply:
    status: int
    content_type: str
    body: bytes
    elapsed: float


class LegacyClient:
    """POSTs SOAP envelopes to the legacy endpoint at the same path the caller used."""

    def __init__(self, endpoint: Endpoint, session: requests.Session | None = None) -> None:
        self.endpoint = endpoint
        self._session = session or new_session()

    def forward(self, path: str, body: bytes, headers: dict[str, str]) -> LegacyReply:
        sent = {name: value for name, value in headers.items() if name in FORWARDED_HEADERS}
        started = time.perf_counter()
        with upstream_errors(self.endpoint, f"POST {path}"):
            response = self._session.post(
                self.endpoint.base_url + path,
                data=body,
                headers=sent,
                timeout=(self.endpoint.connect_timeout, self.endpoint.read_timeout),
                verify=self.endpoint.verify_tls,
                allow_redirects=False,
            )
        return LegacyReply(
            status=response.status_code,
            content_type=response.headers.get("Content-Type", "text/xml; charset=utf-8"),
            body=response.content,
            elapsed=time.perf_counter() - started,
        )

    def close(self) -> None:
        self._session.close()
