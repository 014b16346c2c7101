"""Token-exchange clients: HTTP Basic (RFC 6749 §2.3.1) against argon2id and bcrypt hashes."""

from __future__ import annotations

import base64
import time

import bcrypt
import pytest
from argon2 import PasswordHasher

from bridge.auth import clients
from bridge.auth.clients import TokenClients

# Cheap hashes of the two kinds: the parameters travel in the hash.
ARGON2 = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("argon-secret")
BCRYPT = bcrypt.hashpw(b"b:secret 1", bcrypt.gensalt(4)).decode()


@pytest.fixture(autouse=True)
def _cheap_dummy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stand-in hash for unknown clients, at the test's own low cost.
    monkeypatch.setattr(clients, "hash_password", lambda password, algorithm: ARGON2)


def _basic(client: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()


def test_no_clients_no_authentication_required() -> None:
    assert TokenClients({}).required is False
    assert TokenClients({"a": ARGON2}).required is True


def test_each_kind_of_hash_authenticates_its_own_client_only() -> None:
    registry = TokenClients({"a": ARGON2, "b": BCRYPT})
    assert registry.authenticate(_basic("a", "argon-secret")) == "a"
    # Form-encoded before joining: ':' and ' ' in a secret arrive as %3A and '+'.
    assert registry.authenticate(_basic("b", "b%3Asecret+1")) == "b"
    assert registry.authenticate(_basic("b", "argon-secret")) is None
    assert registry.authenticate(_basic("c", "argon-secret")) is None


def test_malformed_authorization_is_nobody() -> None:
    registry = TokenClients({"a": ARGON2})
    for value in ("", "Basic", "Basic !!!not-base64", "Bearer " + _basic("a", "argon-secret")[6:],
                  "Basic " + base64.b64encode(b"no-colon").decode(),
                  "Basic " + base64.b64encode(b":argon-secret").decode(),
                  "Basic " + base64.b64encode(b"a:\xff").decode()):
        assert registry.authenticate(value) is None, value


def test_a_success_is_remembered_for_a_while_and_only_that(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    registry = TokenClients({"a": ARGON2})
    calls: list[str] = []
    real = clients.check_hash

    def counting(stored: str, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(clients, "check_hash", counting)
    assert registry.authenticate(_basic("a", "argon-secret")) == "a"
    assert registry.authenticate(_basic("a", "argon-secret")) == "a"
    assert registry.authenticate(_basic("a", "wrong")) is None
    assert registry.authenticate(_basic("a", "wrong")) is None
    assert calls == ["argon-secret", "wrong", "wrong"]
    monkeypatch.setattr(clients, "REMEMBER_SECONDS", 0.1)
    registry = TokenClients({"a": ARGON2})
    assert registry.authenticate(_basic("a", "argon-secret")) == "a"
    time.sleep(0.2)
    assert registry.authenticate(_basic("a", "argon-secret")) == "a"
    assert len(calls) == 5
