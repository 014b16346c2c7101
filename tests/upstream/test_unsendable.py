"""A request http.client refuses to send (a header value with CR/LF or outside Latin-1, a path
with control characters): an UpstreamError of its own kind, never a ValueError (a 500), the
connection still usable, and no failure counted against the upstream's circuit breaker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bridge.errors import UpstreamError
from bridge.sandbox import SandboxServer, start_in_thread
from bridge.store import MemoryStore
from bridge.upstream.breaker import CLOSED, Breaker, BreakerSettings
from bridge.upstream.rest import Endpoint, RestClient
from bridge.upstream.transport import UNSENDABLE, Transport


@pytest.fixture(scope="module")
def upstream() -> Iterator[SandboxServer]:
    server = start_in_thread()
    yield server
    server.shutdown()


BAD_HEADERS = [
    {"X-AS-UserContext": "alice\r\nX-Injected: 1"},  # a header of its own upstream
    {"X-AS-UserContext": "al\u0142ce@example.com"},  # ł: outside Latin-1
    {"X-AS-UserContext": "alice\x00"},
    {"X-AS-UserContext": "alice\r\n X-Folded: 1"},  # http.client would send the fold
]


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_a_header_no_http_message_can_carry_is_the_unsendable_kind(
        upstream: SandboxServer, headers: dict[str, str]) -> None:
    transport = Transport("sandbox", upstream.url, connect_timeout=1, read_timeout=2)
    with pytest.raises(UpstreamError) as caught:
        transport.send("GET", "/_sandbox/healthz", None, headers)
    assert caught.value.kind == UNSENDABLE
    # The value (which may be a secret) is not in the error.
    assert "alice" not in str(caught.value) and "al\u0142ce" not in str(caught.value)
    assert "header value" in caught.value.detail
    # The same transport (and thread) sends the next request on a fresh connection.
    assert transport.send("GET", "/_sandbox/healthz", None, {}).status < 500
    transport.close()


def test_a_path_with_control_characters_is_the_unsendable_kind(upstream: SandboxServer) -> None:
    transport = Transport("sandbox", upstream.url, connect_timeout=1, read_timeout=2)
    with pytest.raises(UpstreamError) as caught:
        transport.stream("GET", "/api/x\r\nHost: evil", None, {})
    assert caught.value.kind == UNSENDABLE and "path" in caught.value.detail
    transport.close()


def test_a_path_outside_ascii_is_the_unsendable_kind(upstream: SandboxServer) -> None:
    transport = Transport("sandbox", upstream.url, connect_timeout=1, read_timeout=2)
    with pytest.raises(UpstreamError) as caught:
        transport.send("GET", "/api/users/jos\u00e9/accounts", None, {})
    assert caught.value.kind == UNSENDABLE and "outside ASCII" in caught.value.detail
    assert "jos" not in str(caught.value)
    transport.close()


def test_unsendable_requests_do_not_open_the_circuit(upstream: SandboxServer) -> None:
    requests.post(f"{upstream.url}/_sandbox/reset", timeout=5).raise_for_status()
    breaker = Breaker(BreakerSettings(failures=2, open_for=60))
    seen: list[str] = []
    client = RestClient(Endpoint("sandbox", upstream.url, connect_timeout=1, read_timeout=2),
                        breaker, observe=lambda upstream, result, seconds: seen.append(result))
    for _ in range(5):
        with pytest.raises(UpstreamError) as caught:
            client.call("GET", "/_sandbox/healthz", headers=BAD_HEADERS[0])
        assert caught.value.kind == UNSENDABLE
    # Five callers with a bad user name cannot cut everyone else off the upstream.
    assert breaker.state == CLOSED and breaker.allow()
    assert seen == [UNSENDABLE] * 5
    client.close()


def test_a_rule_putting_such_a_user_name_in_a_header_refuses_it_as_unavailable(
        upstream: SandboxServer, tmp_path: Path) -> None:
    # Through the engine, as a caller's request would: the rule's refusal (a Fault), not a 500.
    from tests.rules.test_engine import RULE
    from tests.rules.test_verifiers import _engine, _rule

    rule = _rule(tmp_path, RULE.replace(
        "    path: /api/documentnow/v3.7/authentication/credentials\n",
        "    path: /api/documentnow/v3.7/authentication/credentials\n"
        "    headers: {X-User-Name: \"{{ input.username }}\"}\n"))
    for name in ("al\u0142ce@example.com", "alice@example.com\r\nX-Injected: 1"):
        login = {"body": {"Request": {"UserName": name, "Password": "x"}}, "header": {}}
        outcome = _engine(MemoryStore(), None, upstream=upstream).run(rule, login)
        assert outcome.reason == "unavailable", outcome
        assert outcome.upstream_calls == 1
