"""POST /v1/sso in-process, with a stand-in upstream: the answer and its URL, what is sent
upstream, FORBIDDEN as a 403, and the per-address rate limit."""

from __future__ import annotations

import io
import json
from typing import Any

from bridge.auth.ratelimit import Limit, RateLimiter, RateLimits
from bridge.auth.tokens import SCOPED, SINGLE_USE, Grant, TokenIssuer
from bridge.facade.app import RestFacade
from bridge.facade.settings import SsoSettings
from bridge.facade.sso import SsoHandoff, ready_url
from bridge.store import MemoryStore
from bridge.upstream.rest import Reply

CONTEXT = "jdoe@example.com:821ae27f-027c-4f21-a2e5-1667fc9b650a"


class Upstream:
    """Stands in for the RestClient of authentication/sso."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.calls: list[tuple[str, str, Any, dict[str, str]]] = []

    def call(self, method: str, path: str, json_body: Any = None,
             headers: dict[str, str] | None = None) -> Reply:
        self.calls.append((method, path, json_body, dict(headers or {})))
        return self.reply


def _setup(reply: Reply, limit: int | None = None) -> tuple[RestFacade, Upstream, TokenIssuer]:
    store = MemoryStore()
    tokens = TokenIssuer(store)
    upstream = Upstream(reply)
    limiter = RateLimiter(store, RateLimits(per_address=Limit(limit, 3600))) if limit else None
    sso = SsoHandoff(SsoSettings(url="/ui/simpleSetup/abc?lang=en"), upstream,  # type: ignore[arg-type]
                     tokens, "https://www.assuresign.example", limiter)
    facade = RestFacade(None, None, None, sso, tokens, 1024, lambda environ: "192.0.2.7")
    return facade, upstream, tokens


def _token(tokens: TokenIssuer, kind: str = "session",
           operation: str = "AuthenticateUser") -> str:
    return tokens.issue(Grant(subject="jdoe@example.com", bearer="the-bearer", context=CONTEXT,
                              kind=kind, operation=operation), ttl=60)


def _post(facade: RestFacade, token: str, scheme: str = "Bearer"
          ) -> tuple[str, dict[str, str], dict[str, Any]]:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/sso", "QUERY_STRING": "",
               "wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0",
               "HTTP_AUTHORIZATION": f"{scheme} {token}"}
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(facade(environ, lambda status, headers: seen.append((status, headers)),
                           "req-1"))
    return seen[0][0], dict(seen[0][1]), json.loads(body)


def test_a_fresh_token_and_the_ready_url() -> None:
    facade, upstream, tokens = _setup(Reply(200, {"messages": [], "result": {"ssoToken": "a+b/c"}},
                                            0.0))

    status, headers, body = _post(facade, _token(tokens))

    assert status.startswith("200") and headers["Cache-Control"] == "no-store"
    assert body == {"ssoToken": "a+b/c", "expires_in": 30, "url":
                    "https://www.assuresign.example/ui/simpleSetup/abc?lang=en&ssoToken=a%2Bb%2Fc"}
    assert upstream.calls == [("POST", "/api/documentnow/v3.7/authentication/sso", {},
                               {"Authorization": "bearer the-bearer",
                                "X-AS-UserContext": CONTEXT})]


def test_forbidden_upstream_is_a_403_and_a_hand_off_token_gets_nothing() -> None:
    facade, upstream, tokens = _setup(Reply(403, {"errorCode": "FORBIDDEN"}, 0.0,
                                            "FORBIDDEN", "expired"))

    status, _, body = _post(facade, _token(tokens))
    hand_off = _token(tokens, SINGLE_USE)
    refused, _, _ = _post(facade, hand_off)

    assert status.startswith("403") and body["error"] == "forbidden"
    assert refused.startswith("401") and len(upstream.calls) == 1
    # Refused, not spent: it still works once where it belongs.
    assert isinstance(tokens.check(hand_off), Grant)


def test_the_per_address_rate_limit() -> None:
    facade, upstream, tokens = _setup(Reply(200, {"result": {"ssoToken": "t"}}, 0.0), limit=1)

    first, _, _ = _post(facade, _token(tokens))
    second, headers, body = _post(facade, _token(tokens))

    assert first.startswith("200") and second.startswith("429")
    assert body["error"] == "too_many_requests" and int(headers["Retry-After"]) >= 1
    assert len(upstream.calls) == 1


def test_the_ready_url_takes_the_token_as_its_last_parameter() -> None:
    assert ready_url("https://h/ui/x", "t") == "https://h/ui/x?ssoToken=t"
    assert ready_url("https://h/ui/x?a=1", "t t") == "https://h/ui/x?a=1&ssoToken=t%20t"


def test_another_rules_login_gets_nothing() -> None:
    facade, upstream, tokens = _setup(Reply(200, {"result": {"ssoToken": "t"}}, 0.0))

    # Another pack's login (its bearer is another vendor's), or a token of no known login.
    for operation in ("Authentication.Login", ""):
        status, _, body = _post(facade, _token(tokens, operation=operation))

        assert status.startswith("401") and body["error"] == "unauthorized"
        assert "AuthenticateUser" in body["error_description"]
    assert upstream.calls == []


def test_a_rest_caller_sends_its_session_token_its_own_way() -> None:
    facade, upstream, tokens = _setup(Reply(200, {"result": {"ssoToken": "t"}}, 0.0))

    status, _, body = _post(facade, _token(tokens), "x-as-usersessiontoken")
    empty, _, _ = _post(facade, "", "X-AS-UserSessionToken")

    assert status.startswith("200") and body["ssoToken"] == "t"
    assert empty.startswith("401") and len(upstream.calls) == 1


def test_a_user_name_no_header_can_carry_gets_a_clear_403() -> None:
    facade, upstream, tokens = _setup(Reply(200, {"result": {"ssoToken": "t"}}, 0.0))
    token = tokens.issue(Grant(subject="a\r\nb", bearer="b", context="a\r\nb:1",
                               operation="AuthenticateUser"), ttl=60)

    status, _, body = _post(facade, token)

    assert status.startswith("403") and "X-AS-UserContext" in body["error_description"]
    assert upstream.calls == []


def test_a_scoped_token_gets_no_hand_off() -> None:
    """A token bound to one package (a sender's) never opens the whole web UI."""
    facade, upstream, tokens = _setup(Reply(200, {"result": {"ssoToken": "t"}}, 0.0))
    scoped = tokens.issue(Grant(subject="jdoe@example.com", bearer="the-bearer", context=CONTEXT,
                                kind=SCOPED, scope={"package": "p-1"},
                                operation="AuthenticateUser"), ttl=60)

    for scheme in ("Bearer", "X-AS-UserSessionToken"):
        status, _, body = _post(facade, scoped, scheme)
        assert status.startswith("401"), (scheme, body)
    assert upstream.calls == []
