"""Readiness (bridge/health.py): the store, the rules, and each upstream accepting connections;
the legacy service only until legacy.retired_at."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from bridge.health import Readiness
from bridge.store.memory import MemoryStore
from bridge.upstream.rest import Endpoint


@pytest.fixture
def listening() -> Iterator[str]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def closed() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_every_upstream_is_checked(listening: str, closed: str) -> None:
    readiness = Readiness(MemoryStore(), [Endpoint("rest", listening), Endpoint("legacy", closed)])

    assert readiness.check(True) == (False, {"store": True, "rules": True, "upstream:rest": True,
                                             "upstream:legacy": False})


def test_a_retired_legacy_service_is_no_longer_waited_for(listening: str, closed: str) -> None:
    retired = Readiness(MemoryStore(), [Endpoint("rest", listening), Endpoint("legacy", closed)],
                        {"legacy": time.time() - 1})
    coming = Readiness(MemoryStore(), [Endpoint("legacy", closed)], {"legacy": time.time() + 3600})

    assert retired.check(True) == (True, {"store": True, "rules": True, "upstream:rest": True})
    assert coming.check(True)[1]["upstream:legacy"] is False
