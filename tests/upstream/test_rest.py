"""The REST client against the real sandbox: answers, error bodies, timeouts, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bridge.errors import UpstreamError
from bridge.sandbox import SandboxServer, start_in_thread
from bridge.upstream.rest import Endpoint, RestClient


@pytest.fixture(scope="module")
def upstream() -> Iterator[SandboxServer]:
    server = start_in_thread()
    yield server
    server.shutdown()


@pytest.fixture
def client(upstream: SandboxServer) -> Iterator[RestClient]:
    requests.post(f"{upstream.url}/_sandbox/reset", timeout=5).raise_for_status()
    rest = RestClient(Endpoint("sandbox", upstream.url, connect_timeout=1, read_timeout=0.5))
    yield rest
    rest.close()


def _control(upstream: SandboxServer, **control: object) -> None:
    requests.post(f"{upstream.url}/_sandbox/control", json=control, timeout=5).raise_for_status()


def test_json_answer(client: RestClient) -> None:
    reply = client.call("POST", "/api/documentnow/v3.7/authentication/credentials",
                        {"request": {"authRequest": {"username": "jdoe@example.com",
                                                     "password": "Password"}}})
    assert reply.ok and reply.status == 200
    assert reply.body["result"]["accounts"][0]["name"] == "Example, Inc."
    assert reply.elapsed > 0


def test_vendor_error_body_is_parsed(client: RestClient) -> None:
    reply = client.call("POST", "/api/documentnow/v3.7/authentication/credentials",
                        {"request": {"authRequest": {"username": "jdoe@example.com",
                                                     "password": "no"}}})
    assert (reply.ok, reply.status, reply.error_code) == (False, 401, "UNAUTHORIZED")
    assert reply.summary == "The provided username or password was not valid"


def test_timeout(client: RestClient, upstream: SandboxServer) -> None:
    _control(upstream, delay_ms=1500)
    with pytest.raises(UpstreamError) as caught:
        client.call("GET", "/api/documentnow/v3.7/users/jdoe%40example.com/accounts")
    assert caught.value.kind == "timeout"


def test_connection_dropped(client: RestClient, upstream: SandboxServer) -> None:
    _control(upstream, fail="close")
    with pytest.raises(UpstreamError) as caught:
        client.call("GET", "/api/documentnow/v3.7/users/jdoe%40example.com/accounts")
    assert caught.value.kind in ("connect", "protocol")


def test_success_that_is_not_json(client: RestClient, upstream: SandboxServer) -> None:
    _control(upstream, fail="garbage")
    with pytest.raises(UpstreamError, match="not JSON") as caught:
        client.call("GET", "/api/documentnow/v3.7/users/jdoe%40example.com/accounts")
    assert caught.value.kind == "protocol"


def test_nothing_listening() -> None:
    client = RestClient(Endpoint("down", "http://127.0.0.1:9"))
    with pytest.raises(UpstreamError, match=r"cannot reach http://127\.0\.0\.1:9") as caught:
        client.call("GET", "/")
    assert caught.value.kind == "connect"


def test_a_failed_call_is_observed_with_the_time_it_took(upstream: SandboxServer) -> None:
    requests.post(f"{upstream.url}/_sandbox/reset", timeout=5).raise_for_status()
    seen: list[tuple[str, str, float]] = []
    client = RestClient(Endpoint("sandbox", upstream.url, connect_timeout=1, read_timeout=0.3),
                        observe=lambda name, result, seconds: seen.append((name, result, seconds)))
    _control(upstream, delay_ms=1000)
    with pytest.raises(UpstreamError):
        client.call("GET", "/api/documentnow/v3.7/users/jdoe%40example.com/accounts")
    client.close()
    assert [(name, result) for name, result, _ in seen] == [("sandbox", "timeout")]
    assert seen[0][2] >= 0.3  # the whole read timeout, which is what an alert must see


def test_the_upstream_limits_are_observed_by_name(upstream: SandboxServer) -> None:
    requests.post(f"{upstream.url}/_sandbox/reset", timeout=5).raise_for_status()
    seen: list[str] = []
    client = RestClient(Endpoint("sandbox", upstream.url, connect_timeout=1, read_timeout=1,
                                 deadline=0.3, max_answer_bytes=2048),
                        observe=lambda name, result, seconds: seen.append(result))
    path = "/api/documentnow/v3.7/users/jdoe%40example.com/accounts"
    _control(upstream, drip_ms=50, times=1)  # 8 bytes every 50 ms: each read is quick
    with pytest.raises(UpstreamError) as dripped:
        client.call("GET", path)
    _control(upstream, fail={"status": 200, "body": {"padding": "x" * 2048}}, times=1)
    with pytest.raises(UpstreamError) as oversized:
        client.call("GET", path)
    client.close()
    assert (dripped.value.kind, oversized.value.kind) == ("timeout", "too_large")
    assert seen == ["deadline", "max_answer_bytes"]
