"""Headless Chromium driven over the DevTools protocol, for the console's browser tests.

Why not Playwright: its Python package drives the browser build it downloads, which cannot be
fetched here, and against another Chromium (Debian's) it may speak a protocol version it was
not made for. The few DevTools calls these tests need (navigate, evaluate, screenshot) have been
stable for years, so a small client over `websocket-client` (pure Python, from PyPI) drives
whatever Chromium `.ci/ensure-tools` installed.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed (make test installs it: .ci/ensure-tools)"
    return found


class Browser:
    """One headless Chromium with one page; `close()` ends it."""

    def __init__(self, profile: Path, width: int = 1200, height: int = 1800) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--remote-debugging-port=0",
             "--remote-allow-origins=*", f"--window-size={width},{height}",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            assert self.process.poll() is None, "Chromium exited"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        pages = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        page = next(target for target in pages if target["type"] == "page")
        self._socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                                   suppress_origin=True)
        self._ids = itertools.count(1)
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.console_errors: list[str] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result (events that arrive meanwhile are looked at)."""
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("method") == "Runtime.exceptionThrown":
                self.console_errors.append(json.dumps(message["params"])[:500])
            if message.get("method") == "Log.entryAdded":
                self.console_errors.append(message["params"]["entry"].get("text", ""))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        """Wait until the expression is truthy in the page; its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None  # the page is between documents
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.1)

    def until(self, check: Callable[[], Any], timeout: float = 30) -> Any:
        return until(check, timeout)

    def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])

    def cookies(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("Network.getAllCookies")["cookies"]
        return found

    def close(self) -> None:
        try:
            self._socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def log_in_to_console(browser: Browser, base_url: str, key: str) -> None:
    """Log in to a bridge's console through its form, as an operator would."""
    browser.goto(f"{base_url}/console/")
    assert browser.evaluate("location.pathname") == "/console/login"
    browser.evaluate(f"document.getElementById('key').value = {json.dumps(key)};"
                     "document.querySelector('main form').submit(); true")
    browser.wait_for("location.pathname === '/console/' && document.body.dataset.updates")


def until(check: Callable[[], Any], timeout: float = 30) -> Any:
    """Wait until `check()` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium for a test module (import this fixture into it)."""
    chromium = Browser(tmp_path_factory.mktemp("chromium"))
    yield chromium
    chromium.close()
