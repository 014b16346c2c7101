"""The WSGI application: routes, the SOAP request path, and wiring from the config."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import secrets as random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from gunicorn.http.errors import NoMoreData, ParseException

from bridge import logs
from bridge.api import JsonApi, JsonReply
from bridge.api import encode as api_encode
from bridge.auth.clients import TokenClients
from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.passwords import CredentialsFile
from bridge.auth.ratelimit import RateLimiter
from bridge.auth.tokens import TokenIssuer
from bridge.config import Config, resolve_secrets
from bridge.directory import ACCOUNTS_LOOKUP, Directory, LocalDirectory
from bridge.errors import SoapClientError, SoapServerError, StoreError
from bridge.health import Readiness
from bridge.metrics import (
    BEARER_CACHE,
    LOCKOUTS,
    REQUEST_SECONDS,
    REQUESTS,
    observe_upstream,
    render_metrics,
)
from bridge.migrate.dispatch import Dispatcher, Exchange, Handled, RateLimited
from bridge.migrate.records import Recorder
from bridge.migrate.sidecalls import SideCalls
from bridge.proxies import TrustedProxies
from bridge.reload import PlanSource, build_plan
from bridge.rules.engine import EngineContext, Outcome, RuleEngine
from bridge.rules.remembered import RememberedResults
from bridge.soap.envelope import (
    SOAP11,
    SOAP12,
    Fault,
    content_type_for,
    read_envelope,
    version_of,
)
from bridge.soap.service import SoapService
from bridge.soap.wsdl import WsdlDocument
from bridge.store import open_store
from bridge.upstream.breaker import Breaker
from bridge.upstream.legacy import LegacyClient
from bridge.upstream.rest import Endpoint, RestClient

log = logging.getLogger("bridge.app")

StartResponse = Callable[..., Any]
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
# What gunicorn's body reader raises on a body that breaks HTTP/1.1 framing: a bad chunk size,
# extension, terminator or trailer (ParseException and its kin), or the peer ending the
# connection inside the body (NoMoreData). The caller's mistake, answered 400 in one place.
_FRAMING_ERRORS = (ParseException, NoMoreData)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


class BridgeApp:
    """Built once per process from the config; every request goes through __call__."""

    def __init__(self, config: Config, state_key: bytes | None = None) -> None:
        self.config = config
        self.service = SoapService(config.wsdl)
        self.wsdl = WsdlDocument(config.wsdl)
        self.plans = PlanSource(config, self.service, build_plan(config, self.service))
        secrets = resolve_secrets(config)
        self.limits = config.xml_limits
        self.store = open_store(config.store, config.source)
        tokens = TokenIssuer(self.store)
        state_key = state_key or random.token_bytes(32)
        own_directory = LocalDirectory(config.directory.sources, self.store, config.directory.file)
        context = EngineContext(
            upstreams=_clients(config.upstreams.values()),
            store=self.store,
            tokens=tokens,
            lockout=Lockout(self.store, LockoutPolicy(**dataclasses.asdict(config.lockout))),
            secrets=secrets,
            vars=config.vars,
            token_ttl=config.token_ttl,
            state_key=state_key,
            credentials=CredentialsFile(config.credentials_file)
            if config.credentials_file
            else None,
            remembered=RememberedResults(self.store, state_key),
            directory=own_directory.entry,
        )
        self.engine = RuleEngine(context)
        # The side path has its own connections and its own, shorter, timeouts.
        side = config.side_calls
        side_engine = RuleEngine(dataclasses.replace(context, upstreams=_clients(
            _capped(e, side.timeout) for e in config.upstreams.values())))
        recorder = Recorder(self.store, side.retain)
        limits = config.rate_limits
        self.rate_limiter = (RateLimiter(self.store, limits)
                             if limits.per_address or limits.per_user else None)
        self.proxies = TrustedProxies(config.trusted_proxies)
        self.recorder = recorder
        self.side_calls = SideCalls(side.workers, side.queue, recorder.dropped)
        legacy = config.legacy
        self.dispatcher = Dispatcher(
            service=self.service,
            engine=self.engine,
            side_engine=side_engine,
            legacy=LegacyClient(legacy) if legacy else None,
            side_legacy=LegacyClient(_capped(legacy, side.timeout))
            if legacy else None,
            side_calls=self.side_calls,
            recorder=recorder,
            rate_limiter=self.rate_limiter,
            store=self.store,
            tokens=tokens,
            limits=self.limits,
            noise_sample=side.noise_sample,
        )
        self.directory = Directory(
            config.directory.sources, own_directory, self.engine,
            lambda: self.plans.current().rules.get(ACCOUNTS_LOOKUP),
        )
        self.api = JsonApi(tokens, self.directory, [secrets[k] for k in config.operator_keys],
                           TokenClients(config.token_clients),
                           {name: e.base_url for name, e in config.upstreams.items()})
        endpoints = list(config.upstreams.values()) + ([legacy] if legacy else [])
        self.readiness = Readiness(self.store, endpoints)

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
        start_response(f"{response.status} {_phrase(response.status)}", headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        return [response.body]

    def route(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING", "")
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/readyz":
            ready, checks = self.readiness.check(bool(self.plans.current().rules))
            return _json(200 if ready else 503,
                         {"status": "ready" if ready else "not ready", "checks": checks})
        if path == "/v1/token" or path.startswith("/v1/accounts/"):
            try:
                return self.json_api(environ, method, path)
            except StoreError as exc:
                log.error("store unavailable", extra={"error": str(exc)})
                return _json(503, {"error": "temporarily_unavailable",
                                   "error_description": "The bridge's state store is unavailable."})
        if path == "/metrics" and method in ("GET", "HEAD"):
            breakers = {name: client.breaker.state
                        for name, client in self.engine.context.upstreams.items()
                        if client.breaker is not None}
            try:
                totals = self.recorder.totals()
            except StoreError:
                # The instance's own figures matter most during a store outage.
                totals = {}
            return Response(200, render_metrics(totals, breakers).encode(),
                            "text/plain; version=0.0.4; charset=utf-8")
        if path == self.config.wsdl_path and method in ("GET", "HEAD"):
            if query.lower() in ("wsdl", "singlewsdl"):
                body = self.wsdl.rendered(self.base_url(environ))
                return Response(200, body, "text/xml; charset=utf-8")
        mtom = path.endswith("/mtom") and path[: -len("mtom")] + "text" in self.service.ports
        if path in self.service.ports or mtom:
            if method != "POST":
                return Response(405, b"SOAP endpoints accept POST only.\n",
                                "text/plain; charset=utf-8", (("Allow", "POST"),))
            return self.mtom(environ, path) if mtom else self.soap(environ, path)
        return Response(404, b"Not found.\n", "text/plain; charset=utf-8")

    def json_api(self, environ: dict[str, Any], method: str, path: str) -> Response:
        started = time.perf_counter()
        # Per address only: the user in an account lookup's path is not the caller, and
        # unauthenticated lookups must not use up that user's own sign-in allowance.
        wait = (self.rate_limiter.over(self.proxies.client(environ), None)
                if self.rate_limiter is not None else None)
        if wait is not None:
            response = _json(429, {"error": "too_many_requests",
                                   "error_description": "Too many requests. Please try again "
                                   "later."}, (("Retry-After", str(max(1, math.ceil(wait)))),))
        elif path == "/v1/token":
            if method != "POST":
                response = _json(405, {"error": "method_not_allowed"}, (("Allow", "POST"),))
            else:
                try:
                    body = _read_body(environ, 16 * 1024)
                    response = _from_api(self.api.exchange(environ.get("CONTENT_TYPE", ""), body,
                                                           environ.get("HTTP_AUTHORIZATION", "")))
                except SoapClientError as exc:
                    response = _json(exc.http_status or 400,
                                     {"error": "invalid_request", "error_description": exc.message})
        elif method not in ("GET", "HEAD"):
            response = _json(405, {"error": "method_not_allowed"}, (("Allow", "GET"),))
        else:
            # PATH_INFO arrives percent-decoded already (PEP 3333).
            response = _from_api(self.api.accounts(path[len("/v1/accounts/"):],
                                                   environ.get("HTTP_AUTHORIZATION", "")))
        # Never the user name in the log: account lookups are about people.
        log.info("api request", extra={"endpoint": path.split("/")[2], "status": response.status,
                                       "ms": round((time.perf_counter() - started) * 1000, 2)})
        return response

    def base_url(self, environ: dict[str, Any]) -> str:
        if self.config.public_url:
            return self.config.public_url
        host = self.proxies.forwarded(environ, "host") or environ.get("HTTP_HOST", "")
        if not _HOST.match(host):
            host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
        scheme = self.proxies.forwarded(environ, "proto") or environ.get("wsgi.url_scheme", "http")
        if scheme not in ("http", "https"):
            scheme = "http"
        return f"{scheme}://{host}"

    # -- the SOAP request path ----------------------------------------------

    def mtom(self, environ: dict[str, Any], path: str) -> Response:
        """A WCF MTOM twin (`…/mtom` beside `…/text`): multipart bodies the bridge passes on
        to the legacy service unread, or answers with a Fault naming the text endpoint."""
        content_type = environ.get("CONTENT_TYPE", "")
        # MTOM's start-info (or type) names the SOAP version of the root part.
        version = SOAP12 if "application/soap+xml" in content_type.lower() else SOAP11
        reason = "ok"
        try:
            body = _read_body(environ, self.limits.max_bytes)
            headers = {"Content-Type": content_type,
                       "SOAPAction": environ.get("HTTP_SOAPACTION") or "",
                       "X-Request-ID": logs.request_id.get() or ""}
            reply = self.dispatcher.forward_mtom(path, body, {k: v for k, v in headers.items() if v},
                                                 self.proxies.client(environ), version)
            response = Response(reply.status, reply.body, reply.content_type)
        except RateLimited as exc:
            reason = "rate_limited"
            response = dataclasses.replace(
                _fault_response(version, Fault("Client", exc.message), exc.http_status),
                headers=(("Retry-After", str(max(1, math.ceil(exc.retry_after)))),))
        except SoapClientError as exc:
            reason = "client_error"
            response = _fault_response(version, Fault("Client", exc.message), exc.http_status)
        except SoapServerError as exc:
            reason = exc.reason
            response = _fault_response(version, Fault("Server", exc.message))
        except StoreError:
            reason = "store_unavailable"
            response = _fault_response(version, Fault("Server", "The bridge's state store is "
                                                      "unavailable. Please try again later."))
        REQUESTS.labels("mtom", "legacy" if self.dispatcher.legacy else "-", reason).inc()
        log.info("mtom request", extra={"outcome": reason, "status": response.status})
        return response

    def soap(self, environ: dict[str, Any], path: str) -> Response:
        started = time.perf_counter()
        content_type = environ.get("CONTENT_TYPE", "")
        version = version_of(content_type) or SOAP11
        operation_name = "-"
        outcome: Outcome | None = None
        handled: Handled | None = None
        try:
            data = _read_body(environ, self.limits.max_bytes)
            envelope = read_envelope(
                data, content_type, environ.get("HTTP_SOAPACTION"), self.limits
            )
            operation = self.service.find(path, envelope)
            operation_name = operation.name
            plan = self.plans.current()
            # Operations passed through untouched are not decoded: the legacy service judges them.
            request = (self.service.decode(operation, envelope)
                       if operation.name in plan.rules else {})
            headers = {"Content-Type": content_type,
                       "SOAPAction": environ.get("HTTP_SOAPACTION") or "",
                       "X-Request-ID": logs.request_id.get() or ""}
            handled = self.dispatcher.handle(
                plan, Exchange(path, data, {k: v for k, v in headers.items() if v}, envelope,
                               operation, request, self.proxies.client(environ)))
            outcome = handled.outcome
            reply = handled.reply
            response = Response(reply.status, reply.body, reply.content_type)
        except SoapClientError as exc:
            fault = Fault("Client", exc.message)
            response = _fault_response(version, fault, exc.http_status)
            if isinstance(exc, RateLimited):
                response = dataclasses.replace(response, headers=(
                    ("Retry-After", str(max(1, math.ceil(exc.retry_after)))),))
            outcome = Outcome(reason="rate_limited" if isinstance(exc, RateLimited)
                              else "client_error", detail=exc.message)
        except SoapServerError as exc:
            response = _fault_response(version, Fault("Server", exc.message))
            outcome = Outcome(reason=exc.reason, detail=exc.message)
        except StoreError as exc:
            # Fail closed: without the store there is no lockout and no token, so no login.
            log.error("store unavailable", extra={"error": str(exc)})
            response = _fault_response(
                version, Fault("Server", "The bridge's state store is unavailable. "
                               "Please try again later.")
            )
            outcome = Outcome(reason="store_unavailable")
        elapsed = time.perf_counter() - started
        reason = handled.reason if handled else (outcome.reason if outcome else "-")
        REQUESTS.labels(operation_name, handled.mode if handled else "-", reason).inc()
        REQUEST_SECONDS.labels(operation_name).observe(elapsed)
        if outcome is not None:
            if outcome.cache_hits:
                BEARER_CACHE.labels("hit").inc(outcome.cache_hits)
            if outcome.cache_misses:
                BEARER_CACHE.labels("miss").inc(outcome.cache_misses)
            if outcome.locked_now:
                LOCKOUTS.inc()
        if not log.isEnabledFor(logging.INFO):
            return response  # the fields below cost more to gather than to drop
        log.info(
            "soap request",
            extra={
                "operation": operation_name,
                "mode": handled.mode if handled else "-",
                "cohort": handled.cohort if handled else None,
                "outcome": reason,
                "detail": outcome.detail if outcome else "",
                "status": response.status,
                "upstream_calls": outcome.upstream_calls if outcome else 0,
                "ms": round(elapsed * 1000, 2),
            },
        )
        return response


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
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


def _fault_response(version: str, fault: Fault, status: int | None = None) -> Response:
    return Response(status or fault.http_status(version), fault.to_bytes(version),
                    content_type_for(version))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _json(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(body).encode(), "application/json", headers)


def _from_api(reply: JsonReply) -> Response:
    return Response(reply.status, api_encode(reply), "application/json", reply.headers)


def _clients(endpoints: Iterable[Endpoint]) -> dict[str, RestClient]:
    return {endpoint.name: RestClient(endpoint, Breaker(endpoint.breaker)
                                      if endpoint.breaker.failures else None, observe_upstream)
            for endpoint in endpoints}


def _capped(endpoint: Endpoint, timeout: float) -> Endpoint:
    connect, read = min(endpoint.connect_timeout, timeout), min(endpoint.read_timeout, timeout)
    return dataclasses.replace(endpoint, connect_timeout=connect, read_timeout=read,
                               deadline=min(endpoint.total_deadline, connect + read))
