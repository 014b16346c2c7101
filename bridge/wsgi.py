"""The WSGI edge both front doors share (SOAP in `app.py`, JSON in `api.py`): the request
body read within its limit, the Response, and the one place an error becomes an answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunicorn.http.errors import NoMoreData, ParseException

from bridge import logs
from bridge.errors import BridgeError, Fault, Headers, InternalError, SoapClientError
from bridge.soap.envelope import WCF, content_type_for, fault_status, write_fault

log = logging.getLogger("bridge.app")

# The form of a `/v1/*` answer; the SOAP versions (soap.envelope.SOAP11, SOAP12) name the others.
JSON = "json"
# The form of an answer to the vendor's REST callers (bridge/facade): its error shape (FACTS §7).
REST = "rest"
_REST_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               413: "BAD_REQUEST", 415: "BAD_REQUEST", 429: "TOO_MANY_REQUESTS"}
# What gunicorn's body reader raises on a body that breaks HTTP/1.1 framing: a bad chunk size,
# extension, terminator or trailer (ParseException and its kin), or the peer ending the
# connection inside the body (NoMoreData). The caller's mistake, answered 400 in one place.
_FRAMING_ERRORS = (ParseException, NoMoreData)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: Headers = ()


def answering(form: str, handle: Callable[[], Response], style: str = WCF
              ) -> tuple[Response, BridgeError | None]:
    """What `handle` answers; if it raises, the answer to the error in `form` (a SOAP
    version, or JSON; a Fault in `style`, `fault_style`), and the error, for the log line and
    the metrics."""
    try:
        return handle(), None
    except Exception as exc:
        error = exc if isinstance(exc, BridgeError) else InternalError()
        if error.public_message is None:
            # The caller learns only that it failed and the id to quote; the log, why.
            log.exception("unhandled error")
        elif error.log_message:
            log.error(error.log_message, extra={"error": str(error)})
        return error_response(error, form, style), error


def error_response(error: BridgeError, form: str, style: str = WCF) -> Response:
    """The one answer to an error: a Fault in the caller's SOAP version and the configured
    style (ASMX's: `---> 9999: Unkown. <message>`, HTTP 500), or the JSON error."""
    message = error.public_message
    if message is None:
        message = f"Internal error (request id {logs.request_id.get()})."
    if form == REST:
        return rest_error(error.json_status, _REST_CODES.get(error.json_status,
                                                             "INTERNAL_SERVER_ERROR"),
                          message, headers=error.headers())
    if form == JSON:
        return json_response(error.json_status, {"error": error.json_error,
                                                 "error_description": message}, error.headers())
    fault = Fault(error.fault_code, message)
    status = fault_status(fault, form, style)
    if style == WCF:
        status = error.http_status or status
    return Response(status, write_fault(fault, form, style), content_type_for(form),
                    error.headers())


def json_response(status: int, body: Any, headers: Headers = ()) -> Response:
    return Response(status, json.dumps(body, separators=(",", ":")).encode(), "application/json",
                    headers)


def rest_error(status: int, error_code: str, summary: str, details: list[str] | None = None,
               headers: Headers = ()) -> Response:
    """The vendor's REST error: top-level errorCode, summary and, if any, details (FACTS §7)."""
    body: dict[str, Any] = {"errorCode": error_code, "summary": summary}
    if details:
        body["details"] = details
    return Response(status, json.dumps(body, separators=(",", ":")).encode(),
                    "application/json; charset=utf-8", headers)


def json_document(raw: bytes) -> Any:
    """A caller's JSON body as data, or None for anything that is not JSON.

    RecursionError too: JSON nested deeper than the parser recurses ([[[[…) fits in any body
    limit, and would otherwise surface as an internal error.
    """
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request body, refused (`SoapClientError`) past `limit` bytes or broken framing."""
    try:
        return _read_framed_body(environ, limit)
    except _FRAMING_ERRORS as exc:
        raise SoapClientError("The request body is malformed: its chunked framing is broken, "
                              "or the connection ended inside it.", http_status=400) from exc


def _read_framed_body(environ: dict[str, Any], limit: int) -> bytes:
    stream = environ["wsgi.input"]
    length_header = environ.get("CONTENT_LENGTH") or ""
    if length_header:
        try:
            length = int(length_header)
        except ValueError as exc:
            raise SoapClientError("Content-Length is not a number", http_status=400) from exc
        if length > limit:
            raise SoapClientError(f"request body exceeds {limit} bytes", http_status=413)
        return bytes(stream.read(length))
    # No length (chunked): read one byte past the limit to know it was exceeded.
    data = bytes(stream.read(limit + 1))
    if len(data) > limit:
        raise SoapClientError(f"request body exceeds {limit} bytes", http_status=413)
    return data
