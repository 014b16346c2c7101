"""Running the sandbox: the threaded server, the foreground server, and unexpected errors."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from bridge.sandbox import SandboxServer, load_seed, make_app, serve, start_in_thread
from bridge.sandbox.exchange import Request

ROOT = Path(__file__).resolve().parents[2]
SBX01 = {
    "errorCode": "INTERNAL_SERVER_ERROR",
    "summary": "An Unknown Error Occurred. (Error code: SBX01)",
}


def test_start_in_thread_listens_on_a_free_loopback_port() -> None:
    server = start_in_thread()
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert requests.get(server.url + "/_sandbox/healthz", timeout=5).status_code == 200
    finally:
        server.shutdown()

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url + "/_sandbox/healthz", timeout=5)


def test_two_sandboxes_keep_separate_state() -> None:
    with start_in_thread() as first, start_in_thread() as second:
        requests.post(first.url + "/_sandbox/control", json={"fail": "garbage"}, timeout=5)

        assert requests.get(first.url + "/nothing", timeout=5).text == "<html>oops"
        assert requests.get(second.url + "/nothing", timeout=5).status_code == 404


def test_wildcard_bind_reports_a_loopback_url() -> None:
    with serve("0.0.0.0", 0, load_seed(None)) as server:  # noqa: S104
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert requests.get(server.url + "/_sandbox/healthz", timeout=5).status_code == 200


def test_unexpected_errors_become_the_sbx01_answer_and_are_logged_without_secrets(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(call: str, request_id: str | None = None) -> None:
        raise RuntimeError("counter broke")

    monkeypatch.setattr(sandbox.state, "count", explode)
    body = {"request": {"authRequest": {"username": "jdoe@example.com", "password": "S3cret!"}}}

    with caplog.at_level(logging.ERROR, logger="bridge.sandbox"):
        response = requests.post(
            sandbox.url + "/api/documentnow/v3.7/authentication/credentials", json=body, timeout=5
        )

    assert response.status_code == 500
    assert response.json() == SBX01
    assert "Traceback" not in response.text
    assert "counter broke" in caplog.text
    assert "S3cret!" not in caplog.text


def test_unexpected_errors_on_the_legacy_path_are_sbx01_too(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, vector: Callable[[str], bytes]
) -> None:
    monkeypatch.setattr(sandbox.state, "is_locked", lambda username: 1 / 0)

    response = requests.post(
        sandbox.url + "/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text",
        data=vector("authenticate-user.soap11.request.xml"),
        timeout=5,
    )

    assert (response.status_code, response.json()) == (500, SBX01)


def test_the_app_answers_without_any_server() -> None:
    app = make_app(load_seed(None))

    response = app.handle(Request("GET", "/_sandbox/healthz"))

    assert (response.status, response.body) == (200, b'{"status": "ok"}')


def test_serve_forever_reports_its_url_and_logs_no_requests(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from bridge.sandbox import load_seed
        from bridge.sandbox.server import serve_forever

        def ready(url):
            print(url, flush=True)

        try:
            serve_forever("127.0.0.1", 0, load_seed(None), ready)
        except KeyboardInterrupt:
            sys.exit(3)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(url + "/_sandbox/healthz", timeout=5).json() == {"status": "ok"}
        requests.post(url + "/_sandbox/control", json={"fail": "close"}, timeout=5)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url + "/api/v3.7/nothing", timeout=5)
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)

    assert process.returncode == 3
    assert stdout == ""  # nothing printed besides what ready() printed
    assert stderr == ""  # no request log lines, no tracebacks for the dropped connection
