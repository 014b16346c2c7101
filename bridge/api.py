"""The JSON endpoints beside SOAP: token exchange (RFC 8693) and account-context lookup,
with their rate limit, authorisation and errors."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bridge.auth.clients import TokenClients
from bridge.auth.ratelimit import RateLimiter
from bridge.auth.tokens import SINGLE_USE, USED, Refused, TokenIssuer
from bridge.directory import Directory
from bridge.errors import RateLimited
from bridge.identity import identity
from bridge.wsgi import JSON, Response, answering, json_response, read_body

log = logging.getLogger("bridge.app")

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
_FORM = "application/x-www-form-urlencoded"
_MAX_FORM = 16 * 1024
# RFC 8693 §2.1: the parameters that may name several targets; every other one comes once.
_TARGETS = ("resource", "audience")
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


def _oauth_error(error: str, description: str) -> Response:
    return json_response(400, {"error": error, "error_description": description}, _NO_STORE)


def _invalid_client(description: str) -> Response:
    # RFC 6749 §5.2: 401, and the scheme the client is to authenticate with.
    return json_response(401, {"error": "invalid_client", "error_description": description},
                         (("WWW-Authenticate", 'Basic realm="soap-bridge"'), *_NO_STORE))


class JsonApi:
    """Both endpoints authenticate with what the bridge itself issued, or an operator key."""

    def __init__(self, tokens: TokenIssuer, directory: Directory,
                 operator_keys: Sequence[str], clients: TokenClients | None = None,
                 targets: Mapping[str, str] | None = None,
                 rate_limiter: RateLimiter | None = None,
                 client: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        self._tokens = tokens
        self._directory = directory
        self._operator_keys = [key.encode() for key in operator_keys if key]
        self._clients = clients or TokenClients({})
        # Where the bearer is good: the upstreams' names and base URLs.
        self._targets = dict(targets or {})
        self._rate_limiter = rate_limiter
        # The caller's address, past trusted proxies (proxies.TrustedProxies.client).
        self._client = client or (lambda environ: environ.get("REMOTE_ADDR"))

    def __call__(self, environ: dict[str, Any], method: str, path: str) -> Response:
        """`/v1/token` or `/v1/accounts/…`: the answer, an error as its JSON error."""
        started = time.perf_counter()
        response, _ = answering(JSON, lambda: self._route(environ, method, path))
        # Never the user name in the log: account lookups are about people.
        log.info("api request", extra={"endpoint": path.split("/")[2], "status": response.status,
                                       "ms": round((time.perf_counter() - started) * 1000, 2)})
        return response

    def _route(self, environ: dict[str, Any], method: str, path: str) -> Response:
        # Per address only: the user in an account lookup's path is not the caller, and
        # unauthenticated lookups must not use up that user's own sign-in allowance.
        if self._rate_limiter is not None:
            wait = self._rate_limiter.over(self._client(environ), None)
            if wait is not None:
                raise RateLimited(wait)
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if path == "/v1/token":
            if method != "POST":
                return json_response(405, {"error": "method_not_allowed"}, (("Allow", "POST"),))
            return self.exchange(environ.get("CONTENT_TYPE", ""),
                                 read_body(environ, _MAX_FORM), authorization)
        if method not in ("GET", "HEAD"):
            return json_response(405, {"error": "method_not_allowed"}, (("Allow", "GET"),))
        # PATH_INFO arrives percent-decoded already (PEP 3333).
        return self.accounts(path[len("/v1/accounts/"):], authorization)

    def exchange(self, content_type: str, body: bytes, authorization: str = "") -> Response:
        """POST /v1/token: trade an AuthenticationToken for the upstream bearer it stands for."""
        if content_type.split(";")[0].strip().lower() != _FORM:
            return _oauth_error("invalid_request", f"the body must be {_FORM}")
        if len(body) > _MAX_FORM:
            return _oauth_error("invalid_request", "the body is too large")
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            return _oauth_error("invalid_request", "the body is not UTF-8")
        fields = {key: values[0] for key, values in form.items()}
        if any(len(values) > 1 for key, values in form.items() if key not in _TARGETS):
            return _oauth_error("invalid_request", "a parameter was given more than once")
        if self._clients.required and ("client_secret" in fields
                                       or self._clients.authenticate(authorization) is None):
            return _invalid_client("authenticate the client with HTTP Basic (RFC 6749 §2.3.1)")
        if fields.get("grant_type") != TOKEN_EXCHANGE:
            return json_response(400, {"error": "unsupported_grant_type",
                                       "error_description": f"grant_type must be {TOKEN_EXCHANGE}"},
                                 _NO_STORE)
        if not fields.get("subject_token"):
            return _oauth_error("invalid_request", "subject_token is required")
        if fields.get("subject_token_type") != ACCESS_TOKEN:
            return _oauth_error("invalid_request", f"subject_token_type must be {ACCESS_TOKEN}")
        if fields.get("requested_token_type", ACCESS_TOKEN) != ACCESS_TOKEN:
            return _oauth_error("invalid_request", f"requested_token_type must be {ACCESS_TOKEN}: "
                                "the exchange hands out the upstream bearer only")
        if "actor_token" in fields or "actor_token_type" in fields:
            return _oauth_error("invalid_request", "delegation (actor_token) is not supported")
        if not all(self._is_target(kind, value) for kind in _TARGETS for value in form.get(kind, [])):
            return _oauth_error("invalid_target", "the bearer is good only for the upstreams: a "
                                "resource is one of their base URLs (or a URL under one), an "
                                "audience one of their names or base URLs")
        if "scope" in fields:
            return _oauth_error("invalid_scope", "the bearer's scope is the API user's; the "
                                "exchange cannot narrow it")
        # A token bound to a scope is refused: the exchange hands out the whole bearer.
        grant = self._tokens.check(fields["subject_token"])
        if isinstance(grant, Refused):
            return _oauth_error("invalid_grant", f"subject_token: {grant.description}")
        # The bearer's own expiry when the rule tells it (token.bearer_ttl); for a token minted
        # without it, the token's, which the shipped rules keep shorter than the bearer's.
        expires_at = grant.bearer_expires_at or grant.expires_at
        if expires_at <= time.time():
            return _oauth_error("invalid_grant", "the bearer behind the subject_token has expired")
        return json_response(200, {
            "access_token": grant.bearer,
            "issued_token_type": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": int(expires_at - time.time()),
            "user_context": grant.context,
        }, _NO_STORE)

    def _is_target(self, kind: str, value: str) -> bool:
        return any((kind == "audience" and value == name) or _within(value, base_url)
                   for name, base_url in self._targets.items())

    def accounts(self, username: str, authorization: str) -> Response:
        """GET /v1/accounts/{username}: that user's account contexts, for them or an operator."""
        username = username.strip()
        if not username or "/" in username:
            return json_response(404, {"error": "not_found", "error_description": "no such user"})
        credential = bearer_credential(authorization)
        if credential is None:
            return unauthorised("send Authorization: Bearer <AuthenticationToken>")
        if not self._is_operator(credential):
            # Peeked, then spent once every check passed: a single-use token sent for another
            # user's accounts is refused, not used up.
            grant = self._tokens.check(credential, {"username": identity(username)},
                                       consume=False)
            if isinstance(grant, Refused):
                return unauthorised(grant.description)
            if not grant.belongs_to(username):
                return json_response(403, {"error": "forbidden",
                                           "error_description": "the token was issued to another "
                                           "user"})
            if grant.kind == SINGLE_USE and not self._tokens.consume(grant):
                return unauthorised(Refused(USED).description)
        found = self._directory.lookup(username)
        if found is None:
            return json_response(404, {"error": "not_found",
                                       "error_description": "no source knows this user's accounts"})
        return json_response(200, found.as_json(), (("Cache-Control", "no-store"),))

    def _is_operator(self, credential: str) -> bool:
        given = credential.encode()
        # Compare with every key, always: the time taken does not tell which one is close.
        matches = [hmac.compare_digest(given, key) for key in self._operator_keys]
        return any(matches)


def _within(url: str, base_url: str) -> bool:
    """Whether `url` is `base_url` or a URL under it (scheme and host compared case-blind)."""
    given, base = urlsplit(url), urlsplit(base_url)
    if (given.scheme.lower(), given.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()
                                                       ) or given.query or given.fragment:
        return False
    path = base.path.rstrip("/")
    return given.path.rstrip("/") == path or given.path.startswith(path + "/")


def bearer_credential(authorization: str) -> str | None:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def unauthorised(description: str) -> Response:
    return json_response(401, {"error": "unauthorized", "error_description": description},
                         (("WWW-Authenticate", 'Bearer realm="soap-bridge"'),))
