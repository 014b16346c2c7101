"""Every routing mode and cohort rule against the real legacy and REST sides of the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bridge.migrate.routing import bucket
from bridge.store import SqliteStore
from tests.servers import (
    REPO,
    USERS_NS,
    USERS_PATH,
    Server,
    demo_api_user,
    post_login,
    sandbox_calls,
    sandbox_control,
    start_bridge,
    start_sandbox,
    write_config,
)
from tests.soapxml import auth_result

EXTRA = "5b0c3a6e-93f4-4c55-a1d2-7e0f9c1b2d3a"  # the account only the legacy side knows
LEGACY_PREFIX = b"<soap:Envelope"  # the sandbox's legacy service writes soap:, the bridge s:
BRIDGE_PREFIX = b"<s:Envelope"


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A sandbox whose legacy side knows one more account for multi@example.com."""
    server = start_sandbox(tmp_path_factory.mktemp("twin"), REPO / "examples" / "seed-disagree.yaml")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset_twin(twin: Server) -> None:
    requests.post(f"{twin.url}/_sandbox/reset", timeout=5).raise_for_status()


Factory = Callable[..., Server]


@pytest.fixture
def bridge_with(twin: Server, tmp_path: Path) -> Iterator[Factory]:
    started: list[Server] = []

    def start(routing: dict[str, Any] | None = None, workers: int = 1, **overrides: Any) -> Server:
        workdir = tmp_path / f"bridge{len(started)}"
        config = write_config(workdir, twin.url, legacy={"base_url": twin.url,
                                                          "read_timeout": "5s"},
                              routing=routing or {}, **overrides)
        server = start_bridge(workdir, config, workers=workers)
        server.extra["config"] = config
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _records(server: Server, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """Comparison records in the bridge's store, once at least `count` have landed."""
    store = SqliteStore(str(server.workdir / "state" / "bridge.sqlite3"))
    deadline = time.monotonic() + timeout
    try:
        while True:
            found = store.records("comparisons", since=0)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
    finally:
        store.close()


def _report(server: Server) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bridge", "report", "--config",
                           str(server.extra["config"]), "--format", "json"],
                          cwd=server.workdir, capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)["operations"][0]


def _route(mode: str, **extra: Any) -> dict[str, Any]:
    return {"operations": {"AuthenticateUser": {"mode": mode, **extra}}}


def test_legacy_mode_passes_answers_through_untouched(bridge_with: Factory, twin: Server) -> None:
    bridge = bridge_with(_route("legacy"))
    direct = requests.post(twin.url + USERS_PATH, data=_login_body("jdoe@example.com", "bad"),
                           headers={"Content-Type": "text/xml"}, timeout=5)
    through = post_login(bridge, "jdoe@example.com", "bad")
    assert through.content == direct.content  # byte for byte (a refusal carries no token)
    assert through.headers["Content-Type"] == direct.headers["Content-Type"]
    ok = post_login(bridge, "multi@example.com", "Password")
    assert ok.content.startswith(b"<?xml") and LEGACY_PREFIX in ok.content
    assert EXTRA.encode() in ok.content
    assert sandbox_calls(twin).get("credentials", 0) == 0  # the REST side was never asked


def test_unmapped_operations_pass_through_with_the_legacy_token(bridge_with: Factory) -> None:
    bridge = bridge_with(_route("legacy"))
    token = auth_result(post_login(bridge, "jdoe@example.com", "Password").content, SOAP11_LEGACY
                        ).get("AuthenticationToken")
    listing = requests.post(bridge.url + USERS_PATH, headers={"Content-Type": "text/xml"},
                            data=_list_users_body(token or ""), timeout=5)
    assert listing.status_code == 200
    assert b'ListUsersResult Success="true"' in listing.content
    assert b'UserName="jdoe@example.com"' in listing.content


def test_shadow_returns_legacy_and_finds_exactly_the_difference(bridge_with: Factory,
                                                                twin: Server) -> None:
    bridge = bridge_with(_route("shadow"))
    for username in ("jdoe@example.com", "multi@example.com"):
        response = post_login(bridge, username, "Password")
        assert LEGACY_PREFIX in response.content
    records = _records(bridge, 2)
    by_outcome = {r["outcome"]: r for r in records}
    assert set(by_outcome) == {"agree", "differ"}
    assert by_outcome["differ"]["differences"] == [{
        "path": f"AuthenticateUserResult.Accounts.UserAccount[ContextIdentifier={EXTRA}]",
        "legacy": "present", "rest": None,
        "item": "IsPrimary=false; Name=Multi Legacy Archive"}]
    assert all(r["mode"] == "shadow" and r["rest_ms"] > 0 and r["legacy_ms"] > 0
               for r in records)
    report = _report(bridge)
    assert (report["compared"], report["agreed"]) == (2, 1)
    assert report["top_differences"][0]["path"] == "AuthenticateUserResult.Accounts.UserAccount"
    # The REST side really ran, beside the request.
    assert sandbox_calls(twin)["credentials"] == 2


def test_shadow_compares_refusals_too(bridge_with: Factory) -> None:
    bridge = bridge_with(_route("shadow"))
    post_login(bridge, "inactive@example.com", "Password")
    post_login(bridge, "nobody@example.com", "whatever")
    records = _records(bridge, 2)
    assert [r["outcome"] for r in records] == ["agree", "agree"]


def test_verify_returns_rest_and_compares_with_legacy(bridge_with: Factory, twin: Server) -> None:
    bridge = bridge_with(_route("verify"))
    response = post_login(bridge, "multi@example.com", "Password")
    assert BRIDGE_PREFIX in response.content and EXTRA.encode() not in response.content
    (record,) = _records(bridge, 1)
    assert record["mode"] == "verify" and record["outcome"] == "differ"
    assert sandbox_calls(twin)["legacy:AuthenticateUser"] == 1


def test_fallback_answers_from_legacy_when_rest_fails(bridge_with: Factory, twin: Server) -> None:
    bridge = bridge_with(_route("fallback"))
    assert BRIDGE_PREFIX in post_login(bridge, "jdoe@example.com", "Password").content
    sandbox_control(twin, paths=["/api/"], fail="close")
    response = post_login(bridge, "jdoe@example.com", "Password")
    assert response.status_code == 200 and LEGACY_PREFIX in response.content
    assert auth_result(response.content, SOAP11_LEGACY).get("Success") == "true"
    assert _report_field(bridge, "fallbacks") == 1


def _report_field(bridge: Server, field: str) -> int:
    done = subprocess.run([sys.executable, "-m", "bridge", "report", "--config",
                           str(bridge.extra["config"]), "--format", "json"],
                          cwd=bridge.workdir, capture_output=True, text=True, timeout=60, check=True)
    return sum(int(op[field]) for op in json.loads(done.stdout)["operations"])


def test_cohorts_by_list_domain_and_stable_percentage(bridge_with: Factory) -> None:
    # Pick, by the bridge's own hash, one user inside a 50% cohort and one outside it.
    inside = next(f"user{i}@else.org" for i in range(200) if bucket(f"user{i}@else.org") < 50)
    outside = next(f"user{i}@else.org" for i in range(200) if bucket(f"user{i}@else.org") >= 50)
    bridge = bridge_with(_route("legacy", cohorts=[
        {"name": "pilot", "mode": "rest", "users": ["JDOE@example.com"]},
        {"name": "domain", "mode": "rest", "domains": ["other.net"]},
        {"name": "half", "mode": "rest", "percent": 50},
    ]))
    assert BRIDGE_PREFIX in post_login(bridge, "jdoe@example.com", "x").content
    assert BRIDGE_PREFIX in post_login(bridge, "someone@other.net", "x").content
    for _ in range(3):  # stable: the same answer every time
        assert BRIDGE_PREFIX in post_login(bridge, inside, "x").content
        assert LEGACY_PREFIX in post_login(bridge, outside, "x").content
    log = bridge.output()
    assert '"mode": "rest", "cohort": "pilot"' in log
    assert '"mode": "rest", "cohort": "domain"' in log
    assert '"mode": "legacy", "cohort": null' in log


def test_a_hung_rest_side_does_not_slow_shadowed_answers(bridge_with: Factory,
                                                         twin: Server) -> None:
    legacy_only = bridge_with(_route("legacy"))
    shadowed = bridge_with(_route("shadow"), side_calls={"queue": 2, "workers": 1,
                                                         "timeout": "2s"})
    sandbox_control(twin, paths=["/api/"], delay_ms=1500)

    def median_ms(server: Server) -> float:
        times = []
        for _ in range(8):
            started = time.perf_counter()
            assert post_login(server, "jdoe@example.com", "Password").status_code == 200
            times.append((time.perf_counter() - started) * 1000)
        return sorted(times)[len(times) // 2]

    baseline, with_shadow = median_ms(legacy_only), median_ms(shadowed)
    # Generous: the hung side (1.5 s each) would show as seconds, not milliseconds.
    assert with_shadow < baseline * 3 + 100, (baseline, with_shadow)
    # The queue (2) could not take 8 comparisons of 1.5 s each: some were dropped, and counted.
    assert _eventually(lambda: _report_field(shadowed, "dropped") >= 1)


def test_data_changing_operations_are_not_shadowed(bridge_with: Factory, tmp_path: Path) -> None:
    mappings = tmp_path / "changing"
    mappings.mkdir()
    rule = (REPO / "mappings" / "assuresign" / "authenticate-user.yaml").read_text()
    (mappings / "authenticate-user.yaml").write_text("changes_data: true\n" + rule)
    refused = bridge_with(_route("shadow"), mappings=str(mappings))
    allowed = bridge_with(_route("shadow", allow_side_calls=True), mappings=str(mappings))
    post_login(refused, "jdoe@example.com", "Password")
    post_login(allowed, "jdoe@example.com", "Password")
    assert len(_records(allowed, 1)) == 1
    assert _records(refused, 1, timeout=1.5) == []


def test_fallback_never_repeats_an_operation_that_changes_data(bridge_with: Factory,
                                                               twin: Server, tmp_path: Path) -> None:
    mappings = tmp_path / "changing-fallback"
    mappings.mkdir()
    rule = (REPO / "mappings" / "assuresign" / "authenticate-user.yaml").read_text()
    (mappings / "authenticate-user.yaml").write_text("changes_data: true\n" + rule)
    bridge = bridge_with(_route("fallback"), mappings=str(mappings))
    sandbox_control(twin, paths=["/api/"], fail="close")
    response = post_login(bridge, "jdoe@example.com", "Password")
    assert response.status_code == 500 and BRIDGE_PREFIX in response.content
    assert sandbox_calls(twin)["legacy:AuthenticateUser"] == 0


def test_no_secret_reaches_a_comparison_record(bridge_with: Factory) -> None:
    bridge = bridge_with(_route("shadow"))
    tokens = []
    for username in ("jdoe@example.com", "multi@example.com"):
        answer = auth_result(post_login(bridge, username, "Password").content, SOAP11_LEGACY)
        tokens.append(answer.get("AuthenticationToken"))
    records = _records(bridge, 2)
    stored = b"".join(p.read_bytes() for p in (bridge.workdir / "state").iterdir() if p.is_file())
    _, key = demo_api_user()
    for secret in (*tokens, key):
        assert secret and secret.encode() not in stored
        assert secret not in json.dumps(records)


def test_routing_reloads_when_the_config_changes(bridge_with: Factory) -> None:
    bridge = bridge_with(_route("legacy"))
    assert LEGACY_PREFIX in post_login(bridge, "jdoe@example.com", "Password").content
    config = bridge.extra["config"]
    data = yaml.safe_load(config.read_text())
    data["routing"] = _route("rest")
    config.write_text(yaml.safe_dump(data))
    assert _eventually(lambda: BRIDGE_PREFIX in post_login(bridge, "jdoe@example.com", "x").content)
    config.write_text(config.read_text() + "\nrouting: [this is: not valid\n")
    time.sleep(1.5)
    # A bad reload keeps the rules in force and says why.
    assert BRIDGE_PREFIX in post_login(bridge, "jdoe@example.com", "x").content
    assert _eventually(lambda: "reload failed; the rules in force stay" in bridge.output())
    # Each change is reloaded once, not again on every later request.
    for _ in range(5):
        post_login(bridge, "jdoe@example.com", "x")
        time.sleep(0.3)
    assert bridge.output().count('"msg": "rules reloaded"') == 1
    assert bridge.output().count('"msg": "reload failed; the rules in force stay"') == 1


def _eventually(check: Callable[[], bool], timeout: float = 6) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


SOAP11_LEGACY = "http://schemas.xmlsoap.org/soap/envelope/"


def _login_body(username: str, password: str) -> bytes:
    from tests.servers import soap11_login

    return soap11_login(username, password)


def _list_users_body(token: str) -> str:
    return ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<ListUsers xmlns="{USERS_NS}"><Request '
            'ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a" '
            f'AuthenticationToken="{token}"/></ListUsers></s:Body></s:Envelope>')


def test_passed_through_operations_accept_the_bridge_token(bridge_with: Factory,
                                                           twin: Server) -> None:
    bridge = bridge_with(_route("rest"))
    answer = post_login(bridge, "jdoe@example.com", "Password")
    assert BRIDGE_PREFIX in answer.content
    token = auth_result(answer.content).get("AuthenticationToken") or ""

    def listing() -> bytes:
        return requests.post(bridge.url + USERS_PATH, headers={"Content-Type": "text/xml"},
                             data=_list_users_body(token), timeout=5).content

    # The legacy login runs beside the request; once it has, the bridge token works there.
    assert _eventually(lambda: b'ListUsersResult Success="true"' in listing())
    assert sandbox_calls(twin)["legacy:AuthenticateUser"] == 1
    # A token the bridge did not issue goes through unchanged, and the legacy side refuses it.
    stranger = requests.post(bridge.url + USERS_PATH, headers={"Content-Type": "text/xml"},
                             data=_list_users_body("not-a-token"), timeout=5).content
    assert b'Success="false"' in stranger


def test_noise_is_learned_from_two_legacy_answers(bridge_with: Factory, tmp_path: Path) -> None:
    # A mapping that forgot to say tokens always differ …
    mappings = tmp_path / "no-format-rule"
    mappings.mkdir()
    rule = (REPO / "mappings" / "assuresign" / "authenticate-user.yaml").read_text()
    rule = rule.replace("  format_only:\n    AuthenticateUserResult.AuthenticationToken: "
                        "'[A-Za-z0-9_\\-.~+/=]{16,}'\n", "")
    assert "format_only" not in rule
    (mappings / "authenticate-user.yaml").write_text(rule)
    naive = bridge_with(_route("shadow"), mappings=str(mappings))
    post_login(naive, "jdoe@example.com", "Password")
    (difference,) = _records(naive, 1)[0]["differences"]
    assert difference == {"path": "AuthenticateUserResult.AuthenticationToken",
                          "legacy": "[redacted]", "rest": "[redacted]"}
    # … learns it from two legacy answers, which never share a token.
    learning = bridge_with(_route("shadow"), mappings=str(mappings),
                           side_calls={"noise_sample": 1.0})
    post_login(learning, "jdoe@example.com", "Password")
    assert _records(learning, 1)[0]["outcome"] == "agree"
    store = SqliteStore(str(learning.workdir / "state" / "bridge.sqlite3"))
    try:
        assert store.get("migrate:noise:AuthenticateUser") == [
            "AuthenticateUserResult.AuthenticationToken"]
    finally:
        store.close()


def test_metrics_carry_the_report_figures(bridge_with: Factory) -> None:
    bridge = bridge_with(_route("shadow"))
    post_login(bridge, "jdoe@example.com", "Password")
    post_login(bridge, "multi@example.com", "Password")
    _records(bridge, 2)
    metrics = requests.get(bridge.url + "/metrics", timeout=5)
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = metrics.text.splitlines()
    assert 'soap_bridge_compared_total{operation="AuthenticateUser",outcome="agree"} 1' in lines
    assert 'soap_bridge_compared_total{operation="AuthenticateUser",outcome="differ"} 1' in lines
    assert "# TYPE soap_bridge_dropped_total counter" in lines


def test_sighup_restarts_workers_on_the_new_rules(bridge_with: Factory) -> None:
    import signal

    bridge = bridge_with(_route("legacy"), workers=2)
    assert LEGACY_PREFIX in post_login(bridge, "jdoe@example.com", "Password").content
    config = bridge.extra["config"]
    data = yaml.safe_load(config.read_text())
    data["routing"] = _route("rest")
    config.write_text(yaml.safe_dump(data))
    bridge.process.send_signal(signal.SIGHUP)
    assert _eventually(lambda: all(
        BRIDGE_PREFIX in post_login(bridge, "jdoe@example.com", "x").content for _ in range(4)))
    assert bridge.process.poll() is None


def test_the_side_path_carries_the_request_id(bridge_with: Factory, twin: Server) -> None:
    bridge = bridge_with(_route("shadow"))
    requests.post(bridge.url + USERS_PATH, data=_login_body("jdoe@example.com", "Password"),
                  headers={"Content-Type": "text/xml", "X-Request-ID": "side-42"}, timeout=10)
    _records(bridge, 1)
    # The shadow REST call went out with the caller's request id.
    seen = requests.get(f"{twin.url}/_sandbox/stats", timeout=5).json()["request_ids"]
    assert seen["credentials"] == "side-42"
