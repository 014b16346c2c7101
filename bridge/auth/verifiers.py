"""Learned verifiers: an argon2id hash of each caller's secret, learned while the legacy
service still verified it, so the same credentials authenticate after it is retired.

What identity providers call lazy migration. Each verifier sits in the store under
`verifier:<HMAC of the user's identity>` (keyed by the state key, so a list of user names
cannot be matched against a leaked store), its value sealed under the same key; the hash
inside is argon2id, so even with the key a secret is not read back, only guessed slowly.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict

from bridge.auth.passwords import check_hash, hash_password
from bridge.auth.seal import keyed_fingerprint, seal, unseal
from bridge.identity import identity
from bridge.store.base import Store

# Every key of this feature starts so: `redis-cli --scan --pattern '<prefix>verifier:*'`
# finds them all (docs/security.md, "Learned verifiers").
PREFIX = "verifier:"
# A verifier outlives the legacy service by years: it is the only copy left after it.
# Each learning (and each local success) starts this again.
TTL = 3 * 365 * 86400.0
# Successes already learned, as (key, HMAC of the secret): a login that changed nothing
# pays no argon2id hash. Bounded like the remembered results.
_LEARNED_ENTRIES = 4096


class LearnedVerifiers:
    """learn / verify / forget of one user's verifier in the store."""

    def __init__(self, store: Store, state_key: bytes) -> None:
        self._store = store
        self._state_key = state_key
        self._learned: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._dummy = ""  # made at first need: start-up pays no argon2id hash

    def key(self, username: str) -> str:
        return PREFIX + keyed_fingerprint(self._state_key, identity(username), "verifier")

    def learn(self, username: str, secret: str, source: str = "legacy") -> bool:
        """Store (or replace) the verifier of `secret`: the legacy service has just accepted
        it, and before retirement it is the truth. False when it was known already."""
        key = self.key(username)
        mark = keyed_fingerprint(self._state_key, secret, "verifier-secret")
        with self._lock:
            if self._learned.get(key) == mark:
                return False
        self.store(username, hash_password(secret), source)
        self._note(key, mark)
        return True

    def store(self, username: str, hashed: str, source: str) -> None:
        """Write a verifier as it is (an imported argon2id or bcrypt hash, or one made here)."""
        key = self.key(username)
        document = json.dumps({"hash": hashed, "source": source, "learned": int(time.time())})
        self._store.set(key, seal(self._state_key, document), TTL)
        with self._lock:
            self._learned.pop(key, None)

    def known(self, username: str) -> bool:
        return self._hash(self.key(username)) is not None

    def verify(self, username: str, secret: str) -> bool:
        """Whether `secret` matches the user's verifier. An unknown user costs a hash too:
        timing tells no names."""
        hashed = self._hash(self.key(username))
        if hashed is None:
            if not self._dummy:
                self._dummy = hash_password(secrets.token_urlsafe(16))
            check_hash(self._dummy, secret)
            return False
        return check_hash(hashed, secret)

    def forget_if(self, username: str, secret: str) -> bool:
        """Forget the user's verifier when it is of `secret`, which the legacy service has just
        refused: a token revoked there (an employee gone, a token regenerated) must not come
        back to life at retirement. Another secret leaves it alone, so nobody can erase a
        user's verifier by sending wrong tokens in their name. True when it was forgotten."""
        hashed = self._hash(self.key(username))
        if hashed is None or not check_hash(hashed, secret):
            return False
        self.forget(username)
        return True

    def forget(self, username: str) -> None:
        key = self.key(username)
        with self._lock:
            self._learned.pop(key, None)
        self._store.delete(key)

    def _hash(self, key: str) -> str | None:
        sealed = self._store.get(key)
        if not isinstance(sealed, str):
            return None
        payload = unseal(self._state_key, sealed)
        if payload is None:
            return None  # sealed under another state key: unusable, as if never learned
        document = json.loads(payload)
        hashed = document.get("hash") if isinstance(document, dict) else None
        return hashed if isinstance(hashed, str) else None

    def _note(self, key: str, mark: str) -> None:
        with self._lock:
            self._learned[key] = mark
            self._learned.move_to_end(key)
            while len(self._learned) > _LEARNED_ENTRIES:
                self._learned.popitem(last=False)
