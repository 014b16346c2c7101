"""The console attacked in-process: operator keys guessed in the Authorization header (held to
the login form's limit), markup in recorded values and marked paths (only ever JSON, never in
the server-written pages), and a flood of differing paths (the page and its JSON stay bounded)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bridge.app import BridgeApp
from bridge.console.figures import MAX_PATHS, SAMPLES
from bridge.console.session import LOGIN_FAILURES
from bridge.migrate.marks import MAX_MARKS
from tests.console.conftest import OPERATOR_KEY
from tests.inprocess import call

API = "/console/api/operations/AuthenticateUser"
PAGE = "/console/operations/AuthenticateUser"
MARKUP = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture
def app(bare_app: BridgeApp) -> BridgeApp:
    return bare_app


def _record(app: BridgeApp, differences: list[dict[str, Any]], cohort: str | None = None,
            ts: float | None = None) -> None:
    app.wiring.recorder.comparison({
        "ts": ts or time.time(), "operation": "AuthenticateUser", "mode": "shadow",
        "cohort": cohort, "user": "u1", "outcome": "differ" if differences else "agree",
        "differences": differences, "legacy_ms": 3.0, "rest_ms": 4.0,
        "legacy_error": None, "rest_error": None})


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_guessed_in_the_header_are_held_to_the_login_forms_limit(app: BridgeApp) -> None:
    for guess in range(LOGIN_FAILURES):
        assert call(app, "GET", API, headers=_bearer(f"guess-{guess}")).status == 401
    refused = call(app, "GET", API, headers=_bearer(OPERATOR_KEY))
    # Refused before the key is looked at: the answer tells nothing about it, right or wrong.
    assert refused.status == 429 and refused.headers["Retry-After"] == "900"
    assert OPERATOR_KEY.encode() not in refused.body
    assert call(app, "GET", API, headers=_bearer("guess-again")).status == 429
    # The form shares the count: a guesser cannot move from one to the other.
    form = call(app, "POST", "/console/login", f"key={OPERATOR_KEY}".encode(),
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Origin": "http://127.0.0.1:8080"})
    assert form.status == 429
    # Another address is not held back by this one's guesses.
    assert call(app, "GET", API, headers=_bearer(OPERATOR_KEY), remote="10.0.0.7").status == 200


def test_the_right_key_is_not_counted(app: BridgeApp) -> None:
    for _ in range(LOGIN_FAILURES + 2):
        assert call(app, "GET", API, headers=_bearer(OPERATOR_KEY)).status == 200


def test_markup_in_recorded_values_stays_data(app: BridgeApp) -> None:
    """Values a caller can put in a request (and so in an answer, and a difference sample),
    and paths an operator marks, reach the browser only inside JSON; the pages the server
    writes carry none of them (console.js puts them in with textContent only)."""
    _record(app, [{"path": f"AuthenticateUserResult.Accounts.UserAccount[Name={MARKUP}]",
                   "legacy": "present", "rest": None, "item": f"Name={MARKUP}"},
                  {"path": "AuthenticateUserResult.LastName", "legacy": MARKUP,
                   "rest": "</script><svg onload=alert(3)>"}], cohort=MARKUP)
    key = _bearer(OPERATOR_KEY)
    marked = call(app, "POST", API + "/marks", json.dumps({"path": MARKUP, "mark": "noise"})
                  .encode(), {"Content-Type": "application/json", **key})
    assert marked.status == 200
    answer = call(app, "GET", API, headers=key)
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    data = json.loads(answer.body)
    samples = {sample["legacy"] for path in data["differences"] for sample in path["samples"]}
    assert MARKUP in samples  # kept as the text it was, for textContent to show
    assert MARKUP in [path["path"] for path in data["noise"]]
    for path in (PAGE, "/console/"):
        page = call(app, "GET", path, headers=key).body.decode()
        assert "alert(" not in page and "onerror" not in page and "<img" not in page
    script = call(app, "GET", "/console/static/console.js").body.decode()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script and "eval(" not in script


def test_a_flood_of_differing_paths_keeps_the_json_bounded(app: BridgeApp) -> None:
    now = time.time()
    for index in range(400):
        _record(app, [{"path": f"AuthenticateUserResult.Field{index}.Part{part}",
                       "legacy": "L" * 200, "rest": "R" * 200} for part in range(20)],
                ts=now - 400 + index)
    answer = call(app, "GET", API, headers=_bearer(OPERATOR_KEY))
    data = json.loads(answer.body)
    assert len(data["differences"]) == MAX_PATHS
    assert data["differences_left_off"] == 400 * 20 - MAX_PATHS
    assert all(len(path["samples"]) <= SAMPLES for path in data["differences"])
    # 50 paths with 5 samples of 400 characters each: well under a megabyte.
    assert len(answer.body) < 600_000
    assert data["compared"] == 400 and data["noise_left_off"] == 0


def test_a_poll_of_a_window_reads_only_that_window(app: BridgeApp,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every open page polls every two seconds: an operation the plan names is known without
    reading every record kept (30 days of them by default)."""
    console = app.wiring.console
    assert console is not None
    recorder = console._recorder
    read: list[float] = []
    history = recorder.history
    monkeypatch.setattr(recorder, "history", lambda since: read.append(since) or history(since))
    answer = call(app, "GET", API + "?since=15m", headers=_bearer(OPERATOR_KEY))
    assert answer.status == 200 and len(read) == 1 and read[0] > time.time() - 16 * 60
    assert call(app, "GET", PAGE, headers=_bearer(OPERATOR_KEY)).status == 200
    assert len(read) == 1  # the page's shell needs no records at all


def test_marks_are_bounded_per_operation(app: BridgeApp) -> None:
    key = {"Content-Type": "application/json", **_bearer(OPERATOR_KEY)}

    def mark(path: str, kind: str | None) -> int:
        body = json.dumps({"path": path, "mark": kind}).encode()
        return call(app, "POST", API + "/marks", body, key).status

    for index in range(MAX_MARKS):
        assert mark(f"AuthenticateUserResult.F{index}", "noise") == 200
    refused = call(app, "POST", API + "/marks", json.dumps(
        {"path": "AuthenticateUserResult.More", "mark": "noise"}).encode(), key)
    assert refused.status == 409 and b"clear one first" in refused.body
    # A marked path may still change its mark, and one cleared makes room.
    assert mark("AuthenticateUserResult.F0", "real") == 200
    assert mark("AuthenticateUserResult.F1", None) == 200
    assert mark("AuthenticateUserResult.More", "noise") == 200


def test_polling_a_date_keeps_no_stale_windows(app: BridgeApp,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`since=<a date>` is a window one second longer every second: each would stay cached,
    with its records, for as long as the process runs."""
    console = app.wiring.console
    assert console is not None
    # Every window stale at once (as each is two seconds later): only the newest is kept.
    monkeypatch.setattr("bridge.console.routes._CACHE_SECONDS", 0.0)
    for second in range(50):
        console._history(time.time() - 3600 - second)
    assert len(console._cache) == 1


def test_a_body_too_large_is_told_so(app: BridgeApp) -> None:
    body = json.dumps({"path": "A" * 10_000, "mark": "noise"}).encode()
    answer = call(app, "POST", API + "/marks", body,
                  {"Content-Type": "application/json", **_bearer(OPERATOR_KEY)})
    assert answer.status == 413, answer.body
    assert b"exceeds 4096 bytes" in answer.body and b"not JSON" not in answer.body


def test_json_nested_past_the_parser_is_not_json(app: BridgeApp) -> None:
    # 4,000 brackets fit the 4 KiB limit but recurse deeper than json.loads can: a 400 that
    # says so, not an internal error.
    answer = call(app, "POST", API + "/marks", b"[" * 4000,
                  {"Content-Type": "application/json", **_bearer(OPERATOR_KEY)})
    assert answer.status == 400, answer.body
    assert b"not JSON" in answer.body
