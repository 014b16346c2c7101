"""Shared fixtures: one sandbox and one bridge per test session, reset between tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.servers import Server, start_bridge, start_sandbox, write_config


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bridge(sandbox: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("bridge")
    server = start_bridge(workdir, write_config(workdir, sandbox.url), workers=2)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset_sandbox(request: pytest.FixtureRequest) -> None:
    # Only tests that use the shared sandbox pay for the reset.
    if "sandbox" in request.fixturenames:
        server: Server = request.getfixturevalue("sandbox")
        requests.post(f"{server.url}/_sandbox/reset", timeout=5).raise_for_status()


@pytest.fixture
def own_bridge(sandbox: Server, tmp_path: Path) -> Iterator[Server]:
    """A bridge of the test's own (fresh store), for tests that change state like lockouts."""
    server = start_bridge(tmp_path, write_config(tmp_path, sandbox.url), workers=2)
    yield server
    server.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make a test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key
