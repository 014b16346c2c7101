"""The bridge in this process, against the sandbox in a thread: its configuration, its parts
(`bridge.wiring.wire`) and WSGI calls, with no subprocess and a memory store."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.app import BridgeApp
from bridge.config import Config, load_config
from bridge.wiring import wire
from tests.servers import AUTH_ACTION, USERS_NS, demo_api_user, write_config

STATE_KEY = b"k" * 32
SOAP11_TYPE = "text/xml; charset=utf-8"
SOAP12_TYPE = "application/soap+xml; charset=utf-8"


def bridge_config(tmp_path: Path, sandbox_url: str, monkeypatch: pytest.MonkeyPatch,
                  **overrides: Any) -> Config:
    """The test bridges' configuration (tests/servers.py) with a memory store."""
    username, key = demo_api_user()
    monkeypatch.setenv("TEST_API_USERNAME", username)
    monkeypatch.setenv("TEST_API_KEY", key)
    overrides.setdefault("store", "memory://")
    return load_config(str(write_config(tmp_path, sandbox_url, **overrides)))


def bridge_app(config: Config) -> BridgeApp:
    return BridgeApp(wire(config, STATE_KEY))


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def call(app: BridgeApp, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None, remote: str = "127.0.0.1") -> Answer:
    """One request through the app's WSGI interface, as gunicorn would make it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path.partition("?")[0],
        "QUERY_STRING": path.partition("?")[2], "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": remote, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]],
                       exc_info: Any = None) -> None:
        started.append((status, response_headers))

    answer = b"".join(app(environ, start_response))
    status, response_headers = started[0]
    return Answer(int(status.split()[0]), dict(response_headers), answer)


def login(username: str, password: str, version: str = "1.1") -> tuple[bytes, dict[str, str]]:
    """An AuthenticateUser envelope and its headers, in SOAP 1.1 or 1.2."""
    envelope = ("http://schemas.xmlsoap.org/soap/envelope/" if version == "1.1"
                else "http://www.w3.org/2003/05/soap-envelope")
    body = (f'<s:Envelope xmlns:s="{envelope}"><s:Body><AuthenticateUser xmlns="{USERS_NS}">'
            f'<Request UserName="{username}" Password="{password}"/>'
            "</AuthenticateUser></s:Body></s:Envelope>").encode()
    if version == "1.1":
        return body, {"Content-Type": SOAP11_TYPE, "SOAPAction": f'"{AUTH_ACTION}"'}
    return body, {"Content-Type": f'{SOAP12_TYPE}; action="{AUTH_ACTION}"'}
