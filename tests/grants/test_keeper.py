"""A grant connected, listed, refreshed before expiry, refused when revoked, and the subscription
key's fallback: the keepers against a real sandbox (its identity service and REST API)."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from prometheus_client import REGISTRY

from bridge.config import resolve_secrets
from bridge.errors import UpstreamError
from bridge.grants.connect import ConnectError, build_keepers, connect, purge
from bridge.grants.keeper import GrantKeepers
from bridge.grants.oauth import TokenRefused
from bridge.rules.calls import GRANT_MISSING, GRANT_REVOKED, GrantRefused
from bridge.sandbox import SandboxServer
from bridge.store import MemoryStore
from bridge.upstream.rest import RestClient
from tests.grants.conftest import (
    ACME,
    BAKERY,
    CONNECTOR,
    MASTER,
    PRIMARY,
    SECONDARY,
    STATE_KEY,
    grants_config,
    keepers,
    load,
    sandbox_grants,
    stats,
)


class Clock:
    def __init__(self) -> None:

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _connected(nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               store: MemoryStore, clock: Clock | None = None, user: str = MASTER.username,
               debtor: str = ACME.guid) -> GrantKeepers:
    config = load(grants_config(tmp_path, nmbrs.url), monkeypatch)
    built = keepers(config, store, clock)
    keeper = built.by_name["nmbrs"]
    row = connect(keeper, RestClient(config.upstreams["nmbrs"]), {}, debtor=debtor, users=[user],
                  auto=True)
    assert row["debtor"] == debtor and row["state"] == "active"
    return built


def _refusals(reason: str) -> float:
    return REGISTRY.get_sample_value("soap_bridge_grant_refusals_total",
                                     {"provider": "nmbrs", "reason": reason}) or 0.0


def test_connect_auto_stores_a_sealed_grant_and_lists_it_without_secrets(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    built = _connected(nmbrs, tmp_path, monkeypatch, memory)
    keeper = built.by_name["nmbrs"]
    headers = built.headers("nmbrs", MASTER.username.upper())  # one user, one identity
    token = headers["Authorization"].removeprefix("Bearer ")
    assert headers["X-Subscription-Key"] == PRIMARY
    # The token works upstream, for the debtor the consent was for.
    answer = requests.get(f"{nmbrs.url}/api/debtors", headers=headers, timeout=5)
    assert answer.json()["data"][0]["debtorId"] == ACME.guid
    [grant] = sandbox_grants(nmbrs.url)
    assert grant["username"] == MASTER.username and grant["rotations"] == 0
    # Stored sealed: neither token appears in the store, nor in the listing.
    stored = json.dumps(memory.get(f"grant:nmbrs:{ACME.guid}"))
    assert token not in stored and "Bearer" not in stored
    [row] = keeper.listing()
    assert row["users"] == [MASTER.username] and row["state"] == "active"
    assert "offline_access" in row["scopes"] and row["access_expires"] > row["rotated_at"]
    assert token not in json.dumps(row)


def test_a_new_consent_for_a_debtor_revokes_the_grant_it_replaces(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    # connect run again (a grant gone bad, another consenting user): the replaced refresh
    # token, no longer in the store, must not stay good at the identity service.
    _connected(nmbrs, tmp_path, monkeypatch, memory)
    built = _connected(nmbrs, tmp_path, monkeypatch, memory)

    first, second = sandbox_grants(nmbrs.url)
    assert first["revoked"] and not second["revoked"]
    # The new grant is the one in use.
    headers = built.headers("nmbrs", MASTER.username)
    answer = requests.get(f"{nmbrs.url}/api/debtors", headers=headers, timeout=5)
    assert answer.status_code == 200


def test_a_consent_for_another_debtor_is_refused(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    config = load(grants_config(tmp_path, nmbrs.url), monkeypatch)
    keeper = keepers(config, memory).by_name["nmbrs"]
    with pytest.raises(ConnectError, match=f"for debtor {BAKERY.guid}, not {ACME.guid}"):
        connect(keeper, RestClient(config.upstreams["nmbrs"]), {}, debtor=ACME.guid,
                users=[CONNECTOR.username], auto=True)
    assert keeper.listing() == []


def test_access_token_refreshed_before_it_expires_and_rotated_once(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    clock = Clock()
    built = _connected(nmbrs, tmp_path, monkeypatch, memory, clock)
    first = built.headers("nmbrs", MASTER.username)["Authorization"]
    assert built.headers("nmbrs", MASTER.username)["Authorization"] == first
    before = stats(nmbrs.url).get("nmbrs:identity:token", 0)
    # 3600 s tokens, refreshed 5 minutes before: 56 minutes on, the token is still valid
    # upstream, and yet a new one is taken.
    clock.now += 56 * 60
    second = built.headers("nmbrs", MASTER.username)["Authorization"]
    assert second != first
    assert stats(nmbrs.url)["nmbrs:identity:token"] == before + 1
    [grant] = sandbox_grants(nmbrs.url)
    assert grant["rotations"] == 1 and not grant["revoked"]
    assert requests.get(f"{nmbrs.url}/api/debtors", timeout=5, headers={
        "Authorization": second, "X-Subscription-Key": PRIMARY}).status_code == 200
    [row] = built.by_name["nmbrs"].listing()
    assert row["rotations"] == 1


def test_revoked_grant_is_refused_counted_and_warned_about(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    clock = Clock()
    built = _connected(nmbrs, tmp_path, monkeypatch, memory, clock)
    requests.post(f"{nmbrs.url}/_sandbox/nmbrs/grants", json={"action": "revoke",
                  "debtor": ACME.guid}, timeout=5).raise_for_status()
    clock.now += 3600  # the access token is due: the refresh meets the revocation
    counted = _refusals(GRANT_REVOKED)
    with pytest.raises(GrantRefused) as refused:
        built.headers("nmbrs", MASTER.username)
    assert refused.value.reason == GRANT_REVOKED
    assert f"soap-bridge connect nmbrs --debtor {ACME.guid}" in refused.value.detail
    assert _refusals(GRANT_REVOKED) == counted + 1
    [warning] = built.warnings()
    assert ACME.guid in warning and "revoked" in warning and "invalid_grant" in warning
    # Refused from the store from now on, without asking the identity service again.
    calls = stats(nmbrs.url).get("nmbrs:identity:token", 0)
    with pytest.raises(GrantRefused):
        built.headers("nmbrs", MASTER.username)
    assert stats(nmbrs.url).get("nmbrs:identity:token", 0) == calls
    # connect fixes it.
    keeper = built.by_name["nmbrs"]
    connect(keeper, RestClient(keeper.identity.client.endpoint), {}, debtor=ACME.guid,
            users=[MASTER.username], auto=True)
    keeper._forget_warnings()
    assert built.warnings() == []
    assert built.headers("nmbrs", MASTER.username)["Authorization"].startswith("Bearer ")


def test_a_user_without_a_grant_is_refused_as_missing(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    built = _connected(nmbrs, tmp_path, monkeypatch, memory)
    counted = _refusals(GRANT_MISSING)
    with pytest.raises(GrantRefused) as refused:
        built.headers("nmbrs", CONNECTOR.username)
    assert refused.value.reason == GRANT_MISSING
    assert _refusals(GRANT_MISSING) == counted + 1


def test_a_refused_bearer_is_refreshed_once_and_sent_again(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    built = _connected(nmbrs, tmp_path, monkeypatch, memory)
    sent = built.headers("nmbrs", MASTER.username)
    requests.post(f"{nmbrs.url}/_sandbox/nmbrs/grants", json={"action": "expire_access",
                  "debtor": ACME.guid}, timeout=5).raise_for_status()
    client = RestClient(built.by_name["nmbrs"].identity.client.endpoint)
    reply = client.call("GET", "/api/companies", None, sent)
    assert reply.status == 401
    fixed = built.after_refusal("nmbrs", MASTER.username, sent, reply)
    assert fixed is not None and fixed["Authorization"] != sent["Authorization"]
    assert client.call("GET", "/api/companies", None, {**sent, **fixed}).status == 200
    # The same refused token again changes nothing: the keeper holds a newer one.
    assert built.after_refusal("nmbrs", MASTER.username, sent, reply) is None


def test_a_refused_subscription_key_falls_back_to_the_secondary_once(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    built = _connected(nmbrs, tmp_path, monkeypatch, memory)
    sent = {**built.headers("nmbrs", MASTER.username), "X-Subscription-Key": "retired-key"}
    client = RestClient(built.by_name["nmbrs"].identity.client.endpoint)
    reply = client.call("GET", "/api/companies", None, sent)
    assert reply.status == 401
    # Not the primary: nothing to fall back from.
    assert built.after_refusal("nmbrs", MASTER.username, sent, reply) is None
    sent["X-Subscription-Key"] = PRIMARY
    fixed = built.after_refusal("nmbrs", MASTER.username, sent, reply)
    assert fixed == {"X-Subscription-Key": SECONDARY}
    # The worker keeps using the secondary for a while.
    assert built.headers("nmbrs", MASTER.username)["X-Subscription-Key"] == SECONDARY


def test_purge_revokes_upstream_and_forgets_the_grant(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    built = _connected(nmbrs, tmp_path, monkeypatch, memory)
    keeper = built.by_name["nmbrs"]
    assert purge(keeper, ACME.guid.upper()) == (True, True)
    [grant] = sandbox_grants(nmbrs.url)
    assert grant["revoked"]
    assert keeper.listing() == [] and memory.get(f"grant:nmbrs:{ACME.guid}") is None
    keeper.forget_user(MASTER.username)
    with pytest.raises(GrantRefused) as refused:
        built.headers("nmbrs", MASTER.username)
    assert refused.value.reason == GRANT_MISSING
    assert purge(keeper, ACME.guid) == (False, False)


def test_demo_auto_connect_on_first_need_once(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    config = load(grants_config(tmp_path, nmbrs.url, auto_connect=True), monkeypatch)
    first, second = keepers(config, memory), keepers(config, memory)  # two instances, one store
    assert first.headers("nmbrs", MASTER.username)["Authorization"].startswith("Bearer ")
    assert second.headers("nmbrs", MASTER.username)["Authorization"].startswith("Bearer ")
    [grant] = sandbox_grants(nmbrs.url)
    assert grant["username"] == MASTER.username and grant["debtor"] == ACME.guid
    [row] = first.by_name["nmbrs"].listing()
    assert row["users"] == [MASTER.username]
    # Someone the sandbox does not know gets no consent: refused as having no grant.
    with pytest.raises(GrantRefused) as refused:
        first.headers("nmbrs", "stranger@example.nl")
    assert refused.value.reason == GRANT_MISSING
    assert len(sandbox_grants(nmbrs.url)) == 1


def test_a_restarted_demo_connects_again_rather_than_refuse(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    config = load(grants_config(tmp_path, nmbrs.url, auto_connect=True), monkeypatch)
    assert keepers(config, memory).headers("nmbrs", MASTER.username)
    # A demo started again: a new random state key, the old sealed grant unreadable.
    restarted = build_keepers(config.grants, config.upstreams, memory, b"another-key" * 4,
                              resolve_secrets(config))
    assert restarted is not None
    assert restarted.headers("nmbrs", MASTER.username)["Authorization"].startswith("Bearer ")
    assert len(sandbox_grants(nmbrs.url)) == 2


def test_connect_waits_for_the_browser_on_a_loopback_port(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    config = load(grants_config(tmp_path, nmbrs.url), monkeypatch)
    keeper = keepers(config, memory).by_name["nmbrs"]
    out = io.StringIO()
    rows: list[dict] = []
    flow = threading.Thread(target=lambda: rows.append(connect(
        keeper, RestClient(config.upstreams["nmbrs"]), {}, debtor=ACME.guid,
        users=[MASTER.username], out=out, timeout=20)))
    flow.start()
    deadline = time.monotonic() + 10
    while "connect/authorize" not in out.getvalue():
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.05)
    url = next(line.strip() for line in out.getvalue().splitlines() if "connect/authorize" in line)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and "code_verifier" not in query
    assert query["login_hint"] == [MASTER.username]
    # The browser: the sandbox consents and redirects to the loopback listener.
    landed = requests.get(url, timeout=10)
    assert landed.status_code == 200 and "You can close this window" in landed.text
    flow.join(20)
    assert rows and rows[0]["debtor"] == ACME.guid and rows[0]["users"] == [MASTER.username]


def test_a_callback_with_another_state_is_refused(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    config = load(grants_config(tmp_path, nmbrs.url), monkeypatch)
    service = keepers(config, memory).by_name["nmbrs"].identity
    authorization = service.authorization("http://127.0.0.1/callback")
    with pytest.raises(TokenRefused):
        service.code_from(authorization, "http://127.0.0.1/callback?code=abc&state=forged")
    with pytest.raises(TokenRefused):
        service.code_from(authorization, f"http://127.0.0.1/callback?error=access_denied"
                                         f"&state={authorization.state}")
    assert service.code_from(authorization, "http://127.0.0.1/callback?code=abc&state="
                             + authorization.state) == "abc"


def test_a_refused_client_leaves_the_grant_alone(
        nmbrs: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        memory: MemoryStore) -> None:
    clock = Clock()
    _connected(nmbrs, tmp_path, monkeypatch, memory, clock)
    # The same store, a bridge whose client secret is wrong (a bad deployment).
    config = load(grants_config(tmp_path, nmbrs.url), monkeypatch)
    misconfigured = build_keepers(config.grants, config.upstreams, memory, STATE_KEY,
                                  {**resolve_secrets(config), "nmbrs_client_secret": "wrong"},
                                  clock)
    assert misconfigured is not None
    clock.now += 3600
    with pytest.raises(UpstreamError, match="invalid_client"):
        misconfigured.headers("nmbrs", MASTER.username)
    [row] = misconfigured.by_name["nmbrs"].listing()
    assert row["state"] == "active" and misconfigured.warnings() == []
    [grant] = sandbox_grants(nmbrs.url)
    assert not grant["revoked"] and grant["rotations"] == 0
