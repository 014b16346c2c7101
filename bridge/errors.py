"""The bridge's exception tree: every error we raise carries data, not just text."""

from __future__ import annotations

from dataclasses import dataclass


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One mistake in a configuration or rules file, located for a human."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ConfigError(BridgeError, ValueError):
    """Configuration, rules or WSDL are wrong; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SoapClientError(BridgeError, ValueError):
    """The caller sent something we cannot accept: answered with a Client/Sender Fault."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        self.message = message
        # None: the SOAP default (500 for 1.1, 400 for a 1.2 Sender fault).
        self.http_status = http_status
        super().__init__(message)


class SoapServerError(BridgeError, RuntimeError):
    """The request was valid but this bridge cannot carry it out: a Server/Receiver Fault.

    `reason` is what the log line and the request metrics call it (e.g. "not_migrated").
    """

    def __init__(self, message: str, reason: str = "server_error") -> None:
        self.message = message
        self.reason = reason
        super().__init__(message)


class UpstreamError(BridgeError, ConnectionError):
    """An upstream call failed before it produced a usable answer."""

    def __init__(self, upstream: str, kind: str, detail: str, limit: str | None = None) -> None:
        self.upstream = upstream
        # "timeout" | "connect" | "protocol" | "too_large" | "open": what the error-mapping
        # rules match on.
        self.kind = kind
        self.detail = detail
        # The upstream setting that cut the call short ("deadline", "max_answer_bytes"), if
        # one did: the metrics count by it, so a dripping upstream is told from a silent one.
        self.limit = limit
        super().__init__(f"upstream {upstream!r} {kind}: {detail}")


class StoreError(BridgeError, RuntimeError):
    """The state store could not be reached or answered nonsense."""
