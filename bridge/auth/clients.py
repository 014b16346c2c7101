"""Clients of the token exchange: HTTP Basic credentials (RFC 6749 §2.3.1) checked against the
argon2id or bcrypt hashes of `token_exchange.clients` in the configuration."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from urllib.parse import unquote_plus

from bridge.auth.passwords import check_hash, hash_password, predominant_algorithm

# A client that proved its secret is not hashed again for this long: an argon2id check costs
# 64 MiB and tens of milliseconds, and an integration may exchange after every login. The
# secret cannot change meanwhile (the configuration is read at start-up).
REMEMBER_SECONDS = 300.0
_REMEMBERED_CLIENTS = 1024


class TokenClients:
    """Who may call /v1/token when clients are configured; nobody needs to when none are."""

    def __init__(self, hashes: Mapping[str, str]) -> None:
        self._hashes = dict(hashes)
        self._dummy = (hash_password(secrets.token_urlsafe(16),
                                     predominant_algorithm(self._hashes.values()))
                       if self._hashes else "")
        # Successes are remembered under an HMAC with a key of this process: memory holds no
        # secret, and nothing remembered outlives the process.
        self._key = secrets.token_bytes(32)
        self._remembered: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        return bool(self._hashes)

    def authenticate(self, authorization: str) -> str | None:
        """The client id that an `Authorization: Basic …` value proves, or None."""
        credentials = _basic(authorization)
        if credentials is None:
            return None
        client_id, secret = credentials
        mark = hmac.new(self._key, f"{client_id}\0{secret}".encode(), "sha256").digest()
        now = time.monotonic()
        with self._lock:
            until = self._remembered.get(mark)
            if until is not None and until > now:
                return client_id
        stored = self._hashes.get(client_id)
        # An unknown client costs a check too, so the time taken tells no client ids.
        if not check_hash(stored or self._dummy, secret) or stored is None:
            return None
        with self._lock:
            self._remembered[mark] = now + REMEMBER_SECONDS
            self._remembered.move_to_end(mark)
            while len(self._remembered) > _REMEMBERED_CLIENTS:
                self._remembered.popitem(last=False)
        return client_id


def _basic(authorization: str) -> tuple[str, str] | None:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        return None
    # RFC 6749 §2.3.1: id and secret are form-encoded before they are joined with ":".
    return unquote_plus(client_id), unquote_plus(secret)
