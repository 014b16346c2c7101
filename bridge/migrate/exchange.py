"""One SOAP request as the dispatcher and the side jobs see it: as it came, then as the WSDL
reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.soap.envelope import Envelope
from bridge.soap.service import Operation


@dataclass(frozen=True)
class SoapRequest:
    """A POST to a SOAP endpoint, as the WSGI edge hands it over."""

    path: str
    body: bytes
    content_type: str
    action: str | None = None  # the SOAPAction header
    client: str | None = None  # the caller's address, past trusted proxies
    request_id: str = ""
    # The HTTP Authorization header: where a caller puts its AuthenticationToken for an
    # operation whose legacy request has no field for it (a rule's `http.Authorization`).
    authorization: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """What travels on with the request when it is passed to the legacy service."""
        headers = {"Content-Type": self.content_type, "SOAPAction": self.action or "",
                   "X-Request-ID": self.request_id}
        return {name: value for name, value in headers.items() if value}


@dataclass(frozen=True)
class Exchange:
    """One SOAP request as the caller sent it, and as the WSDL reads it."""

    path: str
    body: bytes
    headers: Mapping[str, str]
    envelope: Envelope
    operation: Operation
    request: Mapping[str, Any]
    client: str | None = None  # the caller's address, past trusted proxies
