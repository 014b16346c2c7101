"""Load and validate the sandbox seed (users, API users, legacy quirks) into frozen dataclasses."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import yaml

STATUSES = ("active", "locked", "inactive", "expired_password")
SCOPE_KINDS = ("organisation", "user", "environment")
# Envelope statuses as the REST side writes them (FACTS §2, §5.4: "iN_PROGRESS").
ENVELOPE_COMPLETED = "completed"
ENVELOPE_STATUSES = ("iN_PROGRESS", "completed", "cancelled", "declined", "expired")
DEFAULT_EXPIRED_PASSWORD_URL = "https://sandbox.invalid/ChangePassword?expired=1"  # noqa: S105
DEFAULT_MAX_FAILURES = 5
DEFAULT_CHANGE_PASSWORD_URL = "https://sandbox.invalid/ChangePassword"  # noqa: S105
# What GetAccount lists when the seed names none. "Limited User", "Standard" and "All" are
# the values of the vendor's samples; [INFERRED] "Administrator" and "User" are placeholders.
DEFAULT_ROLES = ("Administrator", "User", "Limited User")
DEFAULT_ACCOUNT_TEMPLATES = ("Standard",)
DEFAULT_ACCOUNT_GROUPS = ("All",)
BUNDLED_SEED = "seed.yaml"
# The bridge's directory file for the bundled seed's users: their names, which no REST
# endpoint gives. Beside the seed so demo mode and the tests find it (directory.file: sandbox).
BUNDLED_DIRECTORY = "directory.yaml"

# The WSDL's xs:pattern for Guid: shape only, no RFC 4122 version/variant check,
# because the vendor's own sample accountId (…-1278-…) would fail one.
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Namespace for the stable per-user roleId the credentials endpoint reports.
_ROLE_NAMESPACE = uuid.UUID("0f1c8a47-7a3e-4d43-9a39-5b1c2f6d7e10")


class SeedError(ValueError):
    """A seed file that cannot be read or does not describe a usable sandbox."""

    def __init__(self, source: str, problem: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Account:
    """One eSign account a user belongs to; context_identifier is its per-account API key.

    `disabled`: the user's access to it is disabled (the REST `isDisabled` flag); it is a
    property of the membership, so one account may be disabled for one user only."""

    context_identifier: str
    name: str
    primary: bool
    disabled: bool = False


@dataclass(frozen=True)
class User:
    """An eSign user: what the login page, AuthenticateUser and the credentials endpoint know."""

    username: str
    password: str
    first_name: str
    last_name: str
    status: str
    accounts: tuple[Account, ...]

    @property
    def role_id(self) -> str:
        return str(uuid.uuid5(_ROLE_NAMESPACE, self.username.casefold()))

    @property
    def usable_accounts(self) -> tuple[Account, ...]:
        """The accounts the user may use: all but the disabled ones."""
        return tuple(a for a in self.accounts if not a.disabled)

    def has_account(self, context_identifier: str) -> bool:
        wanted = context_identifier.casefold()
        return any(a.context_identifier.casefold() == wanted for a in self.accounts)


@dataclass(frozen=True)
class Scope:
    """Whom an API user may act for: one user, some environments, or the whole organisation."""

    kind: str
    user: str | None = None
    environments: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiUser:
    """An account.assuresign.net API user: not an eSign user, authenticates with a key."""

    username: str
    key: str
    scope: Scope
    expires: dt.date
    revoked: bool


@dataclass(frozen=True)
class AccountDetails:
    """What the legacy Accounts service tells about an account beyond its name.

    `parent` makes it a child account (ListAccounts lists the children of a parent)."""

    context_identifier: str
    name: str
    display_name: str | None = None
    account_group: str | None = None
    parent: str | None = None
    inactive: bool = False


@dataclass(frozen=True)
class Template:
    """A document template the legacy ListTemplates operation lists for its account."""

    id: str
    account: str
    name: str
    created: dt.datetime
    page_count: int = 1
    description: str | None = None


@dataclass(frozen=True)
class LegacySide:
    """Where the legacy SOAP side differs from the REST side, and what only it has."""

    extra_accounts: Mapping[str, tuple[Account, ...]]
    max_failures: int
    accounts: tuple[AccountDetails, ...] = ()
    # The names GetAccount reports and CreateUser/UpdateUser/CreateAccount accept.
    roles: tuple[str, ...] = DEFAULT_ROLES
    account_templates: tuple[str, ...] = DEFAULT_ACCOUNT_TEMPLATES
    account_groups: tuple[str, ...] = DEFAULT_ACCOUNT_GROUPS
    templates: tuple[Template, ...] = ()
    change_password_url: str = DEFAULT_CHANGE_PASSWORD_URL


@dataclass(frozen=True)
class Signer:
    """One party of an envelope: who signs, and whether their signing step is the active one."""

    id: str
    email: str
    name: str
    mobile_phone: str | None = None
    current: bool = True


@dataclass(frozen=True)
class Envelope:
    """An envelope in an account, for the REST signingLinks and accessLinks routes.

    `status` is the REST wire value (FACTS §2: camel-cased enums such as iN_PROGRESS)."""

    id: str
    account: str
    name: str
    status: str
    auth_token: str
    signers: tuple[Signer, ...] = ()

    @property
    def completed(self) -> bool:
        return self.status.casefold() == ENVELOPE_COMPLETED.casefold()


@dataclass(frozen=True)
class Seed:
    """Everything the sandbox serves, fixed at start-up."""

    source: str
    environment: str
    organisation: str
    users: tuple[User, ...]
    api_users: tuple[ApiUser, ...]
    legacy: LegacySide
    expired_password_url: str
    envelopes: tuple[Envelope, ...] = ()

    def envelope(self, envelope_id: str) -> Envelope | None:
        wanted = envelope_id.casefold()
        return next((e for e in self.envelopes if e.id.casefold() == wanted), None)

    def user(self, username: str) -> User | None:
        """The eSign user with this username (case-insensitive, as e-mail addresses are)."""
        wanted = username.casefold()
        return next((u for u in self.users if u.username.casefold() == wanted), None)

    def api_user(self, username: str) -> ApiUser | None:
        wanted = username.casefold()
        return next((a for a in self.api_users if a.username.casefold() == wanted), None)

    def legacy_accounts(self, user: User) -> tuple[Account, ...]:
        """The accounts the legacy SOAP side reports for a user: the usable shared ones plus
        its extras. A disabled account is left out: the legacy service lists only accounts
        the user can work in (it has no flag to mark the others with)."""
        extras = self.legacy.extra_accounts.get(user.username.casefold(), ())
        return user.usable_accounts + tuple(a for a in extras if not a.disabled)


def bundled_directory_path() -> str:
    """Where the directory file that comes with the bundled seed is."""
    return str(resources.files(__package__).joinpath(BUNDLED_DIRECTORY))


def load_seed(path: str | None = None) -> Seed:
    """Read and validate a seed file; None loads the bundled default seed."""
    if path is None:
        resource = resources.files(__package__).joinpath(BUNDLED_SEED)
        return parse_seed(resource.read_text(encoding="utf-8"), str(resource))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(path, f"cannot read the seed: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SeedError(path, "the seed is not UTF-8 text") from exc
    return parse_seed(text, path)


def parse_seed(text: str, source: str = "<seed>") -> Seed:
    """Validate seed YAML text; source names the file in error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise SeedError(source, f"not valid YAML: {exc.problem}", line) from exc
    except yaml.YAMLError as exc:
        raise SeedError(source, f"not valid YAML: {exc}") from exc
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines, source)
    return _SeedReader(source, lines).seed(data)


def _index_lines(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    source: str,
) -> None:
    """Record the line of every value so errors can point at it; refuse duplicate keys,
    which PyYAML would otherwise resolve silently by keeping the last one."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise SeedError(
                    source,
                    f"{_dotted(path) or 'top level'}: key '{key}' appears twice",
                    key_node.start_mark.line + 1,
                )
            seen.add(key)
            _index_lines(value_node, (*path, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines, source)


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _SeedReader:
    """Turns the loaded YAML into a Seed, naming file, line and item in every complaint."""

    def __init__(self, source: str, lines: Mapping[tuple[str | int, ...], int]) -> None:
        self.source = source
        self.lines = lines

    def fail(self, path: tuple[str | int, ...], problem: str, key: str | None = None) -> SeedError:
        """An error labelled with the item at `path`, on the line of its `key` if given."""
        where = _dotted(path)
        spot = (*path, key) if key is not None else path
        line = next(
            (self.lines[spot[:n]] for n in range(len(spot), -1, -1) if spot[:n] in self.lines),
            None,
        )
        return SeedError(self.source, f"{where}: {problem}" if where else problem, line)

    # -- typed field access -------------------------------------------------

    def mapping(
        self, value: object, path: tuple[str | int, ...], allowed: tuple[str, ...]
    ) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.fail(path, "must be a mapping" if path else "the seed must be a mapping")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise self.fail(path, f"unknown key '{unknown[0]}' (expected one of {', '.join(allowed)})")
        return {str(k): v for k, v in value.items()}

    def items(self, value: object, path: tuple[str | int, ...]) -> Iterator[object]:
        if value is None:
            return iter(())
        if not isinstance(value, list):
            name = str(path[-1])
            raise self.fail(path[:-1], f"{name} must be a list", key=name)
        return iter(value)

    def text(self, data: Mapping[str, object], key: str, path: tuple[str | int, ...]) -> str:
        value = data.get(key)
        if value is None:
            raise self.fail(path, f"{key} is required")
        if not isinstance(value, str) or not value.strip():
            # Unquoted YAML like `password: 1234` arrives as a number: say so.
            raise self.fail(path, f"{key} must be a non-empty string (quote it)", key=key)
        return value

    def flag(self, data: Mapping[str, object], key: str, path: tuple[str | int, ...], default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(path, f"{key} must be true or false, not {value!r}", key=key)
        return value

    def guid(self, data: Mapping[str, object], key: str, path: tuple[str | int, ...]) -> str:
        value = self.text(data, key, path)
        if not _GUID.fullmatch(value):
            raise self.fail(path, f"{key} '{value}' is not a GUID", key=key)
        return value

    def count(self, data: Mapping[str, object], key: str, path: tuple[str | int, ...], default: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(path, f"{key} must be a whole number of at least 1, not {value!r}", key=key)
        return value

    def optional_text(self, data: Mapping[str, object], key: str, path: tuple[str | int, ...]) -> str | None:
        return self.text(data, key, path) if key in data else None

    def moment(self, data: Mapping[str, object], key: str, path: tuple[str | int, ...]) -> dt.datetime:
        """A date and time; one without a zone is taken as UTC."""
        value = data.get(key)
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        if value is None:
            raise self.fail(path, f"{key} is required")
        raise self.fail(path, f"{key} {value!r} is not a date and time like 2016-08-10T09:30:00Z", key=key)

    # -- the seed's parts ---------------------------------------------------

    def seed(self, data: object) -> Seed:
        top = self.mapping(
            data,
            (),
            ("environment", "organisation", "users", "api_users", "legacy", "urls", "envelopes"),
        )
        users = self.users(top.get("users"))
        by_name = {u.username.casefold(): u for u in users}
        api_users = self.api_users(top.get("api_users"), by_name)
        legacy = self.legacy(top.get("legacy"), by_name)
        self.check_account_names(users, legacy)
        urls = self.mapping(top.get("urls") or {}, ("urls",), ("expired_password",))
        expired_url = (
            self.text(urls, "expired_password", ("urls",))
            if "expired_password" in urls
            else DEFAULT_EXPIRED_PASSWORD_URL
        )
        return Seed(
            source=self.source,
            environment=self.text(top, "environment", ()),
            organisation=self.text(top, "organisation", ()),
            users=users,
            api_users=api_users,
            legacy=legacy,
            expired_password_url=expired_url,
            envelopes=self.envelopes(top.get("envelopes")),
        )

    def envelopes(self, value: object) -> tuple[Envelope, ...]:
        envelopes: list[Envelope] = []
        for index, item in enumerate(self.items(value, ("envelopes",))):
            path: tuple[str | int, ...] = ("envelopes", index)
            data = self.mapping(item, path, ("id", "account", "name", "status", "auth_token",
                                             "signers"))
            status = self.text(data, "status", path)
            if status not in ENVELOPE_STATUSES:
                raise self.fail(path, f"status must be one of {', '.join(ENVELOPE_STATUSES)}",
                                key="status")
            signers = []
            for number, entry in enumerate(self.items(data.get("signers"), (*path, "signers"))):
                signer_path = (*path, "signers", number)
                fields = self.mapping(entry, signer_path, ("id", "email", "name", "mobile_phone",
                                                           "current"))
                signers.append(Signer(self.guid(fields, "id", signer_path),
                                      self.text(fields, "email", signer_path),
                                      self.text(fields, "name", signer_path),
                                      self.optional_text(fields, "mobile_phone", signer_path),
                                      self.flag(fields, "current", signer_path, True)))
            envelopes.append(Envelope(self.guid(data, "id", path), self.guid(data, "account", path),
                                      self.text(data, "name", path), status,
                                      self.guid(data, "auth_token", path), tuple(signers)))
        return tuple(envelopes)

    def users(self, value: object) -> tuple[User, ...]:
        if value is None:
            raise self.fail((), "users is required")
        users: list[User] = []
        seen: set[str] = set()
        for index, item in enumerate(self.items(value, ("users",))):
            path: tuple[str | int, ...] = ("users", index)
            user = self.user(item, path)
            if user.username.casefold() in seen:
                raise self.fail(path, f"username '{user.username}' appears twice", key="username")
            seen.add(user.username.casefold())
            users.append(user)
        if not users:
            raise self.fail(("users",), "at least one user is needed")
        return tuple(users)

    def user(self, value: object, path: tuple[str | int, ...]) -> User:
        data = self.mapping(
            value,
            path,
            ("username", "password", "first_name", "last_name", "status", "accounts"),
        )
        status = data.get("status", "active")
        if status not in STATUSES:
            raise self.fail(path, f"status '{status}' is not one of {', '.join(STATUSES)}", key="status")
        accounts = self.accounts(data.get("accounts"), (*path, "accounts"))
        primaries = sum(a.primary for a in accounts)
        if primaries != 1:
            raise self.fail(
                path,
                f"exactly one account must be primary, {primaries} are",
                key="accounts",
            )
        if any(a.primary and a.disabled for a in accounts):
            # The legacy side must still report a primary account for the user.
            raise self.fail(path, "the primary account cannot be disabled", key="accounts")
        return User(
            username=self.text(data, "username", path),
            password=self.text(data, "password", path),
            first_name=self.text(data, "first_name", path),
            last_name=self.text(data, "last_name", path),
            status=str(status),
            accounts=accounts,
        )

    def accounts(self, value: object, path: tuple[str | int, ...]) -> tuple[Account, ...]:
        accounts: list[Account] = []
        seen: set[str] = set()
        for index, item in enumerate(self.items(value, path)):
            item_path = (*path, index)
            data = self.mapping(item, item_path, ("context_identifier", "name", "primary", "disabled"))
            account = Account(
                context_identifier=self.guid(data, "context_identifier", item_path),
                name=self.text(data, "name", item_path),
                primary=self.flag(data, "primary", item_path, False),
                disabled=self.flag(data, "disabled", item_path, False),
            )
            if account.context_identifier.casefold() in seen:
                raise self.fail(
                    item_path,
                    f"account {account.context_identifier} is listed twice",
                    key="context_identifier",
                )
            seen.add(account.context_identifier.casefold())
            accounts.append(account)
        return tuple(accounts)

    def api_users(self, value: object, users: Mapping[str, User]) -> tuple[ApiUser, ...]:
        api_users: list[ApiUser] = []
        seen: set[str] = set()
        for index, item in enumerate(self.items(value, ("api_users",))):
            path: tuple[str | int, ...] = ("api_users", index)
            data = self.mapping(item, path, ("username", "key", "scope", "expires", "revoked"))
            username = self.text(data, "username", path)
            if username.casefold() in seen:
                raise self.fail(path, f"username '{username}' appears twice", key="username")
            if username.casefold() in users:
                # The credentials endpoint tells API users from eSign users by name.
                raise self.fail(
                    path,
                    f"username '{username}' is also an eSign user; API usernames are separate",
                    key="username",
                )
            seen.add(username.casefold())
            api_users.append(
                ApiUser(
                    username=username,
                    key=self.text(data, "key", path),
                    scope=self.scope(data.get("scope"), (*path, "scope"), users),
                    expires=self.date(data, "expires", path),
                    revoked=self.flag(data, "revoked", path, False),
                )
            )
        return tuple(api_users)

    def scope(self, value: object, path: tuple[str | int, ...], users: Mapping[str, User]) -> Scope:
        if value is None:
            raise self.fail(path, "scope is required")
        data = self.mapping(value, path, ("kind", "user", "environments"))
        kind = data.get("kind")
        if kind not in SCOPE_KINDS:
            raise self.fail(path, f"kind '{kind}' is not one of {', '.join(SCOPE_KINDS)}", key="kind")
        if kind == "user":
            name = self.text(data, "user", path)
            if name.casefold() not in users:
                raise self.fail(path, f"user '{name}' is not one of the seed's users", key="user")
            return Scope(kind="user", user=name)
        if kind == "environment":
            environments = list(self.items(data.get("environments"), (*path, "environments")))
            if not environments or not all(isinstance(e, str) and e for e in environments):
                raise self.fail(path, "environments must be a non-empty list of names", key="environments")
            return Scope(kind="environment", environments=tuple(str(e) for e in environments))
        return Scope(kind="organisation")

    def date(self, data: Mapping[str, object], key: str, path: tuple[str | int, ...]) -> dt.date:
        value = data.get(key)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        if value is None:
            raise self.fail(path, f"{key} is required")
        raise self.fail(path, f"{key} {value!r} is not a date like 2099-12-31", key=key)

    def legacy(self, value: object, users: Mapping[str, User]) -> LegacySide:
        data = self.mapping(
            value or {},
            ("legacy",),
            (
                "extra_accounts",
                "lockout",
                "accounts",
                "roles",
                "account_templates",
                "account_groups",
                "templates",
                "change_password_url",
            ),
        )
        extras_path: tuple[str | int, ...] = ("legacy", "extra_accounts")
        extras = data.get("extra_accounts") or {}
        if not isinstance(extras, dict):
            raise self.fail(
                ("legacy",),
                "extra_accounts must map usernames to account lists",
                key="extra_accounts",
            )
        extra_accounts: dict[str, tuple[Account, ...]] = {}
        for key, accounts_value in extras.items():
            username = str(key)
            user = users.get(username.casefold())
            if user is None:
                raise self.fail(
                    extras_path, f"user '{username}' is not one of the seed's users", key=username
                )
            accounts = self.accounts(accounts_value, (*extras_path, username))
            for index, account in enumerate(accounts):
                if user.has_account(account.context_identifier):
                    raise self.fail(
                        (*extras_path, username, index),
                        f"account {account.context_identifier} is already one of the user's",
                    )
            extra_accounts[user.username.casefold()] = accounts
        lockout = self.mapping(data.get("lockout") or {}, ("legacy", "lockout"), ("max_failures",))
        max_failures = self.count(lockout, "max_failures", ("legacy", "lockout"), DEFAULT_MAX_FAILURES)
        known = {
            a.context_identifier.casefold(): a
            for accounts in (*(u.accounts for u in users.values()), *extra_accounts.values())
            for a in accounts
        }
        account_groups = self.names(data, "account_groups", DEFAULT_ACCOUNT_GROUPS)
        details = self.account_details(data.get("accounts"), known, account_groups)
        every_account = {k: a.context_identifier for k, a in known.items()}
        every_account.update({d.context_identifier.casefold(): d.context_identifier for d in details})
        return LegacySide(
            extra_accounts=MappingProxyType(extra_accounts),
            max_failures=max_failures,
            accounts=details,
            roles=self.names(data, "roles", DEFAULT_ROLES),
            account_templates=self.names(data, "account_templates", DEFAULT_ACCOUNT_TEMPLATES),
            account_groups=account_groups,
            templates=self.templates(data.get("templates"), every_account),
            change_password_url=(
                self.text(data, "change_password_url", ("legacy",))
                if "change_password_url" in data
                else DEFAULT_CHANGE_PASSWORD_URL
            ),
        )

    def names(self, data: Mapping[str, object], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A list of non-empty names under legacy.<key>, each named once."""
        if key not in data:
            return default
        path: tuple[str | int, ...] = ("legacy", key)
        names: list[str] = []
        for index, item in enumerate(self.items(data.get(key), path)):
            if not isinstance(item, str) or not item.strip():
                raise self.fail((*path, index), "must be a non-empty string (quote it)")
            if item in names:
                raise self.fail((*path, index), f"'{item}' is listed twice")
            names.append(item)
        return tuple(names)

    def account_details(
        self, value: object, known: Mapping[str, Account], account_groups: tuple[str, ...]
    ) -> tuple[AccountDetails, ...]:
        """legacy.accounts: accounts the users list need no name here; new ones (children) do."""
        path: tuple[str | int, ...] = ("legacy", "accounts")
        details: list[AccountDetails] = []
        seen: set[str] = set()
        for index, item in enumerate(self.items(value, path)):
            item_path = (*path, index)
            data = self.mapping(
                item,
                item_path,
                ("context_identifier", "name", "display_name", "account_group", "parent", "inactive"),
            )
            context_identifier = self.guid(data, "context_identifier", item_path)
            if context_identifier.casefold() in seen:
                raise self.fail(
                    item_path, f"account {context_identifier} is listed twice", key="context_identifier"
                )
            seen.add(context_identifier.casefold())
            mentioned = known.get(context_identifier.casefold())
            if "name" in data:
                name = self.text(data, "name", item_path)
            elif mentioned is not None:
                name = mentioned.name
            else:
                raise self.fail(
                    item_path, f"account {context_identifier} is no user's account, so it needs a name"
                )
            account_group = self.optional_text(data, "account_group", item_path)
            if account_group is not None and account_group not in account_groups:
                raise self.fail(
                    item_path,
                    f"account_group '{account_group}' is not one of {', '.join(account_groups)}",
                    key="account_group",
                )
            details.append(
                AccountDetails(
                    context_identifier=context_identifier,
                    name=name,
                    display_name=self.optional_text(data, "display_name", item_path),
                    account_group=account_group,
                    parent=self.guid(data, "parent", item_path) if "parent" in data else None,
                    inactive=self.flag(data, "inactive", item_path, False),
                )
            )
        self.check_account_tree(details, known.keys() | seen)
        return tuple(details)

    def check_account_tree(self, details: list[AccountDetails], every_account: set[str]) -> None:
        """Every parent is an account of the seed, and no account is its own ancestor."""
        parents = {d.context_identifier.casefold(): d.parent.casefold() for d in details if d.parent}
        for index, detail in enumerate(details):
            if detail.parent is None:
                continue
            path: tuple[str | int, ...] = ("legacy", "accounts", index)
            if detail.parent.casefold() not in every_account:
                raise self.fail(path, f"parent {detail.parent} is not an account of the seed", key="parent")
            above: str | None = detail.parent.casefold()
            while above is not None:
                if above == detail.context_identifier.casefold():
                    raise self.fail(
                        path, f"account {detail.context_identifier} is its own ancestor", key="parent"
                    )
                above = parents.get(above)

    def templates(self, value: object, every_account: Mapping[str, str]) -> tuple[Template, ...]:
        path: tuple[str | int, ...] = ("legacy", "templates")
        templates: list[Template] = []
        seen: set[str] = set()
        for index, item in enumerate(self.items(value, path)):
            item_path = (*path, index)
            data = self.mapping(
                item, item_path, ("id", "account", "name", "created", "page_count", "description")
            )
            template_id = self.guid(data, "id", item_path)
            if template_id.casefold() in seen:
                raise self.fail(item_path, f"template {template_id} is listed twice", key="id")
            seen.add(template_id.casefold())
            account = self.guid(data, "account", item_path)
            if account.casefold() not in every_account:
                raise self.fail(item_path, f"account {account} is not an account of the seed", key="account")
            templates.append(
                Template(
                    id=template_id,
                    account=every_account[account.casefold()],
                    name=self.text(data, "name", item_path),
                    created=self.moment(data, "created", item_path),
                    page_count=self.count(data, "page_count", item_path, 1),
                    description=self.optional_text(data, "description", item_path),
                )
            )
        return tuple(templates)

    def check_account_names(self, users: tuple[User, ...], legacy: LegacySide) -> None:
        """One context identifier is one account, so every mention must give it the same name."""
        names: dict[str, str] = {}
        everywhere: list[tuple[tuple[str | int, ...], Account | AccountDetails]] = (
            [(("users", i, "accounts", j), a) for i, u in enumerate(users) for j, a in enumerate(u.accounts)]
            + [
                (("legacy", "extra_accounts", name, j), a)
                for name, accounts in legacy.extra_accounts.items()
                for j, a in enumerate(accounts)
            ]
            + [(("legacy", "accounts", j), a) for j, a in enumerate(legacy.accounts)]
        )
        for path, account in everywhere:
            known = names.setdefault(account.context_identifier.casefold(), account.name)
            if known != account.name:
                raise self.fail(
                    path,
                    f"account {account.context_identifier} is named '{account.name}' here"
                    f" but '{known}' elsewhere",
                )
