"""The WSGI application: routes, the SOAP request path, and wiring from the config."""

from __future__ import annotations

import json
import logging
import re
import secrets as random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bridge import logs
from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.passwords import CredentialsFile
from bridge.auth.tokens import TokenIssuer
from bridge.check import load_rules
from bridge.config import Config, resolve_secrets
from bridge.errors import SoapClientError, StoreError
from bridge.rules.engine import EngineContext, Outcome, RuleEngine
from bridge.soap.envelope import (
    SOAP11,
    Fault,
    content_type_for,
    read_envelope,
    version_of,
    write_envelope,
)
from bridge.soap.service import SoapService
from bridge.soap.wsdl import WsdlDocument
from bridge.soap.xmlparse import XmlLimits
from bridge.store import open_store
from bridge.upstream.rest import RestClient, new_session

log = logging.getLogger("bridge.app")

StartResponse = Callable[..., Any]
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 413: "Content Too Large",
            415: "Unsupported Media Type", 500: "Internal Server Error",
            503: "Service Unavailable"}


class BridgeApp:
    """Built once per process from the config; every request goes through __call__."""

    def __init__(self, config: Config, state_key: bytes | None = None) -> None:
        self.config = config
        self.service = SoapService(config.wsdl)
        self.wsdl = WsdlDocument(config.wsdl)
        self.rules = load_rules(config, self.service)
        secrets = resolve_secrets(config)
        self.limits = XmlLimits(max_bytes=config.max_body_bytes)
        self.store = open_store(config.store, config.source)
        session = new_session()
        upstreams = {name: RestClient(endpoint, session)
                     for name, endpoint in config.upstreams.items()}
        policy = LockoutPolicy(
            config.lockout.max_failures, config.lockout.window, config.lockout.duration
        )
        context = EngineContext(
            upstreams=upstreams,
            store=self.store,
            tokens=TokenIssuer(self.store),
            lockout=Lockout(self.store, policy),
            secrets=secrets,
            vars=config.vars,
            token_ttl=config.token_ttl,
            state_key=state_key or random.token_bytes(32),
            credentials=CredentialsFile(config.credentials_file)
            if config.credentials_file
            else None,
        )
        self.engine = RuleEngine(context)

    # -- WSGI ---------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = environ.get("HTTP_X_REQUEST_ID", "")
        if not _REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        log_context = logs.request_id.set(request_id)
        try:
            response = self.route(environ)
        except Exception:
            # Last line of defence: the caller learns only that it failed and the id to quote.
            log.exception("unhandled error")
            version = version_of(environ.get("CONTENT_TYPE", "")) or SOAP11
            response = _fault_response(
                version, Fault("Server", f"Internal error (request id {request_id}).")
            )
        finally:
            logs.request_id.reset(log_context)
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("X-Request-ID", request_id),
            *response.headers,
        ]
        start_response(f"{response.status} {_REASONS.get(response.status, '')}", headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        return [response.body]

    def route(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING", "")
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == self.config.wsdl_path and method in ("GET", "HEAD"):
            if query.lower() in ("wsdl", "singlewsdl"):
                body = self.wsdl.rendered(self.base_url(environ))
                return Response(200, body, "text/xml; charset=utf-8")
        if path in self.service.ports:
            if method != "POST":
                return Response(405, b"SOAP endpoints accept POST only.\n",
                                "text/plain; charset=utf-8", (("Allow", "POST"),))
            return self.soap(environ, path)
        return Response(404, b"Not found.\n", "text/plain; charset=utf-8")

    def base_url(self, environ: dict[str, Any]) -> str:
        if self.config.public_url:
            return self.config.public_url
        host = environ.get("HTTP_HOST", "")
        if not _HOST.match(host):
            host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"

    # -- the SOAP request path ----------------------------------------------

    def soap(self, environ: dict[str, Any], path: str) -> Response:
        started = time.perf_counter()
        content_type = environ.get("CONTENT_TYPE", "")
        version = version_of(content_type) or SOAP11
        operation_name = "-"
        outcome: Outcome | None = None
        try:
            data = _read_body(environ, self.limits.max_bytes)
            envelope = read_envelope(
                data, content_type, environ.get("HTTP_SOAPACTION"), self.limits
            )
            operation = self.service.find(path, envelope)
            operation_name = operation.name
            rule = self.rules.get(operation.name)
            if rule is None:
                raise SoapClientError(
                    f"Operation {operation.name} is not yet migrated: this bridge has no rule "
                    "for it and no legacy service to pass it to."
                )
            request = self.service.decode(operation, envelope)
            outcome = self.engine.run(rule, request)
            if outcome.fault is not None:
                response = _fault_response(version, Fault(outcome.fault.code, outcome.fault.message))
            else:
                payload = self.service.encode(operation, outcome.result or {})
                response = Response(200, write_envelope(version, payload),
                                    content_type_for(version))
        except SoapClientError as exc:
            fault = Fault("Client", exc.message)
            response = _fault_response(version, fault, exc.http_status)
            outcome = Outcome(reason="client_error", detail=exc.message)
        except StoreError as exc:
            # Fail closed: without the store there is no lockout and no token, so no login.
            log.error("store unavailable", extra={"error": str(exc)})
            response = _fault_response(
                version, Fault("Server", "The bridge's state store is unavailable. "
                               "Please try again later.")
            )
            outcome = Outcome(reason="store_unavailable")
        log.info(
            "soap request",
            extra={
                "operation": operation_name,
                "outcome": outcome.reason if outcome else "-",
                "detail": outcome.detail if outcome else "",
                "status": response.status,
                "upstream_calls": outcome.upstream_calls if outcome else 0,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
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


def _fault_response(version: str, fault: Fault, status: int | None = None) -> Response:
    return Response(status or fault.http_status(version), fault.to_bytes(version),
                    content_type_for(version))


def _json(status: int, body: Any) -> Response:
    return Response(status, json.dumps(body).encode(), "application/json")
