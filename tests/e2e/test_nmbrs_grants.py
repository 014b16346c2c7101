"""Grants end to end, on real processes: `soap-bridge connect --auto` and `nmbrs grants` (no
secret in their output), a SOAP login whose rule calls Nmbrs REST with the user's grant, a
revoked grant answered 1001 with a metric and a /readyz warning until `connect` fixes it, and
two bridges on one Redis refreshing at once without spending a refresh token twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml

from bridge.auth.seal import unseal
from bridge.sandbox import load_seed
from bridge.store import open_store
from tests.grants.conftest import ACME, MASTER, SECRET_ENV, grants_config, sandbox_grants
from tests.servers import Server, demo_api_user, post_login, start_bridge

STATE_KEY = "e2e-grants-state-key-0123456789abcdefghij"
SEED = load_seed(None)
JDOE = next(u for u in SEED.users if u.username == "jdoe@example.com")
# A login whose answer needs Nmbrs REST: the password checked at the AssureSign sandbox, then
# the companies of the user's Nmbrs grant (every page), the first one's name in FirstName.
NMBRS_1001 = {"fault": "Server", "message": "1001: Invalid Authentication"}
RULE = yaml.safe_dump({
    "operation": "AuthenticateUser",
    "input": {"username": {"path": "body.Request.UserName", "required": True},
              "password": {"path": "body.Request.Password", "secret": True, "required": True}},
    "verify": {"strategy": "upstream-credentials", "step": "credentials"},
    "steps": [
        {"id": "credentials", "upstream": "esign",
         "path": "/api/documentnow/v3.7/authentication/credentials",
         "json": {"request": {"authRequest": {"username": "{{ input.username }}",
                                              "password": "{{ input.password }}"}}},
         "on_error": [{"status": [400, 401], "refuse": "invalid_credentials"}]},
        {"id": "companies", "upstream": "nmbrs", "method": "GET", "path": "/api/companies",
         "grant": "{{ input.username }}", "throttle": True,
         "pages": {"items": "data", "next": "pagination.nextPage"},
         "extract": {"companies": "data"},
         "on_error": [{"status": 401, "refuse": "invalid_credentials"}]},
    ],
    "result": {"AuthenticateUserResult": {
        "Success": True, "UserName": "{{ input.username }}",
        "FirstName": "{{ steps.companies.companies | first | get('name') }}"}},
    "refusals": {
        "result": {"AuthenticateUserResult": {"Success": False, "Exceptions": {"UserException": [
            {"_value": "{{ refusal.message }}", "Severity": "{{ refusal.severity }}"}]}}},
        "reasons": {"invalid_credentials": {"message": "Invalid user name or password."},
                    "unavailable": {"fault": "Server", "message": "9999: Unkown"},
                    "grant_missing": dict(NMBRS_1001), "grant_revoked": dict(NMBRS_1001)}},
}, sort_keys=False)
API_USERNAME, API_KEY = demo_api_user()
ENV = {**SECRET_ENV, "SOAP_BRIDGE_STATE_KEY": STATE_KEY, "TEST_API_USERNAME": API_USERNAME,
       "TEST_API_KEY": API_KEY}


def _config(workdir: Path, sandbox_url: str, store: str, **provider: Any) -> Path:
    path = grants_config(workdir, sandbox_url, **provider)
    config = yaml.safe_load(path.read_text())
    rules = workdir / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "authenticate-user.yaml").write_text(RULE)
    config.update(mappings=[str(rules)], store=store)
    path.write_text(yaml.safe_dump(config))
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **ENV})


def _connect(config: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    # The grant is consented by a Nmbrs user of Acme; the AssureSign user jdoe calls with it.
    return _cli("connect", "nmbrs", "--config", str(config), "--debtor", ACME.guid, "--auto",
                "--user", JDOE.username, "--login-hint", MASTER.username, cwd=workdir)


def _tokens(store_url: str) -> list[str]:
    """The grant's tokens as the store holds them, unsealed with the bridges' key."""
    record = open_store(store_url).get(f"grant:nmbrs:{ACME.guid}") or {}
    found = [unseal(STATE_KEY.encode(), record.get(name) or "") for name in ("access", "refresh")]
    return [token for token in found if token]


@pytest.fixture
def sqlite_bridge(sandbox: Server, tmp_path: Path) -> Iterator[tuple[Server, Path, str]]:
    store = f"sqlite:///{tmp_path / 'state' / 'bridge.sqlite3'}"
    config = _config(tmp_path, sandbox.url, store)
    connected = _connect(config, tmp_path)
    assert connected.returncode == 0, connected.stderr
    assert f"Connected nmbrs debtor {ACME.guid}" in connected.stdout
    server = start_bridge(tmp_path / "served", config, workers=1, env=ENV)
    yield server, config, store
    server.stop()


def test_connect_lists_and_serves_without_showing_a_secret(
        sandbox: Server, sqlite_bridge: tuple[Server, Path, str], tmp_path: Path) -> None:
    bridge, config, store = sqlite_bridge
    answer = post_login(bridge, JDOE.username, JDOE.password)
    assert answer.status_code == 200, answer.text
    assert "<UserName>" in answer.text or f'UserName="{JDOE.username}"' in answer.text
    table = _cli("nmbrs", "grants", "--config", str(config), cwd=tmp_path)
    listed = _cli("nmbrs", "grants", "--config", str(config), "--format", "json", cwd=tmp_path)
    assert table.returncode == 0 and listed.returncode == 0, table.stderr + listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["debtor"] == ACME.guid and row["users"] == [JDOE.username]
    assert row["state"] == "active" and "company.info.read" in row["scopes"]
    assert ACME.guid in table.stdout and "active" in table.stdout
    secrets = [*_tokens(store), SECRET_ENV["NMBRS_CLIENT_SECRET"], SECRET_ENV["NMBRS_KEY"]]
    assert len(secrets) == 4
    bridge.stop()
    seen = table.stdout + table.stderr + listed.stdout + bridge.output()
    for secret in secrets:
        assert secret not in seen


def test_revoked_grant_is_1001_counted_and_warned_until_connect_fixes_it(
        sandbox: Server, sqlite_bridge: tuple[Server, Path, str], tmp_path: Path) -> None:
    bridge, config, _ = sqlite_bridge
    assert post_login(bridge, JDOE.username, JDOE.password).status_code == 200
    requests.post(f"{sandbox.url}/_sandbox/nmbrs/grants", json={"action": "revoke",
                  "debtor": ACME.guid}, timeout=5).raise_for_status()
    answer = post_login(bridge, JDOE.username, JDOE.password)
    assert answer.status_code == 500
    # What Nmbrs' clients look for in the faultstring.
    assert "1001: Invalid Authentication" in answer.text
    ready = requests.get(f"{bridge.url}/readyz", timeout=5)
    assert ready.status_code == 200  # other grants may still work: reported, not unready
    [warning] = ready.json()["warnings"]
    assert ACME.guid in warning and "soap-bridge connect nmbrs" in warning
    metrics = requests.get(f"{bridge.url}/metrics", timeout=5).text
    assert 'soap_bridge_grant_refusals_total{provider="nmbrs",reason="grant_revoked"}' in metrics
    listed = _cli("nmbrs", "grants", "--config", str(config), "--format", "json", cwd=tmp_path)
    assert json.loads(listed.stdout)[0]["state"] == "revoked"
    assert _connect(config, tmp_path).returncode == 0
    deadline = time.monotonic() + 15
    while requests.get(f"{bridge.url}/readyz", timeout=5).json().get("warnings"):
        assert time.monotonic() < deadline, "the warning outlived the new grant"
        time.sleep(0.5)
    assert post_login(bridge, JDOE.username, JDOE.password).status_code == 200


@pytest.mark.parametrize(("args", "told"), [
    (["--debtor", "40001"], "argument --debtor: '40001' is not a debtor GUID"),
    (["--debtor", ACME.guid, "--port", "99999"], "argument --port: '99999' is not a port"),
    (["--debtor", ACME.guid, "--port", "-1"], "argument --port: '-1' is not a port"),
    (["--debtor", ACME.guid, "--timeout", "nan"], "argument --timeout: 'nan' is not a number"),
    (["--debtor", ACME.guid, "--timeout", "0"], "argument --timeout: '0' is not a number"),
])
def test_connect_mistakes_are_one_line_and_exit_2(sandbox: Server, tmp_path: Path,
                                                  args: list[str], told: str) -> None:
    config = _config(tmp_path, sandbox.url, "memory://")
    done = _cli("connect", "nmbrs", "--config", str(config), *args, cwd=tmp_path)
    assert done.returncode == 2 and told in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    revoking = _cli("nmbrs", "grants", "--config", str(config), "--revoke", "nonsense",
                    cwd=tmp_path)
    assert revoking.returncode == 2 and "'nonsense' is not a debtor GUID" in revoking.stderr


def test_connect_without_a_state_key_is_refused(sandbox: Server, tmp_path: Path) -> None:
    config = _config(tmp_path, sandbox.url, f"sqlite:///{tmp_path / 's.db'}")
    done = subprocess.run([sys.executable, "-m", "bridge", "connect", "nmbrs", "--config",
                           str(config), "--auto"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **ENV, "SOAP_BRIDGE_STATE_KEY": ""})
    assert done.returncode == 2 and "SOAP_BRIDGE_STATE_KEY" in done.stderr
    assert sandbox_grants(sandbox.url) == []


def test_two_bridges_on_one_redis_spend_each_refresh_token_once(
        sandbox: Server, tmp_path: Path) -> None:
    prefix = f"grants-race-{os.getpid()}-{time.monotonic_ns()}:"
    store = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    # Due one second after each refresh: the bursts below find it due, on both bridges at once.
    config = _config(tmp_path, sandbox.url, store, refresh_before="3599s")
    assert _connect(config, tmp_path).returncode == 0
    bridges = [start_bridge(tmp_path / f"b{n}", config, workers=2, env=ENV) for n in (1, 2)]
    try:
        statuses: list[int] = []

        def login(bridge: Server) -> None:
            statuses.append(post_login(bridge, JDOE.username, JDOE.password).status_code)

        for _ in range(3):
            time.sleep(1.2)  # the access token is due again
            threads = [threading.Thread(target=login, args=(bridge,))
                       for bridge in bridges for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert statuses == [200] * 36
        [grant] = sandbox_grants(sandbox.url)
        # A refresh token spent twice would have revoked the whole grant (the sandbox's replay
        # rule); each due round refreshed, and only once.
        assert not grant["revoked"]
        assert 1 <= grant["rotations"] <= 3
        # Nothing asked the token endpoint beyond the code's exchange and those rotations.
        calls = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["calls"]
        assert calls["nmbrs:identity:token"] == 1 + grant["rotations"]
        record = open_store(store).get(f"grant:nmbrs:{ACME.guid}")
        assert record["rotations"] == grant["rotations"] and record["state"] == "active"
    finally:
        for bridge in bridges:
            bridge.stop()
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


def test_the_check_command_refuses_a_grant_step_without_its_reasons(
        sandbox: Server, tmp_path: Path) -> None:
    config = _config(tmp_path, sandbox.url, "memory://")
    rule = tmp_path / "rules" / "authenticate-user.yaml"
    without = yaml.safe_load(RULE)
    del without["refusals"]["reasons"]["grant_missing"]
    rule.write_text(yaml.safe_dump(without))
    done = _cli("check", "--config", str(config), cwd=tmp_path)
    assert done.returncode != 0
    assert "refusal reason 'grant_missing' is used by grant steps" in done.stderr
