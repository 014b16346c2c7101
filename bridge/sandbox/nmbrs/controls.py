"""The /_sandbox/nmbrs/ endpoints tests drive the Nmbrs emulation with: throttles and grants.

- `POST /_sandbox/nmbrs/throttle` `{"soap": true | false | {"per_second": int, "delay_ms": int},
  "rest": true | false | {"per_second": int, "retry_after": int | null}}`: a member switches that
  API's throttle on (true: SOAP's documented 150 a second and half a second's delay; REST's
  unpublished limit taken as 100 a second, no Retry-After) or off; an absent member leaves it;
- `POST /_sandbox/nmbrs/grants` `{"action": "expire_access" | "expire_refresh" | "revoke",
  "username"?: str, "debtor"?: GUID}`: acts on every matching grant, answers `{"matched": n}`;
- `GET /_sandbox/nmbrs/grants`: the grants, without tokens.

Calls are counted per endpoint in the sandbox's `GET /_sandbox/stats` (`nmbrs:…` names);
`POST /_sandbox/reset` clears throttles and grants too.
"""

from __future__ import annotations

import json
import re

from ..controls import CONTROL_PREFIX, MAX_DELAY_MS
from ..exchange import (
    BAD_REQUEST,
    Refused,
    Request,
    Response,
    Route,
    json_response,
    no_content,
    rest_error,
    route,
)
from .grants import Grants
from .state import SOAP_CALLS_PER_SECOND, SOAP_DELAY_MS, NmbrsState, Throttle

PREFIX = CONTROL_PREFIX + "nmbrs/"
GRANT_ACTIONS = ("expire_access", "expire_refresh", "revoke")
# [INFERRED] REST's limits are not published (FACTS Unknowns 7).
REST_CALLS_PER_SECOND = 100


class NmbrsControls:
    def __init__(self, state: NmbrsState, grants: Grants) -> None:
        self.state = state
        self.grants = grants
        self.routes: tuple[Route, ...] = (
            route(re.escape(PREFIX + "throttle"), "POST", "_sandbox:nmbrs:throttle", self.throttle),
            route(re.escape(PREFIX + "grants"), "POST", "_sandbox:nmbrs:grants", self.act_on_grants),
            route(re.escape(PREFIX + "grants"), "GET", "_sandbox:nmbrs:grants", self.list_grants),
        )

    def throttle(self, request: Request, match: re.Match[str]) -> Response:
        document = _object(request, ("soap", "rest"))
        changes = {api: _throttle(api, document[api]) for api in ("soap", "rest") if api in document}
        for api, throttle in changes.items():
            self.state.set_throttle(api, throttle)
        return no_content()

    def act_on_grants(self, request: Request, match: re.Match[str]) -> Response:
        document = _object(request, ("action", "username", "debtor"))
        action = document.get("action")
        if action not in GRANT_ACTIONS:
            raise _bad(f"action must be one of {', '.join(GRANT_ACTIONS)}")
        username, debtor = document.get("username"), document.get("debtor")
        if not isinstance(username, str | None) or not isinstance(debtor, str | None):
            raise _bad("username and debtor must be strings")
        matched = self.grants.control(str(action), username, debtor)
        return json_response(200, {"matched": matched})

    def list_grants(self, request: Request, match: re.Match[str]) -> Response:
        return json_response(200, {"grants": self.grants.describe()})


def _object(request: Request, allowed: tuple[str, ...]) -> dict[str, object]:
    try:
        document = json.loads(request.body or b"null")
    except ValueError:
        raise _bad("the body is not JSON") from None
    if not isinstance(document, dict):
        raise _bad("the body must be a JSON object")
    unknown = sorted(set(document) - set(allowed))
    if unknown:
        raise _bad(f"unknown field {unknown[0]!r}")
    return document


def _throttle(api: str, value: object) -> Throttle | None:
    if value is False or value is None:
        return None
    if value is True:
        return Throttle(SOAP_CALLS_PER_SECOND if api == "soap" else REST_CALLS_PER_SECOND)
    fields = ("per_second", "delay_ms") if api == "soap" else ("per_second", "retry_after")
    if not isinstance(value, dict) or set(value) - set(fields):
        raise _bad(f"{api} must be true, false or an object with {' and '.join(fields)}")
    per_second = value.get("per_second", SOAP_CALLS_PER_SECOND if api == "soap" else REST_CALLS_PER_SECOND)
    delay_ms = value.get("delay_ms", SOAP_DELAY_MS)
    retry_after = value.get("retry_after")
    if not _whole(per_second, 1) or not _whole(delay_ms, 0) or delay_ms > MAX_DELAY_MS:
        raise _bad(f"{api}.per_second must be at least 1 and delay_ms from 0 to {MAX_DELAY_MS}")
    if retry_after is not None and not _whole(retry_after, 0):
        raise _bad("rest.retry_after must be a whole number of seconds or null")
    return Throttle(per_second, delay_ms, retry_after)


def _whole(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _bad(problem: str) -> Refused:
    return Refused(rest_error(400, BAD_REQUEST, f"Bad sandbox control: {problem}."))
