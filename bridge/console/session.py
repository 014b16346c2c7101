"""Who may use the console: an operator key (the configuration's `operator_keys`), sent as
`Authorization: Bearer …` or traded once at the login form for a short-lived session cookie;
and the CSRF checks every state change passes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bridge.store.base import Store

COOKIE = "soap_bridge_console"
SESSION_TTL = 15 * 60.0
# Wrong keys allowed per address in LOGIN_WINDOW before the login form refuses for a while.
LOGIN_FAILURES = 10
LOGIN_WINDOW = 15 * 60.0


@dataclass(frozen=True)
class Operator:
    """An authenticated console user: by key header (no CSRF token needed: a browser never
    sends that header on its own) or by session cookie (CSRF token required to change state)."""

    via: str  # "key" or "session"
    csrf: str | None = None
    session: str | None = None

    @property
    def label(self) -> str:
        """Who, for the audit log: never the key or the session id themselves."""
        return "operator (key)" if self.via == "key" else f"operator (session {self.session})"


class ConsoleAuth:
    """Operator keys compared in constant time; sessions kept in the store (hashed ids), so
    every instance knows them and a logout ends them everywhere."""

    def __init__(self, store: Store, operator_keys: list[str], ttl: float = SESSION_TTL) -> None:
        self._store = store
        self._keys = [key.encode() for key in operator_keys if key]
        self.ttl = ttl

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def is_key(self, given: str) -> bool:
        encoded = given.encode()
        # Every key compared, always: the time taken does not tell which one is close.
        matches = [hmac.compare_digest(encoded, key) for key in self._keys]
        return any(matches)

    @staticmethod
    def bearer(environ: dict[str, Any]) -> str | None:
        """The key sent as `Authorization: Bearer …`, if one is."""
        scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def operator(self, environ: dict[str, Any]) -> Operator | None:
        """The caller, if an operator key or a live session cookie says who it is."""
        key = self.bearer(environ)
        if key is not None:
            return Operator("key") if self.is_key(key) else None
        session_id = cookie_value(environ.get("HTTP_COOKIE", ""), COOKIE)
        if not session_id:
            return None
        found = self._store.get(_session_key(session_id))
        if not isinstance(found, dict):
            return None
        return Operator("session", csrf=str(found["csrf"]), session=str(found["label"]))

    def open_session(self) -> tuple[str, Operator]:
        """A new session: its id (for the cookie only) and the operator it stands for."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        label = hashlib.sha256(session_id.encode()).hexdigest()[:8]
        self._store.set(_session_key(session_id), {"csrf": csrf, "label": label,
                                                   "opened": time.time()}, self.ttl)
        return session_id, Operator("session", csrf=csrf, session=label)

    def close_session(self, environ: dict[str, Any]) -> None:
        session_id = cookie_value(environ.get("HTTP_COOKIE", ""), COOKIE)
        if session_id:
            self._store.delete(_session_key(session_id))

    def login_refused(self, address: str | None) -> bool:
        """Whether this address has guessed wrong too often lately (at the form or in an
        Authorization header: both count, so neither is a way round the other's limit)."""
        return self._store.incr(_failures_key(address), LOGIN_WINDOW, 0) >= LOGIN_FAILURES

    def login_failed(self, address: str | None) -> None:
        self._store.incr(_failures_key(address), LOGIN_WINDOW)


def _session_key(session_id: str) -> str:
    # Only a hash of the id is stored: a copy of the store opens no session.
    return "console:session:" + hashlib.sha256(session_id.encode()).hexdigest()


def _failures_key(address: str | None) -> str:
    return f"console:login-failures:{address or '-'}"


def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def session_cookie(session_id: str, ttl: float, secure: bool) -> str:
    """The Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict (no other site's
    page sends it), scoped to the console, gone after `ttl`."""
    return (f"{COOKIE}={session_id}; Path=/console/; Max-Age={int(ttl)}; HttpOnly; "
            f"SameSite=Strict{'; Secure' if secure else ''}")


def expired_cookie(secure: bool) -> str:
    return (f"{COOKIE}=; Path=/console/; Max-Age=0; HttpOnly; SameSite=Strict"
            f"{'; Secure' if secure else ''}")


def same_origin(environ: dict[str, Any], base_url: str) -> bool:
    """Whether a state-changing request comes from a page of this bridge: its Origin (else its
    Referer) must be the bridge's own origin. Neither header: refused, as browsers send one."""
    claimed = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER") or ""
    if not claimed or claimed == "null":
        return False
    given, own = urlsplit(claimed), urlsplit(base_url)
    return (given.scheme.lower(), given.netloc.lower()) == (own.scheme.lower(), own.netloc.lower())


def csrf_ok(operator: Operator, environ: dict[str, Any], base_url: str) -> bool:
    """A state change by key needs nothing more; by session, the session's token in the
    X-CSRF-Token header and a same-origin request."""
    if operator.via == "key":
        return True
    given = environ.get("HTTP_X_CSRF_TOKEN", "")
    return (operator.csrf is not None and hmac.compare_digest(given.encode(),
                                                              operator.csrf.encode())
            and same_origin(environ, base_url))
