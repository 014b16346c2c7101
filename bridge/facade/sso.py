"""The web-UI hand-off: `POST /v1/sso` trades an AuthenticationToken for a fresh 30-second
SSO token from the upstream's `authentication/sso` (FACTS §4.2), and the ready page URL.

The SSO token is asked for anew on every call and handed straight back: it is never kept,
cached or logged (it opens the user's web session for its 30 seconds).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from bridge.api import bearer_credential, unauthorised
from bridge.auth.ratelimit import RateLimiter
from bridge.auth.tokens import SESSION, Grant, Refused, TokenIssuer
from bridge.errors import Forbidden, RateLimited, SoapServerError, UpstreamError
from bridge.facade.settings import SsoSettings
from bridge.metrics import SSO_TOKENS
from bridge.rules.template import lookup
from bridge.upstream.rest import RestClient
from bridge.wsgi import Response, json_response

# [DOC D-SSO] the token lives 30 seconds; the vendor's answer does not say so itself.
SSO_LIFETIME = 30
UNAVAILABLE = "The SSO service is temporarily unavailable. Please try again later."
REFUSED = ("The upstream refused an SSO token for this login (FORBIDDEN): its bearer is invalid "
           "or has expired. Log in again.")
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


class SsoHandoff:
    """Asks the upstream for SSO tokens on behalf of the logins the bridge's tokens stand for."""

    def __init__(self, settings: SsoSettings, client: RestClient, tokens: TokenIssuer,
                 base_url: str, rate_limiter: RateLimiter | None = None) -> None:
        self._settings = settings
        self._client = client
        self._tokens = tokens
        # Per address, like the other /v1/* endpoints: each call costs an upstream call.
        self._rate_limiter = rate_limiter
        url = settings.url
        # A path is a page on the upstream's own host (FACTS §4.2: the SSO token is good on
        # the host that issued it).
        self._url = base_url.rstrip("/") + url if url and url.startswith("/") else url

    def v1(self, environ: dict[str, Any], method: str, client: str | None = None) -> Response:
        """POST /v1/sso with `Authorization: Bearer <AuthenticationToken>`; `client` is the
        caller's address, for the rate limit."""
        if method != "POST":
            return json_response(405, {"error": "method_not_allowed"}, (("Allow", "POST"),))
        if self._rate_limiter is not None:
            wait = self._rate_limiter.over(client, None)
            if wait is not None:
                SSO_TOKENS.labels("v1", "rate_limited").inc()
                raise RateLimited(wait)
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        credential = bearer_credential(authorization) or _session_credential(authorization)
        if credential is None:
            SSO_TOKENS.labels("v1", "unauthorized").inc()
            return unauthorised("send Authorization: Bearer <AuthenticationToken>")
        # Not consumed: a single-use token is refused here, and must not be spent by it.
        grant = self._tokens.check(credential, consume=False)
        if not isinstance(grant, Grant) or grant.kind != SESSION:
            SSO_TOKENS.labels("v1", "unauthorized").inc()
            return unauthorised(grant.description if isinstance(grant, Refused)
                                else "the token is not a session token")
        if grant.operation != self._settings.operation:
            SSO_TOKENS.labels("v1", "unauthorized").inc()
            return unauthorised(f"the token is not from {self._settings.operation}")
        if unsendable(grant):
            SSO_TOKENS.labels("v1", "forbidden").inc()
            raise Forbidden(UNSENDABLE)
        token = self.fetch(grant, "v1")
        answer: dict[str, Any] = {"ssoToken": token, "expires_in": SSO_LIFETIME}
        if self._url:
            answer["url"] = ready_url(self._url, token)
        return json_response(200, answer, _NO_STORE)

    def fetch(self, grant: Grant, entry: str) -> str:
        """A fresh SSO token for the login `grant` stands for; Forbidden when the upstream
        answers FORBIDDEN, SoapServerError when it cannot be had."""
        headers = {"Authorization": f"bearer {grant.bearer}"}
        if grant.context:
            headers["X-AS-UserContext"] = grant.context
        try:
            # FACTS §4.2: the body is optional; callers send {}.
            reply = self._client.call("POST", self._settings.path, {}, headers)
        except UpstreamError as exc:
            SSO_TOKENS.labels(entry, "unavailable").inc()
            raise SoapServerError(UNAVAILABLE, reason="unavailable") from exc
        if reply.status == 403 or reply.error_code == "FORBIDDEN":
            SSO_TOKENS.labels(entry, "forbidden").inc()
            raise Forbidden(REFUSED)
        token = lookup(reply.body, "result.ssoToken") if reply.ok else None
        if not isinstance(token, str) or not token:
            SSO_TOKENS.labels(entry, "unavailable").inc()
            raise SoapServerError(UNAVAILABLE, reason="unavailable")
        SSO_TOKENS.labels(entry, "ok").inc()
        return token


# [INFERRED] A header value carries Latin-1 text without control characters (RFC 9110 §5.5;
# http.client refuses anything else, and a CR/LF would start another header).
_UNSENDABLE = re.compile(r"[^\t\x20-\x7e\xa0-\xff]")
UNSENDABLE = ("This login's user name cannot be sent to the upstream in X-AS-UserContext (it "
              "holds control characters or characters outside Latin-1).")


def unsendable(grant: Grant) -> bool:
    """Whether the grant's user context cannot go into a header as it is (a user name with a
    CR/LF or non-Latin-1 letters, which a `local` login may take): such a login is refused
    with a clear answer rather than failing inside the HTTP client."""
    return bool(grant.context and _UNSENDABLE.search(grant.context))


def _session_credential(authorization: str) -> str | None:
    """The token of `X-AS-UserSessionToken <sessionToken>`: a REST caller's session token is
    the same login's token as an AuthenticationToken, sent the way it sends it everywhere."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "x-as-usersessiontoken":
        return None
    return value.strip() or None


def ready_url(url: str, token: str) -> str:
    """`url` with the token as its last query parameter: `&ssoToken=` appended, or `?ssoToken=`
    when the URL has no query yet (FACTS §4.2)."""
    return f"{url}{'&' if '?' in url else '?'}ssoToken={quote(token, safe='')}"
