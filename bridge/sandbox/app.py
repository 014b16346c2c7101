"""The sandbox's WSGI application: routes requests to the REST, legacy SOAP and control services."""

from __future__ import annotations

import http
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .controls import CONTROL_PREFIX, ControlService, disturb
from .documentnow import DocumentNowService, clock_routes
from .envelopes import CALL_NAMES as ENVELOPE_CALLS
from .envelopes import EnvelopeService
from .exchange import (
    DRIP_BYTES,
    MAX_BODY,
    Call,
    Request,
    Response,
    Route,
    internal_error,
    not_found,
)
from .legacy import CALL_NAMES as LEGACY_CALLS
from .legacy import LegacyService, Registry
from .nmbrs import NmbrsSandbox, NmbrsSeed, load_nmbrs_seed
from .onespan import OneSpanSandbox, OneSpanSeed, load_onespan_seed
from .rest import CALL_NAMES as REST_CALLS
from .rest import RestService
from .seed import Seed
from .state import SandboxState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)


class DropConnection(Exception):
    """Tells the sandbox's WSGI server to close the connection without answering.

    Other WSGI servers will answer it with their own 500 instead."""


class SandboxApp:
    """The WSGI callable; `state` and the legacy side's `registry` are exposed so tests and
    the demo can inspect and steer them. Nmbrs is served beside AssureSign, from its own seed
    (the bundled one unless `nmbrs_seed` is given)."""

    def __init__(
        self, seed: Seed, state: SandboxState | None = None, nmbrs_seed: NmbrsSeed | None = None,
        onespan_seed: OneSpanSeed | None = None,
    ) -> None:
        self.seed = seed
        self.state = state if state is not None else SandboxState()
        self.registry = Registry(seed)
        self.nmbrs = NmbrsSandbox(nmbrs_seed or load_nmbrs_seed(None), self.state)
        # OneSpan Sign, the second e-sign vendor, from its own seed.
        self.onespan = OneSpanSandbox(onespan_seed or load_onespan_seed(None))
        rest = RestService(seed, self.state)
        self.service_routes: tuple[Route, ...] = (
            rest.routes
            + EnvelopeService(seed, self.state, rest).routes
            + self.onespan.routes
            + LegacyService(seed, self.state, self.registry).routes
            + self.nmbrs.routes
        )
        self.control_routes = (
            ControlService(
                self.state,
                REST_CALLS + ENVELOPE_CALLS + LEGACY_CALLS + self.nmbrs.call_names
                + self.onespan.call_names,
                also_reset=(self.registry.reset, self.nmbrs.reset, self.onespan.reset),
            ).routes
            + self.nmbrs.control_routes
            + self.onespan.control_routes
        )
        # A REST caller's next call and the web UI's landing page; the clock tests move on.
        self.service_routes += DocumentNowService(seed, self.state).routes
        self.control_routes += clock_routes(self.state)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", ""))
        try:
            response = self.handle(_read_request(environ, method, path))
        except Exception:
            # The traceback goes to the log, never to the client; bodies are not logged
            # because they carry passwords and keys.
            logger.exception("sandbox: unexpected error answering %s %s", method, path)
            response = internal_error()
        if response.drop:
            raise DropConnection
        headers = [("Content-Length", str(len(response.body)))]
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        headers.extend(response.extra_headers)
        start_response(_status_line(response.status), headers)
        return _dripping(response.body, response.drip_ms) if response.drip_ms else [response.body]

    def handle(self, request: Request) -> Response:
        """Answer one request (sans-IO: no WSGI involved)."""
        if request.path.startswith(CONTROL_PREFIX):
            routed = _route(self.control_routes, request)
            return routed.run() if isinstance(routed, Call) else routed
        routed = _route(self.service_routes, request)
        # Counted before any injected failure, so a test can count a client's retries.
        if isinstance(routed, Call):
            self.state.count(routed.name, request.header("X-Request-ID"))
        control = self.state.take_control(request.path)
        if control is not None:
            disturbed = disturb(control)
            if disturbed is not None:
                return disturbed
        response = routed.run() if isinstance(routed, Call) else routed
        return replace(response, drip_ms=control.drip_ms) if control and control.drip_ms else response


def _dripping(body: bytes, drip_ms: int) -> Iterator[bytes]:
    for start in range(0, len(body), DRIP_BYTES):
        time.sleep(drip_ms / 1000)
        yield body[start:start + DRIP_BYTES]


def make_app(seed: Seed) -> SandboxApp:
    """A fresh sandbox application with its own state for this seed."""
    return SandboxApp(seed)


def _route(routes: Sequence[Route], request: Request) -> Call | Response:
    for route in routes:
        if route.method == request.method and route.pattern.fullmatch(request.path):
            return route.prepare(request)
    # A route is a method and a path: another method on a known path is no route either.
    # [INFERRED] the vendor's answer to a wrong method is not known; its 404 for a wrong
    # path is (FACTS §7), and its codes have nothing for a 405.
    return not_found()


def _read_request(environ: WSGIEnvironment, method: str, path: str) -> Request:
    # PEP 3333 hands the decoded path over as Latin-1; a user name in it is UTF-8.
    try:
        path = path.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # One byte past the limit is enough for the services to see a body is too large.
    body = environ["wsgi.input"].read(min(length, MAX_BODY + 1)) if length > 0 else b""
    return Request(method, path, headers, body, str(environ.get("QUERY_STRING") or ""))


def _status_line(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
