"""Fixtures: one real sandbox server per test module, reset before every test."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bridge.sandbox import SandboxServer, load_seed, start_in_thread

# The contract's sample messages live outside the repository.
# The contract's vectors live in shared/, beside the checkout (as in CI).
VECTORS = Path(os.environ.get(
    "SOAP_BRIDGE_VECTORS",
    Path(__file__).resolve().parents[3] / "shared" / "contract" / "vectors"))
DEMO_KEY = "CmvTSL9FJsXeTVl0BhggaWjmB47ydAoU"
EXAMPLE_INC = "821ae27f-027c-4f21-a2e5-1667fc9b650a"
USERS_PATH = "/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text"
API_KEYS = {
    "bridge-demo": DEMO_KEY,
    "scope-user": "UDrn7g96dCZKJfyxeRp8iNtL4JYLnhda",
    "scope-env": "aBkQ2bCNgQtyJV33JEslqL9Za9fXdEbJ",
    "scope-other-env": "ou1NvIE36vQ9UH3kvsHBExWTXISujr/v",
    "expired-api": "2ZHi3UAN2JC8dyAc50CiN0QZ4T65YY5c",
    "revoked-api": "f0/WgiiQXgUHeh7n6YEtSrG+5RPzDzok",
}


@dataclass
class Clock:
    """A monotonic clock the tests move forward to expire tokens without sleeping."""

    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    server = start_in_thread(load_seed(None))
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(autouse=True)
def _fresh_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    if "sandbox" not in request.fixturenames:
        yield
        return
    server: SandboxServer = request.getfixturevalue("sandbox")
    session: requests.Session = request.getfixturevalue("http")
    assert session.post(f"{server.url}/_sandbox/reset", timeout=5).status_code == 204
    server.state.clock = time.monotonic
    yield
    server.state.clock = time.monotonic


@pytest.fixture
def clock(sandbox: SandboxServer) -> Clock:
    fake = Clock()
    sandbox.state.clock = fake
    return fake


@pytest.fixture
def vector() -> Callable[[str], bytes]:
    assert VECTORS.is_dir(), f"contract vectors not found at {VECTORS}"
    return lambda name: (VECTORS / name).read_bytes()
