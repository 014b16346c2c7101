"""AuthenticationTokens: sealed and self-contained (or stored), rotated, expired, revoked,
refused when forged; single-use consumed once across processes; scoped refused elsewhere."""

from __future__ import annotations

import base64
import json
import multiprocessing
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from bridge.auth.keyring import GENERATED_KEY, GeneratedKeys, KeyRing
from bridge.auth.seal import fingerprint, seal, unseal
from bridge.auth.tokens import (
    EXPIRED,
    FORGED,
    OPAQUE,
    OUT_OF_SCOPE,
    PASSTHROUGH,
    REVOKED,
    SCOPED,
    SINGLE_USE,
    STORED,
    UNKNOWN,
    USED,
    Grant,
    LoginRecords,
    Refused,
    TokenIssuer,
    revoke_user,
)
from bridge.store import MemoryStore, SqliteStore, Store
from bridge.store.base import Change
from bridge.store.redis import RedisStore

REDIS_URL = "redis://127.0.0.1:6379/0"
OLD, NEW = "o" * 40, "n" * 40
GRANT = Grant(subject="jdoe@example.com", bearer="bearer-secret-value",
              context="jdoe@example.com:821ae27f-027c-4f21-a2e5-1667fc9b650a",
              accounts=[{"contextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a"}])


class CountingStore:
    """A store that counts what is asked of it, by kind: reads and writes."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.reads = 0
        self.writes = 0

    def get(self, key: str) -> Any:
        self.reads += 1
        return self.inner.get(key)

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        self.reads += 1
        return self.inner.get_many(keys)

    def set(self, key: str, value: Any, ttl: float) -> None:
        self.writes += 1
        self.inner.set(key, value, ttl)

    def delete(self, key: str) -> None:
        self.writes += 1
        self.inner.delete(key)

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        self.writes += 1
        return self.inner.incr(key, ttl, amount)

    def update(self, keys: Sequence[str], change: Change, args: Sequence[Any]) -> Any:
        self.writes += 1
        return self.inner.update(keys, change, args)


def _drop_prefix(prefix: str) -> None:
    raw = redis.Redis.from_url(REDIS_URL)
    for key in raw.scan_iter(match=prefix + "*"):
        raw.delete(key)
    raw.close()


def _issuer(store: Store | None = None, *keys: str) -> TokenIssuer:
    return TokenIssuer(store or MemoryStore(), KeyRing.of(list(keys or (NEW,))))


# -- sealed tokens -----------------------------------------------------------------------

def test_sealed_tokens_are_opaque_url_safe_and_round_trip(store: Store) -> None:
    issuer = _issuer(store)
    tokens = {issuer.issue(GRANT, OPAQUE, ttl=60) for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        # Measured, and told in docs/security.md: 167 characters for this login.
        assert len(token) == 167
        for secret in (GRANT.subject, GRANT.bearer, "821ae27f"):
            assert secret not in token
            assert secret.encode() not in base64.urlsafe_b64decode(token + "==")
        grant = issuer.check(token)
        assert isinstance(grant, Grant)
        assert (grant.subject, grant.bearer, grant.context, grant.accounts) == (
            GRANT.subject, GRANT.bearer, GRANT.context, GRANT.accounts)
        assert grant.expires_at - grant.issued_at == pytest.approx(60, abs=0.002)
        assert grant.kind == "session" and grant.scope == {}


def test_a_context_that_does_not_start_with_the_subject_and_no_context_round_trip() -> None:
    issuer = _issuer()
    for context in (None, "", "other:1", "jdoe@example.com"):
        grant = issuer.resolve(issuer.issue(Grant("jdoe@example.com", "b", context=context)))
        assert grant is not None and grant.context == context


def test_a_warm_login_writes_nothing_and_a_use_reads_once() -> None:
    store = CountingStore(MemoryStore())
    issuer = TokenIssuer(store, KeyRing.of([NEW]))  # type: ignore[arg-type]
    first = issuer.issue(GRANT, OPAQUE, ttl=60)
    assert store.writes == 1  # the login record, once per user and bearer in this worker
    store.reads = store.writes = 0
    tokens = [issuer.issue(GRANT, OPAQUE, ttl=60) for _ in range(10)]
    assert (store.reads, store.writes) == (0, 0)
    assert issuer.resolve(tokens[-1]) is not None and issuer.resolve(first) is not None
    assert (store.reads, store.writes) == (2, 0)  # one round trip per use, no write
    # Another user, another bearer or other accounts: a record of their own.
    issuer.issue(Grant("ann@example.com", GRANT.bearer), OPAQUE, ttl=60)
    issuer.issue(Grant(GRANT.subject, GRANT.bearer, accounts=[]), OPAQUE, ttl=60)
    assert store.writes == 2


def test_the_generated_key_is_shared_through_the_store(store: Store) -> None:
    first, second = TokenIssuer(store), TokenIssuer(store)
    token = first.issue(GRANT)
    assert isinstance(second.check(token), Grant)
    assert isinstance(store.get(GENERATED_KEY), str)
    # Another store, another key: the token is not this fleet's.
    assert TokenIssuer(MemoryStore()).check(token) == Refused(UNKNOWN)


def test_a_generated_key_the_store_lost_is_written_back_and_a_new_one_adopted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    running = TokenIssuer(store)
    before = running.issue(GRANT)
    store.delete(GENERATED_KEY)  # a Redis restarted without persistence
    started_meanwhile = TokenIssuer(store)
    theirs = started_meanwhile.issue(GRANT)  # generates a key of its own
    assert running.check(theirs) == Refused(UNKNOWN)  # not yet looked again
    monkeypatch.setattr(GeneratedKeys, "LOOK_AGAIN", 0.0)
    # The running issuer adopts the key in the store for sealing and keeps its own to open.
    assert isinstance(running.check(theirs), Grant) and isinstance(running.check(before), Grant)
    assert isinstance(started_meanwhile.check(running.issue(GRANT)), Grant)
    # Lost again with nobody starting in between: the key the fleet holds is written back.
    store.delete(GENERATED_KEY)
    again = running.issue(GRANT)
    assert isinstance(TokenIssuer(store).check(again), Grant)


def test_key_rotation_old_tokens_open_until_the_key_is_retired() -> None:
    store = MemoryStore()
    before = _issuer(store, OLD).issue(GRANT)
    # Step 1 on every instance: the new key added, opening only.
    opening = _issuer(store, OLD, NEW)
    assert isinstance(opening.check(before), Grant)
    # Step 2: the new key first, sealing; the old one still opens.
    rotated = _issuer(store, NEW, OLD)
    after = rotated.issue(GRANT)
    assert isinstance(rotated.check(before), Grant) and isinstance(rotated.check(after), Grant)
    assert isinstance(opening.check(after), Grant)  # an instance not yet at step 2
    # Step 3: the old key retired.
    retired = _issuer(store, NEW)
    assert retired.check(before) == Refused(UNKNOWN)
    assert isinstance(retired.check(after), Grant)


def test_expired_tokens_are_refused_without_a_store_read() -> None:
    store = CountingStore(MemoryStore())
    issuer = TokenIssuer(store, KeyRing.of([NEW]))  # type: ignore[arg-type]
    token = issuer.issue(GRANT, OPAQUE, ttl=0.2)
    time.sleep(0.3)
    reads = store.reads
    assert issuer.check(token) == Refused(EXPIRED)
    assert store.reads == reads


def _flip(token: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return token[:index] + alphabet[(alphabet.index(token[index]) + 1) % 64] + token[index + 1:]


def test_forged_truncated_and_altered_tokens_are_refused() -> None:
    issuer = _issuer()
    token = issuer.issue(GRANT)
    for index in range(4, len(token) - 1):  # every character after the version and key id
        assert issuer.check(_flip(token, index)) == Refused(FORGED), index
    # The last character's spare bits: another spelling is not the token either.
    assert isinstance(issuer.check(_flip(token, len(token) - 1)), Refused)
    for cut in (1, 2, 10, len(token) - 100):
        assert issuer.check(token[:-cut]) in (Refused(FORGED), Refused(UNKNOWN))
    assert issuer.check(token + "A") == Refused(FORGED)
    assert issuer.check(token + "!") == Refused(UNKNOWN)  # not a token's alphabet at all
    # A token's version and key id altered: not a key of this ring.
    assert issuer.check(_flip(token, 1)) in (Refused(UNKNOWN), Refused(FORGED))
    # The same fields sealed under another key.
    assert issuer.check(_issuer(None, OLD).issue(GRANT)) == Refused(UNKNOWN)
    for garbage in ("", "made-up", "x" * 43, "A" * 300):
        assert isinstance(issuer.check(garbage), Refused)


def test_revoking_a_user_refuses_their_tokens_issued_until_then(store: Store) -> None:
    issuer = _issuer(store)
    mine, theirs = issuer.issue(GRANT), issuer.issue(Grant("ann@example.com", "b2"))
    stored = issuer.issue(GRANT, STORED)
    time.sleep(0.01)
    revoke_user(store, "  JDoe@Example.com ")  # any spelling of the identity
    assert issuer.check(mine) == Refused(REVOKED)
    assert issuer.check(stored) == Refused(REVOKED)
    assert isinstance(issuer.check(theirs), Grant)
    time.sleep(0.01)
    assert isinstance(issuer.check(issuer.issue(GRANT)), Grant)  # a login after it


def test_one_token_revoked(store: Store) -> None:
    issuer = _issuer(store)
    token, other = issuer.issue(GRANT), issuer.issue(GRANT)
    issuer.revoke(token)
    assert issuer.check(token) == Refused(REVOKED)
    assert isinstance(issuer.check(other), Grant)
    stored = issuer.issue(GRANT, STORED)
    issuer.revoke(stored)
    assert issuer.check(stored) == Refused(UNKNOWN)


def test_a_lost_login_record_refuses_its_tokens_for_good(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    issuer = _issuer(store)
    token = issuer.issue(GRANT)
    for key in [k for k in store._data if k.startswith("token-login:")]:
        store.delete(key)  # as a Redis restarted without persistence loses it
    assert issuer.check(token) == Refused(UNKNOWN)
    # A minute on, the next login of the user writes a record again, under a new reference:
    # the new token works, the earlier one stays refused (the store may have lost its
    # revocation and its use with the record).
    monkeypatch.setattr(LoginRecords, "REWRITE_AFTER", 0.0)
    assert isinstance(issuer.check(issuer.issue(GRANT)), Grant)
    assert issuer.check(token) == Refused(UNKNOWN)


def test_after_a_store_lost_its_records_a_warm_login_works_after_one_refusal() -> None:
    """A store emptied under a worker whose bearer is cached near: its next warm login (the
    same user and bearer, well within the minute before a rewrite) would point at the lost
    record. The first token found pointing at nothing makes the worker mint under a new
    reference, so the login after that works at once, not a minute later."""
    store = MemoryStore()
    issuer = _issuer(store)
    before = issuer.issue(GRANT)
    for key in [k for k in store._data if k.startswith("token-login:")]:
        store.delete(key)
    assert issuer.check(before) == Refused(UNKNOWN)
    after = issuer.issue(GRANT)
    assert isinstance(issuer.check(after), Grant)
    assert issuer.check(before) == Refused(UNKNOWN)


def test_a_flushed_redis_brings_back_no_spent_or_revoked_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis flushed (or restarted without persistence) under running bridges: the generated
    key, the login records, the spent marks and the revocations are gone. Every earlier
    token is refused (fail closed), also after the same user logs in again with the same
    cached bearer (a single-use token spent before, a token revoked before, stay dead), and
    the new login's tokens work at once."""
    monkeypatch.setattr(LoginRecords, "REWRITE_AFTER", 0.0)
    monkeypatch.setattr(GeneratedKeys, "LOOK_AGAIN", 0.0)
    prefix = f"test-{uuid.uuid4().hex}:"
    store = RedisStore(f"{REDIS_URL}?prefix={prefix}")
    try:
        issuer, other_bridge = TokenIssuer(store), TokenIssuer(store)
        once = issuer.issue(replace(GRANT, kind=SINGLE_USE))
        assert isinstance(other_bridge.check(once), Grant)
        assert other_bridge.check(once) == Refused(USED)
        revoked = issuer.issue(GRANT)
        time.sleep(0.01)
        revoke_user(store, GRANT.subject)
        assert issuer.check(revoked) == Refused(REVOKED)
        live = issuer.issue(GRANT)
        _drop_prefix(prefix)  # the flush
        for token in (once, revoked, live):
            assert other_bridge.check(token) == Refused(UNKNOWN)
        fresh = issuer.issue(GRANT)  # the same user, bearer and accounts: a warm login
        assert isinstance(other_bridge.check(fresh), Grant)
        for token in (once, revoked, live):
            assert other_bridge.check(token) == Refused(UNKNOWN), token
    finally:
        store.close()
        _drop_prefix(prefix)


def test_the_store_holds_neither_token_nor_bearer(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "state.sqlite3"))
    issuer = _issuer(store)
    tokens = [issuer.issue(GRANT, form) for form in (OPAQUE, STORED)]
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in (*tokens, GRANT.bearer, GRANT.subject):
        assert secret.encode() not in raw


# -- kinds ----------------------------------------------------------------------------

def test_a_single_use_token_is_consumed_by_its_first_successful_use(store: Store) -> None:
    issuer = _issuer(store)
    token = issuer.issue(Grant("jdoe@example.com", "b", kind=SINGLE_USE,
                               scope={"package": "p-1"}), OPAQUE, ttl=30)
    assert issuer.check(token, {"package": "p-2"}) == Refused(OUT_OF_SCOPE)  # not a use
    first = issuer.check(token, {"package": "p-1", "signer": "s"})
    assert isinstance(first, Grant) and first.kind == SINGLE_USE
    assert issuer.check(token, {"package": "p-1"}) == Refused(USED)
    # Peeking does not consume; consuming later tells the first from the rest.
    other = issuer.issue(Grant("jdoe@example.com", "b", kind=SINGLE_USE), OPAQUE, ttl=30)
    peeked = issuer.check(other, consume=False)
    assert isinstance(peeked, Grant) and isinstance(issuer.check(other, consume=False), Grant)
    assert issuer.consume(peeked) and not issuer.consume(peeked)
    assert issuer.check(other) == Refused(USED)


def test_stored_single_use_tokens_are_consumed_too(store: Store) -> None:
    issuer = _issuer(store)
    token = issuer.issue(Grant("jdoe@example.com", "b", kind=SINGLE_USE), STORED, ttl=30)
    assert isinstance(issuer.check(token), Grant)
    assert issuer.check(token) == Refused(USED)


def test_a_scoped_token_is_refused_outside_its_scope() -> None:
    issuer = _issuer()
    token = issuer.issue(Grant("jdoe@example.com", "b", kind=SCOPED,
                               scope={"package": "p-1", "signer": "s-1"}), OPAQUE, ttl=1800)
    assert issuer.check(token) == Refused(OUT_OF_SCOPE)  # a use that names nothing
    assert issuer.check(token, {"package": "p-1"}) == Refused(OUT_OF_SCOPE)
    assert issuer.check(token, {"package": "p-1", "signer": "s-2"}) == Refused(OUT_OF_SCOPE)
    for _ in range(3):  # multi-use
        grant = issuer.check(token, {"package": "p-1", "signer": "s-1", "extra": "x"})
        assert isinstance(grant, Grant) and grant.scope == {"package": "p-1", "signer": "s-1"}
    # A session token (no scope) fits any use.
    assert isinstance(issuer.check(issuer.issue(GRANT), {"package": "p-9"}), Grant)


def _use_once(url: str, token: str, results: Any) -> None:
    issuer = TokenIssuer(RedisStore(url) if url.startswith("redis") else SqliteStore(url),
                         KeyRing.of([NEW]))
    results.put(isinstance(issuer.check(token), Grant))


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_single_use_token_is_used_once_across_processes(backend: str, tmp_path: Path) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    url = (f"{REDIS_URL}?prefix={prefix}" if backend == "redis"
           else str(tmp_path / "shared.sqlite3"))
    store: Store = RedisStore(url) if backend == "redis" else SqliteStore(url)
    try:
        token = _issuer(store).issue(Grant("jdoe@example.com", "b", kind=SINGLE_USE), OPAQUE, 60)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        workers = [context.Process(target=_use_once, args=(url, token, results)) for _ in range(6)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert sorted(outcomes) == [False] * 5 + [True]
    finally:
        store.close()
        if backend == "redis":
            _drop_prefix(prefix)


# -- stored and passthrough tokens, legacy tokens ----------------------------------------

def test_stored_tokens_are_random_and_resolve() -> None:
    issuer = _issuer()
    token = issuer.issue(GRANT, STORED, ttl=60)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    grant = issuer.resolve(token)
    assert grant is not None and grant.accounts == GRANT.accounts


def test_passthrough_returns_the_bearer_itself() -> None:
    issuer = _issuer()
    token = issuer.issue(GRANT, PASSTHROUGH, ttl=60)
    assert token == GRANT.bearer
    assert issuer.resolve(token) is not None


@pytest.mark.parametrize("form", [OPAQUE, STORED])
def test_a_legacy_token_can_be_attached_for_the_rest_of_the_tokens_life(form: str) -> None:
    store = CountingStore(MemoryStore())
    issuer = TokenIssuer(store, KeyRing.of([NEW]))  # type: ignore[arg-type]
    token = issuer.issue(GRANT, form, ttl=0.5)
    writes = store.writes
    assert issuer.attach_legacy(token, "legacy-123")
    assert store.writes == writes + 1  # one small record
    grant = issuer.resolve(token)
    assert grant is not None and grant.legacy_token == "legacy-123"
    assert grant.bearer == GRANT.bearer
    assert not issuer.attach_legacy("unknown", "x")
    # A scoped or single-use token takes its legacy token too, without being spent.
    for kind, scope in ((SCOPED, {"package": "p-1"}), (SINGLE_USE, {})):
        bound = issuer.issue(Grant(GRANT.subject, GRANT.bearer, kind=kind, scope=scope), form, 60)
        assert issuer.attach_legacy(bound, "legacy-456")
        grant = issuer.resolve(bound, scope)
        assert grant is not None and grant.legacy_token == "legacy-456"
    time.sleep(0.6)
    assert issuer.resolve(token) is None  # attaching did not extend the token's life


def test_records_of_earlier_versions_still_resolve() -> None:
    store = MemoryStore()
    issuer = _issuer(store)
    # As an earlier version stored it (no bearer expiry, kind, scope or id), and as a later
    # one might (an unknown field).
    for extra in ({}, {"added_later": 1}):
        token = "t" * 43
        record = {"subject": "jdoe@example.com", "bearer": "b", "issued_at": time.time(),
                  "expires_at": time.time() + 60, **extra}
        store.set("token:" + fingerprint(token, "authentication-token"),
                  seal(token.encode(), json.dumps(record)), 60)
        grant = issuer.resolve(token)
        assert grant is not None and grant.bearer_expires_at == 0.0 and grant.kind == "session"


def test_the_bearer_expiry_is_kept_with_the_grant() -> None:
    issuer = _issuer()
    expires = int(time.time() + 3600)
    for form in (OPAQUE, STORED):
        token = issuer.issue(Grant(subject="a", bearer="b", bearer_expires_at=expires), form, 60)
        grant = issuer.resolve(token)
        assert grant is not None and grant.bearer_expires_at == expires


def test_a_grant_never_shows_its_bearer() -> None:
    assert "bearer-secret-value" not in repr(GRANT)
    assert "legacy-1" not in repr(Grant("a", "b", legacy_token="legacy-1"))


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
