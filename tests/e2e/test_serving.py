"""The server around the app: TLS, and a SIGTERM that lets requests in flight finish."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.servers import (
    SERVERS,
    USERS_PATH,
    Server,
    demo_api_user,
    free_port,
    post_login,
    sandbox_control,
    soap11_login,
    start_bridge,
    write_config,
)
from tests.soapxml import auth_result


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_drains_requests_in_flight(sandbox: Server, tmp_path: Path, server: str) -> None:
    bridge = start_bridge(tmp_path, write_config(tmp_path, sandbox.url), workers=1, server=server)
    sandbox_control(sandbox, paths=["credentials"], delay_ms=1200)
    answers: list[requests.Response] = []
    caller = threading.Thread(target=lambda: answers.append(
        post_login(bridge, "jdoe@example.com", "Password")))
    caller.start()
    time.sleep(0.4)  # the login is now waiting on the slow upstream
    bridge.process.send_signal(signal.SIGTERM)
    caller.join(15)
    bridge.process.wait(20)
    assert answers and auth_result(answers[0].content).get("Success") == "true"
    assert bridge.process.returncode == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(bridge.url + "/healthz", timeout=2)


@pytest.mark.parametrize("server", SERVERS)
def test_tls_with_certfile_and_keyfile(sandbox: Server, tmp_path: Path,
                                       certificate: tuple[Path, Path], server: str) -> None:
    cert, key = certificate
    username, api_key = demo_api_user()
    port = free_port()
    config = write_config(tmp_path, sandbox.url)
    # tests.servers waits on plain HTTP; here the banner says when TLS is listening.
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--config", str(config),
         "--port", str(port), "--workers", "1", "--certfile", str(cert), "--keyfile", str(key),
         "--server", server],
        cwd=tmp_path, env={**os.environ, "TEST_API_USERNAME": username,
                           "TEST_API_KEY": api_key},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = ""
        deadline = time.monotonic() + 20
        while "WSDL:" not in banner and time.monotonic() < deadline:
            banner += process.stdout.readline()
        assert f"WSDL: https://127.0.0.1:{port}/" in banner
        response = requests.post(f"https://127.0.0.1:{port}{USERS_PATH}",
                                 data=soap11_login("jdoe@example.com", "Password"),
                                 headers={"Content-Type": "text/xml"}, verify=str(cert), timeout=10)
        assert auth_result(response.content).get("Success") == "true"
        wsdl = requests.get(f"https://127.0.0.1:{port}/Services/DocumentNOW/v2/DocumentNOW.svc?wsdl",
                            verify=str(cert), timeout=10)
        assert f'location="https://127.0.0.1:{port}/'.encode() in wsdl.content
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        # A client that speaks TLS 1.2 at most (.NET Framework on older Windows) is served.
        assert _get_over_tls12(port, cert).startswith(b"HTTP/1.1 200")
    finally:
        process.terminate()
        process.communicate(timeout=20)


def _get_over_tls12(port: int, cert: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(cert))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() == "TLSv1.2"
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize("server", SERVERS)
def test_a_worker_that_dies_is_replaced(sandbox: Server, tmp_path: Path, server: str) -> None:
    bridge = start_bridge(tmp_path, write_config(tmp_path, sandbox.url), workers=1, server=server)
    try:
        (worker,) = _children(bridge.process.pid)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (children := _children(bridge.process.pid)) and worker not in children:
                break
            time.sleep(0.1)
        answer = None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = post_login(bridge, "jdoe@example.com", "Password")
            except requests.ConnectionError:
                time.sleep(0.1)  # the new worker is not listening yet
        assert answer is not None and auth_result(answer.content).get("Success") == "true"
    finally:
        bridge.stop()


def _children(pid: int) -> list[int]:
    return [int(child) for child in
            Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

