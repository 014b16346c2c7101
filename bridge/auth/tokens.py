"""AuthenticationTokens: minted sealed (or stored), checked at each use, revoked by user and time.

The API every consumer uses (the dispatcher's legacy token swap, `/v1/token`,
`/v1/accounts`, the REST facade, signing links):

    issuer.issue(grant, form=OPAQUE, ttl=1800) -> str
        `grant.kind` is SESSION (multi-use), SINGLE_USE or SCOPED, `grant.scope` the names
        a scoped (or single-use) token is bound to, e.g. {"package": "p-1"}.
        `form` is OPAQUE (sealed, self-contained: the default, no store write per login),
        STORED (a random reference to a record in the store) or PASSTHROUGH (the bearer
        itself, recorded in the store).
    issuer.check(token, scope=None, consume=True) -> Grant | Refused
        `scope`: the named values of the use at hand (e.g. {"operation": "GetUser"}); a
        token bound to a scope is refused unless every name it is bound to is given here
        with the same value. A SINGLE_USE token is consumed (atomically, once across every
        worker and instance on the store) when `consume` is true and everything else
        passed; with `consume=False` the caller consumes it later with `consume(grant)`.
        `Refused.reason` is one of EXPIRED, REVOKED, USED, OUT_OF_SCOPE, FORGED, UNKNOWN.
    issuer.resolve(token, scope=None, consume=True) -> Grant | None
        `check` for callers that need no reason.
    issuer.consume(grant) -> bool        whether this was the first use
    issuer.revoke(token)                 that token alone, at once
    revoke_user(store, username)         every token of the user issued until now (`not
                                         before`), read at each use of a token
    issuer.attach_legacy(token, legacy_token) -> bool
                                         the legacy service's token for the same login,
                                         kept beside (not inside) the token

A sealed token carries subject, user context, kind, scope, issue and expiry times,
the bearer's expiry and a 128-bit reference to its login record: the bearer and the
accounts are in the store once per user and bearer (not per login), sealed under that
reference, so neither the token key alone nor the store alone yields a bearer
(docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bridge.auth.keyring import OVERHEAD, VERSION, GeneratedKeys, KeyRing, Unopened
from bridge.auth.seal import fingerprint, seal, unseal
from bridge.identity import identity
from bridge.store.base import Store

# How a token is made (a rule's token.issue).
OPAQUE = "opaque"
STORED = "stored"
PASSTHROUGH = "passthrough"
TOKEN_FORMS = (OPAQUE, STORED, PASSTHROUGH)

# What a token may be used for (a rule's token.kind).
SESSION = "session"
SINGLE_USE = "single-use"
SCOPED = "scoped"
TOKEN_KINDS = (SESSION, SINGLE_USE, SCOPED)

# Why a token is refused.
EXPIRED = "expired"
REVOKED = "revoked"
USED = "used"
OUT_OF_SCOPE = "out_of_scope"
FORGED = "forged"
UNKNOWN = "unknown"
_DESCRIPTIONS = {
    EXPIRED: "the token has expired",
    REVOKED: "the token has been revoked",
    USED: "the token was for one use and has been used",
    OUT_OF_SCOPE: "the token is not valid for this use",
    FORGED: "the token is not one this bridge issued (altered or truncated)",
    UNKNOWN: "the token is unknown or has expired",
}

DEFAULT_TTL = 30 * 60.0
# How long a user's "not before" mark is kept: longer than any token should live (a rule's
# token.ttl is at most this; rules/model.py checks it).
NOT_BEFORE_KEEP = 90 * 86400.0
MAX_TTL = NOT_BEFORE_KEEP


@dataclass(frozen=True)
class Grant:
    """What a token stands for: who logged in, the upstream bearer and its user context."""

    subject: str
    # Left out of repr: a Grant logged or shown in a traceback must not carry the bearer.
    bearer: str = field(repr=False)
    context: str | None = None
    operation: str = ""
    issued_at: float = 0.0
    expires_at: float = 0.0
    accounts: list[dict[str, Any]] = field(default_factory=list)
    # The legacy service's own token for the same login, while the legacy service is still
    # in use: operations passed through to it carry this one in place of the bridge's.
    legacy_token: str | None = field(default=None, repr=False)
    # When the upstream bearer itself expires, as the rule's token.bearer_ttl tells; 0.0 when
    # unknown (a rule without it, or a token minted before the bridge recorded it).
    bearer_expires_at: float = 0.0
    kind: str = SESSION
    # The named values a token is bound to (SCOPED, or a bound SINGLE_USE); empty: unbound.
    scope: Mapping[str, str] = field(default_factory=dict)
    # The token's own id (not the token): what its use and legacy records are kept under.
    token_id: str = ""

    def belongs_to(self, username: str) -> bool:
        """Whether the token was issued to this user: the same identity, however spelt."""
        return identity(self.subject) == identity(username)

    def record(self) -> dict[str, Any]:
        # Shallow on purpose (dataclasses.asdict deep-copies the accounts: the login path's
        # largest cost after the upstream); the record is serialised at once, never kept.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def fits(self, scope: Mapping[str, str] | None) -> bool:
        """Whether a use with these named values is within the token's scope."""
        return not self.scope or (scope is not None and all(
            name in scope and str(scope[name]) == value for name, value in self.scope.items()))


@dataclass(frozen=True)
class Refused:
    """Why a token was not accepted: one of EXPIRED, REVOKED, USED, OUT_OF_SCOPE, FORGED,
    UNKNOWN; `description` is a sentence safe to show the caller."""

    reason: str

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.reason]


_FIELDS = frozenset(f.name for f in fields(Grant))


def not_before_key(username: str) -> str:
    return "token-nbf:" + fingerprint(identity(username), "token-not-before")


def revoke_user(store: Store, username: str, at: float | None = None) -> None:
    """Refuse every token of this user issued until `at` (now), whichever instance issued it."""
    store.set(not_before_key(username), time.time() if at is None else at, NOT_BEFORE_KEEP)


class TokenIssuer:
    """Mints tokens and checks them at each use; see the module's docstring for the API.

    `ring` seals and opens OPAQUE tokens; without one, the store's generated key is used
    (fetched at first need, so a worker forked after start-up reads the same one, and
    looked at again once a minute: auth/keyring.py's GeneratedKeys).
    """

    def __init__(self, store: Store, ring: KeyRing | None = None) -> None:
        self._store = store
        self._ring = ring if ring is not None else GeneratedKeys(store).ring
        self._logins = LoginRecords(store)

    # -- minting -------------------------------------------------------------------------

    def issue(self, grant: Grant, form: str = OPAQUE, ttl: float = DEFAULT_TTL) -> str:
        now = time.time()
        if form == OPAQUE:
            issued_ms = int(now * 1000)
            expires_ms = issued_ms + int(ttl * 1000)
            reference = self._logins.reference(grant, expires_ms / 1000)
            return _text(self.ring().seal(_pack(grant, issued_ms, expires_ms, reference)))
        # 32 random bytes: 256 bits, URL-safe base64 without padding.
        token = grant.bearer if form == PASSTHROUGH else secrets.token_urlsafe(32)
        record = grant.record() | {"issued_at": now, "expires_at": now + ttl,
                                   "token_id": _stored_id(token)}
        payload = json.dumps(record, separators=(",", ":"))
        self._store.set(_stored_key(token), seal(token.encode(), payload), ttl)
        return token

    def ring(self) -> KeyRing:
        return self._ring() if callable(self._ring) else self._ring

    # -- using ---------------------------------------------------------------------------

    def check(self, token: str, scope: Mapping[str, str] | None = None,
              consume: bool = True) -> Grant | Refused:
        """The grant behind a token, for a use with these named values, or why not."""
        if not token:
            return Refused(UNKNOWN)
        opened = self._open(token)
        if isinstance(opened, _Sealed):
            return self._settle(token, opened.grant, scope, consume, opened.reference)
        stored = self._stored(token)
        if stored is None:
            # Not sealed by us and not in the store: a sealed token's reason when it was one.
            return Refused(opened.reason if opened is not None else UNKNOWN)
        return self._settle(token, stored, scope, consume)

    def resolve(self, token: str, scope: Mapping[str, str] | None = None,
                consume: bool = True) -> Grant | None:
        checked = self.check(token, scope, consume)
        return checked if isinstance(checked, Grant) else None

    def consume(self, grant: Grant) -> bool:
        """Mark a token used; whether this was its first use (atomic on every store)."""
        remaining = max(grant.expires_at - time.time(), 1.0)
        return self._store.incr(_spent_key(grant.token_id), remaining) == 1

    def revoke(self, token: str) -> None:
        """Refuse this token from now on (REVOKED; USED for a single-use token)."""
        opened = self._open(token)
        grant = opened.grant if isinstance(opened, _Sealed) else self._stored(token)
        if not isinstance(opened, _Sealed):
            self._store.delete(_stored_key(token))
        if grant is not None:
            self.consume(grant)

    def attach_legacy(self, token: str, legacy_token: str) -> bool:
        """Remember the legacy token that goes with a bridge token, for the rest of its life.

        A sealed token cannot change once handed out, so the legacy token is kept beside it:
        one small record, sealed under the token, written only while the legacy service is
        in use (a rule with legacy_token, in verify mode or with legacy login)."""
        opened = self._open(token)
        found = opened.grant if isinstance(opened, _Sealed) else self._stored(token)
        if found is None:
            return False
        # Within its own scope: the login that minted it is the use it was minted for.
        grant = self._settle(token, found, found.scope, False,
                             opened.reference if isinstance(opened, _Sealed) else None)
        if not isinstance(grant, Grant):
            return False
        remaining = grant.expires_at - time.time()
        if remaining <= 0:
            return False
        if isinstance(opened, _Sealed):
            self._store.set(_legacy_key(grant.token_id), seal(token.encode(), legacy_token),
                            remaining)
            return True
        record = grant.record() | {"legacy_token": legacy_token}
        payload = json.dumps(record, separators=(",", ":"))
        self._store.set(_stored_key(token), seal(token.encode(), payload), remaining)
        return True

    # -- its parts -----------------------------------------------------------------------

    def _open(self, token: str) -> _Sealed | Unopened | None:
        """A sealed token's grant (without bearer and legacy token), Unopened when it looks
        sealed but no key opens it, None when it does not look sealed at all."""
        raw = _bytes(token)
        if raw is None or len(raw) < OVERHEAD + _FIXED.size or raw[0] != VERSION:
            return None
        try:
            nonce, payload = self.ring().open(raw)
            return _unpack(payload, nonce)
        except Unopened as exc:
            return exc
        except (struct.error, ValueError, KeyError):
            return Unopened(FORGED)

    def _stored(self, token: str) -> Grant | None:
        sealed = self._store.get(_stored_key(token))
        if not isinstance(sealed, str):
            return None
        payload = unseal(token.encode(), sealed)
        if payload is None:
            return None
        record = json.loads(payload)
        record.setdefault("token_id", _stored_id(token))
        # Fields this version does not know (a record from a newer one) are left out.
        return Grant(**{key: value for key, value in record.items() if key in _FIELDS})

    def _settle(self, token: str, grant: Grant, scope: Mapping[str, str] | None,
                consume: bool, reference: bytes | None = None) -> Grant | Refused:
        if grant.expires_at <= time.time():
            return Refused(EXPIRED)
        if not grant.fits(scope):
            return Refused(OUT_OF_SCOPE)
        # One round trip: the user's mark, the token's use, and for a sealed token its login
        # record (bearer, accounts) and legacy token.
        keys = [not_before_key(grant.subject), _spent_key(grant.token_id)]
        if reference is not None:
            keys += [_login_key(reference), _legacy_key(grant.token_id)]
        values = self._store.get_many(keys)
        not_before, spent = values[0], values[1]
        if isinstance(not_before, (int, float)) and grant.issued_at <= not_before:
            return Refused(REVOKED)
        if spent:
            return Refused(USED if grant.kind == SINGLE_USE else REVOKED)
        if reference is not None:
            login = self._logins.read(reference, values[2])
            if login is None:
                # Its login record is gone (a store emptied): if this worker minted under
                # that reference, its next login of the user writes a new one at once.
                self._logins.forget(reference)
                return Refused(UNKNOWN)
            legacy = unseal(token.encode(), values[3]) if isinstance(values[3], str) else None
            grant = Grant(**(grant.record() | {"bearer": login["bearer"], "legacy_token": legacy,
                                               "accounts": login["accounts"],
                                               "operation": login.get("operation", "")}))
        if grant.kind == SINGLE_USE and consume and not self.consume(grant):
            return Refused(USED)
        return grant


@dataclass(frozen=True)
class _Sealed:
    """An opened sealed token: its grant so far, and the reference to its login record
    (secret: it opens the record, so it never leaves this module)."""

    grant: Grant
    reference: bytes


class LoginRecords:
    """What sealed tokens point at rather than carry (the bearer, the accounts): one store
    record per login's bearer and accounts and worker, sealed under a random 128-bit
    reference that only the tokens carry.

    A worker remembers which records it has written and until when, so a login whose user,
    bearer and accounts it has seen writes nothing. A record is written again (under the
    same reference) when a new token would outlive it (it is kept twice as long as the token
    that wrote it), and at most once a minute otherwise, reading it first: a record the
    store lost (a Redis flushed or restarted without persistence) is never written back
    under its old reference, since the store lost the spent marks of single-use tokens and
    the users' "not before" marks with it, and bringing the old tokens back would let a
    spent one be used again and a revoked one work. Those tokens stay refused (fail closed);
    the next login gets a new reference.
    """

    _REMEMBERED = 4096
    REWRITE_AFTER = 60.0

    def __init__(self, store: Store) -> None:
        self._store = store
        # (subject, bearer) -> (reference, kept until, accounts, written at, operation)
        self._written: dict[tuple[str, str], tuple[bytes, float, list[Any], float, str]] = {}

    def reference(self, grant: Grant, until: float) -> bytes:
        now = time.time()
        known = self._written.get((grant.subject, grant.bearer))
        same = known is not None and known[2] == grant.accounts and known[4] == grant.operation
        if known is not None and same and known[1] >= until and (
                now - known[3] < self.REWRITE_AFTER):
            return known[0]
        reference = known[0] if known is not None and same and self._kept(known[0]) \
            else secrets.token_bytes(16)
        keep = max(until - now, 1.0) * 2
        # The operation too: which login (which rule, so which upstream) the bearer is for,
        # so that a use elsewhere (the REST facade, /v1/sso) can refuse another rule's.
        record = json.dumps({"bearer": grant.bearer, "accounts": grant.accounts,
                             "operation": grant.operation}, separators=(",", ":"))
        self._store.set(_login_key(reference), seal(reference, record), keep)
        if known is None and len(self._written) >= self._REMEMBERED:
            self._written.pop(next(iter(self._written)), None)
        self._written[(grant.subject, grant.bearer)] = (reference, now + keep, grant.accounts,
                                                        now, grant.operation)
        return reference

    def forget(self, reference: bytes) -> None:
        """A record found gone: mint under a new reference from now on (else a worker whose
        bearer is cached near would hand out tokens pointing at nothing until its rewrite)."""
        for login, known in list(self._written.items()):
            if known[0] == reference:
                self._written.pop(login, None)

    def _kept(self, reference: bytes) -> bool:
        """Whether the store still holds the record written under this reference (one read,
        at most once a minute per login's bearer)."""
        return self._store.get(_login_key(reference)) is not None

    @staticmethod
    def read(reference: bytes, sealed: Any) -> dict[str, Any] | None:
        payload = unseal(reference, sealed) if isinstance(sealed, str) else None
        return json.loads(payload) if payload is not None else None


# -- the sealed token's plaintext -------------------------------------------------------
#
# issued (ms), expires (ms), bearer expiry (s, 0 unknown), kind and flags, login reference
# (16 bytes), then subject and context as UTF-8 with 2-byte lengths, then the scope as
# JSON (absent when unbound). Packed, not JSON: the token is about 60 characters shorter.

_FIXED = struct.Struct(">QQIB16s")
_KIND_CODES = {SESSION: 0, SINGLE_USE: 1, SCOPED: 2}
_KINDS_BY_CODE = {code: kind for kind, code in _KIND_CODES.items()}
_HAS_CONTEXT = 0x10
# The context starts with "<subject>:" (AssureSign's X-AS-UserContext): kept once.
_CONTEXT_AFTER_SUBJECT = 0x20
_LENGTH = struct.Struct(">H")


def _pack(grant: Grant, issued_ms: int, expires_ms: int, reference: bytes) -> bytes:
    subject = grant.subject.encode("utf-8")
    flags = _KIND_CODES[grant.kind]
    context = b""
    if grant.context is not None:
        flags |= _HAS_CONTEXT
        context = grant.context.encode("utf-8")
        if subject and context.startswith(subject + b":"):
            flags |= _CONTEXT_AFTER_SUBJECT
            context = context[len(subject):]
    scope = json.dumps(dict(grant.scope), separators=(",", ":")).encode() if grant.scope else b""
    return b"".join((
        _FIXED.pack(issued_ms, expires_ms, int(grant.bearer_expires_at), flags, reference),
        _LENGTH.pack(len(subject)), subject, _LENGTH.pack(len(context)), context, scope))


def _unpack(payload: bytes, nonce: bytes) -> _Sealed:
    issued_ms, expires_ms, bearer_expires, flags, reference = _FIXED.unpack_from(payload)
    at = _FIXED.size
    (length,) = _LENGTH.unpack_from(payload, at)
    subject = payload[at + 2:at + 2 + length].decode("utf-8")
    at += 2 + length
    (length,) = _LENGTH.unpack_from(payload, at)
    context: str | None = payload[at + 2:at + 2 + length].decode("utf-8")
    at += 2 + length
    if flags & _CONTEXT_AFTER_SUBJECT:
        context = subject + str(context)
    elif not flags & _HAS_CONTEXT:
        context = None
    scope = json.loads(payload[at:]) if len(payload) > at else {}
    return _Sealed(Grant(subject=subject, bearer="", context=context,
                         issued_at=issued_ms / 1000, expires_at=expires_ms / 1000,
                         bearer_expires_at=float(bearer_expires),
                         kind=_KINDS_BY_CODE[flags & 0x0F], scope=scope,
                         token_id=nonce.hex()),  # the nonce is unique per token: its id
                   reference)


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _bytes(token: str) -> bytes | None:
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    # One spelling per token: trailing bits that decode to the same bytes are not a second one.
    return raw if _text(raw) == token else None


def _stored_id(token: str) -> str:
    return fingerprint(token, "authentication-token")


def _stored_key(token: str) -> str:
    return "token:" + _stored_id(token)


def _spent_key(token_id: str) -> str:
    return "token-spent:" + fingerprint(token_id, "token-spent")


def _legacy_key(token_id: str) -> str:
    return "token-legacy:" + fingerprint(token_id, "token-legacy")


def _login_key(reference: bytes) -> str:
    return "token-login:" + hashlib.sha256(b"token-login\x00" + reference).hexdigest()[:40]
