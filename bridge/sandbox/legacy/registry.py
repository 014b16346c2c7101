"""The users and accounts the legacy service knows: the seed's, as the management operations change them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from ..seed import Seed

# [INFERRED] the role of the seed's users, which the seed does not give.
SEED_ROLE = "User"


@dataclass(frozen=True)
class Membership:
    """A user's place in an account."""

    context_identifier: str
    primary: bool


@dataclass(frozen=True)
class LegacyUser:
    """A user as the Users service reports and changes it."""

    username: str
    password: str
    first_name: str | None
    last_name: str | None
    role: str
    memberships: tuple[Membership, ...]
    tags: tuple[tuple[str, str], ...] = ()
    inactive: bool = False
    locked: bool = False
    require_password_change: bool = False
    password_expired: bool = False

    def member_of(self, context_identifier: str) -> bool:
        wanted = context_identifier.casefold()
        return any(m.context_identifier.casefold() == wanted for m in self.memberships)


@dataclass(frozen=True)
class LegacyAccount:
    """An account as the Accounts service reports and changes it; `parent` makes it a child."""

    context_identifier: str
    name: str
    display_name: str | None = None
    account_group: str | None = None
    parent: str | None = None
    inactive: bool = False


class Conflict(Exception):
    """A change the registry refuses: a name taken, an account moved below itself."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Registry:
    """Thread-safe; `reset()` goes back to the seed. Credentials the service "e-mails" are kept
    in `sent_credentials`, the sandbox's stand-in for the user's inbox."""

    def __init__(self, seed: Seed) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._users: dict[str, LegacyUser] = {}
        self._accounts: dict[str, LegacyAccount] = {}
        self._sent: dict[str, str] = {}
        self.reset()

    def reset(self) -> None:
        accounts: dict[str, LegacyAccount] = {}
        users: dict[str, LegacyUser] = {}
        for user in self.seed.users:
            extras = self.seed.legacy.extra_accounts.get(user.username.casefold(), ())
            for account in (*user.accounts, *extras):
                accounts.setdefault(
                    account.context_identifier.casefold(),
                    LegacyAccount(account.context_identifier, account.name),
                )
            users[user.username.casefold()] = LegacyUser(
                username=user.username,
                password=user.password,
                first_name=user.first_name,
                last_name=user.last_name,
                role=SEED_ROLE,
                memberships=tuple(
                    Membership(a.context_identifier, a.primary) for a in self.seed.legacy_accounts(user)
                ),
                inactive=user.status == "inactive",
                locked=user.status == "locked",
                password_expired=user.status == "expired_password",
            )
        for details in self.seed.legacy.accounts:
            accounts[details.context_identifier.casefold()] = LegacyAccount(
                context_identifier=details.context_identifier,
                name=details.name,
                display_name=details.display_name,
                account_group=details.account_group,
                parent=details.parent,
                inactive=details.inactive,
            )
        with self._lock:
            self._users = users
            self._accounts = accounts
            self._sent = {}

    # -- reading ---------------------------------------------------------------

    def user(self, username: str) -> LegacyUser | None:
        with self._lock:
            return self._users.get(username.casefold())

    def account(self, context_identifier: str) -> LegacyAccount | None:
        with self._lock:
            return self._accounts.get(context_identifier.casefold())

    def members(self, context_identifier: str) -> list[LegacyUser]:
        with self._lock:
            return [u for u in self._users.values() if u.member_of(context_identifier)]

    def children(self, context_identifier: str) -> list[LegacyAccount]:
        wanted = context_identifier.casefold()
        with self._lock:
            return [
                a for a in self._accounts.values() if a.parent is not None and a.parent.casefold() == wanted
            ]

    def may_manage(self, user: LegacyUser, context_identifier: str) -> bool:
        """Whether the user belongs to the account or to an account above it.

        [INFERRED] a parent account's users manage its children: the articles have them
        create child accounts (CreateAccount) and list them (ListAccounts)."""
        with self._lock:
            return any(user.member_of(above) for above in self._lineage(context_identifier))

    def sent_credentials(self, username: str) -> str | None:
        """The password last "e-mailed" to the user (SendCredentialsViaEmail), if any."""
        with self._lock:
            return self._sent.get(username.casefold())

    # -- changing --------------------------------------------------------------

    def add_user(self, user: LegacyUser) -> None:
        with self._lock:
            if user.username.casefold() in self._users:
                raise Conflict(f"A user named '{user.username}' already exists.")
            self._users[user.username.casefold()] = user

    def replace_user(self, username: str, user: LegacyUser) -> None:
        """Put `user` in the place of the user called `username` (which it may rename)."""
        with self._lock:
            taken = self._users.get(user.username.casefold())
            if taken is not None and taken.username.casefold() != username.casefold():
                raise Conflict(f"A user named '{user.username}' already exists.")
            self._users.pop(username.casefold(), None)
            self._users[user.username.casefold()] = user

    def leave(self, username: str, context_identifier: str) -> None:
        """Take the user out of the account; a user left in no account is gone."""
        with self._lock:
            user = self._users.get(username.casefold())
            if user is None:
                return
            kept = tuple(
                m
                for m in user.memberships
                if m.context_identifier.casefold() != context_identifier.casefold()
            )
            if not kept:
                del self._users[username.casefold()]
                return
            if not any(m.primary for m in kept):
                # [INFERRED] the service always reports one primary account.
                kept = (replace(kept[0], primary=True), *kept[1:])
            self._users[username.casefold()] = replace(user, memberships=kept)

    def send_credentials(self, username: str, password: str) -> None:
        with self._lock:
            self._sent[username.casefold()] = password

    def add_account(self, account: LegacyAccount) -> None:
        with self._lock:
            self._accounts[account.context_identifier.casefold()] = account

    def replace_account(self, account: LegacyAccount) -> None:
        with self._lock:
            if account.parent is not None and account.context_identifier.casefold() in {
                a.casefold() for a in self._lineage(account.parent)
            }:
                raise Conflict(f"Account {account.context_identifier} cannot be moved below itself.")
            self._accounts[account.context_identifier.casefold()] = account

    def _lineage(self, context_identifier: str) -> list[str]:
        """The account and the accounts above it, nearest first (the lock is held)."""
        lineage = [context_identifier]
        above = self._accounts.get(context_identifier.casefold())
        while above is not None and above.parent is not None and len(lineage) <= len(self._accounts):
            lineage.append(above.parent)
            above = self._accounts.get(above.parent.casefold())
        return lineage
