"""The OAuth2 authorization-code flow with PKCE and the refresh grant, for one provider.

authlib (a well-kept OAuth2 library) builds and checks the protocol's messages: the PKCE
verifier and S256 challenge (RFC 7636), the authorize URL, the token requests' forms and the
callback's parameters with its state (RFC 6749 §4.1). It sends nothing: the bridge's rule
is that only `bridge/upstream` opens sockets, so the requests go out through
`upstream.identity.IdentityClient` (with the upstream's timeouts and deadline) instead of
authlib's requests/httpx clients.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.parameters import (
    parse_authorization_code_response,
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bridge.errors import UpstreamError
from bridge.grants.settings import GrantProvider
from bridge.upstream.identity import IdentityClient

# What the bridge keeps of a token error's description: the identity service's words, short.
_DESCRIPTION = 200


class TokenRefused(Exception):
    """The token endpoint said no (`invalid_grant`: revoked, expired, replayed, …)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class TokenSet:
    """A token answer. Never logged: its repr hides the tokens."""

    access_token: str
    expires_in: float
    refresh_token: str | None
    scope: str

    def __repr__(self) -> str:
        return f"TokenSet(expires_in={self.expires_in}, scope={self.scope!r})"


@dataclass(frozen=True)
class Authorization:
    """One authorize request: the URL to open, and what its callback is checked against."""

    url: str
    state: str
    verifier: str
    redirect_uri: str


class IdentityService:
    """The provider's identity service: discovery once, then authorize URLs and token calls."""

    def __init__(self, provider: GrantProvider, client: IdentityClient,
                 secrets: Mapping[str, str]) -> None:
        self.provider = provider
        self.client = client
        self._secret = secrets.get(provider.client_secret, "")
        self._endpoints: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def endpoint(self, name: str) -> str:
        with self._lock:
            if self._endpoints is None:
                self._endpoints = self.client.discover()
            url = self._endpoints.get(name)
        if not isinstance(url, str) or not url:
            raise UpstreamError(self.client.endpoint.name, "protocol",
                                f"the discovery document names no {name}")
        return url

    def authorization(self, redirect_uri: str, login_hint: str | None = None) -> Authorization:
        verifier = generate_token(64)
        state = generate_token(32)
        extra = {"login_hint": login_hint} if login_hint else {}
        url = prepare_grant_uri(
            self.endpoint("authorization_endpoint"), self.provider.client_id, "code",
            redirect_uri=redirect_uri, scope=" ".join(self.provider.scopes), state=state,
            code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256",
            **extra)
        return Authorization(url, state, verifier, redirect_uri)

    def code_from(self, authorization: Authorization, callback_url: str) -> str:
        """The code the callback carries, its state checked (authlib: a mismatch or an error
        the identity service sent back is an OAuth2Error, told as TokenRefused)."""
        if urlsplit(callback_url).path != urlsplit(authorization.redirect_uri).path:
            raise TokenRefused("invalid_request", "the redirect went somewhere else")
        try:
            params = parse_authorization_code_response(callback_url, authorization.state)
        except OAuth2Error as exc:
            raise TokenRefused(exc.error or "invalid_request",
                               str(exc.description or "")[:_DESCRIPTION]) from exc
        return str(params["code"])

    def exchange(self, authorization: Authorization, code: str) -> TokenSet:
        return self._token(prepare_token_request(
            "authorization_code", code=code, redirect_uri=authorization.redirect_uri,
            code_verifier=authorization.verifier))

    def refresh(self, refresh_token: str) -> TokenSet:
        return self._token(prepare_token_request("refresh_token", refresh_token=refresh_token))

    def revoke(self, refresh_token: str) -> bool:
        """RFC 7009: end the grant at the identity service; whether it said yes (200)."""
        form = urlencode({"token": refresh_token, "token_type_hint": "refresh_token"})
        answer = self.client.post_form(self.endpoint("revocation_endpoint"), form,
                                       self.provider.client_id, self._secret)
        return answer.status == 200

    def _token(self, form: str) -> TokenSet:
        answer = self.client.post_form(self.endpoint("token_endpoint"), form,
                                       self.provider.client_id, self._secret)
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status >= 500:
            raise UpstreamError(self.client.endpoint.name, "http",
                                f"the token endpoint answered {answer.status}")
        if answer.status != 200:
            raise TokenRefused(str(body.get("error") or f"http_{answer.status}"),
                               str(body.get("error_description") or "")[:_DESCRIPTION])
        access, expires = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(access, str) or not access or isinstance(expires, bool) or not (
                isinstance(expires, int | float)):
            raise UpstreamError(self.client.endpoint.name, "protocol",
                                "the token answer lacks access_token or expires_in")
        refresh = body.get("refresh_token")
        return TokenSet(access, float(expires), refresh if isinstance(refresh, str) and refresh
                        else None, str(body.get("scope") or " ".join(self.provider.scopes)))


def expiry(tokens: TokenSet, now: float | None = None) -> float:
    return (time.time() if now is None else now) + tokens.expires_in
