"""Tokens are random, stored hashed with the bearer sealed, and expire."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from bridge.auth.seal import fingerprint, seal, unseal
from bridge.auth.tokens import OPAQUE, PASSTHROUGH, Grant, TokenIssuer
from bridge.store import MemoryStore, SqliteStore

GRANT = Grant(subject="jdoe@example.com", bearer="bearer-secret-value",
              context="jdoe@example.com:821ae27f-027c-4f21-a2e5-1667fc9b650a")


def test_opaque_tokens_are_random_url_safe_and_resolve() -> None:
    issuer = TokenIssuer(MemoryStore())
    tokens = {issuer.issue(GRANT, OPAQUE, ttl=60) for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 bytes = 256 bits
        grant = issuer.resolve(token)
        assert grant is not None
        assert (grant.subject, grant.bearer, grant.context) == (
            GRANT.subject, GRANT.bearer, GRANT.context)
        assert grant.expires_at - grant.issued_at == 60


def test_passthrough_returns_the_bearer_itself() -> None:
    issuer = TokenIssuer(MemoryStore())
    token = issuer.issue(GRANT, PASSTHROUGH, ttl=60)
    assert token == GRANT.bearer
    assert issuer.resolve(token) is not None


def test_unknown_revoked_and_expired_tokens_resolve_to_nothing() -> None:
    issuer = TokenIssuer(MemoryStore())
    assert issuer.resolve("") is None
    assert issuer.resolve("made-up") is None
    token = issuer.issue(GRANT, OPAQUE, ttl=60)
    issuer.revoke(token)
    assert issuer.resolve(token) is None
    short = issuer.issue(GRANT, OPAQUE, ttl=0.1)
    time.sleep(0.2)
    assert issuer.resolve(short) is None


def test_the_state_file_holds_neither_token_nor_bearer(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(str(path))
    token = TokenIssuer(store).issue(GRANT, OPAQUE, ttl=60)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert token.encode() not in raw
    assert GRANT.bearer.encode() not in raw
    assert GRANT.subject.encode() not in raw


def test_seal_round_trip_and_tamper_detection() -> None:
    key = b"k" * 32
    sealed = seal(key, json.dumps({"token": "abc"}))
    assert "abc" not in sealed
    assert unseal(key, sealed) == '{"token": "abc"}'
    assert unseal(b"other-key", sealed) is None
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert unseal(key, flipped) is None
    assert unseal(key, "not base64 !!") is None
    assert seal(key, "same") != seal(key, "same")  # fresh nonce every time


def test_fingerprints_differ_by_purpose() -> None:
    assert fingerprint("x", "a") != fingerprint("x", "b")
    assert fingerprint("x", "a") == fingerprint("x", "a")


def test_a_legacy_token_can_be_attached_for_the_rest_of_the_tokens_life() -> None:
    issuer = TokenIssuer(MemoryStore())
    token = issuer.issue(GRANT, OPAQUE, ttl=0.5)
    assert issuer.attach_legacy(token, "legacy-123")
    grant = issuer.resolve(token)
    assert grant is not None and grant.legacy_token == "legacy-123"
    assert grant.bearer == GRANT.bearer
    assert not issuer.attach_legacy("unknown", "x")
    time.sleep(0.6)
    assert issuer.resolve(token) is None  # attaching did not extend the token's life


def test_records_without_the_bearer_expiry_or_with_unknown_fields_still_resolve() -> None:
    store = MemoryStore()
    issuer = TokenIssuer(store)
    # As an earlier version sealed it (no bearer_expires_at), and as a later one might.
    for extra in ({}, {"added_later": 1}):
        token = "t" * 43
        record = {"subject": "jdoe@example.com", "bearer": "b", "issued_at": time.time(),
                  "expires_at": time.time() + 60, **extra}
        store.set("token:" + fingerprint(token, "authentication-token"),
                  seal(token.encode(), json.dumps(record)), 60)
        grant = issuer.resolve(token)
        assert grant is not None and grant.bearer_expires_at == 0.0


def test_the_bearer_expiry_is_kept_with_the_grant() -> None:
    issuer = TokenIssuer(MemoryStore())
    expires = time.time() + 3600
    token = issuer.issue(Grant(subject="a", bearer="b", bearer_expires_at=expires), OPAQUE, 60)
    grant = issuer.resolve(token)
    assert grant is not None and grant.bearer_expires_at == expires
