"""Keyed fingerprints: HMAC-SHA256 of purpose and value, the first 40 hex digits."""

from __future__ import annotations

import hmac

from bridge.auth.seal import keyed_fingerprint


def test_keyed_fingerprints_are_hmac_sha256_under_each_key() -> None:
    for key in (b"k" * 32, b"another key of the same process" * 2):
        for value in ("", "jdoe@example.com", "p\u00e4ss"):
            expected = hmac.digest(key, f"verified\x00{value}".encode(), "sha256").hex()[:40]
            assert keyed_fingerprint(key, value, "verified") == expected
    # Purpose and key both matter.
    assert keyed_fingerprint(b"k" * 32, "x", "a") != keyed_fingerprint(b"k" * 32, "x", "b")
    assert keyed_fingerprint(b"k" * 32, "x", "a") != keyed_fingerprint(b"j" * 32, "x", "a")
