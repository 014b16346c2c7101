"""Seal small secrets before they reach the store: a leaked state file reveals nothing.

Encrypt-then-MAC from the standard library alone: a SHAKE-256 keystream keyed by
(key, random nonce) and an HMAC-SHA256 tag. Keys are random 128+ bit values, so
this is a sound stream-cipher construction without pulling in a crypto package.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    return hashlib.shake_256(b"soap-bridge/seal\x00" + key + nonce).digest(length)


def _xor(data: bytes, stream: bytes) -> bytes:
    # One big-integer XOR instead of a Python loop over bytes: a token record is ~1 KB.
    length = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(length, "big")


def _tag(key: bytes, nonce: bytes, body: bytes) -> bytes:
    return hmac.digest(key, b"tag\x00" + nonce + body, "sha256")[:16]


def seal(key: bytes, plaintext: str) -> str:
    nonce = secrets.token_bytes(16)
    data = plaintext.encode("utf-8")
    body = _xor(data, _keystream(key, nonce, len(data)))
    return base64.urlsafe_b64encode(nonce + _tag(key, nonce, body) + body).decode("ascii")


def unseal(key: bytes, sealed: str) -> str | None:
    """The plaintext, or None if the value was sealed under another key or altered."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    if len(raw) < 32:
        return None
    nonce, tag, body = raw[:16], raw[16:32], raw[32:]
    if not hmac.compare_digest(tag, _tag(key, nonce, body)):
        return None
    data = _xor(body, _keystream(key, nonce, len(body)))
    return data.decode("utf-8")


def keyed_fingerprint(key: bytes, value: str, purpose: str) -> str:
    """fingerprint() under a secret key: for values an attacker could guess (passwords), so a
    leaked store cannot be searched offline without the key too."""
    mac = _keyed(key).copy()
    mac.update(f"{purpose}\x00{value}".encode())
    return mac.hexdigest()[:40]


@functools.lru_cache(maxsize=16)
def _keyed(key: bytes) -> hmac.HMAC:
    # The key's HMAC state made once and copied: hmac.digest() sets up the key and looks the
    # hash up again on every call, twice the cost (a warm login makes two or three).
    return hmac.new(key, digestmod=hashlib.sha256)


def fingerprint(value: str, purpose: str) -> str:
    """A stable, non-reversible store key for a value that must not be stored itself."""
    return hashlib.sha256(f"{purpose}\x00{value}".encode()).hexdigest()[:40]
