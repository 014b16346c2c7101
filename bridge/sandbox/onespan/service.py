"""OneSpan Sign's authentication-token endpoints, its packages, and the session hand-off that
redeems the tokens; with the `/_sandbox/onespan/` controls.

Documented (contract LEGACY-AND-MODERN-APIS.md §4): `POST /api/cs-authenticationTokens/user`
→ `{"value"}`; `/sender` with `{"packageId"}` → `{"value"}`; `/signer/multiUse` with
`{"packageId", "signerId"}` → `{"packageId", "signerId", "value"}`; `/signer/singleUse`
likewise plus `"sessionFields"`; every token single-use except the multi-use signer token;
30 minutes by default; called with `Authorization: Bearer` and JSON.

[INFERRED], each where it is used: the API key itself is the bearer (OneSpan also issues
OAuth access tokens; the contract names neither), the error body, the package JSON, the
statuses, and the hand-off URLs (`/access?sessionToken=` for signer tokens,
`/auth?authenticationToken=` for user tokens and `/auth?senderAuthenticationToken=` for
sender tokens, as OneSpan's integration guides write them).
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ..controls import CONTROL_PREFIX
from ..exchange import Refused, Request, Response, Route, json_response, no_content, route
from .seed import ApiKey, OneSpanSeed, Package

TOKEN_LIFETIME_S = 30 * 60
USER, SENDER, SIGNER_MULTI, SIGNER_SINGLE = "user", "sender", "signerMultiUse", "signerSingleUse"
CALL_NAMES = tuple(f"onespan:{name}" for name in (USER, SENDER, SIGNER_MULTI, SIGNER_SINGLE,
                                                  "package", "access", "auth"))
PREFIX = CONTROL_PREFIX + "onespan/"
_TOKENS = "/api/cs-authenticationTokens"


@dataclass(frozen=True)
class Token:
    kind: str
    account: str
    expires_at: float
    package_id: str = ""
    signer_id: str = ""
    used: bool = False

    @property
    def single_use(self) -> bool:
        return self.kind != SIGNER_MULTI


class Tokens:
    """Issued tokens; a single-use one is consumed under the lock, so two redemptions racing
    each other cannot both succeed."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.offset = 0.0  # moved by the clock control: expiry without sleeping
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}

    def now(self) -> float:
        return self.clock() + self.offset

    def issue(self, token: Token) -> str:
        value = secrets.token_urlsafe(32)
        with self._lock:
            now = self.now()
            for dead in [v for v, t in self._tokens.items() if t.expires_at <= now]:
                del self._tokens[dead]
            self._tokens[value] = replace(token, expires_at=now + TOKEN_LIFETIME_S)
        return value

    def redeem(self, value: str, kinds: tuple[str, ...]) -> Token | None:
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.kind not in kinds or token.expires_at <= self.now():
                return None
            if token.single_use:
                if token.used:
                    return None
                self._tokens[value] = replace(token, used=True)
            return token

    def summary(self) -> list[dict[str, object]]:
        """The tokens without their values, for tests."""
        with self._lock:
            return [{"kind": t.kind, "packageId": t.package_id, "signerId": t.signer_id,
                     "used": t.used, "expired": t.expires_at <= self.now()}
                    for t in self._tokens.values()]

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self.offset = 0.0


def _error(status: int, name: str, message_key: str, message: str) -> Refused:
    """[INFERRED] OneSpan's error body: code, name, messageKey and message."""
    return Refused(json_response(status, {"code": status, "name": name,
                                          "messageKey": message_key, "message": message}))


def _page(status: int, title: str, data: Mapping[str, str]) -> Response:
    attributes = "".join(f" data-{key}='{html.escape(value)}'" for key, value in data.items())
    body = f"<!doctype html><title>{html.escape(title)}</title><p{attributes}>{html.escape(title)}</p>"
    return Response(status, body.encode("utf-8"), "text/html; charset=utf-8")


class OneSpanSandbox:
    """The OneSpan Sign emulation for one seed."""

    def __init__(self, seed: OneSpanSeed, clock: Callable[[], float] = time.time) -> None:
        self.seed = seed
        self.tokens = Tokens(clock)
        self.call_names = CALL_NAMES
        self.routes: tuple[Route, ...] = (
            route(rf"{_TOKENS}/user", "POST", CALL_NAMES[0], self.user_token),
            route(rf"{_TOKENS}/sender", "POST", CALL_NAMES[1], self.sender_token),
            route(rf"{_TOKENS}/signer/multiUse", "POST", CALL_NAMES[2], self.signer_token),
            route(rf"{_TOKENS}/signer/singleUse", "POST", CALL_NAMES[3], self.signer_token),
            route(r"/api/packages/(?P<package>[^/]+)", "GET", CALL_NAMES[4], self.package),
            route(r"/access", "GET", CALL_NAMES[5], self.access),
            route(r"/auth", "GET", CALL_NAMES[6], self.auth),
        )
        self.control_routes: tuple[Route, ...] = (
            route(re.escape(PREFIX + "clock"), "POST", "_sandbox:onespan:clock", self.advance),
            route(re.escape(PREFIX + "tokens"), "GET", "_sandbox:onespan:tokens", self.list_tokens),
        )

    def reset(self) -> None:
        self.tokens.reset()

    # -- the API, with the account's API key ------------------------------------

    def user_token(self, request: Request, match: re.Match[str]) -> Response:
        key = self._caller(request)
        return json_response(200, {"value": self.tokens.issue(Token(USER, key.account, 0.0))})

    def sender_token(self, request: Request, match: re.Match[str]) -> Response:
        key = self._caller(request)
        package = self._package(key, _body(request).get("packageId"))
        value = self.tokens.issue(Token(SENDER, key.account, 0.0, package.id))
        return json_response(200, {"value": value})

    def signer_token(self, request: Request, match: re.Match[str]) -> Response:
        key = self._caller(request)
        body = _body(request)
        package = self._package(key, body.get("packageId"))
        signer_id = body.get("signerId")
        if not isinstance(signer_id, str) or package.role(signer_id) is None:
            raise _error(400, "Validation Error", "error.validation.invalidSigner",
                         "The signer does not belong to the package.")
        kind = SIGNER_SINGLE if request.path.endswith("singleUse") else SIGNER_MULTI
        value = self.tokens.issue(Token(kind, key.account, 0.0, package.id, signer_id))
        return json_response(200, {"packageId": package.id, "signerId": signer_id, "value": value})

    def package(self, request: Request, match: re.Match[str]) -> Response:
        key = self._caller(request)
        package = self._package(key, match.group("package"))
        return json_response(200, {
            "id": package.id, "name": package.name, "status": package.status,
            "sender": {"email": key.sender},
            "roles": [{"id": r.id, "name": r.id, "type": "SIGNER",
                       "signers": [{"id": r.id, "email": r.email, "firstName": r.first_name,
                                    "lastName": r.last_name}]} for r in package.roles],
        })

    def _caller(self, request: Request) -> ApiKey:
        scheme, _, value = (request.header("Authorization") or "").strip().partition(" ")
        key = next((k for k in self.seed.api_keys
                    if scheme.lower() == "bearer" and secrets.compare_digest(
                        k.key.encode(), value.strip().encode())), None)
        if key is None:
            raise _error(401, "Unauthorized", "error.unauthorised.noApiKey",
                         "Unauthorized access: the API key is missing or not valid.")
        return key

    def _package(self, key: ApiKey, package_id: object) -> Package:
        if not isinstance(package_id, str) or not package_id:
            raise _error(400, "Validation Error", "error.validation.packageId",
                         "packageId is required.")
        package = self.seed.package(package_id, key.account)
        if package is None:
            raise _error(404, "Resource Not Found", "error.resourceNotFound",
                         "The package was not found.")
        return package

    # -- the hand-off: a browser redeems the token --------------------------------

    def access(self, request: Request, match: re.Match[str]) -> Response:
        """A signer's session: the signer token from `sessionToken`."""
        token = self.tokens.redeem(request.params().get("sessionToken", ""),
                                   (SIGNER_MULTI, SIGNER_SINGLE))
        if token is None:
            return _refused()
        return _page(200, "Signing session", {"kind": token.kind, "package": token.package_id,
                                              "signer": token.signer_id})

    def auth(self, request: Request, match: re.Match[str]) -> Response:
        """A user's (`authenticationToken`) or a sender's (`senderAuthenticationToken`) session."""
        query = request.params()
        if "senderAuthenticationToken" in query:
            token = self.tokens.redeem(query["senderAuthenticationToken"], (SENDER,))
        else:
            token = self.tokens.redeem(query.get("authenticationToken", ""), (USER,))
        if token is None:
            return _refused()
        return _page(200, "Sender session" if token.kind == SENDER else "Account session",
                     {"kind": token.kind, "package": token.package_id, "account": token.account})

    # -- controls --------------------------------------------------------------------

    def advance(self, request: Request, match: re.Match[str]) -> Response:
        """`{"advance_s": seconds}`: move the emulation's clock on, so tokens expire."""
        seconds = _body(request).get("advance_s")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise _error(400, "Validation Error", "error.validation.advance",
                         "advance_s is a number of seconds, 0 or more.")
        self.tokens.offset += float(seconds)
        return no_content()

    def list_tokens(self, request: Request, match: re.Match[str]) -> Response:
        return json_response(200, {"tokens": self.tokens.summary()})


def _refused() -> Response:
    """[INFERRED] A used, expired or unknown token: OneSpan shows an error page."""
    return _page(401, "This link has expired or has already been used.", {"kind": "refused"})


def _body(request: Request) -> dict[str, object]:
    try:
        document = json.loads(request.body or b"{}")
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise _error(400, "Validation Error", "error.validation.body", "The body is not a JSON object.")
    return document

