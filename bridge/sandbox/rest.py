"""The emulated REST v3.x endpoints: apiUser, credentials, sso and users/{username}/accounts.

Paths, bodies and errors follow the contract's facts (assuresign-rest/FACTS.md §2-§5.1,
§7): versions v3.0 to v3.7, success bodies `{"messages": [], "result": {...}}` (apiUser
on v3.0-v3.6 excepted: a top-level `token`), error bodies `{"errorCode", "summary",
"details"?}` with the vendor's six codes only. Where the vendor's answer is not known,
the comment says [INFERRED] and why this answer was chosen.

No endpoint returns a user's names: the vendor has none (FACTS §5.1).

A user the legacy side has locked after repeated failed logins is locked here too:
it is the same user on the same vendor. Only legacy logins count towards that lock.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
from collections.abc import Mapping

from .exchange import (
    BAD_REQUEST,
    FORBIDDEN,
    INTERNAL_SERVER_ERROR,
    MAX_BODY,
    NOT_FOUND,
    NOT_FOUND_SUMMARY,
    UNAUTHORIZED,
    Refused,
    Request,
    Response,
    json_response,
    rest_error,
    route,
)
from .seed import ApiUser, Seed, User
from .state import BEARER, SESSION, SSO, Grant, SandboxState

# The vendor serves v3.0 to v3.7 side by side (FACTS §1); other versions are unknown routes.
_VERSION = r"v3\.(?P<minor>[0-7])"
# apiUser wraps its token in `result` from v3.7 on (FACTS §3, §9.1).
_FIRST_WRAPPED_MINOR = 7
SSO_LIFETIME_S = 30
DEFAULT_SESSION_MINUTES = 60
MAX_SESSION_MINUTES = 1440
VALIDATION_SUMMARY = "Error validating request"
BAD_API_KEY_SUMMARY = "The provided key for the API User was not valid"
# [INFERRED] ASP.NET Web API's own text for a request its [Authorize] turns away: the
# vendor's status and code for a bad token on DocumentNOW routes are unknown (FACTS §10),
# 401 UNAUTHORIZED is what its other "not yours" answers use (FACTS §7).
DENIED_SUMMARY = "Authorization has been denied for this request."
# [INFERRED] wording modelled on the apiUser refusal above; only the code is the vendor's.
BAD_CREDENTIALS_SUMMARY = "The provided username or password was not valid"
# [INFERRED] The vendor's codes cannot tell a locked, an inactive and an expired-password
# user apart (FACTS §7 has no such codes) and no capture shows these cases. The sandbox
# answers 403 FORBIDDEN (the password was right; the user may not proceed) with the texts
# the legacy service gives for the same cases, so a rule tells them apart by the summary.
LOCKED_SUMMARY = "The user account is locked."
INACTIVE_SUMMARY = "The user account is inactive."
PASSWORD_EXPIRED_SUMMARY = "The password has expired."  # noqa: S105
# [INFERRED] FACTS §10: what apiUser answers for a revoked or expired API user, or a context
# user outside its scope, is unknown. A dead API user is a bad key (401 UNAUTHORIZED) with
# its own summary; a context user it may not act for is 403 FORBIDDEN, the code the vendor
# gives a bearer that may not do something (sso, FACTS §4.2).
REVOKED_SUMMARY = "The API User has been revoked"
EXPIRED_SUMMARY = "The API User has expired"
OUT_OF_SCOPE_SUMMARY = "The API User may not act for this user"
# The forum-reported answer when an API user is tried on the credentials endpoint.
API_USER_ON_CREDENTIALS_SUMMARY = "An Unknown Error Occurred. (Error code: LRP8V)"
# Compared against when the API username is unknown, so both refusals cost the same.
_NO_KEY = "-" * 32

CALL_NAMES = ("apiUser", "credentials", "sso", "accounts")


def _refuse(status: int, error_code: str, summary: str, details: list[str] | None = None) -> Refused:
    return Refused(rest_error(status, error_code, summary, details))


def _ok(result: Mapping[str, object]) -> Response:
    return json_response(200, {"messages": [], "result": result})


class RestService:
    """Answers the REST side for one seed, keeping tokens in the shared state."""

    def __init__(self, seed: Seed, state: SandboxState) -> None:
        self.seed = seed
        self.state = state
        documentnow = rf"/api/documentnow/{_VERSION}"
        self.routes = (
            route(rf"/api/{_VERSION}/authentication/apiUser", "POST", "apiUser", self.api_user),
            route(
                rf"{documentnow}/authentication/credentials", "POST", "credentials", self.credentials
            ),
            route(rf"{documentnow}/authentication/sso", "POST", "sso", self.sso),
            # The path is matched decoded, so a user name may hold any character.
            route(rf"{documentnow}/users/(?P<username>.+)/accounts", "GET", "accounts", self.accounts),
        )

    # -- POST /api/v3.N/authentication/apiUser ------------------------------

    def api_user(self, request: Request, match: re.Match[str]) -> Response:
        fields = _request_member(request)
        problems = _Problems()
        api_username = problems.text(fields, "apiUsername")
        key = problems.text(fields, "key")
        context_username = problems.text(fields, "contextUsername")
        minutes = problems.session_minutes(fields, "sessionLengthInMinutes")
        problems.raise_any()

        api = self.seed.api_user(api_username)
        key_matches = hmac.compare_digest(key.encode("utf-8"), (api.key if api else _NO_KEY).encode("utf-8"))
        if api is None or not key_matches:
            raise _refuse(401, UNAUTHORIZED, BAD_API_KEY_SUMMARY)
        if api.revoked:
            raise _refuse(401, UNAUTHORIZED, REVOKED_SUMMARY)
        if api.expires < dt.datetime.now(dt.UTC).date():
            raise _refuse(401, UNAUTHORIZED, EXPIRED_SUMMARY)

        user = self.seed.user(context_username)
        # One answer for "no such user" and "not yours" so scope does not reveal who exists.
        if user is None or not self._in_scope(api, user):
            raise _refuse(403, FORBIDDEN, OUT_OF_SCOPE_SUMMARY)
        # [INFERRED] a user who may not sign in gets no bearer either; an expired password
        # does not stop an API user, who never uses it.
        self._refuse_unusable(user, refuse_expired_password=False)

        token = self.state.issue(BEARER, user.username, minutes * 60, api.username)
        # No expiry field in either shape: clients compute it (FACTS §3).
        if int(match.group("minor")) >= _FIRST_WRAPPED_MINOR:
            return _ok({"token": token})
        return json_response(200, {"token": token})

    def _in_scope(self, api: ApiUser, user: User) -> bool:
        scope = api.scope
        if scope.kind == "user":
            return scope.user is not None and scope.user.casefold() == user.username.casefold()
        if scope.kind == "environment":
            return self.seed.environment in scope.environments
        return True

    def _refuse_unusable(self, user: User, *, refuse_expired_password: bool) -> None:
        if user.status == "locked" or self.state.is_locked(user.username):
            raise _refuse(403, FORBIDDEN, LOCKED_SUMMARY)
        if user.status == "inactive":
            raise _refuse(403, FORBIDDEN, INACTIVE_SUMMARY)
        if refuse_expired_password and user.status == "expired_password":
            raise _refuse(403, FORBIDDEN, PASSWORD_EXPIRED_SUMMARY)

    # -- POST /api/documentnow/v3.N/authentication/credentials --------------

    def credentials(self, request: Request, match: re.Match[str]) -> Response:
        auth_request = _request_member(request).get("authRequest")
        if not isinstance(auth_request, dict):
            raise _refuse(400, BAD_REQUEST, VALIDATION_SUMMARY, [_empty("authRequest")])
        problems = _Problems()
        username = problems.text(auth_request, "username")
        password = problems.text(auth_request, "password")
        minutes = problems.session_minutes(auth_request, "sessionLength")
        problems.raise_any()

        if self.seed.api_user(username) is not None:
            raise _refuse(500, INTERNAL_SERVER_ERROR, API_USER_ON_CREDENTIALS_SUMMARY)
        user = self.seed.user(username)
        password_matches = hmac.compare_digest(
            password.encode("utf-8"), (user.password if user else _NO_KEY).encode("utf-8")
        )
        if user is None or not password_matches:
            raise _refuse(401, UNAUTHORIZED, BAD_CREDENTIALS_SUMMARY)
        # Status is told only to someone who knows the password, as the legacy service does.
        self._refuse_unusable(user, refuse_expired_password=True)

        token = self.state.issue(SESSION, user.username, minutes * 60)
        now = dt.datetime.now(dt.UTC)
        return _ok(
            {
                # [INFERRED] only the accounts the user may use: this answer has no
                # disabled flag to mark the others with.
                "accounts": [
                    {
                        "accountId": a.context_identifier,
                        "roleId": user.role_id,
                        "name": a.name,
                        "isPrimary": a.primary,
                    }
                    for a in user.usable_accounts
                ],
                # The vendor sample's shape (no zone, hundredths); the sandbox's clock is UTC.
                "lastLoginDate": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4],
                "sessionToken": token,
            }
        )

    # -- POST /api/documentnow/v3.N/authentication/sso ----------------------

    def sso(self, request: Request, match: re.Match[str]) -> Response:
        grant = self._grant(request, bearer_only=True)
        user = self.seed.user(grant.username) if grant is not None else None
        if grant is None or user is None:
            raise _refuse(403, FORBIDDEN, "The bearer token is missing, invalid or expired.")
        self._check_user_context(request, user)
        token = self.state.issue(SSO, grant.username, SSO_LIFETIME_S, grant.api_username)
        return _ok({"ssoToken": token})

    def _check_user_context(self, request: Request, user: User) -> None:
        """X-AS-UserContext, when sent, must name the token's user and an account they can use.

        [INFERRED] FACTS §10 leaves open what the vendor does otherwise; FORBIDDEN is its
        code for a bearer that may not do something. Spaces around the parts are trimmed
        (a production client sends `user: guid`), and a bare user name is accepted (one
        client sends that and passes, FACTS §2)."""
        user_context = request.header("X-AS-UserContext")
        if user_context is None:
            return
        username, colon, account_id = user_context.rpartition(":")
        if not colon:
            username, account_id = account_id, ""
        username, account_id = username.strip(), account_id.strip()
        if username.casefold() != user.username.casefold() or (
            colon
            and not any(
                a.context_identifier.casefold() == account_id.casefold() for a in user.usable_accounts
            )
        ):
            raise _refuse(
                403, FORBIDDEN, "X-AS-UserContext must name the token's user and one of their accounts."
            )

    # -- GET /api/documentnow/v3.N/users/{username}/accounts -------------------

    def accounts(self, request: Request, match: re.Match[str]) -> Response:
        grant = self._grant(request, bearer_only=False)
        if grant is None:
            raise _refuse(401, UNAUTHORIZED, DENIED_SUMMARY)
        user = self.seed.user(match.group("username"))
        if user is None:
            raise _refuse(404, NOT_FOUND, NOT_FOUND_SUMMARY)
        if not self._may_read(grant, user):
            raise _refuse(401, UNAUTHORIZED, DENIED_SUMMARY)
        # Disabled accounts are listed, flagged: the vendor documents isDisabled (FACTS §5.1).
        return _ok(
            {
                "userAccounts": [
                    {
                        "accountID": a.context_identifier,
                        "accountName": a.name,
                        "isDefault": a.primary,
                        "isDisabled": a.disabled,
                    }
                    for a in user.accounts
                ]
            }
        )

    def _may_read(self, grant: Grant, user: User) -> bool:
        """[INFERRED] Whose accounts a token may list: a bearer, everyone its API user's scope
        covers (the bearer acts for the API user, whose scope is what the vendor checks, FACTS
        §3); a session token, only its own user's (it is that user's own sign-in)."""
        if grant.kind == SESSION:
            return grant.username.casefold() == user.username.casefold()
        api = self.seed.api_user(grant.api_username or "")
        return api is not None and self._in_scope(api, user)

    def _grant(self, request: Request, *, bearer_only: bool) -> Grant | None:
        scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer":
            return self.state.grant(token, BEARER)
        if scheme.lower() == "x-as-usersessiontoken" and not bearer_only:
            return self.state.grant(token, SESSION)
        return None


class _Problems:
    """Validation in the vendor's manner: every problem found, one `details` line each."""

    def __init__(self) -> None:
        self.details: list[str] = []

    def text(self, fields: Mapping[str, object], name: str) -> str:
        value = fields.get(name)
        if not isinstance(value, str) or not value:
            self.details.append(_empty(name))
            return ""
        return value

    def session_minutes(self, fields: Mapping[str, object], name: str) -> int:
        value = fields.get(name)
        if value is None:
            return DEFAULT_SESSION_MINUTES
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SESSION_MINUTES:
            # [INFERRED] FluentValidation's wording, as the vendor's other details are.
            self.details.append(f"'{_pascal(name)}' must be between 1 and {MAX_SESSION_MINUTES}.")
            return DEFAULT_SESSION_MINUTES
        return value

    def raise_any(self) -> None:
        if self.details:
            raise _refuse(400, BAD_REQUEST, VALIDATION_SUMMARY, self.details)


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _empty(name: str) -> str:
    """The vendor's detail for a missing field, e.g. "'Key' should not be empty." (FACTS §3)."""
    return f"'{_pascal(name)}' should not be empty."


def _request_member(request: Request) -> Mapping[str, object]:
    if len(request.body) > MAX_BODY:
        # [INFERRED] the vendor's limit and its answer are unknown; a bad request is the
        # nearest of its codes.
        raise _refuse(400, BAD_REQUEST, "The request body is larger than 1 MiB.")
    try:
        document = json.loads(request.body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("request"), dict):
        raise _refuse(400, BAD_REQUEST, VALIDATION_SUMMARY, [_empty("request")])
    request_member: dict[str, object] = document["request"]
    return request_member
