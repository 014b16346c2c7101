"""The WSGI app called in this process (memory store, sandbox in a thread): a Fault for each
kind of error, Retry-After, the `/v1/*` JSON errors, and what the log line says."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bridge.app import BridgeApp
from bridge.sandbox import SandboxServer
from tests.inprocess import (
    SOAP11_TYPE,
    SOAP12_TYPE,
    bridge_app,
    bridge_config,
    call,
    login,
)
from tests.servers import LIST_TEMPLATES, TEMPLATES_PATH, USERS_NS, USERS_PATH, free_port
from tests.soapxml import auth_result, fault11, fault12, refusal

STORE_DOWN = "The bridge's state store is unavailable. Please try again later."


@pytest.fixture
def app(sandbox_thread: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BridgeApp:
    return bridge_app(bridge_config(tmp_path, sandbox_thread.url, monkeypatch))


def _logged(caplog: pytest.LogCaptureFixture, message: str) -> logging.LogRecord:
    return next(r for r in reversed(caplog.records) if r.getMessage() == message)


def test_a_login_is_answered_and_logged(app: BridgeApp, caplog: pytest.LogCaptureFixture) -> None:
    body, headers = login("jdoe@example.com", "Password")

    with caplog.at_level(logging.INFO):
        answer = call(app, "POST", USERS_PATH, body, {**headers, "X-Request-ID": "login-1"})

    assert answer.status == 200 and answer.headers["X-Request-ID"] == "login-1"
    assert auth_result(answer.body).get("Success") == "true"
    line = _logged(caplog, "soap request")
    assert (line.operation, line.mode, line.outcome, line.status) == (  # type: ignore[attr-defined]
        "AuthenticateUser", "rest", "ok", 200)


@pytest.mark.parametrize(("body", "headers", "status", "fault"), [
    (b"<s:Envelope", {"Content-Type": SOAP11_TYPE}, 500, "s:Client"),
    (b"<s:Envelope", {"Content-Type": SOAP12_TYPE}, 400, "s:Sender"),
    (b"<x/>", {"Content-Type": "text/plain"}, 415, "s:Client"),
    (b"", {"Content-Type": SOAP11_TYPE, "Content-Length": str(10 ** 9)}, 413, "s:Client"),
    (b"", {"Content-Type": SOAP12_TYPE, "Content-Length": "many"}, 400, "s:Sender"),
], ids=["malformed-1.1", "malformed-1.2", "content-type", "too-large", "bad-length"])
def test_what_the_caller_got_wrong_is_a_client_fault(
        app: BridgeApp, caplog: pytest.LogCaptureFixture, body: bytes, headers: dict[str, str],
        status: int, fault: str) -> None:
    with caplog.at_level(logging.INFO):
        answer = call(app, "POST", USERS_PATH, body, headers)

    assert answer.status == status
    read = fault12 if "soap+xml" in headers["Content-Type"] else fault11
    assert read(answer.body)[0] == fault
    line = _logged(caplog, "soap request")
    assert (line.operation, line.outcome) == ("-", "client_error")  # type: ignore[attr-defined]


def test_a_body_unlike_the_wsdl_is_a_client_fault_for_its_operation(
        app: BridgeApp, caplog: pytest.LogCaptureFixture) -> None:
    body, headers = login("jdoe@example.com", "Password")
    body = body.replace(b"<Request ", b"<Requets ")

    with caplog.at_level(logging.INFO):
        answer = call(app, "POST", USERS_PATH, body, headers)

    assert answer.status == 500
    code, message = fault11(answer.body)
    assert code == "s:Client" and "Expected <AuthenticateUser>" in message
    line = _logged(caplog, "soap request")
    # The operation was found before the body failed: the log and the metrics name it.
    assert (line.operation, line.mode, line.outcome) == (  # type: ignore[attr-defined]
        "AuthenticateUser", "-", "client_error")


def test_an_operation_without_rule_or_legacy_service_is_a_server_fault(
        app: BridgeApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        answer = call(app, "POST", TEMPLATES_PATH, LIST_TEMPLATES, {"Content-Type": SOAP11_TYPE})

    assert answer.status == 500
    assert fault11(answer.body) == (
        "s:Server", "Operation ListTemplates is not yet migrated: this bridge has no rule for it "
        "and no legacy service to pass it to.")
    line = _logged(caplog, "soap request")
    assert (line.operation, line.outcome) == ("ListTemplates", "not_migrated")  # type: ignore[attr-defined]


def test_an_mtom_request_without_a_legacy_service_is_told_where_to_go(app: BridgeApp) -> None:
    mtom = USERS_PATH[: -len("text")] + "mtom"

    answer = call(app, "POST", mtom, b"--part--",
                  {"Content-Type": 'multipart/related; type="application/xop+xml"; '
                                   'start-info="application/soap+xml"'})

    assert answer.status == 500
    code, message = fault12(answer.body)
    assert code == "s:Receiver" and message.endswith(
        f"send the same operation to {USERS_PATH} with the file base64-encoded in the message.")


def test_a_store_outage_fails_closed(sandbox_thread: SandboxServer, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens there: every store call fails.
    app = bridge_app(bridge_config(tmp_path, sandbox_thread.url, monkeypatch,
                                   store=f"redis://127.0.0.1:{free_port()}/0"))
    body, headers = login("jdoe@example.com", "Password", "1.2")

    with caplog.at_level(logging.INFO):
        answer = call(app, "POST", USERS_PATH, body, headers)
        accounts = call(app, "GET", "/v1/accounts/jdoe@example.com",
                        headers={"Authorization": "Bearer some-token"})
        metrics = call(app, "GET", "/metrics")

    assert answer.status == 500 and fault12(answer.body) == ("s:Receiver", STORE_DOWN)
    assert _logged(caplog, "soap request").outcome == "store_unavailable"  # type: ignore[attr-defined]
    assert accounts.status == 503
    assert json.loads(accounts.body) == {"error": "temporarily_unavailable",
                                         "error_description": STORE_DOWN}
    assert metrics.status == 200 and b"soap_bridge_requests_total" in metrics.body
    assert [r for r in caplog.records if r.getMessage() == "store unavailable"]


def test_over_a_rate_limit(sandbox_thread: SandboxServer, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    app = bridge_app(bridge_config(tmp_path, sandbox_thread.url, monkeypatch,
                                   rate_limits={"per_address": {"limit": 1, "window": "1m"}}))
    body, headers = login("jdoe@example.com", "Password")
    assert call(app, "POST", USERS_PATH, body, headers).status == 200

    # The rule words its own refusal; an operation without one gets a 429 Client fault.
    limited = call(app, "POST", USERS_PATH, body, headers)
    listing = call(app, "POST", TEMPLATES_PATH, LIST_TEMPLATES, {"Content-Type": SOAP11_TYPE})
    token = call(app, "POST", "/v1/token", b"grant_type=x",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    elsewhere = call(app, "POST", TEMPLATES_PATH, LIST_TEMPLATES, {"Content-Type": SOAP11_TYPE},
                     remote="127.0.0.2")

    assert limited.status == 200
    assert refusal(limited.body)[0] == "Too many sign-in attempts. Please try again later."
    assert listing.status == 429 and 1 <= int(listing.headers["Retry-After"]) <= 60
    assert fault11(listing.body) == ("s:Client", "Too many requests. Please try again later.")
    assert token.status == 429 and 1 <= int(token.headers["Retry-After"]) <= 60
    assert json.loads(token.body) == {"error": "too_many_requests",
                                      "error_description": "Too many requests. Please try "
                                      "again later."}
    assert elsewhere.status == 500  # another address: not limited (not migrated, as above)


def test_json_errors(app: BridgeApp) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    unreadable = call(app, "POST", "/v1/token", b"", {**form, "Content-Length": "many"})
    too_large = call(app, "POST", "/v1/token", b"", {**form, "Content-Length": str(10 ** 6)})
    wrong_method = call(app, "GET", "/v1/token")
    anonymous = call(app, "GET", "/v1/accounts/jdoe@example.com")

    assert (unreadable.status, json.loads(unreadable.body)) == (400, {
        "error": "invalid_request", "error_description": "Content-Length is not a number"})
    assert (too_large.status, json.loads(too_large.body)["error"]) == (413, "invalid_request")
    assert (wrong_method.status, wrong_method.headers["Allow"]) == (405, "POST")
    assert anonymous.status == 401 and "WWW-Authenticate" in anonymous.headers
    assert all(a.headers["Content-Type"] == "application/json"
               for a in (unreadable, too_large, wrong_method, anonymous))


def test_a_bug_is_answered_with_the_request_id_alone(
        app: BridgeApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(app.dispatcher, "handle", broken)
    monkeypatch.setattr(app.wiring.api, "accounts", broken)
    monkeypatch.setattr(app.wiring.readiness, "check", broken)
    body, headers = login("jdoe@example.com", "Password", "1.2")

    soap = call(app, "POST", USERS_PATH, body, {**headers, "X-Request-ID": "bug-1"})
    api = call(app, "GET", "/v1/accounts/x", headers={"X-Request-ID": "bug-2"})
    ready = call(app, "GET", "/readyz", headers={"X-Request-ID": "bug-3"})

    assert soap.status == 500
    assert fault12(soap.body) == ("s:Receiver", "Internal error (request id bug-1).")
    assert (api.status, json.loads(api.body)) == (500, {
        "error": "server_error", "error_description": "Internal error (request id bug-2)."})
    assert ready.status == 500
    assert fault11(ready.body) == ("s:Server", "Internal error (request id bug-3).")
    assert all(b"secret detail" not in a.body for a in (soap, api, ready))
    assert len([r for r in caplog.records if r.getMessage() == "unhandled error"]) == 3


def test_routes(app: BridgeApp) -> None:
    assert json.loads(call(app, "GET", "/healthz").body) == {"status": "ok"}
    head = call(app, "HEAD", "/healthz")
    assert head.body == b"" and int(head.headers["Content-Length"]) > 0
    get = call(app, "GET", USERS_PATH)
    assert (get.status, get.headers["Allow"]) == (405, "POST")
    assert call(app, "GET", "/nowhere").status == 404
    wsdl = call(app, "GET", "/Services/DocumentNOW/v2/DocumentNOW.svc?wsdl",
                headers={"Host": "bridge.example:8443"})
    assert wsdl.status == 200 and USERS_NS.encode() in wsdl.body
    assert b'location="http://bridge.example:8443/Services/DocumentNOW' in wsdl.body
