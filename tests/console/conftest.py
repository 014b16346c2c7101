"""The console's in-process bridge: a memory store, the sandbox thread, one operator key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.app import BridgeApp
from bridge.sandbox import SandboxServer
from tests.inprocess import bridge_app, bridge_config

OPERATOR_KEY = "operator-key-for-tests-0123456789abcdef"


@pytest.fixture
def bare_app(sandbox_thread: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> BridgeApp:
    """A bridge whose console takes OPERATOR_KEY, with no records yet."""
    monkeypatch.setenv("TEST_OPERATOR_KEY", OPERATOR_KEY)
    config = bridge_config(tmp_path, sandbox_thread.url, monkeypatch, secrets={
        "api_username": {"env": "TEST_API_USERNAME"}, "api_key": {"env": "TEST_API_KEY"},
        "operator": {"env": "TEST_OPERATOR_KEY"}}, operator_keys=["operator"])
    return bridge_app(config)
