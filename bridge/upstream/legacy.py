"""The legacy SOAP service as an upstream: requests forwarded byte for byte, answers kept whole."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.upstream.rest import Endpoint, transport_for

# Only what describes the message travels on; hop-by-hop and Host headers do not.
FORWARDED_HEADERS = ("Content-Type", "SOAPAction", "X-Request-ID")


@dataclass(frozen=True)
class SoapReply:
    """A SOAP answer on its way back to the caller: the legacy service's, passed on as it
    came, or one the bridge wrote; `elapsed` is how long the legacy service took."""

    status: int
    content_type: str
    body: bytes
    elapsed: float = 0.0


class LegacyClient:
    """POSTs SOAP envelopes to the legacy endpoint at the same path the caller used."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._transport = transport_for(endpoint)

    def forward(self, path: str, body: bytes, headers: dict[str, str]) -> SoapReply:
        sent = {name: value for name, value in headers.items() if name in FORWARDED_HEADERS}
        answer = self._transport.send("POST", path, body, sent)
        return SoapReply(
            status=answer.status,
            content_type=answer.headers.get("Content-Type", "text/xml; charset=utf-8"),
            body=answer.body,
            elapsed=answer.elapsed,
        )

    def close(self) -> None:
        self._transport.close()
