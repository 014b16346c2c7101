"""The console in headless Chromium against a real bridge in shadow mode and the twin sandbox
(whose legacy side knows one more account for multi@example.com): live figures, the CLI's
verdict, differences with samples, a path marked noise from the page, no secret anywhere."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from PIL import Image

from tests.browser import Browser, browser, log_in_to_console, until
from tests.servers import (
    REPO,
    Server,
    demo_api_user,
    post_login,
    start_bridge,
    start_sandbox,
    write_config,
)
from tests.soapxml import auth_result

__all__ = ["browser"]  # the module's Chromium (a fixture)
OPERATOR_KEY = "console-operator-key-0f9e8d7c6b5a49382716"
ACCOUNTS = "AuthenticateUserResult.Accounts.UserAccount"
AGREEMENT_BLUE = (31, 111, 235)
LEGACY_PURPLE, REST_ORANGE = (130, 80, 223), (217, 119, 6)
MARKER_PASSWORD = "Marker-Secret-Pw-7f3a9c"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_sandbox(tmp_path_factory.mktemp("twin"), REPO / "examples" / "seed-disagree.yaml")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bridge(twin: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("console-bridge")
    config = write_config(
        workdir, twin.url, legacy={"base_url": twin.url, "read_timeout": "5s"},
        routing={"operations": {"AuthenticateUser": {"mode": "shadow", "cohorts": [
            {"name": "pilot", "mode": "shadow", "users": ["jdoe@example.com"]}]}}},
        secrets={"api_username": {"env": "TEST_API_USERNAME"}, "api_key": {"env": "TEST_API_KEY"},
                 "operator": {"env": "TEST_OPERATOR_KEY"}},
        operator_keys=["operator"])
    server = start_bridge(workdir, config, workers=1, env={"TEST_OPERATOR_KEY": OPERATOR_KEY})
    server.extra["config"] = config
    yield server
    server.stop()


@pytest.fixture(scope="module")
def logged_in(browser: Browser, bridge: Server) -> Browser:
    """Logged in through the form, as an operator would."""
    log_in_to_console(browser, bridge.url, OPERATOR_KEY)
    cookie = next(c for c in browser.cookies() if c["name"] == "soap_bridge_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console/"
    assert browser.evaluate("document.cookie") == ""  # no script can read it
    return browser


def _compared(bridge: Server) -> int:
    answer = requests.get(f"{bridge.url}/console/api/operations/AuthenticateUser",
                          headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=10)
    return int(answer.json()["compared"])


def _logins(bridge: Server, *users: str) -> list[str]:
    """Log the users in (password Password); the tokens the callers got."""
    before = _compared(bridge)
    tokens = [auth_result(post_login(bridge, user, "Password").content, SOAP11)
              .get("AuthenticationToken") or "" for user in users]
    deadline = time.monotonic() + 15
    while _compared(bridge) < before + len(users):
        assert time.monotonic() < deadline, "comparisons did not land"
        time.sleep(0.1)
    return tokens


def _cli_verdict(bridge: Server) -> str:
    done = subprocess.run([sys.executable, "-m", "bridge", "report", "--config",
                           str(bridge.extra["config"]), "--format", "json"], cwd=bridge.workdir,
                          capture_output=True, text=True, timeout=60, check=True)
    return str(json.loads(done.stdout)["operations"][0]["verdict"])


def _colour_pixels(browser: Browser, canvas: str, colour: tuple[int, int, int]) -> int:
    """Pixels of that colour in a screenshot of the canvas, as the browser drew it."""
    browser.evaluate(f"document.getElementById('{canvas}').scrollIntoView(); true")
    rect = browser.evaluate(f"(() => {{ const r = document.getElementById('{canvas}')"
                            ".getBoundingClientRect(); return {x: r.x + scrollX, y: r.y + scrollY,"
                            " width: r.width, height: r.height}; })()")
    raw = Image.open(io.BytesIO(browser.screenshot(rect))).convert("RGB").tobytes()
    return sum(1 for at in range(0, len(raw), 3)
               if all(abs(raw[at + i] - colour[i]) <= 24 for i in range(3)))


def test_the_page_shows_live_figures_the_cli_verdict_and_charts_with_data(
        logged_in: Browser, bridge: Server) -> None:
    browser = logged_in
    _logins(bridge, "jdoe@example.com", "multi@example.com", "jdoe@example.com",
            "multi@example.com")
    browser.goto(f"{bridge.url}/console/operations/AuthenticateUser")
    browser.wait_for("document.querySelector('#tile-compared .value')?.textContent === '4'")
    assert browser.evaluate("document.getElementById('verdict').textContent") == _cli_verdict(
        bridge)
    differences = browser.evaluate("document.getElementById('differences').innerText")
    assert ACCOUNTS in differences and "Multi Legacy Archive" in differences
    assert "present" in differences and "(absent)" in differences
    modes = browser.evaluate("document.querySelector('#modes tbody').innerText")
    assert "pilot" in modes and "shadow" in modes
    assert _colour_pixels(browser, "agreement-chart", AGREEMENT_BLUE) > 30
    # Both sides' latencies were measured and drawn. The REST line is drawn over the legacy
    # one, so where the two sides took about as long, the legacy line's pixels are covered:
    # the pixels prove the chart has data, the tiles that each side has a figure.
    for tile in ("tile-legacy", "tile-rest"):
        text = browser.evaluate(f"document.querySelector('#{tile} .value').textContent")
        assert text.endswith(" ms") and "-" not in text, (tile, text)
    latency = _colour_pixels(browser, "latency-chart", LEGACY_PURPLE), _colour_pixels(
        browser, "latency-chart", REST_ORANGE)
    assert sum(latency) > 30 and max(latency) > 20, latency
    # New traffic shows without a reload.
    browser.evaluate("window.stillThisPage = true")
    _logins(bridge, "jdoe@example.com", "jdoe@example.com")
    browser.wait_for("document.querySelector('#tile-compared .value').textContent === '6'")
    assert browser.evaluate("window.stillThisPage") is True
    assert browser.evaluate("document.getElementById('verdict').textContent") == _cli_verdict(
        bridge)
    assert browser.console_errors == []


def test_an_operator_marks_a_path_noise_from_the_page(logged_in: Browser, bridge: Server) -> None:
    browser = logged_in
    _logins(bridge, "multi@example.com")
    browser.goto(f"{bridge.url}/console/operations/AuthenticateUser")
    selector = f'#differences details[data-path="{ACCOUNTS}"] button[data-mark="noise"]'
    browser.wait_for(f"!!document.querySelector('{selector}')")
    browser.evaluate(f"document.querySelector('{selector}').click(); true")
    browser.wait_for(f"!!document.querySelector('#noise details[data-path=\"{ACCOUNTS}\"]')")
    assert "operator" in browser.evaluate("document.getElementById('noise').innerText")
    assert "mark" in browser.evaluate("document.querySelector('#audit tbody').innerText")
    # Every later comparison ignores it: multi@ now agrees.
    before = requests.get(f"{bridge.url}/console/api/operations/AuthenticateUser",
                          headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=10).json()
    _logins(bridge, "multi@example.com")
    after = requests.get(f"{bridge.url}/console/api/operations/AuthenticateUser",
                         headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=10).json()
    assert after["agreed"] == before["agreed"] + 1
    # Marked real again, from the page: back among the differences.
    real = f'#noise details[data-path="{ACCOUNTS}"] button[data-mark="real"]'
    browser.evaluate(f"document.querySelector('{real}').click(); true")
    browser.wait_for(f"!!document.querySelector('#differences details[data-path=\"{ACCOUNTS}\"]')")


def test_no_secret_reaches_the_page_or_its_json(logged_in: Browser, bridge: Server) -> None:
    browser = logged_in
    tokens = _logins(bridge, "jdoe@example.com", "multi@example.com")
    before = _compared(bridge)
    post_login(bridge, "jdoe@example.com", MARKER_PASSWORD)  # refused on both sides, compared
    post_login(bridge, "nobody@example.com", MARKER_PASSWORD)
    until(lambda: _compared(bridge) >= before + 2)
    browser.goto(f"{bridge.url}/console/operations/AuthenticateUser")
    browser.wait_for("document.body.dataset.updates")
    page = browser.evaluate("document.documentElement.outerHTML")
    data = browser.evaluate("fetch('/console/api/operations/AuthenticateUser')"
                            ".then(r => r.text())")
    index = browser.evaluate("fetch('/console/api/operations').then(r => r.text())")
    _, api_key = demo_api_user()
    secrets = [*tokens, api_key, OPERATOR_KEY, MARKER_PASSWORD, "Password\""]
    for secret in secrets:
        assert secret
        for shown in (page, data, index):
            assert secret not in shown, secret
    # User names are keyed in the samples, never shown.
    assert "multi@example.com" not in data and "jdoe@example.com" not in data


def test_markup_in_a_difference_sample_is_shown_as_text(logged_in: Browser, bridge: Server) -> None:
    """A value a caller can steer into an answer (and so into a sample), a cohort and a path:
    drawn as text by the page itself (textContent), not left to the CSP to stop."""
    from bridge.migrate.records import Recorder
    from bridge.store import SqliteStore

    markup = '"><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    store = SqliteStore(str(bridge.workdir / "state" / "bridge.sqlite3"))
    try:
        Recorder(store, 86400).comparison({
            "ts": time.time(), "operation": "AuthenticateUser", "mode": "shadow",
            "cohort": "pilot" + markup, "user": "0123456789abcdef", "outcome": "differ",
            "differences": [{"path": f"AuthenticateUserResult.Markup[Name={markup}]",
                             "legacy": markup, "rest": "<svg onload=\"window.__xss=3\">",
                             "item": None}],
            "legacy_ms": 1.0, "rest_ms": 1.0, "legacy_error": None, "rest_error": None})
    finally:
        store.close()
    browser = logged_in
    browser.goto(f"{bridge.url}/console/operations/AuthenticateUser")
    browser.wait_for("document.getElementById('differences').innerText.includes('onerror')")
    shown = browser.evaluate("document.getElementById('differences').innerText")
    assert markup in shown and '<svg onload="window.__xss=3">' in shown
    # Nothing of it became an element, whatever the CSP would have let run.
    assert browser.evaluate("document.querySelectorAll('main img, main script, main svg')"
                            ".length") == 0
    assert browser.evaluate("typeof window.__xss") == "undefined"


def test_the_page_tells_why_an_update_failed_and_times_are_whole_seconds(
        logged_in: Browser, bridge: Server) -> None:
    browser = logged_in
    requests.post(f"{bridge.url}/console/api/operations/AuthenticateUser/marks",
                  json={"path": "AuthenticateUserResult.Probe", "mark": "real"},
                  headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=10
                  ).raise_for_status()
    browser.goto(f"{bridge.url}/console/operations/AuthenticateUser")
    browser.wait_for("document.querySelectorAll('#audit tbody tr').length > 0")
    times = browser.evaluate("[...document.querySelectorAll('#audit tbody tr td:first-child')]"
                             ".map(cell => cell.textContent)")
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", when) for when in times)
    # multi@ is in no cohort: named as the mode table names it, "everyone else".
    accounts = browser.evaluate(f"document.querySelector('#differences details[data-path=\"{ACCOUNTS}\"]')"
                                ".innerText")
    assert "cohorts: everyone else: " in accounts
    assert browser.evaluate(f"document.querySelector('#differences details[data-path=\"{ACCOUNTS}\"]"
                            " tbody tr td:nth-child(2)').textContent") == "everyone else"
    # A window the bridge refuses: the page says the bridge's reason, not only "HTTP 400".
    browser.evaluate("(() => { const s = document.getElementById('window');"
                     " s.add(new Option('bad', 'yesterday-ish')); s.value = 'yesterday-ish';"
                     " s.dispatchEvent(new Event('change')); return true; })()")
    status = browser.wait_for("(t => t.includes('Could not update') && t)"
                              "(document.getElementById('status').textContent)")
    assert "expected an age like 3d" in status
