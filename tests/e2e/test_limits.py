"""Rate limits per user and per client address, and proxies trusted only when configured."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from tests.servers import USERS_PATH, WSDL_PATH, Server, post_login, soap11_login, start_bridge, write_config
from tests.soapxml import auth_result, fault11, refusal

LIMITED = "Too many sign-in attempts. Please try again later."


def _login_from(bridge: Server, username: str, forwarded_for: str) -> requests.Response:
    return requests.post(bridge.url + USERS_PATH, data=soap11_login(username, "Password"),
                         headers={"Content-Type": "text/xml", "X-Forwarded-For": forwarded_for},
                         timeout=10)


def test_per_user_limit_answers_the_legacy_way(sandbox: Server, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url,
                          rate_limits={"per_user": {"limit": 3, "window": "1m"}})
    bridge = start_bridge(tmp_path, config, workers=2)
    try:
        for _ in range(3):
            assert auth_result(post_login(bridge, "jdoe@example.com", "Password").content).get(
                "Success") == "true"
        limited = post_login(bridge, "JDOE@example.com", "Password")
        assert limited.status_code == 200
        assert refusal(limited.content) == (LIMITED, "Error", None)
        assert auth_result(post_login(bridge, "multi@example.com", "Password").content).get(
            "Success") == "true"
    finally:
        bridge.stop()


def test_per_address_limit_on_soap_and_json(sandbox: Server, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url,
                          rate_limits={"per_address": {"limit": 4, "window": "1m"}})
    bridge = start_bridge(tmp_path, config, workers=1)
    try:
        for index in range(4):
            post_login(bridge, f"user{index}@example.com", "x")
        assert refusal(post_login(bridge, "jdoe@example.com", "Password").content)[0] == LIMITED
        # An operation without a rate_limited refusal gets a Fault with 429.
        listing = requests.post(bridge.url + USERS_PATH, headers={"Content-Type": "text/xml"},
                                timeout=5, data=(
            '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            '<ListUsers xmlns="https://www.assuresign.net/Services/DocumentNOW/Users"><Request '
            'ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a" AuthenticationToken="t"/>'
            "</ListUsers></s:Body></s:Envelope>"))
        assert listing.status_code == 429 and int(listing.headers["Retry-After"]) >= 1
        assert fault11(listing.content) == ("s:Client", "Too many requests. Please try again later.")
        token = requests.post(bridge.url + "/v1/token", data={"grant_type": "x"}, timeout=5)
        assert token.status_code == 429 and token.json()["error"] == "too_many_requests"
        assert 1 <= int(token.headers["Retry-After"]) <= 60
    finally:
        bridge.stop()


def test_forwarded_headers_count_only_from_trusted_proxies(sandbox: Server,
                                                           tmp_path: Path) -> None:
    limits = {"per_address": {"limit": 2, "window": "1m"}}
    trusting = start_bridge(tmp_path / "t", write_config(
        tmp_path / "t", sandbox.url, rate_limits=limits, trusted_proxies=["127.0.0.1/32"]),
        workers=1)
    distrusting = start_bridge(tmp_path / "d", write_config(
        tmp_path / "d", sandbox.url, rate_limits=limits), workers=1)
    try:
        # Behind a trusted proxy each forwarded client has its own allowance …
        for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
            for _ in range(2):
                response = _login_from(trusting, "jdoe@example.com", f"{client}, 127.0.0.1")
                assert auth_result(response.content).get("Success") == "true"
        # … while a bridge that trusts nobody counts the real peer, whatever the header says.
        for index, client in enumerate(("203.0.113.1", "203.0.113.2", "203.0.113.3")):
            answer = auth_result(_login_from(distrusting, "jdoe@example.com", client).content)
            assert answer.get("Success") == ("true" if index < 2 else "false")
        # WSDL addresses follow X-Forwarded-Proto/-Host only from a trusted proxy.
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bridge.example.com"}
        trusted = requests.get(trusting.url + WSDL_PATH + "?wsdl", headers=headers, timeout=5)
        ignored = requests.get(distrusting.url + WSDL_PATH + "?wsdl", headers=headers, timeout=5)
        assert re.search(rb'location="https://bridge\.example\.com/Services/', trusted.content)
        assert b"bridge.example.com" not in ignored.content
        assert f'location="{distrusting.url}/Services/'.encode() in ignored.content  # not https
    finally:
        trusting.stop()
        distrusting.stop()
