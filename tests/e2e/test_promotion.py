"""Promotion on its own, for a fleet: two bridges on one real Redis, shadow traffic that agrees,
one promotion to verify (not two), seen on the console in headless Chromium; then the sandbox is
told to disagree and the cohort falls back to shadow, once, with the figures in the audit log."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from tests.browser import Browser, browser, log_in_to_console, until
from tests.conftest import REDIS_URL
from tests.servers import Server, post_login, sandbox_control, start_bridge, start_sandbox, write_config

__all__ = ["browser"]  # the module's Chromium (a fixture)
OPERATOR_KEY = "promotion-operator-key-5d4c3b2a1f0e9d8c7b6a"
LEGACY_PREFIX, BRIDGE_PREFIX = b"<soap:Envelope", b"<s:Envelope"
# An accounts answer the legacy side does not give for jdoe@example.com: the REST side disagrees.
OTHER_ACCOUNTS = {"messages": [], "result": {"userAccounts": [
    {"accountID": "0f0f0f0f-1111-2222-3333-444444444444", "accountName": "Somewhere Else",
     "isDefault": True, "isDisabled": False}]}}


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    name = f"test-promotion-{uuid.uuid4().hex}:"
    yield name
    raw = redis.Redis.from_url(REDIS_URL)
    for key in raw.scan_iter(match=name + "*"):
        raw.delete(key)
    raw.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_sandbox(tmp_path_factory.mktemp("promotion-sandbox"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fleet(sandbox: Server, prefix: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[list[Server]]:
    """Two bridges, one Redis, the same promotion rules."""
    bridges = []
    for index in range(2):
        workdir = tmp_path_factory.mktemp(f"fleet{index}")
        config = write_config(
            workdir, sandbox.url, store=f"{REDIS_URL}?prefix={prefix}",
            legacy={"base_url": sandbox.url, "read_timeout": "5s"},
            routing={"promotion_check": "300ms", "operations": {"AuthenticateUser": {
                "mode": "shadow", "promotion": {
                    "to_verify": {"after": 6, "agreement": "99%", "over": "0s"},
                    "fall_back": {"window": "10m", "min_calls": 3, "below": "80%"}}}}},
            secrets={"api_username": {"env": "TEST_API_USERNAME"},
                     "api_key": {"env": "TEST_API_KEY"},
                     "operator": {"env": "TEST_OPERATOR_KEY"}},
            operator_keys=["operator"])
        bridges.append(start_bridge(workdir, config, workers=1,
                                    env={"TEST_OPERATOR_KEY": OPERATOR_KEY}))
    yield bridges
    for bridge in bridges:
        bridge.stop()


def _audit(prefix: str) -> list[dict[str, Any]]:
    from bridge.store.redis import RedisStore

    store = RedisStore(f"{REDIS_URL}?prefix={prefix}")
    try:
        return store.records("migrate-audit", 0)
    finally:
        store.close()


def test_a_fleet_promotes_once_and_falls_back_once(fleet: list[Server], sandbox: Server,
                                                   prefix: str, browser: Browser) -> None:
    first, second = fleet
    log_in_to_console(browser, first.url, OPERATOR_KEY)
    browser.goto(f"{first.url}/console/operations/AuthenticateUser")
    browser.wait_for("document.querySelector('#modes strong.mode')?.textContent === 'shadow'")
    # Agreeing shadow traffic through both bridges: six comparisons earn verify.
    for index in range(6):
        answer = post_login(fleet[index % 2], "jdoe@example.com", "Password")
        assert LEGACY_PREFIX in answer.content
    # Both bridges answer from REST now (verify), within a second of the decision.
    until(lambda: all(BRIDGE_PREFIX in post_login(bridge, "jdoe@example.com", "Password").content
                       for bridge in fleet))
    (promoted,) = [entry for entry in _audit(prefix) if entry["action"] == "promote"]
    assert (promoted["from"], promoted["to"], promoted["by"]) == ("shadow", "verify",
                                                                   "promotion rule")
    assert promoted["figures"]["compared"] >= 6 and promoted["figures"]["agreement"] == 100.0
    browser.wait_for("document.querySelector('#modes strong.mode').textContent"
                     ".startsWith('verify (promotion rule')")
    assert "promote" in browser.evaluate("document.querySelector('#audit tbody').innerText")
    metrics = requests.get(f"{second.url}/metrics", timeout=10).text
    assert ('soap_bridge_mode_change_total{operation="AuthenticateUser",outcome="shadow-verify"} 1'
            in metrics)
    # The sandbox is told to disagree: its REST side lists another account for the user.
    sandbox_control(sandbox, paths=["/accounts"], fail={"status": 200, "body": OTHER_ACCOUNTS})
    until(lambda: LEGACY_PREFIX in post_login(fleet[int(time.time()) % 2], "jdoe@example.com",
                                               "Password").content)
    browser.wait_for("document.querySelector('#modes strong.mode').textContent"
                     ".includes('promotion on hold')")
    actions = [entry["action"] for entry in _audit(prefix)]
    assert actions == ["promote", "fall back"]
    fell = _audit(prefix)[1]
    assert (fell["from"], fell["to"]) == ("verify", "shadow")
    assert fell["figures"]["agreement"] < 80 and "agreement" in fell["figures"]["reason"]
    # Held: agreeing again does not promote by itself.
    sandbox_control(sandbox)
    for _ in range(8):
        assert LEGACY_PREFIX in post_login(first, "jdoe@example.com", "Password").content
    time.sleep(1)
    assert [entry["action"] for entry in _audit(prefix)] == ["promote", "fall back"]
    # An operator promotes again from the page.
    browser.evaluate("document.querySelector('#modes button[data-action=\"promote\"]').click(); 1")
    browser.wait_for("document.querySelector('#modes strong.mode').textContent"
                     ".startsWith('verify (operator (session')")
    assert _audit(prefix)[-1]["action"] == "promote"
    assert browser.console_errors == []
