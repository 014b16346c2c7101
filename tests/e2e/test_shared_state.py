"""Two bridge processes on one real Redis: tokens, lockouts and caches are shared; a lost
store fails logins closed and the bridge recovers by itself when it returns."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.servers import (
    SERVERS,
    Server,
    free_port,
    post_login,
    sandbox_calls,
    start_bridge,
    write_config,
)
from tests.soapxml import auth_result, fault11, refusal

REDIS = "redis://127.0.0.1:6379/0"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def pair(sandbox: Server, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    prefix = f"test-{uuid.uuid4().hex}:"
    store = f"{REDIS}?prefix={prefix}"
    first = start_bridge(tmp_path / "a", write_config(tmp_path / "a", sandbox.url, store=store),
                         env={"SOAP_BRIDGE_STATE_KEY": "k" * 40})
    second = start_bridge(tmp_path / "b", write_config(tmp_path / "b", sandbox.url, store=store),
                          env={"SOAP_BRIDGE_STATE_KEY": "k" * 40})
    yield first, second
    first.stop()
    second.stop()
    raw = redis.Redis.from_url(REDIS)
    for key in raw.scan_iter(match=prefix + "*"):
        raw.delete(key)
    raw.close()


def test_a_token_from_one_instance_is_accepted_by_the_other(pair: tuple[Server, Server]) -> None:
    first, second = pair
    token = auth_result(post_login(first, "jdoe@example.com", "Password").content).get(
        "AuthenticationToken")
    reply = requests.post(second.url + "/v1/token", timeout=5, data={
        "grant_type": EXCHANGE, "subject_token": token, "subject_token_type": ACCESS})
    assert reply.status_code == 200
    assert reply.json()["user_context"].startswith("jdoe@example.com:")


def test_failures_on_both_instances_add_up_to_one_lockout(pair: tuple[Server, Server],
                                                          sandbox: Server) -> None:
    first, second = pair
    for index in range(5):
        post_login((first, second)[index % 2], "multi@example.com", "wrong")
    calls = sandbox_calls(sandbox)["credentials"]
    for server in (first, second):
        assert refusal(post_login(server, "multi@example.com", "Password").content)[0] == (
            "Invalid user name or password.")
    assert sandbox_calls(sandbox)["credentials"] == calls  # locked: nobody asked upstream


def test_the_bearer_cache_is_shared(pair: tuple[Server, Server], sandbox: Server) -> None:
    first, second = pair
    post_login(first, "multi@example.com", "Password")
    post_login(second, "multi@example.com", "Password")
    assert sandbox_calls(sandbox)["apiUser"] == 1


def _own_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port",
                                str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30  # generous: a loaded CI machine starts it slowly
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port).ping():
                return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError("redis-server did not start")


def test_a_lost_store_fails_closed_and_recovers(sandbox: Server, tmp_path: Path) -> None:
    port = free_port()
    store_process = _own_redis(port, tmp_path)
    config = write_config(tmp_path, sandbox.url, store=f"redis://127.0.0.1:{port}/0")
    bridge = start_bridge(tmp_path, config, workers=1)
    try:
        assert auth_result(post_login(bridge, "jdoe@example.com", "Password").content).get(
            "Success") == "true"
        store_process.terminate()
        store_process.wait(10)
        down = post_login(bridge, "jdoe@example.com", "Password")
        assert down.status_code == 500
        assert fault11(down.content) == (
            "s:Server", "The bridge's state store is unavailable. Please try again later.")
        assert b"AuthenticationToken" not in down.content
        exchange = requests.post(bridge.url + "/v1/token", data={"grant_type": EXCHANGE,
                                 "subject_token": "x", "subject_token_type": ACCESS}, timeout=5)
        assert exchange.status_code == 503
        assert exchange.json()["error"] == "temporarily_unavailable"
        metrics = requests.get(bridge.url + "/metrics", timeout=5)
        assert metrics.status_code == 200 and "soap_bridge_requests_total" in metrics.text
        store_process = _own_redis(port, tmp_path)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            answer = post_login(bridge, "jdoe@example.com", "Password")
            if answer.status_code == 200:
                break
            time.sleep(0.2)
        assert auth_result(answer.content).get("Success") == "true"
    finally:
        bridge.stop()
        store_process.terminate()
        store_process.wait(10)
    assert "Traceback" not in bridge.output()


def test_readyz_follows_the_store_and_upstreams(sandbox: Server, tmp_path: Path) -> None:
    port = free_port()
    store_process = _own_redis(port, tmp_path)
    config = write_config(tmp_path, sandbox.url, store=f"redis://127.0.0.1:{port}/0",
                          legacy={"base_url": "http://127.0.0.1:9"})
    bridge = start_bridge(tmp_path, config, workers=1)
    try:
        ready = requests.get(bridge.url + "/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"store": True, "rules": True, "upstream:account": True,
                                          "upstream:esign": True, "upstream:legacy": False}
        store_process.terminate()
        store_process.wait(10)
        assert requests.get(bridge.url + "/readyz", timeout=5).json()["checks"]["store"] is False
        assert requests.get(bridge.url + "/healthz", timeout=5).status_code == 200
    finally:
        bridge.stop()
        if store_process.poll() is None:
            store_process.terminate()


@pytest.mark.parametrize("server", SERVERS)
def test_metrics_add_up_the_workers_of_an_instance(sandbox: Server, tmp_path: Path,
                                                   server: str) -> None:
    # A temporary folder of the bridge's own: other tests (or test processes) start bridges too.
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    bridge = start_bridge(tmp_path, write_config(tmp_path, sandbox.url), workers=2,
                          env={"TMPDIR": str(own_tmp)}, server=server)
    made = set(own_tmp.glob("soap-bridge-metrics-*"))
    assert len(made) == 1  # the workers' shared metrics folder
    try:
        for _ in range(6):
            post_login(bridge, "jdoe@example.com", "Password")
        post_login(bridge, "jdoe@example.com", "wrong")
        samples: dict[str, float] = {}
        for line in requests.get(bridge.url + "/metrics", timeout=5).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        ok = 'soap_bridge_requests_total{mode="rest",operation="AuthenticateUser",outcome="ok"}'
        refused = ('soap_bridge_requests_total{mode="rest",operation="AuthenticateUser",'
                   'outcome="invalid_credentials"}')
        assert samples[ok] == 6 and samples[refused] == 1
        assert samples['soap_bridge_request_seconds_count{operation="AuthenticateUser"}'] == 7
        # One bearer fetched, five reused; the credentials endpoint answered 2xx six times.
        assert samples['soap_bridge_step_cache_total{result="miss"}'] == 1
        assert samples['soap_bridge_step_cache_total{result="hit"}'] == 5
        assert samples['soap_bridge_upstream_calls_total{result="2xx",upstream="esign"}'] >= 6
        assert samples['soap_bridge_upstream_calls_total{result="4xx",upstream="esign"}'] == 1
    finally:
        bridge.stop()
    # Removed when the bridge stops (by the process that made it, not by a worker).
    assert not any(path.exists() for path in made)


def test_redis_restarted_mid_traffic(sandbox: Server, tmp_path: Path) -> None:
    port = free_port()
    store_process = _own_redis(port, tmp_path)
    config = write_config(tmp_path, sandbox.url, store=f"redis://127.0.0.1:{port}/0")
    bridge = start_bridge(tmp_path, config, workers=2)
    answers: list[tuple[float, int, bytes]] = []
    stop = time.monotonic() + 6

    def traffic() -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            response = session.post(bridge.url + "/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text",
                                    data=_login_body(), timeout=10,
                                    headers={"Content-Type": "text/xml"})
            answers.append((time.monotonic(), response.status_code, response.content))

    callers = [threading.Thread(target=traffic) for _ in range(4)]
    try:
        for caller in callers:
            caller.start()
        time.sleep(1.5)
        store_process.terminate()
        store_process.wait(10)
        time.sleep(1.5)
        restarted = time.monotonic()
        store_process = _own_redis(port, tmp_path)
        for caller in callers:
            caller.join(20)
    finally:
        bridge.stop()
        store_process.terminate()
        store_process.wait(10)
    statuses = {status for _, status, _ in answers}
    assert statuses <= {200, 500}
    for _, status, body in answers:
        if status == 500:  # only ever the fail-closed fault, never a token
            assert fault11(body) == (
                "s:Server", "The bridge's state store is unavailable. Please try again later.")
        else:
            assert b'Success="true"' in body and b"AuthenticationToken=" in body
    assert any(status == 500 for _, status, _ in answers)
    # Back to normal on its own once Redis answers again.
    assert any(status == 200 and at > restarted + 1 for at, status, _ in answers)
    assert "Traceback" not in bridge.output()


def _login_body() -> bytes:
    from tests.servers import soap11_login

    return soap11_login("jdoe@example.com", "Password")
