"""Real processes for the tests: the sandbox and the bridge, each on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
WSDL_PATH = "/Services/DocumentNOW/v2/DocumentNOW.svc"
USERS_PATH = WSDL_PATH + "/Users/text"
USERS_NS = "https://www.assuresign.net/Services/DocumentNOW/Users"
AUTH_ACTION = USERS_NS + "/IUserService/AuthenticateUser"
# An operation without a rule in the shipped mappings: passed to the legacy service, if any.
TEMPLATES_PATH = WSDL_PATH + "/ListTemplates/text"
TEMPLATES_ACTION = (
    '"https://www.assuresign.net/Services/DocumentNOW/ListTemplates/IListTemplatesService/ListTemplates"'
)
LIST_TEMPLATES = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<ListTemplates xmlns="https://www.assuresign.net/Services/DocumentNOW/ListTemplates">'
    b'<TemplateListQuery ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a"'
    b' UserName="jdoe@example.com"/>'
    b"</ListTemplates></soap:Body></soap:Envelope>"
)


# The HTTP servers `soap-bridge serve --server` offers; the serving tests run under each.
SERVERS = ("gunicorn", "granian")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(url, timeout=0.5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or listening (bound early) with no worker yet
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server did not come up at {url}:\n{log.read_text()}")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    workdir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def start_process(args: Sequence[str], workdir: Path, health_url: str,
                  env: dict[str, str] | None = None) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = workdir / "stdout.log", workdir / "stderr.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with stdout.open("wb") as out, stderr.open("wb") as err:
        # The child keeps its own copies of the descriptors; ours close right away.
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", *args], cwd=workdir, env=full_env,
            stdout=out, stderr=err,
        )
    _wait_until_up(health_url, process, stderr)
    base = health_url.split("/", 3)
    return Server(f"{base[0]}//{base[2]}", process, stdout, stderr, workdir)


def start_sandbox(workdir: Path, seed: Path | None = None) -> Server:
    port = free_port()
    args = ["sandbox", "--port", str(port)] + (["--seed", str(seed)] if seed else [])
    return start_process(args, workdir, f"http://127.0.0.1:{port}/_sandbox/healthz")


def demo_api_user() -> tuple[str, str]:
    """The demo API user's name and key, read from the sandbox seed like demo mode does."""
    from bridge.sandbox import load_seed

    api_user = load_seed(None).api_user("bridge-demo")
    assert api_user is not None
    return api_user.username, api_user.key


def sandbox_directory() -> str:
    """The directory file that comes with the sandbox seed, as demo mode uses it."""
    from bridge.sandbox import bundled_directory_path

    return bundled_directory_path()


def unremembered(mappings: Path, workdir: Path) -> Path:
    """A copy of a rules folder that checks every login upstream: no verify.cache, and only
    the bearer cached (most tests are about what one login asks of the upstream)."""
    target = workdir / f"{mappings.name}-unremembered"
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(mappings.glob("*.yaml")):
        rule = yaml.safe_load(source.read_text())
        (rule.get("verify") or {}).pop("cache", None)
        for step in rule.get("steps") or []:
            if step.get("id") != "bearer":
                step.pop("cache", None)
        (target / source.name).write_text(yaml.safe_dump(rule, sort_keys=False))
    return target


def write_config(workdir: Path, sandbox_url: str, mappings: str = "mappings/assuresign",
                 remember: bool = False, **overrides: Any) -> Path:
    """A bridge config against the sandbox; `remember` keeps the rules' verification and
    accounts caches as shipped (see unremembered())."""
    workdir.mkdir(parents=True, exist_ok=True)
    folder = REPO / mappings
    config: dict[str, Any] = {
        "wsdl": str(REPO / "wsdl" / "DocumentNOW.wsdl"),
        "mappings": [str(folder if remember else unremembered(folder, workdir))],
        "store": f"sqlite:///{workdir / 'state' / 'bridge.sqlite3'}",
        "upstreams": {
            # Many tests inject failures into one shared bridge: its breakers must not open
            # between tests (tests/e2e/test_breaker.py covers them on a bridge of its own).
            "account": {"base_url": sandbox_url, "connect_timeout": "1s", "read_timeout": "2s",
                        "breaker": {"failures": 1000}},
            "esign": {"base_url": sandbox_url, "connect_timeout": "1s", "read_timeout": "2s",
                      "breaker": {"failures": 1000}},
        },
        "secrets": {
            "api_username": {"env": "TEST_API_USERNAME"},
            "api_key": {"env": "TEST_API_KEY"},
        },
        "vars": {"expired_password_url": "https://sandbox.invalid/ChangePassword?expired=1"},
        # The sandbox users' names: the REST side has none (bridge/sandbox/directory.yaml).
        "directory": {"file": sandbox_directory()},
    }
    config.update(overrides)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_bridge(workdir: Path, config: Path, workers: int = 2,
                 env: dict[str, str] | None = None, extra_args: Sequence[str] = (),
                 server: str = SERVERS[0]) -> Server:
    username, key = demo_api_user()
    port = free_port()
    args = ["serve", "--config", str(config), "--port", str(port), "--workers", str(workers),
            "--server", server, *extra_args]
    secrets = {"TEST_API_USERNAME": username, "TEST_API_KEY": key, **(env or {})}
    return start_process(args, workdir, f"http://127.0.0.1:{port}/healthz", secrets)


def sandbox_control(sandbox: Server, **control: Any) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/control", json=control, timeout=5)
    assert response.status_code == 204, response.text


def sandbox_calls(sandbox: Server) -> dict[str, int]:
    calls: dict[str, int] = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["calls"]
    return calls


def soap11_login(username: str, password: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<AuthenticateUser xmlns="{USERS_NS}">'
        f'<Request UserName="{username}" Password="{password}"/>'
        "</AuthenticateUser></soap:Body></soap:Envelope>"
    ).encode()


def post_login(bridge: Server, username: str, password: str) -> requests.Response:
    return requests.post(
        bridge.url + USERS_PATH,
        data=soap11_login(username, password),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{AUTH_ACTION}"'},
        timeout=10,
    )
