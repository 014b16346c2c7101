"""The WSGI application: routes, and the SOAP path from the request to the dispatcher, with its
log line and metrics."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from bridge import logs
from bridge.errors import StoreError
from bridge.facade.app import build_facade
from bridge.metrics import (
    BEARER_CACHE,
    LOCKOUTS,
    REQUESTS,
    child,
    count_request,
    render_metrics,
)
from bridge.migrate.dispatch import Handled
from bridge.migrate.exchange import SoapRequest
from bridge.soap.envelope import ASMX, SOAP11, SOAP12, version_of
from bridge.soap.wsdl import asmx_disco, asmx_help_page
from bridge.upstream.legacy import SoapReply
from bridge.wiring import Wiring
from bridge.wsgi import Response, answering, error_response, json_response, read_body

log = logging.getLogger("bridge.app")

StartResponse = Callable[..., Any]
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


class BridgeApp:
    """Serves every request with the parts `wiring.wire` built, through __call__."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring
        self.config = wiring.config
        self.dispatcher = wiring.dispatcher
        # The deprecated REST callers' paths and /v1/sso (bridge/facade), when configured.
        self.facade = build_facade(wiring)
        self.fault_style = wiring.config.fault_style
        # ASMX services are IIS's, which matches paths in any case: each SOAP endpoint and
        # WSDL path by its lower-case spelling (for fault_style: asmx).
        self._any_case = {path.lower(): path for path in [*wiring.service.ports, *wiring.wsdls]
                          } if self.fault_style == ASMX else {}

    # -- WSGI ---------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = environ.get("HTTP_X_REQUEST_ID", "")
        if not _REQUEST_ID.match(request_id):
            request_id = logs.new_request_id()
        facade = self.facade
        if facade is not None and facade.serves(environ.get("PATH_INFO", "")):
            return facade(environ, start_response, request_id)
        log_context = logs.request_id.set(request_id)
        try:
            # A bug outside the SOAP and JSON paths is answered in the caller's SOAP version
            # (1.1 if the Content-Type names neither).
            version = version_of(environ.get("CONTENT_TYPE", "")) or SOAP11
            response, _ = answering(version, lambda: self.route(environ), self.fault_style)
        finally:
            logs.request_id.reset(log_context)
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("X-Request-ID", request_id),
            *response.headers,
        ]
        start_response(f"{response.status} {_phrase(response.status)}", headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        return [response.body]

    def route(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING", "")
        if path == "/healthz":
            return json_response(200, {"status": "ok"})
        if path == "/readyz":
            ready, checks = self.wiring.readiness.check(bool(self.wiring.plans.current().rules))
            readiness: dict[str, Any] = {"status": "ready" if ready else "not ready",
                                         "checks": checks}
            # A revoked grant is told, not made unready: other users' grants still work.
            warnings = self.wiring.grants.warnings() if self.wiring.grants else []
            if warnings:
                readiness["warnings"] = warnings
            return json_response(200 if ready else 503, readiness)
        if path == "/v1/token" or path.startswith("/v1/accounts/"):
            return self.wiring.api(environ, method, path)
        if (path == "/console" or path.startswith("/console/")) and self.wiring.console:
            return self.wiring.console(environ, method, path, self.base_url(environ))
        if path == "/metrics" and method in ("GET", "HEAD"):
            return self.metrics()
        path = self._any_case.get(path.lower(), path)
        wsdl = self.wiring.wsdls.get(path)
        if wsdl is not None and method in ("GET", "HEAD"):
            if query.lower() in ("wsdl", "singlewsdl"):
                body = wsdl.rendered(self.base_url(environ))
                return Response(200, body, "text/xml; charset=utf-8")
            if self.fault_style == ASMX:
                # ASMX answers a GET with its discovery document or its help page.
                if query.lower() == "disco":
                    endpoint = self.base_url(environ).rstrip("/") + path
                    return Response(200, asmx_disco(wsdl, endpoint), "text/xml; charset=utf-8")
                return Response(200, asmx_help_page(wsdl), "text/html; charset=utf-8")
        ports = self.wiring.service.ports
        mtom = path.endswith("/mtom") and path[: -len("mtom")] + "text" in ports
        if path in ports or mtom:
            if method != "POST":
                return Response(405, b"SOAP endpoints accept POST only.\n",
                                "text/plain; charset=utf-8", (("Allow", "POST"),))
            return self.mtom(environ, path) if mtom else self.soap(environ, path)
        return Response(404, b"Not found.\n", "text/plain; charset=utf-8")

    def metrics(self) -> Response:
        breakers = {name: breaker.state for name, breaker in self.wiring.breakers.items()}
        try:
            totals = self.wiring.recorder.totals()
        except StoreError:
            # The instance's own figures matter most during a store outage.
            totals = {}
        return Response(200, render_metrics(totals, breakers).encode(),
                        "text/plain; version=0.0.4; charset=utf-8")

    def base_url(self, environ: dict[str, Any]) -> str:
        if self.config.public_url:
            return self.config.public_url
        proxies = self.wiring.proxies
        host = proxies.forwarded(environ, "host") or environ.get("HTTP_HOST", "")
        if not _HOST.match(host):
            host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
        scheme = proxies.forwarded(environ, "proto") or environ.get("wsgi.url_scheme", "http")
        if scheme not in ("http", "https"):
            scheme = "http"
        return f"{scheme}://{host}"

    # -- the SOAP path --------------------------------------------------------

    def soap(self, environ: dict[str, Any], path: str) -> Response:
        started = time.perf_counter()
        version = version_of(environ.get("CONTENT_TYPE", "")) or SOAP11
        handled = Handled()
        response, error = answering(version, lambda: _response(
            self.dispatcher.handle(self._incoming(environ, path), handled)), self.fault_style)
        if error is not None:
            handled.failed(error)
            if handled.version is not None and handled.version != version:
                # The Envelope said another version than the Content-Type (ASMX reads it so):
                # the error is answered in the Envelope's.
                response = error_response(error, handled.version, self.fault_style)
        self._count(handled, response, time.perf_counter() - started)
        return response

    def mtom(self, environ: dict[str, Any], path: str) -> Response:
        """A WCF MTOM twin (`…/mtom` beside `…/text`): multipart bodies the bridge passes on
        to the legacy service unread, or answers with a Fault naming the text endpoint."""
        # MTOM's start-info (or type) names the SOAP version of the root part.
        content_type = environ.get("CONTENT_TYPE", "")
        version = SOAP12 if "application/soap+xml" in content_type.lower() else SOAP11
        response, error = answering(version, lambda: _response(
            self.dispatcher.forward_mtom(self._incoming(environ, path), version)),
            self.fault_style)
        reason = error.reason if error is not None else "ok"
        REQUESTS.labels("mtom", "legacy" if self.dispatcher.legacy else "-", reason).inc()
        log.info("mtom request", extra={"outcome": reason, "status": response.status})
        return response

    def _incoming(self, environ: dict[str, Any], path: str) -> SoapRequest:
        return SoapRequest(
            path=path,
            body=read_body(environ, self.config.xml_limits.max_bytes),
            content_type=environ.get("CONTENT_TYPE", ""),
            action=environ.get("HTTP_SOAPACTION"),
            client=self.wiring.proxies.client(environ),
            request_id=logs.request_id.get() or "",
            authorization=environ.get("HTTP_AUTHORIZATION"),
        )

    def _count(self, handled: Handled, response: Response, elapsed: float) -> None:
        """The request's metrics and its `soap request` log line."""
        outcome = handled.outcome
        count_request(handled.operation, handled.mode, handled.reason, elapsed)
        if outcome is not None:
            if outcome.cache_hits:
                child(BEARER_CACHE, "hit").inc(outcome.cache_hits)
            if outcome.cache_misses:
                child(BEARER_CACHE, "miss").inc(outcome.cache_misses)
            if outcome.locked_now:
                LOCKOUTS.inc()
        if not log.isEnabledFor(logging.INFO):
            return  # the fields below cost more to gather than to drop
        log.info(
            "soap request",
            extra={
                "operation": handled.operation,
                "mode": handled.mode,
                "cohort": handled.cohort,
                "outcome": handled.reason,
                "detail": outcome.detail if outcome else "",
                "status": response.status,
                "upstream_calls": outcome.upstream_calls if outcome else 0,
                "ms": round(elapsed * 1000, 2),
            },
        )


def _response(reply: SoapReply) -> Response:
    return Response(reply.status, reply.body, reply.content_type)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
