"""The `local` verification strategy: argon2id or bcrypt hashes in a credentials file."""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import bcrypt
import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bridge.errors import ConfigError, Problem
from bridge.identity import identity
from bridge.yamlfile import LocatedDict, load_yaml

STATUSES = ("active", "locked", "inactive", "expired_password")
ALGORITHMS = ("argon2id", "bcrypt")

_ARGON2 = PasswordHasher()


@dataclass(frozen=True)
class LocalUser:
    username: str
    hash: str
    status: str = "active"


def hash_password(password: str, algorithm: str = "argon2id") -> str:
    if algorithm == "argon2id":
        return _ARGON2.hash(password)
    if algorithm == "bcrypt":
        return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")
    raise ValueError(f"unknown algorithm {algorithm!r} (use {' or '.join(ALGORITHMS)})")


def check_hash(stored: str, password: str) -> bool:
    """Constant-time comparison through the hash libraries themselves."""
    if stored.startswith("$argon2"):
        try:
            return _ARGON2.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            return bcrypt.checkpw(password.encode("utf-8"), stored.encode("ascii"))
        except ValueError:
            return False
    return False


def predominant_algorithm(hashes: Iterable[str]) -> str:
    """The algorithm most of `hashes` use: a dummy hash of that kind makes checking an unknown
    name take as long as checking a known one, so timing tells no names."""
    kinds = ["bcrypt" if hashed.startswith("$2") else "argon2id" for hashed in hashes]
    return "bcrypt" if kinds.count("bcrypt") * 2 > len(kinds) else "argon2id"


def read_credentials(path: str) -> dict[str, LocalUser]:
    """Parse the credentials file; problems name the file and line."""
    if not os.path.exists(path):
        return {}
    data = load_yaml(path)
    if data is None:
        return {}
    problems: list[Problem] = []
    users: dict[str, LocalUser] = {}
    section = data.get("users") if isinstance(data, dict) else None
    if not isinstance(section, LocatedDict):
        raise ConfigError([Problem(path, getattr(data, "line", 1), "expected a 'users:' mapping")])
    for name, entry in section.items():
        line = section.line_of(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
            problems.append(Problem(path, line, f"user {name!r} needs a hash"))
            continue
        status = entry.get("status", "active")
        if status not in STATUSES:
            problems.append(
                Problem(path, line, f"user {name!r}: status {status!r} is not one of "
                        + ", ".join(STATUSES))
            )
            continue
        users[identity(name)] = LocalUser(name, entry["hash"], status)
    if problems:
        raise ConfigError(problems)
    return users


def write_credentials(path: str, users: dict[str, LocalUser]) -> None:
    """Replace the file atomically, readable by its owner only."""
    document: dict[str, Any] = {
        "users": {
            user.username: {"hash": user.hash, "status": user.status}
            for user in sorted(users.values(), key=lambda u: u.username)
        }
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".credentials-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("# Managed by `soap-bridge passwd`. Hashes only: never a password.\n")
            yaml.safe_dump(document, out, sort_keys=False)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


@dataclass(frozen=True)
class Verdict:
    """The outcome of a local verification: ok, or the refusal reason."""

    ok: bool
    reason: str | None = None


class CredentialsFile:
    """Verifies passwords against the file, re-reading it when `passwd` changes it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._users: dict[str, LocalUser] = {}
        self._dummy = ""
        self._reload()

    def _reload(self) -> None:
        try:
            stat = os.stat(self.path)
            stamp: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._users = read_credentials(self.path)
            self._stamp = stamp
            # Unknown users are checked against a dummy hash of the file's usual kind, so
            # the answer takes as long as for a known user: timing tells no user names.
            algorithm = predominant_algorithm(u.hash for u in self._users.values())
            if not self._dummy or self._dummy.startswith("$2") != (algorithm == "bcrypt"):
                self._dummy = hash_password(secrets.token_urlsafe(16), algorithm)

    def verify(self, username: str, password: str) -> Verdict:
        with self._lock:
            self._reload()
            user = self._users.get(identity(username))
        if user is None:
            check_hash(self._dummy, password)
            return Verdict(False, "invalid_credentials")
        if not check_hash(user.hash, password):
            return Verdict(False, "invalid_credentials")
        # Status is told only to a caller who knows the password, as the legacy service did.
        if user.status != "active":
            return Verdict(False, user.status)
        return Verdict(True)
