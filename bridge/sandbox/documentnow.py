"""What a deprecated REST caller does after logging in: list templates, open the web UI.

- `GET /api/documentnow/v3.N/templates` (FACTS §5.6): the templates of the account
  X-AS-UserContext names, else of the user's primary account, with a bearer or a session
  token; v3.0 and v3.1 spell `templateId` and `userAccountId` (FACTS §1).
- `GET /ui/{page…}?ssoToken=…` (FACTS §4.2): the web UI's landing page, which accepts an SSO
  token once, within its 30 seconds, and refuses it after or on a second use.
- `POST /_sandbox/clock` `{"advance_s": N}`: moves the sandbox's clock on (tokens expire
  without a test sleeping); a reset puts it back.
"""

from __future__ import annotations

import json
import re
from html import escape
from urllib.parse import parse_qs

from .exchange import (
    FORBIDDEN,
    UNAUTHORIZED,
    Call,
    Refused,
    Request,
    Response,
    Route,
    json_response,
    no_content,
    rest_error,
    route,
)
from .seed import Seed, User
from .state import BEARER, SESSION, SSO, SandboxState

_VERSION = r"v3\.(?P<minor>[0-7])"
# [INFERRED] as rest.DENIED_SUMMARY: ASP.NET's own words for a token it turns away.
DENIED_SUMMARY = "Authorization has been denied for this request."
HTML_TYPE = "text/html; charset=utf-8"
CALL_NAMES = ("templates", "ui")


class DocumentNowService:
    """Templates and the UI landing page, reading tokens from the shared state."""

    def __init__(self, seed: Seed, state: SandboxState) -> None:
        self.seed = seed
        self.state = state
        self.routes = (
            route(rf"/api/documentnow/{_VERSION}/templates", "GET", "templates", self.templates),
            route(r"/ui/(?P<page>[A-Za-z0-9/_\-]+)", "GET", "ui", self.landing),
        )

    def templates(self, request: Request, match: re.Match[str]) -> Response:
        user = self._user(request)
        account = self._account(request, user)
        old_names = int(match.group("minor")) <= 1
        listed = []
        for template in self.seed.legacy.templates:
            if template.account.casefold() != account.casefold():
                continue
            entry: dict[str, object] = {
                "templateId" if old_names else "templateID": template.id,
                "name": template.name,
                "description": template.description or "",
                "isLocked": False,
                "isPartial": False,
                "isArchived": False,
                "userAccountId" if old_names else "userAccountID": user.role_id,
                "owner": {"emailAddress": user.username,
                          "fullName": f"{user.first_name} {user.last_name}".strip()},
                "accountID": template.account,
            }
            listed.append(entry)
        return json_response(200, {"messages": [], "result": {"templates": listed}})

    def _user(self, request: Request) -> User:
        scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
        kind = {"bearer": BEARER, "x-as-usersessiontoken": SESSION}.get(scheme.lower())
        grant = self.state.grant(token.strip(), kind) if kind else None
        user = self.seed.user(grant.username) if grant is not None else None
        if user is None:
            raise Refused(rest_error(401, UNAUTHORIZED, DENIED_SUMMARY))
        return user

    @staticmethod
    def _account(request: Request, user: User) -> str:
        """The account X-AS-UserContext names (it must be the user's), else the primary one."""
        given = request.header("X-AS-UserContext")
        primary = [a for a in user.usable_accounts if a.primary] or list(user.usable_accounts)
        default = primary[0].context_identifier if primary else ""
        if given is None:
            return default
        username, colon, account = given.rpartition(":")
        if not colon:
            username, account = account, ""
        account = account.strip()
        if username.strip().casefold() != user.username.casefold() or (
                account and not any(a.context_identifier.casefold() == account.casefold()
                                    for a in user.usable_accounts)):
            raise Refused(rest_error(403, FORBIDDEN, "X-AS-UserContext must name the token's "
                                     "user and one of their accounts."))
        return account or default

    def landing(self, request: Request, match: re.Match[str]) -> Response:
        """[INFERRED] the web UI's answer to a spent or late token is not documented: a 403
        page here, so a test can tell it from a welcome."""
        tokens = parse_qs(request.query).get("ssoToken") or []
        grant = self.state.redeem(tokens[0], SSO) if len(tokens) == 1 else None
        user = self.seed.user(grant.username) if grant is not None else None
        if user is None:
            page = "<h1>Sign-in link expired</h1><p>Ask for a new link.</p>"
            return Response(403, _html(page), HTML_TYPE)
        page = (f"<h1>Simple Setup</h1><p>Signed in as {escape(user.username)} on "
                f"{escape(match.group('page'))}.</p>")
        return Response(200, _html(page), HTML_TYPE)


def _html(body: str) -> bytes:
    return f"<!doctype html><html><body>{body}</body></html>".encode()


def clock_routes(state: SandboxState) -> tuple[Route, ...]:
    """`POST /_sandbox/clock` `{"advance_s": N}`: the sandbox's clock moved on N seconds."""

    def advance(request: Request) -> Response:
        try:
            document = json.loads(request.body or b"null")
        except ValueError:
            document = None
        seconds = document.get("advance_s") if isinstance(document, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
                0 < seconds <= 86400):
            return rest_error(400, "BAD_REQUEST", "Bad sandbox clock: give advance_s, seconds "
                              "from 0 to 86400.")
        state.advance(float(seconds))
        return no_content()

    pattern = re.compile(re.escape("/_sandbox/clock"))
    return (Route(pattern, "POST", lambda request: Call("_sandbox:clock",
                                                        lambda: advance(request))),)
