"""The dispatcher in this process, wired as `serve` wires it (memory store, the sandbox's REST
API and legacy service in a thread): each mode, its side jobs, and what `Handled` records."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bridge.auth.seal import keyed_fingerprint
from bridge.directory import directory_keys
from bridge.errors import RateLimited, SoapServerError
from bridge.identity import identity
from bridge.migrate.dispatch import Handled
from bridge.migrate.exchange import SoapRequest
from bridge.sandbox import SandboxServer
from bridge.wiring import Wiring, wire
from tests.inprocess import STATE_KEY, bridge_config, login
from tests.servers import LIST_TEMPLATES, TEMPLATES_PATH, USERS_PATH, free_port
from tests.soapxml import auth_result, fault11


@pytest.fixture
def wiring_for(sandbox_thread: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(**overrides: Any) -> Wiring:
        return wire(bridge_config(tmp_path, sandbox_thread.url, monkeypatch, **overrides), STATE_KEY)
    return make


def _legacy(url: str) -> dict[str, str]:
    return {"base_url": url, "connect_timeout": "1s", "read_timeout": "2s"}


def _login(username: str = "jdoe@example.com") -> SoapRequest:
    body, headers = login(username, "Password")
    return SoapRequest(USERS_PATH, body, headers["Content-Type"], headers["SOAPAction"],
                       client="127.0.0.1", request_id="req-1")


def _settle(wiring: Wiring) -> None:
    deadline = time.monotonic() + 10
    while not wiring.side_calls.idle():
        assert time.monotonic() < deadline, "side jobs did not finish"
        time.sleep(0.01)


def test_rest_mode_answers_from_the_rule(wiring_for: Any) -> None:
    wiring = wiring_for()
    handled = Handled()

    reply = wiring.dispatcher.handle(_login(), handled)

    assert reply.status == 200 and auth_result(reply.body).get("Success") == "true"
    assert (handled.operation, handled.mode, handled.reason) == ("AuthenticateUser", "rest", "ok")
    assert handled.outcome is not None and handled.outcome.upstream_calls > 0


def test_legacy_mode_passes_the_request_on_and_learns_from_the_answer(
        wiring_for: Any, sandbox_thread: SandboxServer) -> None:
    wiring = wiring_for(legacy=_legacy(sandbox_thread.url),
                        routing={"operations": {"AuthenticateUser": "legacy"}})
    handled = Handled()

    reply = wiring.dispatcher.handle(_login(), handled)
    _settle(wiring)

    assert reply.status == 200 and reply.elapsed > 0
    assert auth_result(reply.body).get("Success") == "true"
    assert (handled.mode, handled.reason, handled.outcome) == ("legacy", "ok", None)
    learned = wiring.store.get(directory_keys("jdoe@example.com")[0])
    assert learned is not None and learned["accounts"]


def test_shadow_mode_records_a_comparison_under_a_keyed_user_hash(
        wiring_for: Any, sandbox_thread: SandboxServer) -> None:
    wiring = wiring_for(legacy=_legacy(sandbox_thread.url),
                        routing={"operations": {"AuthenticateUser": "shadow"}})

    reply = wiring.dispatcher.handle(_login("jdoe@example.com"), Handled())
    _settle(wiring)

    assert auth_result(reply.body).get("Success") == "true"
    [record] = wiring.recorder.history(0).records
    assert (record["operation"], record["mode"]) == ("AuthenticateUser", "shadow")
    assert record["user"] == keyed_fingerprint(STATE_KEY, identity("jdoe@example.com"),
                                               "comparison-user")[:16]
    assert "jdoe" not in str(record).lower()


def test_fallback_answers_from_the_legacy_service_when_rest_is_down(
        wiring_for: Any, sandbox_thread: SandboxServer) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    upstream = {"base_url": down, "connect_timeout": "1s", "read_timeout": "1s"}
    wiring = wiring_for(legacy=_legacy(sandbox_thread.url), upstreams={"account": upstream,
                                                                "esign": upstream},
                        routing={"operations": {"AuthenticateUser": "fallback"}})
    handled = Handled()

    reply = wiring.dispatcher.handle(_login(), handled)

    assert auth_result(reply.body).get("Success") == "true"
    assert (handled.mode, handled.reason) == ("fallback", "fallback")
    assert handled.outcome is not None and handled.outcome.reason == "unavailable"
    assert wiring.recorder.totals()["fallback:AuthenticateUser"] == 1


def test_a_legacy_service_that_does_not_answer_is_a_server_fault(wiring_for: Any) -> None:
    wiring = wiring_for(legacy=_legacy(f"http://127.0.0.1:{free_port()}"))
    handled = Handled()

    reply = wiring.dispatcher.handle(
        SoapRequest(TEMPLATES_PATH, LIST_TEMPLATES, "text/xml; charset=utf-8"), handled)

    assert reply.status == 500 and fault11(reply.body) == (
        "s:Server", "The legacy service is unavailable. Please try again later.")
    assert (handled.operation, handled.mode, handled.reason) == (
        "ListTemplates", "legacy", "legacy_error")


def test_an_operation_without_a_rule_needs_a_legacy_service(wiring_for: Any) -> None:
    wiring = wiring_for()
    handled = Handled()

    with pytest.raises(SoapServerError) as caught:
        wiring.dispatcher.handle(
            SoapRequest(TEMPLATES_PATH, LIST_TEMPLATES, "text/xml; charset=utf-8"), handled)

    assert caught.value.reason == "not_migrated"
    # Found before it failed: the log line and the metrics name the operation, no mode.
    assert (handled.operation, handled.mode) == ("ListTemplates", "-")


def test_over_the_rate_limit(wiring_for: Any, sandbox_thread: SandboxServer) -> None:
    wiring = wiring_for(legacy=_legacy(sandbox_thread.url),
                        rate_limits={"per_address": {"limit": 1, "window": "1m"}})
    templates = SoapRequest(TEMPLATES_PATH, LIST_TEMPLATES, "text/xml; charset=utf-8",
                            client="10.0.0.1")
    assert wiring.dispatcher.handle(templates, Handled()).status == 200

    with pytest.raises(RateLimited) as caught:
        wiring.dispatcher.handle(templates, Handled())
    with pytest.raises(RateLimited):
        wiring.dispatcher.forward_mtom(templates, "1.1")

    assert 0 < caught.value.retry_after <= 60
