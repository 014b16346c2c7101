"""Shared fixtures: one sandbox and one bridge per test session, reset between tests."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from bridge.sandbox import SandboxServer, load_seed, start_in_thread
from bridge.store import MemoryStore, SqliteStore, Store
from bridge.store.redis import RedisStore
from tests.servers import Server, start_bridge, start_sandbox, write_config

REDIS_URL = "redis://127.0.0.1:6379/0"


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


@pytest.fixture(scope="module")
def sandbox_thread() -> Iterator[SandboxServer]:
    """The sandbox in a thread of this process, for a bridge built in-process (tests/inprocess.py)."""
    with start_in_thread(load_seed(None)) as server:
        yield server


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


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
    elif request.param == "sqlite":
        backend = SqliteStore(str(tmp_path / "state" / "s.sqlite3"))
    else:
        # The real Redis of this machine (.ci/ensure-tools starts it); a prefix of our own.
        backend = RedisStore(f"{REDIS_URL}?prefix=test-{uuid.uuid4().hex}:")
    yield backend
    if isinstance(backend, RedisStore):
        raw = redis.Redis.from_url(REDIS_URL)
        for key in raw.scan_iter(match=backend.prefix + "*"):
            raw.delete(key)
        raw.close()
    backend.close()
