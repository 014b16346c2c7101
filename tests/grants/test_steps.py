"""Steps with grant, pages and throttle, run by the engine against a real sandbox: all 132
companies over two pages, a 429 waited out, a next page on another host refused, a revoked
grant refused with the rule's reason; and on_upstream / retry_after on their own."""

from __future__ import annotations

import email.utils
import socket
import time
from pathlib import Path

import pytest
import requests

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.tokens import TokenIssuer
from bridge.grants.connect import connect
from bridge.grants.keeper import GrantKeepers
from bridge.rules.calls import on_upstream, retry_after
from bridge.rules.engine import EngineContext, Outcome, RuleEngine
from bridge.rules.model import Rule, compile_rule
from bridge.sandbox import SandboxServer
from bridge.store import MemoryStore
from bridge.upstream.rest import Endpoint, RestClient
from tests.grants.conftest import ACME, MASTER, STATE_KEY, grants_config, keepers, load, stats

RULE = """
operation: List_GetAll
input:
  username: {path: header.AuthHeaderWithDomain.Username, required: true}
steps:
  - id: companies
    upstream: nmbrs
    method: GET
    path: /api/companies
    grant: "{{ input.username }}"
    pages: {items: data, next: pagination.nextPage, max: %(max)s}
    throttle: {attempts: 4, wait: 100ms, max_wait: 2s, budget: 5s}
    extract: {companies: data}
    on_error:
      - {status: 401, refuse: invalid_credentials}
result:
  Companies: "{{ steps.companies.companies }}"
refusals:
  reasons:
    invalid_credentials: {message: "1001: Invalid Authentication", fault: Server}
    unavailable: {message: "9999: Unkown", fault: Server}
    grant_missing: {message: "1001: Invalid Authentication (no grant)", fault: Server}
    grant_revoked: {message: "1001: Invalid Authentication (grant revoked)", fault: Server}
"""


def _rule(tmp_path: Path, max_pages: int = 20) -> Rule:
    path = tmp_path / "companies.yaml"
    path.write_text(RULE % {"max": max_pages})
    return compile_rule(str(path))


def _engine(nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            base_url: str | None = None) -> tuple[RuleEngine, GrantKeepers]:
    store = MemoryStore()
    config = load(grants_config(tmp_path, nmbrs.url), monkeypatch)
    grants = keepers(config, store)
    keeper = grants.by_name["nmbrs"]
    connect(keeper, RestClient(config.upstreams["nmbrs"]), {}, debtor=ACME.guid,
            users=[MASTER.username], auto=True)
    upstream = Endpoint("nmbrs", base_url or nmbrs.url, 2.0, 3.0)
    engine = RuleEngine(EngineContext(
        upstreams={"nmbrs": RestClient(upstream)}, store=store, tokens=TokenIssuer(store),
        lockout=Lockout(store, LockoutPolicy()), secrets={}, vars={}, token_ttl=60,
        state_key=STATE_KEY, grants=grants))
    return engine, grants


def _run(engine: RuleEngine, rule: Rule, user: str = MASTER.username) -> Outcome:
    return engine.run(rule, {"header": {"AuthHeaderWithDomain": {"Username": user}}, "body": {}})


def test_every_page_is_followed_and_collected(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = _engine(nmbrs, tmp_path, monkeypatch)
    before = stats(nmbrs.url).get("nmbrs:rest:companies", 0)
    outcome = _run(engine, _rule(tmp_path))
    assert outcome.fault is None and outcome.result is not None, outcome.detail
    # The seed's Acme Holding: 2 written-out companies and 130 generated, 100 to a page.
    companies = outcome.result["Companies"]
    assert len(companies) == 132 == len({c["companyId"] for c in companies})
    assert stats(nmbrs.url)["nmbrs:rest:companies"] == before + 2
    assert outcome.upstream_calls == 2


def test_more_pages_than_max_is_unavailable_not_a_partial_list(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = _engine(nmbrs, tmp_path, monkeypatch)
    outcome = _run(engine, _rule(tmp_path, max_pages=1))
    assert outcome.reason == "unavailable" and outcome.result is None
    assert "more than 1 pages" in outcome.detail


def test_a_429_is_waited_out_and_sent_again(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = _engine(nmbrs, tmp_path, monkeypatch)
    # One call a second, Retry-After 1: the second page is refused at once, then let through.
    requests.post(f"{nmbrs.url}/_sandbox/nmbrs/throttle",
                  json={"rest": {"per_second": 1, "retry_after": 1}}, timeout=5).raise_for_status()
    outcome = _run(engine, _rule(tmp_path))
    assert outcome.fault is None and outcome.result is not None, outcome.detail
    assert len(outcome.result["Companies"]) == 132
    assert stats(nmbrs.url).get("nmbrs:rest-throttled", 0) >= 1
    assert outcome.upstream_calls >= 3


def test_a_429_past_the_attempts_goes_through_on_error(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = _engine(nmbrs, tmp_path, monkeypatch)
    # One call a second, no Retry-After: the second page's four tries (100 ms apart) all
    # fall in the first page's second.
    requests.post(f"{nmbrs.url}/_sandbox/nmbrs/throttle",
                  json={"rest": {"per_second": 1, "retry_after": None}}, timeout=5
                  ).raise_for_status()
    outcome = _run(engine, _rule(tmp_path))
    assert outcome.reason == "unavailable" and "429" in outcome.detail
    assert outcome.upstream_calls == 5  # one page, then four tries of the next


def test_a_next_page_on_another_host_is_never_followed(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = _engine(nmbrs, tmp_path, monkeypatch)
    with socket.socket() as elsewhere:  # another origin: same address, another port
        elsewhere.bind(("127.0.0.1", 0))
        elsewhere.listen()
        elsewhere.setblocking(False)
        forged = f"http://127.0.0.1:{elsewhere.getsockname()[1]}/api/companies?pageNumber=2"
        requests.post(f"{nmbrs.url}/_sandbox/control", timeout=5, json={
            "fail": {"status": 200, "body": {"data": [{"companyId": "x"}],
                                             "pagination": {"nextPage": forged}}},
            "paths": ["/api/companies"], "times": 1}).raise_for_status()
        outcome = _run(engine, _rule(tmp_path))
        assert outcome.reason == "unavailable"
        assert "leaves the upstream's host" in outcome.detail
        with pytest.raises(BlockingIOError):
            elsewhere.accept()  # never called, so never sent the bearer


def test_a_revoked_grant_gets_the_rules_grant_revoked_reason(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, grants = _engine(nmbrs, tmp_path, monkeypatch)
    requests.post(f"{nmbrs.url}/_sandbox/nmbrs/grants", json={"action": "revoke",
                  "debtor": ACME.guid}, timeout=5).raise_for_status()
    outcome = _run(engine, _rule(tmp_path))
    # The access token is refused (401), the refresh meets the revocation: grant_revoked.
    assert outcome.reason == "grant_revoked"
    assert outcome.fault is not None and outcome.fault.message.startswith("1001:")
    assert grants.warnings()
    missing = _run(engine, _rule(tmp_path), user="nobody@example.nl")
    assert missing.reason == "grant_missing"


@pytest.mark.parametrize(("base", "url", "path"), [
    ("http://api.example", "http://api.example/api/companies?pageNumber=2", "/api/companies?pageNumber=2"),
    ("http://api.example:80", "http://API.example/api/x", "/api/x"),
    ("https://api.example/v1", "https://api.example/v1/api/x?a=1", "/api/x?a=1"),
    ("https://api.example/v1", "/v1/api/x", "/api/x"),
    ("https://api.example", "https://evil.example/api/x", None),
    ("https://api.example", "http://api.example/api/x", None),
    ("https://api.example", "https://api.example:8443/api/x", None),
    ("https://api.example/v1", "https://api.example/v2/x", None),
    ("https://api.example/v1", "https://api.example/v1x/x", None),
    ("https://api.example", "https://user:pw@api.example/api/x", None),
    ("https://api.example", "//evil.example/api/x", None),
    ("https://api.example", "api/x", None),
])
def test_on_upstream_keeps_to_the_upstreams_origin_and_path(base: str, url: str,
                                                            path: str | None) -> None:
    assert on_upstream(base, url) == path


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("2") == 2.0
    assert retry_after(None) is None and retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = retry_after(later)
    assert seconds is not None and 25 < seconds <= 31
    assert retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0
