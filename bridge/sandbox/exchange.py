"""Plain request and response values passed between the sandbox's WSGI shell and its services."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"

# The vendor's error codes (FACTS §7): the sandbox answers with these and no others.
BAD_REQUEST = "BAD_REQUEST"
VALIDATION_FAILED = "VALIDATION_FAILED"
UNAUTHORIZED = "UNAUTHORIZED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
ERROR_CODES = frozenset(
    {BAD_REQUEST, VALIDATION_FAILED, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, INTERNAL_SERVER_ERROR}
)
NOT_FOUND_SUMMARY = "The requested resource was not found."
INTERNAL_ERROR_SUMMARY = "An Unknown Error Occurred. (Error code: SBX01)"
# The largest request body read; the rest of a bigger one is never looked at.
MAX_BODY = 1024 * 1024
# A dripping answer (the drip_ms control) goes out this many bytes at a time.
DRIP_BYTES = 8


@dataclass(frozen=True)
class Request:
    """One HTTP request; header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    # The query string as sent (not decoded): Nmbrs' ?WSDL, paging and OAuth parameters.
    query: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def params(self) -> dict[str, str]:
        """The query's parameters, decoded; of a repeated one, the last."""
        return {key: values[-1] for key, values in urllib.parse.parse_qs(self.query).items()}

    @property
    def base_url(self) -> str:
        """This sandbox as the caller reached it (plain HTTP), for URLs handed back to it."""
        return f"http://{self.header('host') or '127.0.0.1'}"


@dataclass(frozen=True)
class Response:
    """One HTTP answer; drop=True means close the connection without answering at all."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    # Send the body DRIP_BYTES at a time, this many milliseconds apart.
    drip_ms: int = 0


def json_response(status: int, document: object) -> Response:
    return Response(status, json.dumps(document).encode("utf-8"), JSON_TYPE)


def rest_error(status: int, error_code: str, summary: str, details: list[str] | None = None) -> Response:
    """An error in the vendor's REST shape: top-level errorCode, summary and, if any, details."""
    if error_code not in ERROR_CODES:
        raise ValueError(f"{error_code!r} is not one of the vendor's error codes")
    document: dict[str, object] = {"errorCode": error_code, "summary": summary}
    if details:
        document["details"] = details
    return json_response(status, document)


def not_found() -> Response:
    """The vendor's answer for a request it has no route for (FACTS §7, §9.3)."""
    return rest_error(404, NOT_FOUND, NOT_FOUND_SUMMARY)


def internal_error() -> Response:
    return rest_error(500, INTERNAL_SERVER_ERROR, INTERNAL_ERROR_SUMMARY)


def no_content() -> Response:
    return Response(204)


@dataclass(frozen=True)
class Call:
    """A routed request: the name it is counted under and the work that answers it."""

    name: str
    run: Callable[[], Response]


@dataclass(frozen=True)
class Route:
    """Which requests a service answers and how it turns one into a Call."""

    pattern: re.Pattern[str]
    method: str
    prepare: Callable[[Request], Call]


Handler = Callable[[Request, re.Match[str]], Response]


class Refused(Exception):
    """Carries a finished refusal out of a route's handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def route(pattern: str, method: str, name: str, handler: Handler) -> Route:
    """A route counted under `name` whose handler gets the request and the path's match, and
    may answer by raising Refused."""
    compiled = re.compile(pattern)

    def prepare(request: Request) -> Call:
        def run() -> Response:
            match = compiled.fullmatch(request.path)
            assert match is not None  # the app routed the request here by this pattern
            try:
                return handler(request, match)
            except Refused as refusal:
                return refusal.response

        return Call(name, run)

    return Route(compiled, method, prepare)
