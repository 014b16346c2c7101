"""AuthenticationTokens: minted, stored against the bearer they stand for, resolved."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field, fields
from typing import Any

from bridge.auth.seal import fingerprint, seal, unseal
from bridge.identity import identity
from bridge.store.base import Store

OPAQUE = "opaque"
PASSTHROUGH = "passthrough"
TOKEN_KINDS = (OPAQUE, PASSTHROUGH)


@dataclass(frozen=True)
class Grant:
    """What a token stands for: who logged in, the upstream bearer and its user context."""

    subject: str
    bearer: str
    context: str | None = None
    operation: str = ""
    issued_at: float = 0.0
    expires_at: float = 0.0
    accounts: list[dict[str, Any]] = field(default_factory=list)
    # The legacy service's own token for the same login, while the legacy service is still
    # in use: operations passed through to it carry this one in place of the bridge's.
    legacy_token: str | None = None
    # When the upstream bearer itself expires, as the rule's token.bearer_ttl tells; 0.0 when
    # unknown (a rule without it, or a token minted before the bridge recorded it).
    bearer_expires_at: float = 0.0

    def belongs_to(self, username: str) -> bool:
        """Whether the token was issued to this user: the same identity, however spelt."""
        return identity(self.subject) == identity(username)

    def record(self) -> dict[str, Any]:
        # Shallow on purpose (dataclasses.asdict deep-copies the accounts: the login path's
        # largest cost after the upstream); the record is serialised at once, never kept.
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FIELDS = frozenset(f.name for f in fields(Grant))


class TokenIssuer:
    """Tokens live in the store under a hash; the bearer inside is sealed with the token.

    Only the holder of the AuthenticationToken can recover the bearer it maps to,
    so neither a copy of the state folder nor a store dump hands out upstream access.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def issue(self, grant: Grant, kind: str, ttl: float) -> str:
        # 32 random bytes: 256 bits, URL-safe base64 without padding.
        token = grant.bearer if kind == PASSTHROUGH else secrets.token_urlsafe(32)
        now = time.time()
        record = grant.record() | {"issued_at": now, "expires_at": now + ttl}
        payload = json.dumps(record, separators=(",", ":"))
        self._store.set(self._key(token), seal(token.encode(), payload), ttl)
        return token

    def resolve(self, token: str) -> Grant | None:
        if not token:
            return None
        sealed = self._store.get(self._key(token))
        if not isinstance(sealed, str):
            return None
        payload = unseal(token.encode(), sealed)
        if payload is None:
            return None
        record = json.loads(payload)
        if record.get("expires_at", 0) <= time.time():
            return None
        # Fields this version does not know (a record from a newer one) are left out.
        return Grant(**{key: value for key, value in record.items() if key in _FIELDS})

    def attach_legacy(self, token: str, legacy_token: str) -> bool:
        """Remember the legacy token that goes with a bridge token, for the rest of its life."""
        grant = self.resolve(token)
        if grant is None:
            return False
        record = grant.record() | {"legacy_token": legacy_token}
        remaining = grant.expires_at - time.time()
        if remaining <= 0:
            return False
        payload = json.dumps(record, separators=(",", ":"))
        self._store.set(self._key(token), seal(token.encode(), payload), remaining)
        return True

    def revoke(self, token: str) -> None:
        self._store.delete(self._key(token))

    @staticmethod
    def _key(token: str) -> str:
        return "token:" + fingerprint(token, "authentication-token")
