"""The token key ring: the key that seals new AuthenticationTokens, and older keys that still open them.

Sealing is AES-256-GCM (the `cryptography` package): a standard authenticated
encryption, about five times faster than `auth/seal.py`'s standard-library
construction and four bytes shorter per token (docs/security.md, "Sealed tokens",
gives the measurements). A sealed value is

    version (1 byte) | key id (2) | nonce (12) | ciphertext | tag (16)

with version and key id as associated data, so neither can be altered unnoticed.
The key id is derived from the key itself: every instance given the same secret
agrees on it without naming keys, and a token names the key that opens it.

Keys come from secrets named by `tokens.keys` (the first seals, every one opens;
taking a key out of the list retires it), or, when none are configured, from one key
generated at first use and kept in the store, which every instance and worker sharing
that store then shares (docs/security.md says why, and what that costs).
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bridge.errors import ConfigError, Problem
from bridge.store.base import Change, Entry, Store

VERSION = 1
# A secret shorter than this is refused: a token key must be unguessable.
MIN_SECRET_CHARS = 32
_HEADER = 3
_NONCE = 12
_TAG = 16
OVERHEAD = _HEADER + _NONCE + _TAG
# Where the generated key is kept, and for how long (it is read at each start-up, so in
# practice for ever; the store needs a lifetime for every value).
GENERATED_KEY = "token-key:generated"
_GENERATED_LIFE = 10 * 365 * 86400.0


class Unopened(Exception):
    """A sealed value no key of the ring opens; `reason` says whether the ring lacks its key
    ("unknown": retired, or never this fleet's) or the value was altered ("forged")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenKey:
    """One key of the ring: its 2-byte id and its cipher (both derived from the secret)."""

    id: bytes
    aead: AESGCM


def token_key(secret: str) -> TokenKey:
    material = secret.encode("utf-8")
    # Derived, not used as given: the secret may be any text of 32+ characters, and the same
    # secret must never serve as both the cipher key and the source of the public key id.
    return TokenKey(hmac.digest(material, b"soap-bridge token key id v1", "sha256")[:2],
                    AESGCM(hmac.digest(material, b"soap-bridge token key v1", "sha256")))


class KeyRing:
    """Seals with its first key; opens with whichever key the value names."""

    def __init__(self, keys: Sequence[TokenKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._keys = tuple(keys)
        self._header = bytes([VERSION]) + self._keys[0].id

    @classmethod
    def of(cls, secrets_: Sequence[str]) -> KeyRing:
        return cls([token_key(secret) for secret in secrets_])

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return self._header + nonce + self._keys[0].aead.encrypt(nonce, plaintext, self._header)

    def open(self, sealed: bytes) -> tuple[bytes, bytes]:
        """(nonce, plaintext) of a value sealed by this ring; raises `Unopened`."""
        if len(sealed) < OVERHEAD or sealed[0] != VERSION:
            raise Unopened("forged")
        header, nonce, body = sealed[:_HEADER], sealed[_HEADER:_HEADER + _NONCE], sealed[
            _HEADER + _NONCE:]
        candidates = [key for key in self._keys if key.id == header[1:]]
        if not candidates:
            raise Unopened("unknown")
        for key in candidates:  # two keys of one ring may share an id (1 in 65,536)
            try:
                return nonce, key.aead.decrypt(nonce, body, header)
            except InvalidTag:
                continue
        raise Unopened("forged")


def _keep_first(entries: Sequence[Entry | None], now: float, args: Sequence[Any]
                ) -> tuple[dict[int, Entry | None], Any]:
    if entries[0] is not None:
        return {}, entries[0].value
    return {0: Entry(args[0], now + args[1])}, args[0]


_KEEP_FIRST = Change("token-key-keep-first", _keep_first, """
if entries[1] then return entries[1].value end
writes[1] = {value = args[1], expires = now + args[2]}
return args[1]
""")


class GeneratedKeys:
    """The ring of the key generated once per store: whoever asks first writes it, atomically,
    and every worker and instance on the store reads the same.

    Looked at again once a minute: a key the store lost (a Redis restarted without
    persistence) is written back, the one this worker holds, so the fleet keeps one sealing key
    (the tokens minted before stay refused: their login records went too); a key
    another instance wrote meanwhile is adopted for sealing, the earlier ones kept to open.
    """

    LOOK_AGAIN = 60.0
    _KEPT = 3

    def __init__(self, store: Store) -> None:
        self._store = store
        self._secrets: list[str] = []
        self._ring: KeyRing | None = None
        self._looked_at = 0.0
        self._lock = threading.Lock()

    def ring(self) -> KeyRing:
        if self._ring is not None and time.monotonic() - self._looked_at < self.LOOK_AGAIN:
            return self._ring
        with self._lock:
            return self._look()

    def _look(self) -> KeyRing:
        if self._ring is not None and time.monotonic() - self._looked_at < self.LOOK_AGAIN:
            return self._ring  # another thread just looked
        proposed = self._secrets[0] if self._secrets else secrets.token_urlsafe(32)
        current = str(self._store.update([GENERATED_KEY], _KEEP_FIRST,
                                         [proposed, _GENERATED_LIFE]))
        if current in self._secrets:
            self._secrets.remove(current)
        self._secrets = [current, *self._secrets][:self._KEPT]
        self._ring = KeyRing.of(self._secrets)
        self._looked_at = time.monotonic()
        return self._ring


def secret_names(key: str, value: Any) -> tuple[str, ...]:
    """`tokens.keys` as the configuration reader reads it: a non-empty list of secret names."""
    if not isinstance(value, list) or not value or not all(
            isinstance(name, str) and name for name in value):
        raise ValueError(f"{key} lists the names of secrets (under secrets:) holding token keys, "
                         "the sealing one first")
    if len(set(value)) != len(value):
        raise ValueError(f"{key} names a secret twice")
    return tuple(value)


def configured_ring(names: Sequence[str], secrets_: Mapping[str, str], source: str
                    ) -> KeyRing | None:
    """The ring `tokens.keys` names, its secrets resolved; None when it names none."""
    if not names:
        return None
    short = [name for name in names if len(secrets_[name]) < MIN_SECRET_CHARS]
    if short:
        # The value is never shown: only which secret is too short.
        raise ConfigError([Problem(source, None, f"secret {name!r} (tokens.keys) must be at "
                                   f"least {MIN_SECRET_CHARS} characters of random text "
                                   "(e.g. `python -c 'import secrets; "
                                   "print(secrets.token_urlsafe(32))'`)") for name in short])
    return KeyRing.of([secrets_[name] for name in names])
