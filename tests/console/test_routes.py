"""The console in-process: who may see it, the session cookie, CSRF, the headers every answer
carries, and the JSON of an operation built from comparison records."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bridge.app import BridgeApp
from bridge.sandbox import SandboxServer
from tests.console.conftest import OPERATOR_KEY
from tests.inprocess import Answer, bridge_app, bridge_config, call

ORIGIN = "http://127.0.0.1:8080"  # the in-process app's own origin (SERVER_NAME:SERVER_PORT)
PAGE = "/console/operations/AuthenticateUser"
API = "/console/api/operations/AuthenticateUser"
ACCOUNTS = "AuthenticateUserResult.Accounts.UserAccount"


@pytest.fixture
def app(bare_app: BridgeApp) -> BridgeApp:
    app = bare_app
    now = time.time()
    for index in range(10):
        differ = index % 5 == 0
        app.wiring.recorder.comparison({
            "ts": now - 60 + index, "operation": "AuthenticateUser", "mode": "shadow",
            "cohort": "pilot" if index % 2 else None, "user": f"user{index % 3}",
            "outcome": "differ" if differ else "agree",
            "differences": [{"path": f"{ACCOUNTS}[ContextIdentifier=5b0c]", "legacy": "present",
                             "rest": None, "item": "IsPrimary=false; Name=Archive"},
                            {"path": "AuthenticateUserResult.Stamp", "legacy": f"t{index}",
                             "rest": "x"}] if differ else [],
            "legacy_ms": 3.0, "rest_ms": 5.0 + index, "legacy_error": None, "rest_error": None})
    return app


def _session(app: BridgeApp) -> tuple[str, str]:
    """Log in through the form: the cookie header to send and the page's CSRF token."""
    answer = call(app, "POST", "/console/login", f"key={OPERATOR_KEY}".encode(),
                  {"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN})
    assert answer.status == 303 and answer.headers["Location"] == "/console/"
    cookie = answer.headers["Set-Cookie"].split(";")[0]
    page = call(app, "GET", "/console/", headers={"Cookie": cookie})
    csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page.body)
    assert page.status == 200 and csrf
    return cookie, csrf.group(1).decode()


def _post(app: BridgeApp, path: str, body: dict[str, Any], **headers: str) -> Answer:
    return call(app, "POST", path, json.dumps(body).encode(),
                {"Content-Type": "application/json", **headers})


def test_without_operator_keys_the_console_is_off(sandbox_thread: SandboxServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    app = bridge_app(bridge_config(tmp_path, sandbox_thread.url, monkeypatch))
    answer = call(app, "GET", "/console/")
    assert answer.status == 404 and b"operator_keys" in answer.body


def test_strangers_are_sent_to_log_in_and_get_nothing(app: BridgeApp) -> None:
    page = call(app, "GET", PAGE)
    assert page.status == 303 and page.headers["Location"] == "/console/login"
    for path in (API, "/console/api/operations"):
        answer = call(app, "GET", path)
        assert answer.status == 401 and b"AuthenticateUser:" not in answer.body
    assert call(app, "GET", API, headers={"Authorization": "Bearer wrong"}).status == 401
    assert _post(app, API + "/marks", {"path": ACCOUNTS, "mark": "noise"}).status == 401
    login = call(app, "GET", "/console/login")
    assert login.status == 200 and b'type="password"' in login.body


def test_every_answer_carries_the_security_headers(app: BridgeApp) -> None:
    cookie, _ = _session(app)
    for path, headers in (("/console/login", {}), (PAGE, {"Cookie": cookie}),
                          (API, {"Cookie": cookie}), ("/console/static/console.js", {}),
                          ("/console/nowhere", {"Cookie": cookie})):
        answer = call(app, "GET", path, headers=headers)
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_script_and_nothing_from_elsewhere(app: BridgeApp) -> None:
    cookie, _ = _session(app)
    for path in ("/console/", PAGE, "/console/login"):
        body = call(app, "GET", path, headers={"Cookie": cookie}).body.decode()
        for script in re.findall(r"<script[^>]*>", body):
            assert 'src="/console/static/' in script
        assert "<style" not in body and " style=" not in body and " on" not in body.replace(
            " one", "")
        assert "http://" not in body and "https://" not in body and "//cdn" not in body
    script = call(app, "GET", "/console/static/console.js").body.decode()
    assert "http://" not in script and "https://" not in script and "innerHTML" not in script


def test_the_login_cookie_is_short_lived_httponly_and_strict(app: BridgeApp) -> None:
    answer = call(app, "POST", "/console/login", f"key={OPERATOR_KEY}".encode(),
                  {"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/console/" in cookie and "Max-Age=900" in cookie
    assert OPERATOR_KEY not in cookie


def test_the_login_form_refuses_other_origins_and_wrong_keys(app: BridgeApp) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = f"key={OPERATOR_KEY}".encode()
    assert call(app, "POST", "/console/login", body, {**form, "Origin": "http://evil.example"}
                ).status == 403
    assert call(app, "POST", "/console/login", body, form).status == 403  # no Origin, no Referer
    wrong = call(app, "POST", "/console/login", b"key=guess", {**form, "Origin": ORIGIN})
    assert wrong.status == 401 and "Set-Cookie" not in wrong.headers
    for _ in range(9):
        call(app, "POST", "/console/login", b"key=guess", {**form, "Origin": ORIGIN})
    # Ten wrong keys from one address: even the right one waits now.
    refused = call(app, "POST", "/console/login", body, {**form, "Origin": ORIGIN})
    assert refused.status == 429 and "Set-Cookie" not in refused.headers


def test_state_changes_need_the_csrf_token_and_this_origin(app: BridgeApp) -> None:
    cookie, csrf = _session(app)
    mark = {"path": ACCOUNTS, "mark": "noise"}
    assert _post(app, API + "/marks", mark, Cookie=cookie, Origin=ORIGIN).status == 403
    assert _post(app, API + "/marks", mark, Cookie=cookie, Origin=ORIGIN,
                 **{"X-CSRF-Token": "wrong"}).status == 403
    assert _post(app, API + "/marks", mark, Cookie=cookie, Origin="http://evil.example",
                 **{"X-CSRF-Token": csrf}).status == 403
    assert _post(app, API + "/marks", mark, Cookie=cookie, **{"X-CSRF-Token": csrf}
                 ).status == 403  # no Origin or Referer
    figures = json.loads(call(app, "GET", API, headers={"Cookie": cookie}).body)
    assert [path["path"] for path in figures["noise"]] == []
    done = _post(app, API + "/marks", mark, Cookie=cookie, Origin=ORIGIN,
                 **{"X-CSRF-Token": csrf})
    assert done.status == 200
    # A form post (what another site could make a browser send) is not JSON: refused.
    form = call(app, "POST", API + "/marks", b"path=x&mark=noise",
                {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
                 "Origin": ORIGIN, "X-CSRF-Token": csrf})
    assert form.status == 415


def test_an_operator_key_header_needs_no_csrf_token(app: BridgeApp) -> None:
    answer = _post(app, API + "/marks", {"path": ACCOUNTS, "mark": "real"},
                   Authorization=f"Bearer {OPERATOR_KEY}")
    assert answer.status == 200
    audit = app.wiring.store.records("migrate-audit", 0)
    assert [(entry["action"], entry["path"], entry["mark"], entry["by"]) for entry in audit] == [
        ("mark", ACCOUNTS, "real", "operator (key)")]


def test_logging_out_ends_the_session_everywhere(app: BridgeApp) -> None:
    cookie, csrf = _session(app)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    assert call(app, "POST", "/console/logout", b"csrf=wrong", {**form, "Origin": ORIGIN}
                ).status == 403
    out = call(app, "POST", "/console/logout", f"csrf={csrf}".encode(), {**form, "Origin": ORIGIN})
    assert out.status == 303 and "Max-Age=0" in out.headers["Set-Cookie"]
    assert call(app, "GET", API, headers={"Cookie": cookie}).status == 401


def test_the_json_has_the_reports_verdict_and_each_difference_with_samples(app: BridgeApp) -> None:
    data = json.loads(call(app, "GET", API, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}
                           ).body)
    assert data["verdict"].startswith("AuthenticateUser: 80.0% of 10 agree over 9 seconds")
    assert (data["compared"], data["agreed"]) == (10, 8)
    assert [(path["path"], path["count"]) for path in data["differences"]] == [
        (ACCOUNTS, 2), ("AuthenticateUserResult.Stamp", 2)]
    accounts = data["differences"][0]
    assert accounts["cohorts"] == {"-": 1, "pilot": 1} and accounts["first"] < accounts["last"]
    assert accounts["samples"][0] == {
        "ts": accounts["last"], "path": f"{ACCOUNTS}[ContextIdentifier=5b0c]",
        "legacy": "present", "rest": None, "item": "IsPrimary=false; Name=Archive",
        "user": "user2", "cohort": "pilot", "mode": "shadow"}
    assert sum(bucket["compared"] for bucket in data["series"]) == 10
    assert [row["cohort"] for row in data["modes"]] == [None]
    overview = json.loads(call(app, "GET", "/console/api/operations",
                               headers={"Authorization": f"Bearer {OPERATOR_KEY}"}).body)
    assert overview["operations"][0]["verdict"] == data["verdict"]
    assert call(app, "GET", API + "?since=nonsense",
                headers={"Authorization": f"Bearer {OPERATOR_KEY}"}).status == 400
    assert call(app, "GET", "/console/api/operations/NoSuchThing",
                headers={"Authorization": f"Bearer {OPERATOR_KEY}"}).status == 404


def test_a_path_marked_noise_is_listed_apart_and_ignored_by_later_comparisons(
        app: BridgeApp) -> None:
    key = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    assert _post(app, API + "/marks", {"path": "AuthenticateUserResult.Stamp", "mark": "noise"},
                 **key).status == 200
    data = json.loads(call(app, "GET", API, headers=key).body)
    assert [path["path"] for path in data["differences"]] == [ACCOUNTS]
    assert [(path["path"], path["source"], path["count"]) for path in data["noise"]] == [
        ("AuthenticateUserResult.Stamp", "operator", 2)]
    assert data["audit"][0]["path"] == "AuthenticateUserResult.Stamp"
    # Marked real: back among the differences, even where it had been learned as noise.
    app.wiring.store.set("migrate:noise:AuthenticateUser", ["AuthenticateUserResult.Stamp"], 60)
    _post(app, API + "/marks", {"path": "AuthenticateUserResult.Stamp", "mark": "real"}, **key)
    data = json.loads(call(app, "GET", API, headers=key).body)
    assert "AuthenticateUserResult.Stamp" in [path["path"] for path in data["differences"]]
    assert _post(app, API + "/marks", {"path": "x", "mark": "maybe"}, **key).status == 400
