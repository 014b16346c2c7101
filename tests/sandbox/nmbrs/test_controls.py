"""The /_sandbox/nmbrs/ controls: what they accept, and that a sandbox reset clears them."""

from __future__ import annotations

import pytest
import requests

from bridge.sandbox import SandboxServer
from tests.sandbox.nmbrs.conftest import grant


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("throttle", b"not json"),
        ("throttle", b"[]"),
        ("throttle", b'{"graphql": true}'),
        ("throttle", b'{"soap": {"per_second": 0}}'),
        ("throttle", b'{"soap": {"delay_ms": -1}}'),
        ("throttle", b'{"soap": {"retry_after": 1}}'),
        ("throttle", b'{"rest": {"per_second": true}}'),
        ("throttle", b'{"rest": {"retry_after": "soon"}}'),
        ("grants", b'{"action": "burn"}'),
        ("grants", b'{"action": "revoke", "username": 7}'),
    ],
)
def test_bad_controls_are_refused(
    sandbox: SandboxServer, http: requests.Session, path: str, body: bytes
) -> None:
    response = http.post(f"{sandbox.url}/_sandbox/nmbrs/{path}", data=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["summary"].startswith("Bad sandbox control:")


def test_throttles_switch_on_and_off(sandbox: SandboxServer, http: requests.Session) -> None:
    for body, expected in (
        ({"soap": True}, {"soap"}),
        ({"rest": {"per_second": 5}}, {"soap", "rest"}),
        ({"soap": False}, {"rest"}),
    ):
        assert http.post(sandbox.url + "/_sandbox/nmbrs/throttle", json=body, timeout=5).status_code == 204
        assert set(sandbox.app.nmbrs.state.throttles()) == expected
    assert sandbox.app.nmbrs.state.throttles()["rest"].per_second == 5


def test_a_sandbox_reset_clears_throttles_and_grants(sandbox: SandboxServer, http: requests.Session) -> None:
    grant(sandbox, http)
    http.post(sandbox.url + "/_sandbox/nmbrs/throttle", json={"soap": True, "rest": True}, timeout=5)

    assert http.post(sandbox.url + "/_sandbox/reset", timeout=5).status_code == 204

    assert http.get(sandbox.url + "/_sandbox/nmbrs/grants", timeout=5).json() == {"grants": []}
    assert sandbox.app.nmbrs.state.throttles() == {}


def test_controls_are_not_counted_as_calls(sandbox: SandboxServer, http: requests.Session) -> None:
    http.get(sandbox.url + "/_sandbox/nmbrs/grants", timeout=5)

    calls = http.get(sandbox.url + "/_sandbox/stats", timeout=5).json()["calls"]
    assert not any(name.startswith("_sandbox") for name in calls)
