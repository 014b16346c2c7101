"""Record and replay: a shadow bridge records legacy traffic (`record:`), secrets only as
references; `soap-bridge replay` against the same sandbox reproduces the live agreement; the
exported contract suite runs green against the sandbox and red once it disagrees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.store import SqliteStore
from tests.servers import (
    REPO,
    Server,
    demo_api_user,
    post_login,
    sandbox_control,
    start_bridge,
    start_sandbox,
    write_config,
)
from tests.soapxml import auth_result

STATE_KEY = "replay-state-key-0123456789abcdef0123456789"
WRONG_PASSWORD = "Wrong-Marker-Pw-4a1b"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
OTHER_ACCOUNTS = {"messages": [], "result": {"userAccounts": [
    {"accountID": "0f0f0f0f-1111-2222-3333-444444444444", "accountName": "Somewhere Else",
     "isDefault": True, "isDisabled": False}]}}


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_sandbox(tmp_path_factory.mktemp("replay-twin"),
                           REPO / "examples" / "seed-disagree.yaml")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def recorded(twin: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A shadow bridge that recorded five logins; its config, the live report, the tokens."""
    workdir = tmp_path_factory.mktemp("replay-bridge")
    config = write_config(workdir, twin.url, legacy={"base_url": twin.url, "read_timeout": "5s"},
                          routing={"operations": {"AuthenticateUser": "shadow"}},
                          record={"max_entries": 100, "max_age": "1h"})
    bridge = start_bridge(workdir, config, workers=1, env={"SOAP_BRIDGE_STATE_KEY": STATE_KEY})
    tokens = []
    try:
        for user, password in (("jdoe@example.com", "Password"), ("multi@example.com", "Password"),
                               ("jdoe@example.com", "Password"),
                               ("jdoe@example.com", WRONG_PASSWORD),
                               ("multi@example.com", "Password")):
            answer = auth_result(post_login(bridge, user, password).content, SOAP11)
            tokens.append(answer.get("AuthenticationToken"))
        store = SqliteStore(str(workdir / "state" / "bridge.sqlite3"))
        deadline = time.monotonic() + 15
        while (len(store.records("comparisons", 0)) < 5
               or len(store.records("recordings", 0)) < 5):
            assert time.monotonic() < deadline, "records did not land"
            time.sleep(0.1)
        store.close()
    finally:
        bridge.stop()
    secrets = workdir / "secrets.yaml"
    secrets.write_text(yaml.safe_dump({"*": "Password"}))
    yield {"config": config, "workdir": workdir, "secrets": secrets,
           "tokens": [token for token in tokens if token]}


def _cli(recorded: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    username, key = demo_api_user()
    env = {**os.environ, "TEST_API_USERNAME": username, "TEST_API_KEY": key,
           "SOAP_BRIDGE_STATE_KEY": STATE_KEY}
    return subprocess.run([sys.executable, "-m", "bridge", *args, "--config",
                           str(recorded["config"])], cwd=recorded["workdir"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_recording_holds_no_secret_and_replays_to_the_live_figure(recorded: dict[str, Any]
                                                                    ) -> None:
    live = json.loads(_cli(recorded, "report", "--format", "json").stdout)["operations"][0]
    assert (live["compared"], live["agreed"]) == (5, 3)
    recording = recorded["workdir"] / "traffic.jsonl"
    exported = _cli(recorded, "record", "export", str(recording))
    assert exported.returncode == 0, exported.stderr
    text = recording.read_text()
    _, api_key = demo_api_user()
    for secret in (*recorded["tokens"], WRONG_PASSWORD, api_key, '"Password": "Password"'):
        assert secret not in text
    entries = [json.loads(line) for line in text.splitlines()[1:]]
    assert len(entries) == 5
    assert all(entry["request"]["body"]["Request"]["Password"].startswith("ref-")
               for entry in entries)
    replayed = _cli(recorded, "replay", str(recording), "--secrets", str(recorded["secrets"]),
                    "--format", "json", "--rate", "50")
    assert replayed.returncode == 0, replayed.stderr
    (figures,) = json.loads(replayed.stdout)["operations"]
    assert (figures["compared"], figures["agreed"]) == (live["compared"], live["agreed"])
    assert figures["agreement"] == live["agreement"]
    assert [d["path"] for d in figures["top_differences"]] == [
        d["path"] for d in live["top_differences"]]
    table = _cli(recorded, "replay", "store", "--secrets", str(recorded["secrets"]))
    assert "AuthenticateUser: 60.0% of 5 agree" in table.stdout, table.stderr


def test_exported_contract_tests_pass_on_the_sandbox_and_fail_when_it_disagrees(
        recorded: dict[str, Any], twin: Server, tmp_path: Path) -> None:
    suite = tmp_path / "contract"
    done = _cli(recorded, "replay", "store", "--secrets", str(recorded["secrets"]),
                "--export-tests", str(suite))
    assert done.returncode == 0, done.stderr
    cases = sorted(path.name for path in (suite / "cases").glob("*.json"))
    assert len(cases) == 2  # a login that worked and one refused: two request shapes

    def run_suite() -> subprocess.CompletedProcess[str]:
        username, key = demo_api_user()
        env = {**os.environ, "TEST_API_USERNAME": username, "TEST_API_KEY": key,
               "SOAP_BRIDGE_STATE_KEY": STATE_KEY}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "--rootdir", str(suite), str(suite)], cwd=suite, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    green = run_suite()
    assert green.returncode == 0 and "2 passed" in green.stdout, green.stdout + green.stderr
    sandbox_control(twin, paths=["/accounts"], fail={"status": 200, "body": OTHER_ACCOUNTS})
    try:
        red = run_suite()
    finally:
        sandbox_control(twin)
    assert red.returncode == 1 and "1 failed, 1 passed" in red.stdout, red.stdout + red.stderr
    assert "AuthenticateUserResult.Accounts.UserAccount" in red.stdout
