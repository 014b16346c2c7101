"""A rule's token section: kind and scope checked at load time with their lines, rendered at
issue; the token keys read from the configuration."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.auth.keyring import KeyRing, configured_ring
from bridge.auth.tokens import SCOPED, SINGLE_USE, Grant, TokenIssuer
from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.rules.model import compile_rule
from bridge.sandbox import SandboxServer
from tests.inprocess import bridge_app, bridge_config, call, login
from tests.servers import REPO, USERS_PATH, write_config
from tests.soapxml import auth_result, fault11

SHIPPED = REPO / "mappings" / "assuresign"
KEY = "t" * 40


def _rules(tmp_path: Path, **token: Any) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(SHIPPED, folder)
    path = folder / "authenticate-user.yaml"
    rule = yaml.safe_load(path.read_text())
    rule["token"].update(token)
    path.write_text(yaml.safe_dump(rule, sort_keys=False))
    return folder


def _problems(tmp_path: Path, **token: Any) -> list[str]:
    path = _rules(tmp_path, **token) / "authenticate-user.yaml"
    with pytest.raises(ConfigError) as raised:
        compile_rule(str(path), "rule.yaml")
    lines = path.read_text().splitlines()
    # Each problem at the line of the key it is about.
    return [f"{lines[p.line - 1].split(':')[0].strip()}: {p.message}"
            for p in raised.value.problems if p.line]


def test_kind_and_scope_compile(tmp_path: Path) -> None:
    path = _rules(tmp_path, kind="single-use", ttl="30s",
                  scope={"package": "{{ input.username }}"}) / "authenticate-user.yaml"
    token = compile_rule(str(path), "rule.yaml").token
    assert token is not None
    assert (token.kind, token.ttl, set(token.scope)) == (SINGLE_USE, 30.0, {"package"})
    assert token.scope["package"].render({"input": {"username": "p-1"}}) == "p-1"
    stored = _rules(tmp_path / "b", issue="stored") / "authenticate-user.yaml"
    assert compile_rule(str(stored), "rule.yaml").token.issue == "stored"  # type: ignore[union-attr]


@pytest.mark.parametrize(("token", "problem"), [
    ({"kind": "reusable"}, "kind: token.kind must be one of session, single-use, scoped"),
    ({"kind": "scoped"}, "kind: a scoped token needs scope: the names it is bound to"),
    ({"scope": {"package": "p"}}, "scope: a session token is not bound to a scope: use "
                                  "kind: scoped (or single-use)"),
    ({"kind": "scoped", "scope": "p"}, "scope: token.scope maps names to values, e.g. "
                                       '{package: "{{ input.package }}"}'),
    ({"issue": "passthrough", "kind": "scoped", "scope": {"package": "p"}},
     "scope: a passthrough token is the bearer itself: it cannot be bound to a scope"),
    ({"ttl": "91d"}, "ttl: token.ttl is at most 90d: a user's revocation is kept that long"),
    ({"issue": "random"}, "issue: token.issue must be one of opaque, stored, passthrough"),
])
def test_token_mistakes_are_told_at_their_lines(tmp_path: Path, token: dict[str, Any],
                                                problem: str) -> None:
    assert problem in _problems(tmp_path, **token)


def test_tokens_keys_name_secrets(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", tokens={"keys": ["nowhere"]})
    with pytest.raises(ConfigError) as raised:
        load_config(str(config))
    assert "token key 'nowhere' is not a secret defined under secrets:" in str(raised.value)
    config = write_config(tmp_path, "http://127.0.0.1:9", tokens={"keys": "api_key"})
    with pytest.raises(ConfigError) as raised:
        load_config(str(config))
    assert "keys lists the names of secrets" in str(raised.value)


def test_a_short_token_key_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as raised:
        configured_ring(["token_key"], {"token_key": "short-secret"}, "config.yaml")
    assert "secret 'token_key' (tokens.keys) must be at least 32 characters" in str(raised.value)
    assert "short-secret" not in str(raised.value)
    assert configured_ring([], {}, "config.yaml") is None


def test_the_configured_key_seals_the_logins_tokens(
        sandbox_thread: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TOKEN_KEY", KEY)
    rules = _rules(tmp_path, kind="scoped", scope={"signer": "{{ input.username | identity }}"})
    config = bridge_config(tmp_path, sandbox_thread.url, monkeypatch, mappings=str(rules),
                           secrets={"api_username": {"env": "TEST_API_USERNAME"},
                                    "api_key": {"env": "TEST_API_KEY"},
                                    "token_key": {"env": "TEST_TOKEN_KEY"}},
                           tokens={"keys": ["token_key"]})
    app = bridge_app(config)
    body, headers = login("JDoe@example.com", "Password")
    answer = call(app, "POST", USERS_PATH, body, headers)
    token = auth_result(answer.body).get("AuthenticationToken")
    assert token
    # Opened by the configured key alone, kind and scope as the rule says.
    grant = TokenIssuer(app.wiring.store, KeyRing.of([KEY])).check(
        token, {"signer": "jdoe@example.com"})
    assert isinstance(grant, Grant)
    assert (grant.kind, dict(grant.scope)) == (SCOPED, {"signer": "jdoe@example.com"})


def test_a_scope_that_renders_empty_mints_no_token(
        sandbox_thread: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = _rules(tmp_path, kind="scoped", scope={"package": "{{ input.nothing }}"})
    app = bridge_app(bridge_config(tmp_path, sandbox_thread.url, monkeypatch,
                                   mappings=str(rules)))
    body, headers = login("jdoe@example.com", "Password")
    answer = call(app, "POST", USERS_PATH, body, headers)
    assert b"AuthenticationToken" not in answer.body
    assert fault11(answer.body) == (
        "s:Server", "The authentication service is temporarily unavailable. Please try again later.")
