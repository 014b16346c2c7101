"""What the bridge knows of a user: account contexts (REST lookup rule, directory file,
learned answers) and names (directory file, learned answers)."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.auth.seal import fingerprint
from bridge.errors import BridgeError, ConfigError, Problem
from bridge.identity import folded, identity
from bridge.rules.engine import RuleEngine
from bridge.rules.model import LEARNED_NAMES, Rule
from bridge.store.base import Store, read_ahead
from bridge.yamlfile import LocatedDict, load_yaml

log = logging.getLogger("bridge.directory")

ACCOUNTS_LOOKUP = "lookup:accounts"
# The sources the bridge keeps itself; `rest` asks the vendor, which has no names.
OWN_SOURCES = ("file", "learned")
_LEARNED_TTL = 10 * 365 * 86400


@dataclass(frozen=True)
class Lookup:
    """A user's accounts as the JSON API and the CLI show them."""

    username: str
    accounts: list[dict[str, Any]]
    source: str

    @property
    def user_context(self) -> str | None:
        """The ready value for the X-AS-UserContext header: user:primary context."""
        primary = next((a for a in self.accounts if a.get("isPrimary")), None)
        if primary is None and len(self.accounts) == 1:
            primary = self.accounts[0]
        return f"{self.username}:{primary['contextIdentifier']}" if primary else None

    def as_json(self) -> dict[str, Any]:
        return {"username": self.username, "accounts": self.accounts,
                "userContext": self.user_context, "source": self.source}


def normalise_accounts(accounts: Any) -> list[dict[str, Any]]:
    """Keep the three documented fields, typed, in a stable order (primary first)."""
    kept = []
    for account in accounts if isinstance(accounts, list) else []:
        if not isinstance(account, Mapping) or not account.get("contextIdentifier"):
            continue
        primary = account.get("isPrimary")
        kept.append({
            "contextIdentifier": str(account["contextIdentifier"]),
            "name": None if account.get("name") is None else str(account["name"]),
            "isPrimary": primary is True or str(primary).lower() == "true",
        })
    return sorted(kept, key=lambda a: (not a["isPrimary"], a["name"] or ""))


def normalise_entry(entry: Any) -> dict[str, Any] | None:
    """A directory entry: `accounts` (normalised) and the names it has, as text; None if
    it holds neither."""
    if not isinstance(entry, Mapping):
        return None
    found: dict[str, Any] = {"accounts": normalise_accounts(entry.get("accounts"))}
    for name in LEARNED_NAMES:
        value = entry.get(name)
        if value is not None and str(value).strip():
            found[name] = str(value).strip()
    return found if found["accounts"] or len(found) > 1 else None


@functools.lru_cache(maxsize=4096)
def directory_keys(username: str) -> tuple[str, ...]:
    """Where the user's learned entry is: under their identity, and for a name whose key
    was made differently before identity (strip, casefold), where it was (read second).
    Kept per name (no secret): read on every login, warm ones too."""
    return tuple("directory:" + fingerprint(form, "directory-user")
                 for form in dict.fromkeys((identity(username), folded(username))))


def learn_directory(store: Store, username: str, accounts: list[dict[str, Any]],
                    names: Mapping[str, str] | None = None) -> None:
    """Replace what was learned of the user: accounts, and the names the answer gave."""
    key, *before = directory_keys(username)
    store.set(key, {"username": username.strip(), "accounts": accounts, **(names or {}),
                    "learned_at": time.time()}, _LEARNED_TTL)
    for old in before:
        store.delete(old)  # upgraded: the entry lives under the identity from now on


class DirectoryFile:
    """`users: {name: {firstName?, lastName?, accounts?: [{contextIdentifier, name,
    isPrimary}]}}`, re-read on change."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._users: dict[str, dict[str, Any]] = {}

    def entry(self, username: str) -> dict[str, Any] | None:
        with self._lock:
            self._reload()
            return self._users.get(identity(username))

    def holders(self, context_identifier: str) -> list[str]:
        """The users (their identities) who hold the account: those whose primary account
        it is first, then by name (bridge/contexts.py)."""
        wanted = context_identifier.strip().casefold()
        with self._lock:
            self._reload()
            found = [(not account["isPrimary"], name) for name, entry in self._users.items()
                     for account in entry["accounts"]
                     if account["contextIdentifier"].strip().casefold() == wanted]
        return [name for _, name in sorted(found)]

    def _reload(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._users, self._stamp = {}, None
            return
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._stamp:
            return
        data = load_yaml(self.path)
        users = data.get("users") if isinstance(data, LocatedDict) else None
        if not isinstance(users, LocatedDict):
            raise ConfigError([Problem(self.path, 1, "expected a 'users:' mapping")])
        entries = {identity(str(name)): normalise_entry(entry)
                   for name, entry in users.items()}
        self._users = {name: entry for name, entry in entries.items() if entry is not None}
        self._stamp = stamp


class LocalDirectory:
    """The directory's own sources, file and learned, in the configured order: what a
    directory step of a rule reads (names above all, which no REST endpoint gives)."""

    def __init__(self, sources: tuple[str, ...], store: Store, file: str | None) -> None:
        self._sources = tuple(s for s in sources if s in OWN_SOURCES)
        self._store = store
        self._file = DirectoryFile(file) if file else None

    def entry(self, username: str, found: Mapping[str, Any] | None = None
              ) -> dict[str, Any] | None:
        """The first own source's entry for the user: {accounts, firstName?, lastName?}.
        `found`: store values the caller already read (keys from `reads`), so the learned
        source need not read them again (the rule engine reads them with the lockout's)."""
        for source in self._sources:
            entry = self.entry_from(source, username, found)
            if entry is not None:
                return entry
        return None

    def reads(self, username: str) -> tuple[str, ...]:
        """The store keys `entry` reads for the user (none without the learned source)."""
        return directory_keys(username) if "learned" in self._sources else ()

    def entry_from(self, source: str, username: str, found: Mapping[str, Any] | None = None
                   ) -> dict[str, Any] | None:
        if source == "file":
            return self._from_file(username)
        if source == "learned":
            learned = read_ahead(self._store, directory_keys(username), found)
            return next((e for e in map(normalise_entry, learned) if e is not None), None)
        return None

    def _from_file(self, username: str) -> dict[str, Any] | None:
        if self._file is None:
            return None
        try:
            return self._file.entry(username)
        except BridgeError as exc:
            log.error("directory file unreadable", extra={"error": str(exc)})
            return None


class Directory:
    """A user's accounts: asks each configured source in turn; the first that knows them
    answers."""

    def __init__(self, sources: tuple[str, ...], own: LocalDirectory, engine: RuleEngine,
                 lookup_rule: Callable[[], Rule | None]) -> None:
        self._sources = sources
        self._own = own
        self._engine = engine
        self._lookup_rule = lookup_rule

    def lookup(self, username: str) -> Lookup | None:
        for source in self._sources:
            if source == "rest":
                accounts = self._from_rest(username)
            else:
                entry = self._own.entry_from(source, username)
                accounts = entry["accounts"] if entry is not None else None
            if accounts:
                return Lookup(username.strip(), accounts, source)
        return None

    def _from_rest(self, username: str) -> list[dict[str, Any]] | None:
        rule = self._lookup_rule()
        if rule is None:
            return None
        outcome = self._engine.run(rule, {"body": {"username": username.strip()}, "header": {}})
        if outcome.result is None:
            log.info("REST account lookup found nothing",
                     extra={"reason": outcome.reason, "detail": outcome.detail})
            return None
        return normalise_accounts(outcome.result.get("accounts"))
