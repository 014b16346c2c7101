"""The identity service's grants: codes, access tokens and rotating refresh tokens, by authorization.

One `Family` is one authorization: the code a user consented to, then every token issued from
it. A refresh token works once; using it returns a new one ([PUB] FACTS §4.2: "old one
single-use"). [INFERRED] Using a spent one again revokes the whole family, access tokens
included, as OAuth 2.1 (draft, §4.3.1) and the OAuth 2.0 Security BCP (RFC 9700 §4.14.2) advise
for detected replay: whether Nmbrs' identity service does so is not known.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from .seed import Identity


class GrantError(Exception):
    """An OAuth error to answer: `error` is the RFC 6749 code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Consent:
    """What the user agreed to at the authorize endpoint."""

    client_id: str
    redirect_uri: str
    username: str
    debtor: str  # the debtor's GUID: REST grants are per debtor
    scopes: tuple[str, ...]
    challenge: str | None


@dataclass(frozen=True)
class Tokens:
    """A token answer's contents."""

    access_token: str
    expires_in: int
    refresh_token: str | None
    scopes: tuple[str, ...]


@dataclass
class Family:
    """One authorization and the tokens issued from it."""

    id: str
    consent: Consent
    refresh_expires_at: float
    revoked: bool = False
    refresh_token: str | None = None  # the one that works now
    spent: set[str] = field(default_factory=set)
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry

    def describe(self, now: float) -> dict[str, object]:
        """For /_sandbox/nmbrs/grants: no token, only what a test checks."""
        return {
            "id": self.id,
            "client_id": self.consent.client_id,
            "username": self.consent.username,
            "debtor": self.consent.debtor,
            "scope": " ".join(self.consent.scopes),
            "revoked": self.revoked,
            "refresh_expired": self.refresh_expires_at <= now,
            "rotations": len(self.spent),
            "live_access_tokens": sum(1 for expiry in self.access.values() if expiry > now),
        }


@dataclass(frozen=True)
class _Code:
    consent: Consent
    expires_at: float
    family: str | None = None  # set once redeemed


class Grants:
    """Thread-safe. `clock` is read on every call so tests can swap the sandbox's."""

    def __init__(self, settings: Identity, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._families: dict[str, Family] = {}
        self._by_refresh: dict[str, str] = {}  # live and spent refresh tokens -> family
        self._by_access: dict[str, str] = {}

    def reset(self) -> None:
        with self._lock:
            self._codes.clear()
            self._families.clear()
            self._by_refresh.clear()
            self._by_access.clear()

    # -- the flows -----------------------------------------------------------------

    def issue_code(self, consent: Consent) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(consent, self.clock() + self.settings.code_lifetime)
        return code

    def redeem_code(
        self, code: str, client_id: str, redirect_uri: str | None, verifier: str | None, issuer: str
    ) -> Tokens:
        """authorization_code: a code works once, for its client and redirect URI, within 5 minutes."""
        with self._lock:
            found = self._codes.get(code)
            if found is None or found.consent.client_id != client_id:
                raise GrantError("invalid_grant", "The authorization code is not valid.")
            if found.family is not None:
                # RFC 6749 §4.1.2: a code used twice revokes what it gave.
                self._revoke(self._families[found.family])
                raise GrantError("invalid_grant", "The authorization code was already used.")
            if found.expires_at <= self.clock():
                raise GrantError("invalid_grant", "The authorization code has expired.")
            if redirect_uri != found.consent.redirect_uri:
                raise GrantError(
                    "invalid_grant", "The redirect_uri does not match the authorization request."
                )
            if found.consent.challenge is not None and not _verifies(verifier, found.consent.challenge):
                raise GrantError("invalid_grant", "The code_verifier does not match the code_challenge.")
            family = Family(
                secrets.token_hex(8),
                found.consent,
                self.clock() + self.settings.refresh_token_lifetime,
            )
            self._families[family.id] = family
            self._codes[code] = replace(found, family=family.id)
            return self._issue(family, issuer)

    def refresh(self, token: str, client_id: str, scope: str | None, issuer: str) -> Tokens:
        """refresh_token: rotate. The old token is spent; a spent one used again ends the family."""
        with self._lock:
            family = self._families.get(self._by_refresh.get(token, ""))
            if family is None or family.consent.client_id != client_id:
                raise GrantError("invalid_grant", "The refresh token is not valid.")
            if family.revoked:
                raise GrantError("invalid_grant", "The grant has been revoked.")
            if token in family.spent:
                self._revoke(family)
                raise GrantError("invalid_grant", "The refresh token was already used; the grant is revoked.")
            if family.refresh_expires_at <= self.clock():
                raise GrantError("invalid_grant", "The refresh token has expired.")
            if scope and not set(scope.split()) <= set(family.consent.scopes):
                raise GrantError("invalid_scope", "The scope asks for more than was granted.")
            family.spent.add(token)
            family.refresh_token = None
            if self.settings.refresh_token_sliding:
                family.refresh_expires_at = self.clock() + self.settings.refresh_token_lifetime
            return self._issue(family, issuer)

    def revoke(self, token: str, client_id: str) -> None:
        """RFC 7009: a refresh token ends its family; an access token ends itself. Unknown
        tokens, and other clients' tokens, are ignored."""
        with self._lock:
            family = self._families.get(self._by_refresh.get(token, ""))
            if family is not None and family.consent.client_id == client_id:
                self._revoke(family)
                return
            family = self._families.get(self._by_access.get(token, ""))
            if family is not None and family.consent.client_id == client_id:
                family.access.pop(token, None)

    def bearer(self, token: str) -> Consent | None:
        """The consent behind a live access token."""
        with self._lock:
            family = self._families.get(self._by_access.get(token, ""))
            if family is None or family.revoked or family.access.get(token, 0) <= self.clock():
                return None
            return family.consent

    # -- test controls -------------------------------------------------------------------

    def _matching(self, username: str | None, debtor: str | None) -> Iterator[Family]:
        for family in list(self._families.values()):
            if username is not None and family.consent.username.casefold() != username.casefold():
                continue
            if debtor is not None and family.consent.debtor.casefold() != debtor.casefold():
                continue
            yield family

    def control(self, action: str, username: str | None, debtor: str | None) -> int:
        """expire_access, expire_refresh or revoke the matching families; how many matched."""
        with self._lock:
            now = self.clock()
            matched = list(self._matching(username, debtor))
            for family in matched:
                if action == "revoke":
                    self._revoke(family)
                elif action == "expire_refresh":
                    family.refresh_expires_at = now
                else:
                    family.access = {token: now for token in family.access}
            return len(matched)

    def describe(self) -> list[dict[str, object]]:
        with self._lock:
            now = self.clock()
            return [family.describe(now) for family in self._families.values()]

    # -- inside the lock ------------------------------------------------------------------

    def _issue(self, family: Family, issuer: str) -> Tokens:
        consent = family.consent
        lifetime = self.settings.access_token_lifetime
        access = self._jwt(consent, lifetime, issuer)
        family.access[access] = self.clock() + lifetime
        self._by_access[access] = family.id
        refresh = None
        # Only offline_access gets a refresh token (FACTS §4.2).
        if "offline_access" in consent.scopes:
            refresh = secrets.token_urlsafe(48)
            family.refresh_token = refresh
            self._by_refresh[refresh] = family.id
        return Tokens(access, lifetime, refresh, consent.scopes)

    def _revoke(self, family: Family) -> None:
        family.revoked = True
        family.refresh_token = None
        family.access.clear()

    def _jwt(self, consent: Consent, lifetime: int, issuer: str) -> str:
        """A JWT as Nmbrs' access tokens are ([INFERRED] claims after IdentityServer's, which the
        /connect/ paths suggest). HS256 with a key of this process: the sandbox checks its
        tokens by lookup, and nobody else has to verify them."""
        now = int(time.time())
        claims = {
            "iss": issuer,
            "nbf": now,
            "iat": now,
            "exp": now + lifetime,
            "aud": "nmbrs.api",
            "scope": list(consent.scopes),
            "client_id": consent.client_id,
            "sub": consent.username,
            "debtor_id": consent.debtor,
            "jti": secrets.token_hex(16),
        }
        header = _b64({"alg": "HS256", "typ": "at+jwt"})
        payload = _b64(claims)
        signature = hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _b64(document: dict[str, object]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    """The S256 code_challenge of a code_verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _verifies(verifier: str | None, challenge: str) -> bool:
    if not verifier or not 43 <= len(verifier) <= 128 or not verifier.isascii():
        return False
    return hmac.compare_digest(s256(verifier), challenge)
