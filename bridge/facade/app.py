"""The facade's WSGI application: routes its paths to the login, the forward and the SSO
hand-off, and writes each request's log line and metrics (the package docstring says what
each path does)."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from fnmatch import fnmatchcase
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from bridge import logs
from bridge.auth.tokens import SESSION, Grant, TokenIssuer
from bridge.errors import Forbidden, UpstreamError
from bridge.facade.login import LoginResult, RestLogin, not_found
from bridge.facade.settings import DOCUMENTNOW, FacadeSettings
from bridge.facade.sso import UNSENDABLE, SsoHandoff, unsendable
from bridge.identity import identity
from bridge.metrics import LOCKOUTS, REST_FACADE, SSO_TOKENS, observe_upstream
from bridge.upstream.forward import REQUEST_DROPPED, RestForwarder, end_to_end
from bridge.wsgi import JSON, REST, Response, answering, read_body, rest_error

if TYPE_CHECKING:
    from bridge.wiring import Wiring

log = logging.getLogger("bridge.facade")

StartResponse = Callable[..., Any]
SESSION_SCHEME = "x-as-usersessiontoken"
_VERSION = re.compile(r"^/api/documentnow/v(?P<version>\d+\.\d+)/")
# IIS matches routes without regard to case or a trailing slash: so does the facade, or a
# spelling of a path the bridge answers would be forwarded to the vendor's instead.
_SSO_PATH = re.compile(r"^/api/documentnow/v\d+\.\d+/authentication/sso/?$", re.IGNORECASE)
_ANY_CREDENTIALS = re.compile(r"^/api/documentnow/[^/]+/authentication/credentials/?$",
                              re.IGNORECASE)
# Methods a call is forwarded with: the vendor's API has no others, and TRACE would echo the
# bearer the bridge adds back to the caller.
FORWARDED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What a forwarded path may not hold (already percent-decoded): a backslash (IIS reads it as
# a slash, so "a\..\b" climbs out of the allow list there), a percent sign (the caller sent
# %25: an upstream that decodes twice would see the %2e%2e or %2f the bridge did not), and
# control characters.
_UNSAFE_PATH = re.compile(r"[\\%\x00-\x1f\x7f]")
INVALID_SESSION = "The session token is missing, invalid or expired."
# What the caller reads when the upstream fails a forwarded call, by the failure's kind.
_UPSTREAM_FAILURES = {
    "timeout": (504, "The upstream did not answer in time. Please try again later."),
    "too_large": (502, "The upstream's answer is larger than this bridge passes on."),
    "connect": (502, "The upstream cannot be reached. Please try again later."),
    "protocol": (502, "The upstream broke off its answer. Please try again later."),
}
WRONG_CONTEXT = ("X-AS-UserContext must name one of the accounts of the session token's user.")


class RestFacade:
    """A WSGI application for its own paths (`serves`), called by `BridgeApp`."""

    def __init__(self, settings: FacadeSettings | None, login: RestLogin | None,
                 forwarder: RestForwarder | None, sso: SsoHandoff | None, tokens: TokenIssuer,
                 max_body_bytes: int, client: Callable[[dict[str, Any]], str | None]) -> None:
        self._settings = settings
        self._login = login
        self._forwarder = forwarder
        self._sso = sso
        self._tokens = tokens
        self._max_body_bytes = max_body_bytes
        self._client = client
        self._credentials_paths = frozenset(
            _route_key(path) for path in (settings.credentials_paths if settings else ()))

    def serves(self, path: str) -> bool:
        if path == "/v1/sso":
            return self._sso is not None
        settings = self._settings
        return settings is not None and (path.startswith(DOCUMENTNOW)
                                         or self._credentials(path)
                                         or self._allowed(path))

    def _credentials(self, path: str) -> bool:
        """Whether `path` is one of the credentials paths, as IIS would match it."""
        return _route_key(path) in self._credentials_paths

    def __call__(self, environ: dict[str, Any], start_response: StartResponse,
                 request_id: str) -> Iterable[bytes]:
        started = time.perf_counter()
        context = logs.request_id.set(request_id)
        try:
            endpoint, response, outcome = self._route(environ)
        finally:
            logs.request_id.reset(context)
        REST_FACADE.labels(endpoint, outcome).inc()
        path = environ.get("PATH_INFO", "")
        version = _VERSION.match(path)
        # Never the path itself: it may name a user (users/{username}/accounts).
        log.info("rest request", extra={
            "endpoint": endpoint, "method": environ.get("REQUEST_METHOD", ""),
            "version": version.group("version") if version else "-", "outcome": outcome,
            "status": response[0], "ms": round((time.perf_counter() - started) * 1000, 2)})
        status, headers, body = response
        start_response(f"{status} {_phrase(status)}", [*headers, ("X-Request-ID", request_id)])
        if environ.get("REQUEST_METHOD") == "HEAD":
            _close(body)
            return [b""]
        return body

    # -- routes -------------------------------------------------------------

    def _route(self, environ: dict[str, Any]) -> tuple[str, _Answer, str]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        if path == "/v1/sso":
            sso = self._sso
            assert sso is not None  # serves() said so
            response, error = answering(JSON, lambda: sso.v1(environ, method,
                                                             self._client(environ)))
            return "sso", _whole(response), error.reason if error else _outcome(response)
        settings = self._settings
        assert settings is not None
        if self._credentials(path) and self._login is not None:
            login = self._login
            if method != "POST":
                # [INFERRED] the vendor's answer to another method is unknown; its 404 for a
                # route it does not have is known (FACTS §7).
                return "credentials", _whole(not_found()), "not_found"
            result = LoginResult()
            version = _VERSION.match(path)
            response, error = answering(REST, lambda: login.answer(
                environ, version.group("version") if version else "", self._client(environ),
                result))
            if result.outcome is not None and result.outcome.locked_now:
                LOCKOUTS.inc()
            return "credentials", _whole(response), error.reason if error else result.reason
        if not self._allowed(path) or self._forwarder is None or self._credentials(path) or (
                _ANY_CREDENTIALS.match(path)):
            # A credentials path is the bridge's login or nothing: never passed on with the
            # caller's password. (A version the bridge does not serve would otherwise log in
            # at the vendor, and every later call with the vendor's session token be refused
            # here: the 404 at the login says where the trouble is.)
            return "forward", _whole(not_found()), "not_allowed"
        if method not in FORWARDED_METHODS:
            # [INFERRED] the vendor's answer to such a method is unknown; its 404 is known.
            return "forward", _whole(not_found()), "not_allowed"
        forwarded: list[_Answer] = []
        response, error = answering(REST, lambda: self._forward(environ, method, path, forwarded))
        if error is not None or not forwarded:
            # Refused (an error), or the upstream failed before its answer began.
            return "forward", _whole(response), error.reason if error else "upstream_error"
        answer = forwarded[0]
        if _SSO_PATH.match(path):
            # The same hand-off through the facade: the vendor's own answer, passed on and
            # counted, never kept.
            SSO_TOKENS.labels("rest", "ok" if answer[0] < 300 else
                              "forbidden" if answer[0] == 403 else "unavailable").inc()
        return "forward", answer, "ok" if answer[0] < 500 else "upstream_error"

    def _session(self, token: str) -> Grant:
        """The login a session token stands for; Forbidden, saying why, for any other token."""
        # Not consumed: a single-use token is refused here, and must not be spent by it.
        checked = self._tokens.check(token, consume=False) if token else None
        if not isinstance(checked, Grant):
            why = checked.description if checked is not None else "none was sent"
            raise Forbidden(f"{INVALID_SESSION} ({why})")
        # A session token only: a single-use or scoped one stands for one hand-off or one
        # package, never for the whole API.
        if checked.kind != SESSION:
            raise Forbidden(f"{INVALID_SESSION} (the token is not a session token)")
        settings = self._settings
        if settings is not None and checked.operation != settings.operation:
            # Another rule's login (another pack's, another vendor's): its bearer is not for
            # this upstream, and must never be sent there.
            raise Forbidden(f"{INVALID_SESSION} (the token is not from this login)")
        if 0 < checked.bearer_expires_at <= time.time():
            raise Forbidden(f"{INVALID_SESSION} (the login behind it has expired)")
        if unsendable(checked):
            raise Forbidden(UNSENDABLE)
        return checked

    def _allowed(self, path: str) -> bool:
        settings = self._settings
        if settings is None or any(part in (".", "..") for part in path.split("/")) or (
                "//" in path) or _UNSAFE_PATH.search(path):
            # Dot segments would let the upstream resolve the path outside the allow list.
            return False
        return any(fnmatchcase(path, pattern) for pattern in settings.forward)

    def _forward(self, environ: dict[str, Any], method: str, path: str,
                 forwarded: list[_Answer]) -> Response:
        """Passes the call on; the streamed answer goes into `forwarded`. Returns only to
        refuse (an error raised does too)."""
        assert self._forwarder is not None
        given = _request_headers(environ)
        # The caller's hop-by-hop headers go first: a `Connection: Authorization` of the
        # caller's must not drop the bearer the bridge adds below.
        headers = end_to_end(given, REQUEST_DROPPED)
        # Split at any white space: a tab after the scheme must not send the bridge's token on
        # to the vendor as if it were the caller's own credential.
        scheme, credential = [*_header(given, "Authorization").split(None, 1), "", ""][:2]
        if scheme.lower() == SESSION_SCHEME:
            grant = self._session(credential.strip())
            context = _user_context(grant, _header(given, "X-AS-UserContext"))
            headers = [(name, value) for name, value in headers
                       if name.lower() not in ("authorization", "x-as-usercontext")]
            headers.append(("Authorization", f"bearer {grant.bearer}"))
            if context:
                headers.append(("X-AS-UserContext", context))
        body = read_body(environ, self._max_body_bytes)
        try:
            streamed = self._forwarder.forward(method, _target(environ, path), body, headers)
        except UpstreamError as exc:
            log.warning("forward failed", extra={"upstream": exc.upstream, "kind": exc.kind})
            status, summary = _UPSTREAM_FAILURES.get(exc.kind, _UPSTREAM_FAILURES["connect"])
            return rest_error(status, "INTERNAL_SERVER_ERROR", summary)
        forwarded.append((streamed.status, RestForwarder.answer_headers(streamed),
                          _guarded(streamed.body)))
        return Response(streamed.status, b"", "")


# status, headers, body pieces
_Answer = tuple[int, list[tuple[str, str]], Iterable[bytes]]


def _route_key(path: str) -> str:
    return path.rstrip("/").casefold()


def _whole(response: Response) -> _Answer:
    headers = [("Content-Type", response.content_type),
               ("Content-Length", str(len(response.body))), *response.headers]
    return response.status, headers, [response.body]


def _outcome(response: Response) -> str:
    return "ok" if response.status < 400 else "refused"


def _request_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    headers = [(key[5:].replace("_", "-").title(), str(value)) for key, value in environ.items()
               if key.startswith("HTTP_")]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", str(environ["CONTENT_TYPE"])))
    return headers


def _header(headers: list[tuple[str, str]], name: str) -> str:
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), "")


def _user_context(grant: Grant, given: str) -> str | None:
    """The X-AS-UserContext to send: the token's own, or the account the caller names, if it
    is one of the token's user's; the user part is always the token's user."""
    if not given.strip():
        return grant.context
    if ":" not in given and identity(given) == identity(grant.subject):
        # A bare user name, as some flows send it (FACTS §2, weak evidence): the token's own.
        return grant.context
    account = given.rpartition(":")[2].strip().casefold()
    for entry in grant.accounts:
        known = str(entry.get("accountID") or entry.get("contextIdentifier") or "")
        if known and known.casefold() == account:
            return f"{grant.subject}:{known}"
    raise Forbidden(WRONG_CONTEXT)


def _target(environ: Mapping[str, Any], path: str) -> str:
    """The path and query as the caller sent them: the raw path when the server kept it and
    it is the one checked (a %2F stays one segment upstream), else `path` encoded again."""
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").split("?", 1)[0]
    sent = raw if raw and unquote(raw) == path else quote(path, safe="/:@!$&'()*+,;=-._~")
    query = environ.get("QUERY_STRING", "")
    return f"{sent}?{query}" if query else sent


def _guarded(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The answer's pieces; a failure mid-way is logged, then raised so the server cuts the
    connection (the caller sees a short answer, never a complete-looking one)."""
    try:
        yield from pieces
    except UpstreamError as exc:
        log.warning("forwarded answer cut short", extra={"upstream": exc.upstream,
                                                         "kind": exc.kind})
        # Without the UpstreamError's words: the server logs what it is raised with, and
        # those name the path, which may name a user.
        raise ConnectionAbortedError("forwarded answer cut short") from None


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def build_facade(wiring: Wiring) -> RestFacade | None:
    """The facade for the wiring's configuration, made of its parts (the engine, the tokens,
    the rate limits and the upstreams of the request path); None when the configuration has
    neither rest_facade: nor sso:."""
    config = wiring.config
    settings, sso_settings = config.rest_facade, config.sso
    if settings is None and sso_settings is None:
        return None
    dispatcher = wiring.dispatcher
    engine, tokens = dispatcher.engine, dispatcher.tokens
    login = forwarder = sso = None
    if settings is not None:
        login = RestLogin(engine, lambda: wiring.plans.current().rules, settings.operation,
                          config.max_body_bytes, config.token_ttl, dispatcher.rate_limiter)
        upstream = config.upstreams[settings.upstream]
        forwarder = RestForwarder(dataclasses.replace(
            upstream, deadline=settings.deadline, max_answer_bytes=settings.max_answer_bytes),
            observe_upstream)
    if sso_settings is not None:
        sso = SsoHandoff(sso_settings, engine.context.upstreams[sso_settings.upstream], tokens,
                         config.upstreams[sso_settings.upstream].base_url,
                         dispatcher.rate_limiter)
    return RestFacade(settings, login, forwarder, sso, tokens, config.max_body_bytes,
                      wiring.proxies.client)
