"""The local strategy: hashes, statuses, reloading, and no clue about unknown users."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bridge.auth.passwords import (
    CredentialsFile,
    LocalUser,
    check_hash,
    hash_password,
    read_credentials,
    write_credentials,
)
from bridge.errors import ConfigError


@pytest.mark.parametrize("algorithm", ["argon2id", "bcrypt"])
def test_hashes_verify_only_the_right_password(algorithm: str) -> None:
    stored = hash_password("correct horse", algorithm)
    assert "correct horse" not in stored
    assert check_hash(stored, "correct horse")
    assert not check_hash(stored, "correct horsE")
    assert not check_hash("plain-text", "plain-text")


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown algorithm 'md5'"):
        hash_password("x", "md5")


def test_credentials_file_round_trip_is_private(tmp_path: Path) -> None:
    path = tmp_path / "creds.yaml"
    write_credentials(str(path), {"a@x.com": LocalUser("A@x.com", hash_password("pw"), "inactive")})
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    users = read_credentials(str(path))
    assert users["a@x.com"].username == "A@x.com"
    assert users["a@x.com"].status == "inactive"


def test_verify_outcomes_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "creds.yaml"
    credentials = CredentialsFile(str(path))
    assert credentials.verify("a@x.com", "pw").reason == "invalid_credentials"
    write_credentials(str(path), {"a@x.com": LocalUser("a@x.com", hash_password("pw"))})
    assert credentials.verify("A@X.com ", "pw").ok
    assert credentials.verify("a@x.com", "nope").reason == "invalid_credentials"
    time.sleep(0.01)
    write_credentials(str(path), {"a@x.com": LocalUser("a@x.com", hash_password("pw"), "locked")})
    assert credentials.verify("a@x.com", "pw").reason == "locked"
    assert credentials.verify("a@x.com", "nope").reason == "invalid_credentials"


def test_broken_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "creds.yaml"
    path.write_text("users:\n  a@x.com: {status: active}\n")
    with pytest.raises(ConfigError, match=rf"{path}:2: user 'a@x.com' needs a hash"):
        read_credentials(str(path))
