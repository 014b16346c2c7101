"""Sealed AuthenticationTokens on real bridges: a warm login writes nothing to the store (as
Redis's MONITOR sees it); single-use tokens used once across two bridges on one Redis; key
rotation across a fleet; `soap-bridge revoke`; scoped tokens refused outside their scope; a
single-use token raced by two workers on SQLite; the legacy swap spending a single-use token
bound to one operation."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml

from tests.e2e.test_signing_links import TOKEN_REFUSED, _refusal, _signing
from tests.servers import (
    REPO,
    USERS_NS,
    USERS_PATH,
    Server,
    post_login,
    sandbox_directory,
    start_bridge,
    write_config,
)
from tests.soapxml import auth_result

REDIS = "redis://127.0.0.1:6379/0"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
KEYS = {"TOKEN_KEY_OLD": "o" * 40, "TOKEN_KEY_NEW": "n" * 40}
# Redis commands that change data: a warm login must send none of them.
WRITES = {"SET", "SETEX", "PSETEX", "DEL", "UNLINK", "INCR", "INCRBY", "EXPIRE", "PEXPIRE",
          "EVAL", "EVALSHA", "HSET", "ZADD", "XADD", "RPUSH", "LPUSH", "MSET", "GETDEL"}


def _rules(workdir: Path, **token: Any) -> Path:
    """The shipped rules with the login's token section changed."""
    folder = workdir / "rules"
    shutil.copytree(REPO / "mappings" / "assuresign", folder)
    path = folder / "authenticate-user.yaml"
    rule = yaml.safe_load(path.read_text())
    rule["token"].update(token)
    path.write_text(yaml.safe_dump(rule, sort_keys=False))
    return folder


def _config(workdir: Path, sandbox: Server, store: str, keys: list[str] | None,
            rules: Path | None = None, **overrides: Any) -> Path:
    secrets = {"api_username": {"env": "TEST_API_USERNAME"}, "api_key": {"env": "TEST_API_KEY"},
               "token_key_old": {"env": "TOKEN_KEY_OLD"},
               "token_key_new": {"env": "TOKEN_KEY_NEW"}}
    extra: dict[str, Any] = {"tokens": {"keys": keys}} if keys else {}
    extra.update(overrides)
    return write_config(workdir, sandbox.url, mappings=str(rules or REPO / "mappings/assuresign"),
                        remember=True, store=store, secrets=secrets, **extra)


def _login(bridge: Server, username: str = "jdoe@example.com") -> str:
    token = auth_result(post_login(bridge, username, "Password").content).get(
        "AuthenticationToken")
    assert token
    return str(token)


def _exchange(bridge: Server, token: str) -> requests.Response:
    return requests.post(bridge.url + "/v1/token", timeout=5, data={
        "grant_type": EXCHANGE, "subject_token": token, "subject_token_type": ACCESS})


def _drop(prefix: str) -> None:
    raw = redis.Redis.from_url(REDIS)
    for key in raw.scan_iter(match=prefix + "*"):
        raw.delete(key)
    raw.close()


@pytest.fixture(scope="module")
def fleet(sandbox: Server, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Server, Server, Path]]:
    """Two bridges on one Redis, their rules minting single-use tokens, in the middle of a key
    rotation: the first still seals with the old key, the second with the new (and opens both)."""
    workdir = tmp_path_factory.mktemp("fleet")
    prefix = f"test-{uuid.uuid4().hex}:"
    store = f"{REDIS}?prefix={prefix}"
    rules = _rules(workdir, kind="single-use", ttl="5m")
    first_config = _config(workdir / "a", sandbox, store, ["token_key_old"], rules)
    first = start_bridge(workdir / "a", first_config, env=KEYS)
    second = start_bridge(workdir / "b", _config(workdir / "b", sandbox, store,
                                                 ["token_key_new", "token_key_old"], rules),
                          env=KEYS)
    yield first, second, first_config
    first.stop()
    second.stop()
    _drop(prefix)


def test_a_single_use_token_is_refused_on_its_second_use_on_another_bridge(
        fleet: tuple[Server, Server, Path]) -> None:
    first, second, _ = fleet
    token = _login(first)
    assert len(token) < 200
    used = _exchange(second, token)
    assert used.status_code == 200, used.text
    assert used.json()["user_context"].startswith("jdoe@example.com:")
    for bridge in (first, second):
        again = _exchange(bridge, token)
        assert again.status_code == 400
        assert again.json() == {"error": "invalid_grant", "error_description":
                                "subject_token: the token was for one use and has been used"}


def test_a_single_use_token_raced_on_two_bridges_on_one_redis_is_used_once(
        fleet: tuple[Server, Server, Path]) -> None:
    """The same single-use token sent to both bridges at once, several times each: exactly
    one exchange succeeds, whichever bridge and worker takes it."""
    first, second, _ = fleet
    bridges = (first, second) * 4
    for _ in range(3):
        token = _login(first)
        with ThreadPoolExecutor(8) as pool:
            answers = sorted(pool.map(_exchange, bridges, [token] * len(bridges)),
                             key=lambda answer: answer.status_code)
        assert [answer.status_code for answer in answers] == [200] + [400] * 7


def test_a_single_use_token_for_another_users_accounts_is_refused_not_spent(
        fleet: tuple[Server, Server, Path]) -> None:
    first, second, _ = fleet
    headers = {"Authorization": f"Bearer {_login(first)}"}

    def accounts(bridge: Server, username: str) -> requests.Response:
        return requests.get(f"{bridge.url}/v1/accounts/{username}", headers=headers, timeout=5)

    assert accounts(first, "multi@example.com").status_code == 403
    assert accounts(second, "jdoe@example.com").status_code == 200
    spent = accounts(first, "jdoe@example.com")
    assert spent.status_code == 401
    assert spent.json()["error_description"] == "the token was for one use and has been used"


def test_a_single_use_token_is_used_once_by_two_workers_on_sqlite(sandbox: Server,
                                                                 tmp_path: Path) -> None:
    rules = _rules(tmp_path, kind="single-use")
    store = f"sqlite:///{tmp_path / 'state' / 'bridge.sqlite3'}"
    bridge = start_bridge(tmp_path, _config(tmp_path, sandbox, store, ["token_key_new"], rules),
                          workers=2, env=KEYS)
    try:
        token = _login(bridge)
        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(lambda _: _exchange(bridge, token).status_code, range(8)))
        assert statuses == [200] + [400] * 7
    finally:
        bridge.stop()


def test_tokens_of_the_old_key_open_on_the_rotated_bridge_not_the_other_way(
        fleet: tuple[Server, Server, Path]) -> None:
    first, second, _ = fleet
    assert _exchange(second, _login(first)).status_code == 200
    # Sealed with the new key: the bridge that has not got it yet refuses it, unused.
    token = _login(second)
    refused = _exchange(first, token)
    assert refused.status_code == 400
    assert refused.json()["error_description"] == (
        "subject_token: the token is unknown or has expired")
    assert _exchange(second, token).status_code == 200


def test_revoke_refuses_the_users_tokens_on_every_bridge(
        fleet: tuple[Server, Server, Path], tmp_path: Path) -> None:
    first, second, config = fleet
    theirs, mine = _login(first, "multi@example.com"), _login(first)
    done = subprocess.run([sys.executable, "-m", "bridge", "revoke", "JDoe@Example.com",
                           "--config", str(config)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("JDoe@Example.com: tokens issued until ")
    refused = _exchange(second, mine)
    assert refused.status_code == 400
    assert refused.json()["error_description"] == "subject_token: the token has been revoked"
    assert _exchange(second, theirs).status_code == 200  # another user's
    assert _exchange(first, _login(first)).status_code == 200  # a login after it


def test_a_warm_login_writes_nothing_to_the_store(sandbox: Server, tmp_path: Path) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    # The learned directory read first, so that every login's names step reads the store.
    directory = {"sources": ["learned", "file"], "file": sandbox_directory()}
    bridge = start_bridge(tmp_path, _config(tmp_path, sandbox, f"{REDIS}?prefix={prefix}",
                                            ["token_key_new"], directory=directory),
                          workers=1, env=KEYS)
    try:
        for _ in range(2):  # cold, then warm: this worker has seen the user and bearer
            _login(bridge)
        seen = _monitor(prefix, lambda: [_login(bridge) for _ in range(3)])
        writes = [command for command in seen if command.split()[0].upper() in WRITES]
        assert writes == []
        # One read per login: the lock standing and the learned names, in one MGET.
        assert [command.split()[0].upper() for command in seen] == ["MGET"] * 3
        assert all(":directory:" in command and ":lockout:" in command for command in seen)
        # Each token is whole by itself, and a use of it reads once and writes nothing.
        seen = _monitor(prefix, lambda: _exchange(bridge, _login(bridge)))
        assert [command.split()[0].upper() for command in seen] == ["MGET", "MGET"]
    finally:
        bridge.stop()
        _drop(prefix)


def _monitor(prefix: str, action: Any) -> list[str]:
    """The commands on keys under `prefix` that Redis runs while `action` runs."""
    stop = f"{prefix}monitor-stop-{uuid.uuid4().hex}"
    seen: list[str] = []
    ready = threading.Event()
    raw = redis.Redis.from_url(REDIS)

    def listen() -> None:
        with raw.monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                command = str(event["command"])
                if stop in command:
                    return
                if prefix in command:
                    seen.append(command)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(5)
    # MONITOR starts streaming once its reply is read: a first command marks that point.
    probe = redis.Redis.from_url(REDIS)
    probe.get(prefix + "monitor-probe")
    action()
    probe.get(stop)
    listener.join(10)
    probe.close()
    raw.close()
    return [command for command in seen if "monitor-probe" not in command]


def test_a_scoped_token_is_refused_outside_its_scope(sandbox: Server, tmp_path: Path) -> None:
    rules = _rules(tmp_path, kind="scoped", scope={"username": "{{ input.username | identity }}"})
    bridge = start_bridge(tmp_path, _config(tmp_path, sandbox, "memory://", None, rules),
                          workers=1, env=KEYS)
    try:
        token = _login(bridge, "JDoe@Example.com")
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(2):  # multi-use
            mine = requests.get(bridge.url + "/v1/accounts/jdoe@example.com", headers=headers,
                                timeout=5)
            assert mine.status_code == 200, mine.text
        other = requests.get(bridge.url + "/v1/accounts/multi@example.com", headers=headers,
                             timeout=5)
        assert other.status_code == 401
        assert other.json()["error_description"] == "the token is not valid for this use"
        exchanged = _exchange(bridge, token)  # the whole bearer: no scope fits that
        assert exchanged.status_code == 400
        assert exchanged.json()["error_description"] == (
            "subject_token: the token is not valid for this use")
        # A rule's session (GetSigningLinks names no username): refused as a bad token, in
        # the legacy shape, never taken the tokenless way instead.
        assert _refusal(_signing(bridge, token)) == TOKEN_REFUSED
    finally:
        bridge.stop()


def _users_call(bridge: Server, operation: str, token: str) -> bytes:
    body = ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<{operation} xmlns="{USERS_NS}"><Request '
            'ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a" UserName="jdoe@example.com" '
            f'AuthenticationToken="{token}"/></{operation}></s:Body></s:Envelope>')
    answer = requests.post(bridge.url + USERS_PATH, headers={"Content-Type": "text/xml"},
                           data=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.content


def _legacy_attached(store: Path, count: int) -> bool:
    with sqlite3.connect(store) as connection:
        rows = connection.execute("SELECT count(*) FROM entries WHERE key LIKE 'token-legacy:%'")
        return int(rows.fetchone()[0]) >= count


def test_the_legacy_swap_honours_single_use_and_scope(sandbox: Server, tmp_path: Path) -> None:
    rules = _rules(tmp_path, kind="single-use", scope={"operation": "ListUsers"})
    store = tmp_path / "state" / "bridge.sqlite3"
    config = write_config(tmp_path, sandbox.url, mappings=str(rules), remember=True,
                          store=f"sqlite:///{store}",
                          legacy={"base_url": sandbox.url, "read_timeout": "5s"},
                          routing={"operations": {"AuthenticateUser": {"mode": "rest"}}})
    bridge = start_bridge(tmp_path, config, workers=1)
    try:
        first, second = _login(bridge), _login(bridge)
        # The legacy logins run beside the requests; the swap needs their tokens attached.
        deadline = time.monotonic() + 10
        while not _legacy_attached(store, 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        # Outside its scope (another operation): not swapped, and not spent.
        refused = b"Authentication token is invalid or has expired."
        assert refused in _users_call(bridge, "GetUser", first)
        assert b'ListUsersResult Success="true"' in _users_call(bridge, "ListUsers", first)
        # Spent by that swap: the second use goes to the legacy service as sent, and fails.
        assert refused in _users_call(bridge, "ListUsers", first)
        assert b'ListUsersResult Success="true"' in _users_call(bridge, "ListUsers", second)
    finally:
        bridge.stop()
