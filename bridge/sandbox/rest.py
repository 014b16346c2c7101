"""The emulated REST v3.x endpoints: apiUser, credentials, sso, and the sandbox's own user profile.

`GET /api/documentnow/v3.N/user` is the sandbox's invention, not taken from the
vendor's documentation: its path and its answer
`{"result": {"username", "firstName", "lastName", "accounts": [{"accountId", "name",
"isPrimary"}]}}` exist so a test can prove a token works and so the bridge's rules
have a profile to read. The other three follow the vendor's documented shapes.

A user the legacy side has locked after repeated failed logins is locked here too:
it is the same user on the same vendor. Only legacy logins count towards that lock.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
from collections.abc import Callable, Mapping

from .exchange import MAX_BODY, Call, Request, Response, Route, json_response, rest_error
from .seed import ApiUser, Seed, User
from .state import BEARER, SESSION, SSO, Grant, SandboxState

_VERSION = r"v3\.\d+"
SSO_LIFETIME_S = 30
DEFAULT_SESSION_MINUTES = 60
MAX_SESSION_MINUTES = 1440
# The forum-reported answer when an API user is tried on the credentials endpoint.
API_USER_ON_CREDENTIALS_SUMMARY = "An Unknown Error Occurred. (Error code: LRP8V)"
# Compared against when the API username is unknown, so both refusals cost the same.
_NO_KEY = "-" * 32

CALL_NAMES = ("apiUser", "credentials", "sso", "user")


class _Refused(Exception):
    """Carries the vendor-shaped refusal out of a handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _refuse(status: int, error_code: str, summary: str) -> _Refused:
    return _Refused(rest_error(status, error_code, summary))


class RestService:
    """Answers the REST side for one seed, keeping tokens in the shared state."""

    def __init__(self, seed: Seed, state: SandboxState) -> None:
        self.seed = seed
        self.state = state
        self.routes = (
            self._route(rf"/api/{_VERSION}/authentication/apiUser", "POST", "apiUser", self.api_user),
            self._route(
                rf"/api/documentnow/{_VERSION}/authentication/credentials",
                "POST",
                "credentials",
                self.credentials,
            ),
            self._route(rf"/api/documentnow/{_VERSION}/authentication/sso", "POST", "sso", self.sso),
            self._route(rf"/api/documentnow/{_VERSION}/user", "GET", "user", self.user_profile),
        )

    @staticmethod
    def _route(pattern: str, method: str, name: str, handler: Callable[[Request], Response]) -> Route:
        def prepare(request: Request) -> Call:
            def run() -> Response:
                try:
                    return handler(request)
                except _Refused as refusal:
                    return refusal.response

            return Call(name, run)

        return Route(re.compile(pattern), method, prepare)

    # -- POST /api/v3.N/authentication/apiUser ------------------------------

    def api_user(self, request: Request) -> Response:
        fields = _request_member(request)
        api_username = _text(fields, "apiUsername")
        key = _text(fields, "key")
        context_username = _text(fields, "contextUsername")
        minutes = _session_minutes(fields, "sessionLengthInMinutes")

        api = self.seed.api_user(api_username)
        key_matches = hmac.compare_digest(key.encode("utf-8"), (api.key if api else _NO_KEY).encode("utf-8"))
        if api is None or not key_matches:
            raise _refuse(401, "UNAUTHORIZED", "The API username or key is not valid.")
        if api.revoked:
            raise _refuse(401, "API_USER_REVOKED", "The API user has been revoked.")
        if api.expires < dt.datetime.now(dt.UTC).date():
            raise _refuse(401, "API_USER_EXPIRED", "The API user has expired.")

        user = self.seed.user(context_username)
        # One answer for "no such user" and "not yours" so scope does not reveal who exists.
        if user is None or not self._in_scope(api, user):
            raise _refuse(403, "FORBIDDEN", "The API user may not act for this context user.")
        self._refuse_unusable(user, refuse_expired_password=False)

        token = self.state.issue(BEARER, user.username, minutes * 60, api.username)
        answer: dict[str, object] = {"token": token}
        return json_response(200, {"result": answer} if self.seed.wrap_token else answer)

    def _in_scope(self, api: ApiUser, user: User) -> bool:
        scope = api.scope
        if scope.kind == "user":
            return scope.user is not None and scope.user.casefold() == user.username.casefold()
        if scope.kind == "environment":
            return self.seed.environment in scope.environments
        return True

    def _refuse_unusable(self, user: User, *, refuse_expired_password: bool) -> None:
        if user.status == "locked" or self.state.is_locked(user.username):
            raise _refuse(403, "USER_LOCKED", "The user account is locked.")
        if user.status == "inactive":
            raise _refuse(403, "USER_INACTIVE", "The user account is inactive.")
        if refuse_expired_password and user.status == "expired_password":
            raise _refuse(403, "PASSWORD_EXPIRED", "The password has expired.")

    # -- POST /api/documentnow/v3.N/authentication/credentials --------------

    def credentials(self, request: Request) -> Response:
        auth_request = _request_member(request).get("authRequest")
        if not isinstance(auth_request, dict):
            raise _refuse(400, "BAD_REQUEST", "request.authRequest must be a JSON object.")
        username = _text(auth_request, "username")
        password = _text(auth_request, "password")
        minutes = _session_minutes(auth_request, "sessionLength")

        if self.seed.api_user(username) is not None:
            raise _refuse(500, "INTERNAL_SERVER_ERROR", API_USER_ON_CREDENTIALS_SUMMARY)
        user = self.seed.user(username)
        password_matches = hmac.compare_digest(
            password.encode("utf-8"), (user.password if user else _NO_KEY).encode("utf-8")
        )
        if user is None or not password_matches:
            raise _refuse(401, "INVALID_CREDENTIALS", "The user name or password is incorrect.")
        self._refuse_unusable(user, refuse_expired_password=True)

        token = self.state.issue(SESSION, user.username, minutes * 60)
        now = dt.datetime.now(dt.UTC)
        return json_response(
            200,
            {
                "result": {
                    "accounts": [
                        {
                            "accountId": a.context_identifier,
                            "roleId": user.role_id,
                            "name": a.name,
                            "isPrimary": a.primary,
                        }
                        for a in user.accounts
                    ],
                    # The vendor sample's shape (no zone, hundredths); the sandbox's clock is UTC.
                    "lastLoginDate": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4],
                    "sessionToken": token,
                }
            },
        )

    # -- POST /api/documentnow/v3.N/authentication/sso ----------------------

    def sso(self, request: Request) -> Response:
        grant = self._grant(request, bearer_only=True)
        if grant is None:
            raise _refuse(403, "FORBIDDEN", "The bearer token is missing, invalid or expired.")
        token = self.state.issue(SSO, grant.username, SSO_LIFETIME_S, grant.api_username)
        return json_response(200, {"result": {"ssoToken": token}})

    # -- GET /api/documentnow/v3.N/user (the sandbox's own) ----------------

    def user_profile(self, request: Request) -> Response:
        grant = self._grant(request, bearer_only=False)
        user = self.seed.user(grant.username) if grant is not None else None
        if user is None:
            raise _refuse(401, "UNAUTHORIZED", "The token is missing, invalid or expired.")
        user_context = request.header("X-AS-UserContext")
        if user_context is not None:
            username, colon, context_identifier = user_context.strip().rpartition(":")
            if (
                not colon
                or username.casefold() != user.username.casefold()
                or not user.has_account(context_identifier)
            ):
                raise _refuse(
                    403,
                    "FORBIDDEN",
                    "X-AS-UserContext must name the token's user and one of their accounts.",
                )
        return json_response(
            200,
            {
                "result": {
                    "username": user.username,
                    "firstName": user.first_name,
                    "lastName": user.last_name,
                    "accounts": [
                        {"accountId": a.context_identifier, "name": a.name, "isPrimary": a.primary}
                        for a in user.accounts
                    ],
                }
            },
        )

    def _grant(self, request: Request, *, bearer_only: bool) -> Grant | None:
        scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer":
            return self.state.grant(token, BEARER)
        if scheme.lower() == "x-as-usersessiontoken" and not bearer_only:
            return self.state.grant(token, SESSION)
        return None


def _request_member(request: Request) -> Mapping[str, object]:
    if len(request.body) > MAX_BODY:
        raise _refuse(413, "REQUEST_TOO_LARGE", "The request body is larger than 1 MiB.")
    try:
        document = json.loads(request.body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("request"), dict):
        raise _refuse(400, "BAD_REQUEST", 'The body must be a JSON object with a "request" object.')
    request_member: dict[str, object] = document["request"]
    return request_member


def _text(fields: Mapping[str, object], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise _refuse(400, "BAD_REQUEST", f"{name} is required and must be a string.")
    return value


def _session_minutes(fields: Mapping[str, object], name: str) -> int:
    value = fields.get(name)
    if value is None:
        return DEFAULT_SESSION_MINUTES
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SESSION_MINUTES:
        raise _refuse(400, "BAD_REQUEST", f"{name} must be a whole number from 1 to {MAX_SESSION_MINUTES}.")
    return value
