"""The SOAP calls the bridge makes to the legacy service on its own account (not a caller's
request passed on): a credentials check for `verify.strategy: legacy`, and the converters
`soap-bridge nmbrs map-ids` reads."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from bridge.errors import Fault, SoapClientError, UpstreamError
from bridge.rules.engine import LEGACY_OK, LEGACY_REFUSED, LegacyCall
from bridge.soap.envelope import read_answer
from bridge.soap.request import answer_data, request_headers, write_request
from bridge.soap.xmlparse import XmlLimits
from bridge.upstream.legacy import LegacyClient

log = logging.getLogger("bridge.legacy")


class LegacyCalls:
    """Writes a request, sends it through the legacy client, reads the answer as plain data."""

    def __init__(self, client: LegacyClient, limits: XmlLimits,
                 retired_at: float | None = None) -> None:
        self.client = client
        self.limits = limits
        self.retired_at = retired_at

    def retired(self) -> bool:
        return self.retired_at is not None and time.time() >= self.retired_at

    def call(self, path: str, namespace: str, operation: str, body: Mapping[str, Any],
             header: Mapping[str, Any] | None = None, action: str | None = None) -> Any:
        """The answer's payload as plain data (`{Operation}Result` inside), or the Fault.
        Raises UpstreamError (no answer) and SoapClientError (an answer that is no SOAP)."""
        envelope = write_request(namespace, operation, body, header)
        headers = request_headers(action or f"{namespace.rstrip('/')}/{operation}")
        reply = self.client.forward(path, envelope, headers)
        payload = read_answer(reply.body, self.limits)
        if isinstance(payload, Fault):
            return payload
        return answer_data(payload)

    def check(self, call: LegacyCall) -> str:
        """LEGACY_OK when the legacy service answers the call, LEGACY_REFUSED when it faults
        with one of the texts that mean wrong credentials, else why it could not tell."""
        try:
            answer = self.call(call.path, call.namespace, call.operation, call.body, call.header,
                               call.action)
        except UpstreamError as exc:
            return f"legacy service {exc.kind}"
        except SoapClientError:
            return "legacy service answered no SOAP"
        if isinstance(answer, Fault):
            if any(text in answer.message for text in call.refused):
                return LEGACY_REFUSED
            # Not the credentials: a fault the rule does not name is the service's trouble.
            log.info("legacy verification faulted", extra={"detail": answer.message[:200]})
            return "legacy service faulted"
        return LEGACY_OK
