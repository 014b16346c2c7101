"""The bridge's exception tree: every error we raise carries data, not just text.

Each class also says how the caller is answered when it reaches the edge (werkzeug's
way): the Fault's code, the public message, the HTTP status and headers, the `/v1/*`
JSON error, and the outcome the log line and the metrics name. `bridge/wsgi.py` writes
that answer, in one place; `tests/test_errors.py` fails for a class that does not say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Fault:
    """A SOAP Fault in version-neutral terms: code is 'Client' or 'Server'. `soap.envelope`
    writes it in the caller's version."""

    code: str
    message: str


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose.

    Each branch of the tree declares the first four below; an error class that does not,
    nor inherits them from one that does, has no answer (`tests/test_errors.py`)."""

    # Whose mistake, in SOAP's words: "Client" (1.2: Sender) or "Server" (1.2: Receiver).
    fault_code: ClassVar[str]
    # The outcome in the request's log line and the request metrics.
    reason: str
    # The `/v1/*` answer: `{"error": json_error, "error_description": public_message}`.
    json_error: ClassVar[str]
    json_status: int
    # The HTTP status of the Fault; None: SOAP's own (500; 400 for a 1.2 Sender fault).
    http_status: int | None = None
    # Logged at error level (with str(self), which may say more than the caller reads).
    log_message: ClassVar[str | None] = None

    @property
    def public_message(self) -> str | None:
        """What the caller may read; None: nothing but the request id to quote (a bug, or
        an error that should never have reached the caller). The log has the traceback."""
        return None

    def headers(self) -> Headers:
        """HTTP headers the answer carries besides Content-Type."""
        return ()


class InternalError(BridgeError):
    """Something that is no BridgeError reached the edge: a bug."""

    fault_code = "Server"
    reason = "internal_error"
    json_error = "server_error"
    json_status = 500


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
    """Configuration, rules or WSDL are wrong; carries every problem found.

    Found at start-up or by a reload, which keeps the rules in force: one reaching a
    caller is a bug, answered as one."""

    fault_code = "Server"
    reason = "config_error"
    json_error = "server_error"
    json_status = 500

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SoapClientError(BridgeError, ValueError):
    """The caller sent something we cannot accept: answered with a Client/Sender Fault."""

    fault_code = "Client"
    reason = "client_error"
    json_error = "invalid_request"
    json_status = 400

    def __init__(self, message: str, http_status: int | None = None) -> None:
        self.message = message
        # None: the SOAP default (500 for 1.1, 400 for a 1.2 Sender fault).
        self.http_status = http_status
        self.json_status = http_status or self.json_status
        super().__init__(message)

    @property
    def public_message(self) -> str:
        return self.message


class RateLimited(SoapClientError):
    """Over a rate limit: a 429 with Retry-After (for SOAP, unless the operation's rule has a
    `rate_limited` refusal, which answers instead)."""

    reason = "rate_limited"
    json_error = "too_many_requests"

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__("Too many requests. Please try again later.", http_status=429)

    def headers(self) -> Headers:
        return (("Retry-After", str(max(1, math.ceil(self.retry_after)))),)


class SoapServerError(BridgeError, RuntimeError):
    """The request was valid but this bridge cannot carry it out: a Server/Receiver Fault.

    `reason` is what the log line and the request metrics call it (e.g. "not_migrated").
    """

    fault_code = "Server"
    reason = "server_error"
    json_error = "server_error"
    json_status = 500

    def __init__(self, message: str, reason: str = "server_error") -> None:
        self.message = message
        self.reason = reason
        super().__init__(message)

    @property
    def public_message(self) -> str:
        return self.message


class UpstreamError(BridgeError, ConnectionError):
    """An upstream call failed before it produced a usable answer.

    The engine turns it into a refusal and the dispatcher into the legacy-unavailable
    Fault: one reaching a caller is a bug, answered as one."""

    fault_code = "Server"
    reason = "upstream_error"
    json_error = "server_error"
    json_status = 500

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
    """The state store could not be reached or answered nonsense.

    Fail closed: without the store there is no lockout and no token, so no login."""

    fault_code = "Server"
    reason = "store_unavailable"
    json_error = "temporarily_unavailable"
    json_status = 503
    log_message = "store unavailable"

    @property
    def public_message(self) -> str:
        return "The bridge's state store is unavailable. Please try again later."


class Forbidden(BridgeError, PermissionError):
    """What the caller's token stands for may not do this: a session token the bridge does not
    know (any more), or an upstream that answered FORBIDDEN (e.g. authentication/sso).

    403 with the public message: the vendor's `FORBIDDEN` shape on the REST facade, the
    `/v1/*` JSON error elsewhere."""

    fault_code = "Client"
    reason = "forbidden"
    json_error = "forbidden"
    json_status = 403
    http_status = 403

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    @property
    def public_message(self) -> str:
        return self.message
