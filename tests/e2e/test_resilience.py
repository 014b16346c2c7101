"""Surviving the upstream: bounded retries where safe, a circuit breaker, fallback behind it."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.servers import Server, post_login, sandbox_calls, sandbox_control, start_bridge, write_config
from tests.soapxml import auth_result, fault11

UNAVAILABLE = "The authentication service is temporarily unavailable. Please try again later."


def _bridge(sandbox: Server, tmp_path: Path, **overrides: object) -> Server:
    breaker = {"failures": 3, "open_for": "2s"}
    upstreams = {name: {"base_url": sandbox.url, "connect_timeout": "1s", "read_timeout": "2s",
                        "breaker": breaker} for name in ("account", "esign")}
    return start_bridge(tmp_path, write_config(tmp_path, sandbox.url, upstreams=upstreams,
                                               **overrides), workers=1)


def test_token_requests_are_retried_when_the_gateway_is_busy(sandbox: Server,
                                                             tmp_path: Path) -> None:
    bridge = _bridge(sandbox, tmp_path)
    try:
        sandbox_control(sandbox, paths=["apiUser"], times=2,
                        fail={"status": 503, "body": "busy"})
        assert auth_result(post_login(bridge, "jdoe@example.com", "Password").content).get(
            "Success") == "true"
        assert sandbox_calls(sandbox)["apiUser"] == 3  # two 503s, then the answer
    finally:
        bridge.stop()


def test_a_password_check_is_not_repeated_after_it_arrived(sandbox: Server,
                                                           tmp_path: Path) -> None:
    bridge = _bridge(sandbox, tmp_path)
    try:
        sandbox_control(sandbox, paths=["credentials"], times=1,
                        fail={"status": 503, "body": "busy"})
        response = post_login(bridge, "jdoe@example.com", "Password")
        assert fault11(response.content) == ("s:Server", UNAVAILABLE)
        assert sandbox_calls(sandbox)["credentials"] == 1
    finally:
        bridge.stop()


def test_the_breaker_opens_spares_the_upstream_and_closes_again(sandbox: Server,
                                                                tmp_path: Path) -> None:
    bridge = _bridge(sandbox, tmp_path)
    try:
        sandbox_control(sandbox, paths=["credentials"],
                        fail={"status": 500, "body": {"errorCode": "INTERNAL_SERVER_ERROR",
                                                      "summary": "down"}})
        for _ in range(3):
            assert fault11(post_login(bridge, "jdoe@example.com", "Password").content)[1] == (
                UNAVAILABLE)
        calls = sandbox_calls(sandbox)["credentials"]
        assert calls == 3
        # Open: refused at once, the upstream is not called.
        assert fault11(post_login(bridge, "jdoe@example.com", "Password").content)[1] == (
            UNAVAILABLE)
        assert sandbox_calls(sandbox)["credentials"] == calls
        metrics = requests.get(bridge.url + "/metrics", timeout=5).text
        assert 'soap_bridge_breaker_open{upstream="esign"} 1' in metrics.splitlines()
        requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5).raise_for_status()
        time.sleep(2.1)
        # Half-open: one probe goes through, succeeds, and the circuit closes.
        assert auth_result(post_login(bridge, "jdoe@example.com", "Password").content).get(
            "Success") == "true"
        metrics = requests.get(bridge.url + "/metrics", timeout=5).text
        assert 'soap_bridge_breaker_open{upstream="esign"} 0' in metrics.splitlines()
    finally:
        bridge.stop()


def test_fallback_takes_over_while_the_breaker_is_open(sandbox: Server, tmp_path: Path) -> None:
    bridge = _bridge(sandbox, tmp_path, legacy={"base_url": sandbox.url},
                     routing={"operations": {"AuthenticateUser": "fallback"}})
    try:
        sandbox_control(sandbox, paths=["/api/"], fail="close")
        for _ in range(4):
            response = post_login(bridge, "jdoe@example.com", "Password")
            assert response.status_code == 200 and b"<soap:Envelope" in response.content
        # Login 1: a try and its retry (2 failures); login 2: the third failure opens the
        # circuit and its retry is refused at once; logins 3 and 4 call nobody.
        assert sandbox_calls(sandbox)["credentials"] == 3
    finally:
        bridge.stop()


def test_a_flapping_upstream_never_yields_a_token_on_failure(sandbox: Server,
                                                             tmp_path: Path) -> None:
    bridge = _bridge(sandbox, tmp_path)
    try:
        for _ in range(5):
            sandbox_control(sandbox, paths=["credentials"], times=1,
                            fail={"status": 502, "body": "bad gateway"})
            down = post_login(bridge, "jdoe@example.com", "Password")
            assert fault11(down.content) == ("s:Server", UNAVAILABLE)
            up = auth_result(post_login(bridge, "jdoe@example.com", "Password").content)
            assert up.get("Success") == "true" and up.get("AuthenticationToken")
        # Failures never came three in a row: the circuit stayed closed throughout.
        metrics = requests.get(bridge.url + "/metrics", timeout=5).text
        assert 'soap_bridge_breaker_open{upstream="esign"} 0' in metrics.splitlines()
    finally:
        bridge.stop()


def test_garbage_from_the_upstream_is_a_fault(sandbox: Server, tmp_path: Path) -> None:
    bridge = _bridge(sandbox, tmp_path)
    try:
        sandbox_control(sandbox, paths=["apiUser"], fail="garbage")
        response = post_login(bridge, "multi@example.com", "Password")
        assert fault11(response.content) == ("s:Server", UNAVAILABLE)
        assert "answered 200 with a body that is not JSON" in bridge.output()
    finally:
        bridge.stop()
