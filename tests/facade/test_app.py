"""The facade's forwarding in-process, with a recording forwarder: which tokens it swaps for the
bearer, the X-AS-UserContext it sends, and what it refuses without sending anything."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from bridge.auth.tokens import SCOPED, SESSION, SINGLE_USE, Grant, TokenIssuer
from bridge.facade.app import RestFacade
from bridge.facade.settings import FacadeSettings
from bridge.store import MemoryStore
from bridge.upstream.transport import Streamed

ACCOUNT, OTHER = "821ae27f-027c-4f21-a2e5-1667fc9b650a", "06fd91ef-dab3-4d55-8b2c-214401174fbc"
TEMPLATES = "/api/documentnow/v3.7/templates"


class Recorder:
    """Stands in for RestForwarder: records each call, answers 200 {}."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def forward(self, method: str, target: str, body: bytes,
                headers: list[tuple[str, str]]) -> Streamed:
        self.calls.append((method, target, dict(headers)))
        return Streamed(200, {"Content-Type": "application/json"}, iter([b"{}"]), 0.0)


@pytest.fixture
def tokens() -> TokenIssuer:
    return TokenIssuer(MemoryStore())


def _token(tokens: TokenIssuer, kind: str = SESSION, operation: str = "AuthenticateUser",
           **scope: str) -> str:
    grant = Grant(subject="jdoe@example.com", bearer="the-bearer",
                  context=f"jdoe@example.com:{ACCOUNT}", accounts=[{"accountID": ACCOUNT}],
                  kind=kind, scope=scope, operation=operation)
    return tokens.issue(grant, ttl=60)


def _call(facade: RestFacade, path: str, method: str = "GET",
          **headers: str) -> tuple[str, dict[str, Any]]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
                               "wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0",
                               **{"HTTP_" + k.upper(): v for k, v in headers.items()}}
    seen: list[str] = []
    body = b"".join(facade(environ, lambda status, headers: seen.append(status), "req-1"))
    return seen[0], json.loads(body)


def _facade(tokens: TokenIssuer, recorder: Recorder) -> RestFacade:
    return RestFacade(FacadeSettings(), None, recorder, None, tokens,  # type: ignore[arg-type]
                      1024, lambda environ: "127.0.0.1")


def test_a_session_token_becomes_the_bearer_and_its_context(tokens: TokenIssuer) -> None:
    recorder = Recorder()

    status, _ = _call(_facade(tokens, recorder), TEMPLATES,
                      AUTHORIZATION=f"X-AS-UserSessionToken {_token(tokens)}")

    assert status.startswith("200")
    method, target, sent = recorder.calls[0]
    assert (method, target) == ("GET", TEMPLATES)
    assert sent["Authorization"] == "bearer the-bearer"
    assert sent["X-AS-UserContext"] == f"jdoe@example.com:{ACCOUNT}"


def test_the_callers_context_is_kept_only_for_the_tokens_accounts(tokens: TokenIssuer) -> None:
    recorder = Recorder()
    facade = _facade(tokens, recorder)
    token = _token(tokens)

    _call(facade, TEMPLATES, AUTHORIZATION=f"X-AS-UserSessionToken {token}",
          X_AS_USERCONTEXT=f"mallory@example.com: {ACCOUNT}")
    status, body = _call(facade, TEMPLATES, AUTHORIZATION=f"X-AS-UserSessionToken {token}",
                         X_AS_USERCONTEXT=f"jdoe@example.com:{OTHER}")

    assert recorder.calls[0][2]["X-AS-UserContext"] == f"jdoe@example.com:{ACCOUNT}"
    assert status.startswith("403") and body["errorCode"] == "FORBIDDEN"
    assert len(recorder.calls) == 1


@pytest.mark.parametrize("kind", [SINGLE_USE, SCOPED])
def test_a_hand_off_token_is_no_session(tokens: TokenIssuer, kind: str) -> None:
    recorder = Recorder()
    token = _token(tokens, kind, package="p-1")

    status, body = _call(_facade(tokens, recorder), TEMPLATES,
                         AUTHORIZATION=f"X-AS-UserSessionToken {token}")

    assert status.startswith("403") and body["errorCode"] == "FORBIDDEN"
    assert recorder.calls == []
    if kind == SINGLE_USE:
        # Refused, not spent (bound or not): it still works once where it belongs.
        unbound = _token(tokens, SINGLE_USE)
        refused, _ = _call(_facade(tokens, recorder), TEMPLATES,
                           AUTHORIZATION=f"X-AS-UserSessionToken {unbound}")
        assert refused.startswith("403") and recorder.calls == []
        assert isinstance(tokens.check(token, {"package": "p-1"}), Grant)
        assert isinstance(tokens.check(unbound), Grant)


def test_other_credentials_pass_untouched_and_dot_segments_go_nowhere(
        tokens: TokenIssuer) -> None:
    recorder = Recorder()
    facade = _facade(tokens, recorder)

    _call(facade, TEMPLATES, AUTHORIZATION="bearer someone-elses", X_AS_USERCONTEXT="u:1")
    status, body = _call(facade, "/api/documentnow/v3.7/../v1/token",
                         AUTHORIZATION=f"X-AS-UserSessionToken {_token(tokens)}")

    assert recorder.calls[0][2]["Authorization"] == "bearer someone-elses"
    assert recorder.calls[0][2]["X-As-Usercontext"] == "u:1"
    assert status.startswith("404") and body["errorCode"] == "NOT_FOUND"
    assert len(recorder.calls) == 1


@pytest.mark.parametrize(("method", "path"), [
    # IIS reads a backslash as a slash: this is /api/documentnow/v3.7/templates/../envelopes.
    ("GET", TEMPLATES + "\\..\\envelopes"),
    # %252e%252e arrives as %2e%2e: one more decoding upstream would make it a dot segment.
    ("GET", TEMPLATES + "/%2e%2e/envelopes"),
    ("GET", TEMPLATES + "\x00"),
    ("GET", TEMPLATES + "\r\nX-Injected: 1"),
    # TRACE would echo the bearer the bridge adds back to the caller.
    ("TRACE", TEMPLATES),
    ("CONNECT", TEMPLATES),
    # The credentials path as IIS also matches it: the bridge's login or nothing, never the
    # caller's password passed on (this facade has no login).
    ("POST", "/api/documentnow/v3.7/Authentication/Credentials"),
    ("POST", "/api/documentnow/v3.7/authentication/credentials/"),
])
def test_what_the_upstream_could_read_otherwise_is_not_forwarded(
        tokens: TokenIssuer, method: str, path: str) -> None:
    recorder = Recorder()

    status, body = _call(_facade(tokens, recorder), path, method,
                         AUTHORIZATION=f"X-AS-UserSessionToken {_token(tokens)}")

    assert status.startswith("404") and body["errorCode"] == "NOT_FOUND"
    assert recorder.calls == []


@pytest.mark.parametrize("separator", ["\t", "  ", " \t "])
def test_any_white_space_after_the_scheme_is_a_session_token(tokens: TokenIssuer,
                                                             separator: str) -> None:
    recorder = Recorder()
    token = _token(tokens)

    _call(_facade(tokens, recorder), TEMPLATES,
          AUTHORIZATION=f"x-as-usersessiontoken{separator}{token}")

    # Swapped for the bearer: the bridge's token never goes on to the vendor.
    assert recorder.calls[0][2]["Authorization"] == "bearer the-bearer"
    assert token not in json.dumps(recorder.calls)


def test_a_bare_user_name_as_context_is_the_tokens_own(tokens: TokenIssuer) -> None:
    recorder = Recorder()
    facade = _facade(tokens, recorder)
    token = _token(tokens)

    ok, _ = _call(facade, TEMPLATES, AUTHORIZATION=f"X-AS-UserSessionToken {token}",
                  X_AS_USERCONTEXT=" JDoe@Example.com ")
    refused, body = _call(facade, TEMPLATES, AUTHORIZATION=f"X-AS-UserSessionToken {token}",
                          X_AS_USERCONTEXT="mallory@example.com")

    assert ok.startswith("200")
    assert recorder.calls[0][2]["X-AS-UserContext"] == f"jdoe@example.com:{ACCOUNT}"
    assert refused.startswith("403") and body["errorCode"] == "FORBIDDEN"
    assert len(recorder.calls) == 1


def test_another_rules_session_token_is_refused(tokens: TokenIssuer) -> None:
    recorder = Recorder()
    # A login of another pack (another vendor's bearer), or a token of no known login.
    for operation in ("Authentication.Login", ""):
        status, body = _call(_facade(tokens, recorder), TEMPLATES,
                             AUTHORIZATION=f"X-AS-UserSessionToken "
                                           f"{_token(tokens, operation=operation)}")

        assert status.startswith("403") and body["errorCode"] == "FORBIDDEN"
        assert "not from this login" in body["summary"]
    assert recorder.calls == []


def test_the_callers_connection_header_cannot_drop_what_the_bridge_adds(
        tokens: TokenIssuer) -> None:
    recorder = Recorder()

    _call(_facade(tokens, recorder), TEMPLATES,
          AUTHORIZATION=f"X-AS-UserSessionToken {_token(tokens)}",
          CONNECTION="keep-alive, Authorization, X-AS-UserContext, X-Trace", X_TRACE="1")

    sent = recorder.calls[0][2]
    assert sent["Authorization"] == "bearer the-bearer"
    assert sent["X-AS-UserContext"] == f"jdoe@example.com:{ACCOUNT}"
    assert "X-Trace" not in sent and "Connection" not in sent


@pytest.mark.parametrize("subject", ["jdoe@example.com\r\nX-Injected: 1", "名@example.com"])
def test_a_user_name_no_header_can_carry_is_refused_clearly(tokens: TokenIssuer,
                                                            subject: str) -> None:
    recorder = Recorder()
    token = tokens.issue(Grant(subject=subject, bearer="the-bearer",
                               context=f"{subject}:{ACCOUNT}", accounts=[{"accountID": ACCOUNT}],
                               operation="AuthenticateUser"), ttl=60)

    status, body = _call(_facade(tokens, recorder), TEMPLATES,
                         AUTHORIZATION=f"X-AS-UserSessionToken {token}")

    # A clear 403, not a 500 from inside the HTTP client (nor a header injected upstream).
    assert status.startswith("403") and "X-AS-UserContext" in body["summary"]
    assert recorder.calls == []
