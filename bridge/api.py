"""The JSON endpoints beside SOAP: token exchange (RFC 8693) and account-context lookup."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from bridge.auth.tokens import Grant, TokenIssuer
from bridge.directory import Directory

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
_FORM = "application/x-www-form-urlencoded"
_MAX_FORM = 16 * 1024


@dataclass(frozen=True)
class JsonReply:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


def _oauth_error(error: str, description: str) -> JsonReply:
    return JsonReply(400, {"error": error, "error_description": description}, _NO_STORE)


class JsonApi:
    """Both endpoints authenticate with what the bridge itself issued, or an operator key."""

    def __init__(self, tokens: TokenIssuer, directory: Directory,
                 operator_keys: Sequence[str]) -> None:
        self._tokens = tokens
        self._directory = directory
        self._operator_keys = [key.encode() for key in operator_keys if key]

    def exchange(self, content_type: str, body: bytes) -> JsonReply:
        """POST /v1/token: trade an AuthenticationToken for the upstream bearer it stands for."""
        if content_type.split(";")[0].strip().lower() != _FORM:
            return _oauth_error("invalid_request", f"the body must be {_FORM}")
        if len(body) > _MAX_FORM:
            return _oauth_error("invalid_request", "the body is too large")
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            return _oauth_error("invalid_request", "the body is not UTF-8")
        fields = {key: values[0] for key, values in form.items() if len(values) == 1}
        if any(len(values) > 1 for values in form.values()):
            return _oauth_error("invalid_request", "a parameter was given more than once")
        if fields.get("grant_type") != TOKEN_EXCHANGE:
            return JsonReply(400, {"error": "unsupported_grant_type",
                                   "error_description": f"grant_type must be {TOKEN_EXCHANGE}"},
                             _NO_STORE)
        if not fields.get("subject_token"):
            return _oauth_error("invalid_request", "subject_token is required")
        if fields.get("subject_token_type") != ACCESS_TOKEN:
            return _oauth_error("invalid_request", f"subject_token_type must be {ACCESS_TOKEN}")
        grant = self._tokens.resolve(fields["subject_token"])
        if grant is None:
            return _oauth_error("invalid_grant", "the subject_token is invalid or has expired")
        return JsonReply(200, {
            "access_token": grant.bearer,
            "issued_token_type": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": max(0, int(grant.expires_at - time.time())),
            "user_context": grant.context,
        }, _NO_STORE)

    def accounts(self, username: str, authorization: str) -> JsonReply:
        """GET /v1/accounts/{username}: that user's account contexts, for them or an operator."""
        username = username.strip()
        if not username or "/" in username:
            return JsonReply(404, {"error": "not_found", "error_description": "no such user"})
        credential = _bearer(authorization)
        if credential is None:
            return _unauthorised("send Authorization: Bearer <AuthenticationToken>")
        if not self._is_operator(credential):
            grant = self._tokens.resolve(credential)
            if grant is None:
                return _unauthorised("the token is invalid or has expired")
            if not _same_user(grant, username):
                return JsonReply(403, {"error": "forbidden",
                                       "error_description": "the token was issued to another user"})
        found = self._directory.lookup(username)
        if found is None:
            return JsonReply(404, {"error": "not_found",
                                   "error_description": "no source knows this user's accounts"})
        return JsonReply(200, found.as_json(), (("Cache-Control", "no-store"),))

    def _is_operator(self, credential: str) -> bool:
        given = credential.encode()
        # Compare with every key, always: the time taken does not tell which one is close.
        matches = [hmac.compare_digest(given, key) for key in self._operator_keys]
        return any(matches)


def _bearer(authorization: str) -> str | None:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _same_user(grant: Grant, username: str) -> bool:
    return grant.subject.strip().casefold() == username.casefold()


def _unauthorised(description: str) -> JsonReply:
    return JsonReply(401, {"error": "unauthorized", "error_description": description},
                     (("WWW-Authenticate", 'Bearer realm="soap-bridge"'),))


def encode(reply: JsonReply) -> bytes:
    return json.dumps(reply.body, separators=(",", ":")).encode()

