"""Account contexts of a user: from a REST lookup rule, a directory file, or learned answers."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.errors import BridgeError, ConfigError, Problem
from bridge.migrate.dispatch import directory_key
from bridge.rules.engine import RuleEngine
from bridge.rules.model import Rule
from bridge.store.base import Store
from bridge.yamlfile import LocatedDict, load_yaml

log = logging.getLogger("bridge.directory")

ACCOUNTS_LOOKUP = "lookup:accounts"


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


class DirectoryFile:
    """`users: {name: {accounts: [{contextIdentifier, name, isPrimary}]}}`, re-read on change."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._users: dict[str, list[dict[str, Any]]] = {}

    def accounts(self, username: str) -> list[dict[str, Any]] | None:
        with self._lock:
            self._reload()
            return self._users.get(username.strip().casefold())

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
        self._users = {
            str(name).strip().casefold(): normalise_accounts((entry or {}).get("accounts"))
            for name, entry in users.items() if isinstance(entry, dict | type(None))
        }
        self._stamp = stamp


class Directory:
    """Asks each configured source in turn; the first that knows the user answers."""

    def __init__(self, sources: tuple[str, ...], store: Store, engine: RuleEngine,
                 lookup_rule: Callable[[], Rule | None], file: str | None) -> None:
        self._sources = sources
        self._store = store
        self._engine = engine
        self._lookup_rule = lookup_rule
        self._file = DirectoryFile(file) if file else None
        self._readers: dict[str, Callable[[str], list[dict[str, Any]] | None]] = {
            "rest": self._from_rest, "file": self._from_file, "learned": self._from_learned,
        }

    def lookup(self, username: str) -> Lookup | None:
        for source in self._sources:
            accounts = self._readers[source](username)
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

    def _from_file(self, username: str) -> list[dict[str, Any]] | None:
        if self._file is None:
            return None
        try:
            return self._file.accounts(username)
        except BridgeError as exc:
            log.error("directory file unreadable", extra={"error": str(exc)})
            return None

    def _from_learned(self, username: str) -> list[dict[str, Any]] | None:
        entry = self._store.get(directory_key(username))
        return normalise_accounts(entry.get("accounts")) if isinstance(entry, dict) else None
