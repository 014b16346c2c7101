"""Fixtures: one real sandbox server per test module, reset before every test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests

from bridge.sandbox import SandboxServer, load_seed, start_in_thread
from tests.contract import VECTORS

# The API users' keys are demo credentials: they live in the sandbox seed alone.
_SEED = load_seed(None)
API_KEYS = {api.username: api.key for api in _SEED.api_users}
DEMO_KEY = API_KEYS["bridge-demo"]
EXAMPLE_INC = "821ae27f-027c-4f21-a2e5-1667fc9b650a"
USERS_PATH = "/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text"


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
