"""The emulated identity service (FACTS §4.2): discovery, authorize, token and revocation under /connect/.

Real Nmbrs serves them on identityservice.nmbrs.com; the sandbox serves them on its own host
with the same paths. The authorize endpoint has no login or consent page: a GET consents at
once for the user `login_hint` names (a seed user; the first one when absent) and redirects to
the redirect_uri with the code and state, so tests and `soap-bridge connect` run unattended.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from ..exchange import JSON_TYPE, Refused, Request, Response, Route, json_response, route
from .grants import Consent, GrantError, Grants, Tokens
from .seed import Client, NmbrsSeed

CALL_NAMES = (
    "nmbrs:identity:discovery",
    "nmbrs:identity:authorize",
    "nmbrs:identity:token",
    "nmbrs:identity:revocation",
)
_LOOPBACK = ("127.0.0.1", "[::1]", "localhost")
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


class IdentityService:
    """Answers /.well-known/openid-configuration and /connect/{authorize,token,revocation}."""

    def __init__(self, seed: NmbrsSeed, grants: Grants) -> None:
        self.seed = seed
        self.grants = grants
        self.routes: tuple[Route, ...] = (
            route(r"/\.well-known/openid-configuration", "GET", CALL_NAMES[0], self.discovery),
            route(r"/connect/authorize", "GET", CALL_NAMES[1], self.authorize),
            route(r"/connect/token", "POST", CALL_NAMES[2], self.token),
            route(r"/connect/revocation", "POST", CALL_NAMES[3], self.revocation),
        )

    def discovery(self, request: Request, match: re.Match[str]) -> Response:
        """The endpoints at this host. [INFERRED] beyond the endpoint URLs: the members follow
        RFC 8414 and what the other endpoints here do; the sandbox issues no id_token, so it
        has no jwks_uri."""
        base = request.base_url
        return json_response(
            200,
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/connect/authorize",
                "token_endpoint": f"{base}/connect/token",
                "revocation_endpoint": f"{base}/connect/revocation",
                "scopes_supported": list(self.seed.identity.scopes),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            },
        )

    # -- GET /connect/authorize ------------------------------------------------------------

    def authorize(self, request: Request, match: re.Match[str]) -> Response:
        query = _single(parse_qs(request.query))
        client = self.seed.identity.client(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        # RFC 6749 §4.1.2.1: with no valid client or redirect URI there is nobody to redirect to.
        if client is None:
            return _page(400, "invalid_client: unknown client_id")
        if not _registered(client, redirect_uri):
            return _page(400, "invalid_request: redirect_uri is not registered for this client")
        state = query.get("state")

        def refuse(error: str, description: str) -> Response:
            return _redirect(redirect_uri, {"error": error, "error_description": description, "state": state})

        if query.get("response_type") != "code":
            return refuse("unsupported_response_type", "Only response_type=code is supported.")
        scopes = tuple(query.get("scope", "").split())
        if not scopes:
            return refuse("invalid_scope", "A scope is required.")
        unknown = [s for s in scopes if s not in self.seed.identity.scopes]
        if unknown:
            return refuse("invalid_scope", f"Scope {unknown[0]} is not allowed.")
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method", "plain") != "S256":
            return refuse("invalid_request", "Only code_challenge_method=S256 is supported.")
        hint = query.get("login_hint")
        user = self.seed.user(hint) if hint else self.seed.users[0]
        if user is None:
            return refuse("access_denied", "The user did not consent.")
        debtor = self.seed.debtor(user.debtor)
        assert debtor is not None  # the seed checks every user's debtor
        code = self.grants.issue_code(
            Consent(client.client_id, redirect_uri, user.username, debtor.guid, scopes, challenge)
        )
        return _redirect(redirect_uri, {"code": code, "scope": " ".join(scopes), "state": state})

    # -- POST /connect/token ---------------------------------------------------------------

    def token(self, request: Request, match: re.Match[str]) -> Response:
        form = _single(parse_qs(request.body.decode("utf-8", "replace")))
        client = self._client(request, form)
        grant_type = form.get("grant_type")
        try:
            if grant_type == "authorization_code":
                tokens = self.grants.redeem_code(
                    form.get("code", ""),
                    client.client_id,
                    form.get("redirect_uri"),
                    form.get("code_verifier"),
                    request.base_url,
                )
            elif grant_type == "refresh_token":
                tokens = self.grants.refresh(
                    form.get("refresh_token", ""), client.client_id, form.get("scope"), request.base_url
                )
            else:
                raise GrantError("unsupported_grant_type", "Use authorization_code or refresh_token.")
        except GrantError as error:
            return _oauth_error(400, error.error, error.description)
        return _token_response(tokens)

    # -- POST /connect/revocation ------------------------------------------------------------

    def revocation(self, request: Request, match: re.Match[str]) -> Response:
        form = _single(parse_qs(request.body.decode("utf-8", "replace")))
        client = self._client(request, form)
        token = form.get("token")
        if not token:
            return _oauth_error(400, "invalid_request", "The token to revoke is missing.")
        if form.get("token_type_hint", "refresh_token") not in ("refresh_token", "access_token"):
            return _oauth_error(400, "unsupported_token_type", "Only access and refresh tokens are revoked.")
        self.grants.revoke(token, client.client_id)
        # RFC 7009 §2.2: 200 whether or not the token was known.
        return Response(200, b"", None, _NO_STORE)

    def _client(self, request: Request, form: Mapping[str, str]) -> Client:
        """The client from HTTP Basic (client_secret_basic) or the form (client_secret_post)."""
        basic = _basic(request.header("authorization"))
        client_id, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret", ""))
        client = self.seed.identity.client(client_id)
        if client is None or not secret or not hmac.compare_digest(client.client_secret, secret):
            # RFC 6749 §5.2: 401 and a challenge when the client tried the Authorization header.
            refusal = _oauth_error(401 if basic else 400, "invalid_client", "Client authentication failed.")
            if basic:
                challenge = ("WWW-Authenticate", 'Basic realm="identityservice"')
                refusal = replace(refusal, extra_headers=(*refusal.extra_headers, challenge))
            raise Refused(refusal)
        return client


def _single(values: Mapping[str, list[str]]) -> dict[str, str]:
    return {key: items[0] for key, items in values.items() if items}


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined.
    return (unquote_plus(client_id), unquote_plus(secret)) if colon else None


def _registered(client: Client, redirect_uri: str) -> bool:
    """Exactly a registered URI; for a loopback one, any port (RFC 8252 §7.3)."""
    if redirect_uri in client.redirect_uris:
        return True
    asked = urlsplit(redirect_uri)
    return any(
        registered.hostname in _LOOPBACK
        and (asked.scheme, asked.hostname, asked.path, asked.query)
        == (registered.scheme, registered.hostname, registered.path, registered.query)
        for registered in map(urlsplit, client.redirect_uris)
    )


def _redirect(redirect_uri: str, parameters: Mapping[str, str | None]) -> Response:
    given = {key: value for key, value in parameters.items() if value is not None}
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return Response(302, b"", None, (("Location", redirect_uri + separator + urlencode(given)),))


def _page(status: int, message: str) -> Response:
    page = f"<html><body><h1>Error</h1><p>{message}</p></body></html>"
    return Response(status, page.encode(), "text/html; charset=utf-8")


def _oauth_error(status: int, error: str, description: str) -> Response:
    body = json.dumps({"error": error, "error_description": description}).encode()
    return Response(status, body, JSON_TYPE, _NO_STORE)


def _token_response(tokens: Tokens) -> Response:
    document: dict[str, object] = {
        "access_token": tokens.access_token,
        "expires_in": tokens.expires_in,
        "token_type": "Bearer",
    }
    if tokens.refresh_token is not None:
        document["refresh_token"] = tokens.refresh_token
    document["scope"] = " ".join(tokens.scopes)
    return Response(200, json.dumps(document).encode(), JSON_TYPE, _NO_STORE)
