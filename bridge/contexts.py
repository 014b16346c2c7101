"""Who the bridge acts as for a request that names an account but brings no token: the
`contexts:` section.

The DocumentNOW v2 link operations (GetSigningLinks, GetAccessLink) have no field for an
AuthenticationToken: the legacy service took the account's ContextIdentifier (with the
envelope's auth token) as the credential. A rule whose `session` says `without_token:
context` takes such a request the same way, acting for a user who holds the account: the
one `contexts.holders` names for it, else one the directory file lists with it (its primary
holders first, then by name). `contexts.require_token: true` refuses such requests instead
(docs/security.md, "Signing links without a token").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import BridgeError
from bridge.schema import Reader, flag
from bridge.yamlfile import LocatedDict

log = logging.getLogger("bridge.contexts")


@dataclass(frozen=True)
class ContextSettings:
    """`contexts:`: the account holders by ContextIdentifier, and whether a token is required."""

    # ContextIdentifier (casefolded) -> the user the bridge acts as in that account.
    holders: Mapping[str, str] = field(default_factory=dict)
    # Whether the directory file's users stand in for an account holders does not name.
    from_directory: bool = True
    # Refuse every request that brings no token (rules with session.without_token: context).
    require_token: bool = False


def read_contexts(reader: Reader, data: LocatedDict) -> ContextSettings:
    """`contexts:`, the defaults when absent; each problem at its line."""
    section = reader.section(data, "contexts")
    values = reader.read(section, {"from_directory": flag, "require_token": flag},
                         also=("holders",), where=" in contexts")
    holders: dict[str, str] = {}
    table = reader.section(section, "holders") if "holders" in section else LocatedDict()
    for context, user in table.items():
        try:
            uuid.UUID(str(context))
        except ValueError:
            reader.problem(table, context, f"{context!r} is not a ContextIdentifier (a GUID)")
            continue
        if not isinstance(user, str) or not user.strip():
            reader.problem(table, context, f"{context}: the holder is a user name, e.g. "
                           "ops@example.org")
            continue
        holders[str(context).casefold()] = user.strip()
    return ContextSettings(holders=holders, **values)


class ContextHolders:
    """The holder of an account, from the configuration's table, else the directory file's
    users who hold it (`holders_of`: bridge/directory.py's DirectoryFile.holders)."""

    def __init__(self, settings: ContextSettings,
                 holders_of: Callable[[str], list[str]] | None) -> None:
        self.settings = settings
        self._holders_of = holders_of if settings.from_directory else None

    def holder(self, context_identifier: str) -> str | None:
        wanted = context_identifier.strip().casefold()
        named = self.settings.holders.get(wanted)
        if named is not None or self._holders_of is None:
            return named
        try:
            found = self._holders_of(wanted)
        except BridgeError as exc:
            log.error("directory file unreadable", extra={"error": str(exc)})
            return None
        return found[0] if found else None


def holders_for(settings: ContextSettings,
                holders_of: Callable[[str], list[str]] | None) -> dict[str, Any]:
    """The EngineContext fields for sessions by context (bridge/rules/engine.py)."""
    return {"context_holder": ContextHolders(settings, holders_of).holder,
            "require_token": settings.require_token}
