"""Building the bridge's parts from a configuration: all of them, or the directory alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import wiring
from bridge.directory import learn_directory
from bridge.sandbox import SandboxServer
from bridge.store import SqliteStore
from tests.inprocess import STATE_KEY, bridge_config

ACCOUNT = {"contextIdentifier": "11111111-2222-3333-4444-555555555555", "name": "Learned",
           "isPrimary": True}


def test_wire_builds_what_serving_needs(sandbox_thread: SandboxServer, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    built = wiring.wire(bridge_config(tmp_path, sandbox_thread.url, monkeypatch), STATE_KEY)

    assert set(built.plans.current().rules) >= {"AuthenticateUser", "Ping"}
    # What /metrics shows beside the counters, without reaching into the engine.
    assert sorted(built.breakers) == ["account", "esign"]
    assert built.dispatcher.legacy is None and built.dispatcher.side.legacy is None


def test_the_directory_alone_skips_the_wsdl_without_the_rest_source(
        sandbox_thread: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(str(path))
    learn_directory(store, "ann@example.com", [ACCOUNT])
    store.close()
    config = bridge_config(tmp_path, sandbox_thread.url, monkeypatch, store=f"sqlite:///{path}",
                           directory={"sources": ["file", "learned"]})

    def no_wsdl(*args: object) -> None:
        raise AssertionError("the WSDL was compiled")

    monkeypatch.setattr(wiring, "SoapService", no_wsdl)
    found = wiring.wire_directory(config, STATE_KEY).lookup("Ann@Example.com")

    assert found is not None and (found.source, found.accounts) == ("learned", [ACCOUNT])


def test_the_directory_alone_asks_the_lookup_rule(sandbox_thread: SandboxServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = bridge_config(tmp_path, sandbox_thread.url, monkeypatch)

    found = wiring.wire_directory(config, STATE_KEY).lookup("multi@example.com")

    assert found is not None and found.source == "rest"
    assert {a["name"] for a in found.accounts} == {"Multi Holdings", "Multi Europe",
                                                   "Example, Inc."}
