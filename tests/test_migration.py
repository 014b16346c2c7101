"""The migration commands run as an operator runs them: promote/demote (and --reset), record
start/status/stop/export, and examples/console.yaml with demo-traffic showing figures on the
console within seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bridge.store import SqliteStore
from tests.servers import REPO, free_port, start_process, write_config

OPERATOR_KEY = "migration-cli-operator-key-77aa66bb55cc44dd"


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**os.environ, **(env or {})},
                          check=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, "http://127.0.0.1:9", legacy={"base_url": "http://127.0.0.1:9"},
                        routing={"operations": {"AuthenticateUser": {"mode": "shadow", "cohorts": [
                            {"name": "pilot", "mode": "verify", "users": ["a@x.org"]}]}}})


def test_promote_demote_and_reset_by_hand(config: Path, tmp_path: Path) -> None:
    done = _run("promote", "AuthenticateUser", "--cohort", "pilot", "--config", str(config),
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("AuthenticateUser cohort pilot: verify → rest")
    done = _run("demote", "AuthenticateUser", "--config", str(config), cwd=tmp_path)
    assert "AuthenticateUser: shadow → legacy" in done.stdout, done.stderr
    store = SqliteStore(str(tmp_path / "state" / "bridge.sqlite3"))
    try:
        modes = store.get("migrate:modes")
        assert {name: entry["mode"] for name, entry in modes.items()} == {
            "AuthenticateUser|pilot": "rest", "AuthenticateUser|*": "legacy"}
        audit = store.records("migrate-audit", 0)
        assert [(entry["action"], entry["cohort"]) for entry in audit] == [
            ("promote", "pilot"), ("demote", None)]
        assert audit[0]["by"].startswith("operator (command line, ")
    finally:
        store.close()
    top = _run("promote", "AuthenticateUser", "--cohort", "pilot", "--config", str(config),
               cwd=tmp_path)
    assert top.returncode == 2 and "is in rest: nothing to promote to" in top.stderr
    reset = _run("demote", "AuthenticateUser", "--cohort", "pilot", "--reset", "--config",
                 str(config), cwd=tmp_path)
    assert "pilot: rest → verify" in reset.stdout
    wrong = _run("promote", "AuthenticateUser", "--cohort", "nobody", "--config", str(config),
                 cwd=tmp_path)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == ("soap-bridge promote: AuthenticateUser has no cohort "
                                    "'nobody' (it has: pilot)")


def test_record_start_status_stop_and_export(config: Path, tmp_path: Path) -> None:
    started = _run("record", "start", "--for", "10m", "--operations", "AuthenticateUser",
                   "--config", str(config), cwd=tmp_path)
    assert started.returncode == 0 and "Recording AuthenticateUser" in started.stdout
    status = _run("record", "status", "--config", str(config), cwd=tmp_path)
    assert "Recording for" in status.stdout and "0 exchanges kept" in status.stdout
    assert "Recording stopped" in _run("record", "stop", "--config", str(config),
                                       cwd=tmp_path).stdout
    assert "Not recording" in _run("record", "status", "--config", str(config),
                                   cwd=tmp_path).stdout
    out = tmp_path / "out.jsonl"
    exported = _run("record", "export", str(out), "--config", str(config), cwd=tmp_path)
    assert exported.returncode == 0 and out.read_text().startswith('{"format"')
    bad = _run("record", "start", "--for", "soon", "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("soap-bridge record: ")
    missing = _run("replay", str(tmp_path / "nope.jsonl"), "--config", str(config), cwd=tmp_path)
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr


def test_the_console_example_shows_demo_traffic_within_seconds(tmp_path: Path) -> None:
    port = free_port()
    bridge = start_process(["serve", "--config", str(REPO / "examples" / "console.yaml"),
                            "--port", str(port), "--workers", "1"], tmp_path,
                           f"http://127.0.0.1:{port}/healthz",
                           {"SOAP_BRIDGE_OPERATOR_KEY": OPERATOR_KEY})
    try:
        assert f"Migration console: {bridge.url}/console/" in bridge.output()
        traffic = _run("demo-traffic", "--config", str(REPO / "examples" / "console.yaml"),
                       "--url", bridge.url, "--rate", "20", "--duration", "3s", cwd=tmp_path)
        assert traffic.returncode == 0, traffic.stderr
        assert "logins sent (HTTP 200:" in traffic.stdout
        deadline = time.monotonic() + 20
        while True:
            data = requests.get(f"{bridge.url}/console/api/operations/AuthenticateUser",
                                headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
                                timeout=10).json()
            if data["compared"] >= 40 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert data["compared"] >= 40, json.dumps(data)[:500]
        assert data["differences"][0]["path"] == "AuthenticateUserResult.Accounts.UserAccount"
        assert [row["cohort"] for row in data["modes"]] == [None, "pilot"]
    finally:
        bridge.stop()
    down = _run("demo-traffic", "--config", str(REPO / "examples" / "shadow.yaml"),
                "--url", "http://127.0.0.1:9", "--duration", "1s", cwd=tmp_path)
    assert down.returncode == 2 and "does not answer" in down.stderr


def test_demo_traffic_needs_a_demo_configuration(config: Path, tmp_path: Path) -> None:
    done = _run("demo-traffic", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2 and "sandbox: section" in done.stderr
