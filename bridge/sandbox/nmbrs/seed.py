"""Load and validate the Nmbrs seed (environment, debtors, companies, employees, users, OAuth client)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import yaml

# The AssureSign seed's reader: the same YAML rules and file:line messages for both seeds.
from ..seed import SeedError, _index_lines, _SeedReader
from .contract import PAYROLL_PERIODS, SERVICES

BUNDLED_SEED = "seed.yaml"
REFRESH_EXPIRATIONS = ("sliding", "absolute")
# Where generated companies' GUIDs come from, so they are the same on every start.
_GENERATED = uuid.UUID("5f0d6c1e-2b7a-4c39-9e84-7a1d3b2c6e50")


@dataclass(frozen=True)
class EmployeeType:
    """An EmployeeType_GetList entry and the employeeType string REST uses for it."""

    id: int
    description: str
    rest: str


@dataclass(frozen=True)
class Employee:
    id: int
    guid: str
    number: int
    first_name: str
    last_name: str
    type: int
    prefix: str | None = None
    initials: str | None = None
    display_name: str | None = None

    @property
    def soap_display_name(self) -> str:
        """What List_GetByCompany says: the seed's, else first name, prefix and last name
        ([INFERRED]: how Nmbrs composes it is not known)."""
        if self.display_name:
            return self.display_name
        return " ".join(part for part in (self.first_name, self.prefix, self.last_name) if part)


@dataclass(frozen=True)
class Company:
    id: int
    guid: str
    number: int
    name: str
    debtor_id: int
    payroll_period: str
    employees: tuple[Employee, ...] = ()
    phone: str | None = None
    fax: str | None = None
    email: str | None = None
    website: str | None = None
    kvk: str | None = None


@dataclass(frozen=True)
class Debtor:
    id: int
    guid: str
    number: str
    name: str
    companies: tuple[Company, ...]


@dataclass(frozen=True)
class User:
    """A legacy API user: SOAP header credentials, SSO password, and the debtor it logs in to."""

    username: str
    password: str
    token: str
    debtor: int
    master: bool = False
    denied: frozenset[str] = frozenset()
    multiple_environments: bool = False


@dataclass(frozen=True)
class Client:
    """An app registered with the identity service."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    clients: tuple[Client, ...]
    scopes: tuple[str, ...]
    access_token_lifetime: int
    refresh_token_lifetime: int
    refresh_token_sliding: bool
    code_lifetime: int

    def client(self, client_id: str) -> Client | None:
        return next((c for c in self.clients if c.client_id == client_id), None)


@dataclass(frozen=True)
class NmbrsSeed:
    """Everything the Nmbrs emulation serves, fixed at start-up."""

    source: str
    subdomain: str
    domain: str
    employee_types: tuple[EmployeeType, ...]
    debtors: tuple[Debtor, ...]
    users: tuple[User, ...]
    identity: Identity
    subscription_keys: tuple[str, ...]
    default_page_size: int
    max_page_size: int

    def user(self, username: str) -> User | None:
        """The user with this e-mail address, compared without case."""
        wanted = username.casefold()
        return next((u for u in self.users if u.username.casefold() == wanted), None)

    def debtor(self, key: int | str) -> Debtor | None:
        """A debtor by SOAP id (int) or REST id (GUID, any case)."""
        return next((d for d in self.debtors if _same(key, d.id, d.guid)), None)

    def company(self, key: int | str) -> Company | None:
        return next((c for c in self.companies() if _same(key, c.id, c.guid)), None)

    def companies(self) -> Iterator[Company]:
        for debtor in self.debtors:
            yield from debtor.companies

    def visible_debtors(self, user: User) -> tuple[Debtor, ...]:
        """The debtors the user's SOAP token sees: all for a master login, else its own."""
        return tuple(d for d in self.debtors if user.master or d.id == user.debtor)

    def employee_type(self, key: int | str) -> EmployeeType | None:
        return next((t for t in self.employee_types if key in (t.id, t.rest)), None)


def _same(key: int | str, int_id: int, guid: str) -> bool:
    if isinstance(key, int):
        return key == int_id
    return key.casefold() == guid.casefold()


def load_nmbrs_seed(path: str | None = None) -> NmbrsSeed:
    """Read and validate a seed file; None loads the bundled seed."""
    if path is None:
        resource = resources.files(__package__).joinpath(BUNDLED_SEED)
        return parse_nmbrs_seed(resource.read_text(encoding="utf-8"), str(resource))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(path, f"cannot read the seed: {exc.strerror or exc}") from exc
    return parse_nmbrs_seed(text, path)


def parse_nmbrs_seed(text: str, source: str = "<nmbrs seed>") -> NmbrsSeed:
    """Validate seed YAML text; source names the file in error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SeedError(source, f"not valid YAML: {exc}", mark.line + 1 if mark else None) from exc
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines, source)
    return _NmbrsReader(source, lines).read(data)


Where = tuple[str | int, ...]


class _NmbrsReader(_SeedReader):
    """Turns the loaded YAML into an NmbrsSeed, naming file, line and item in every complaint."""

    def __init__(self, source: str, lines: Mapping[Where, int]) -> None:
        super().__init__(source, lines)
        self.ids: dict[str, Where] = {}

    def read(self, data: object) -> NmbrsSeed:
        top = self.mapping(
            data, (), ("environment", "employee_types", "debtors", "users", "identity", "rest")
        )
        environment = self.mapping(top.get("environment"), ("environment",), ("subdomain", "domain"))
        employee_types = self.employee_types(top.get("employee_types"))
        debtors = self.debtors(top.get("debtors"), {t.id for t in employee_types})
        users = self.legacy_users(top.get("users"), {d.id for d in debtors})
        rest = self.mapping(
            top.get("rest"), ("rest",), ("subscription_keys", "default_page_size", "max_page_size")
        )
        keys = self.strings(rest, "subscription_keys", ("rest",))
        if not keys:
            raise self.fail(("rest",), "subscription_keys needs at least one key", key="subscription_keys")
        default_size = self.count(rest, "default_page_size", ("rest",), 100)
        max_size = self.count(rest, "max_page_size", ("rest",), 100)
        if default_size > max_size:
            raise self.fail(
                ("rest",), "default_page_size is larger than max_page_size", key="default_page_size"
            )
        return NmbrsSeed(
            source=self.source,
            subdomain=self.text(environment, "subdomain", ("environment",)),
            domain=self.text(environment, "domain", ("environment",)),
            employee_types=employee_types,
            debtors=debtors,
            users=users,
            identity=self.identity(top.get("identity")),
            subscription_keys=keys,
            default_page_size=default_size,
            max_page_size=max_size,
        )

    def strings(self, data: Mapping[str, object], key: str, path: Where) -> tuple[str, ...]:
        """A list of non-empty strings under `key`, each once."""
        names: list[str] = []
        for index, item in enumerate(self.items(data.get(key), (*path, key))):
            if not isinstance(item, str) or not item.strip():
                raise self.fail((*path, key, index), "must be a non-empty string (quote it)")
            if item in names:
                raise self.fail((*path, key, index), f"'{item}' is listed twice")
            names.append(item)
        return tuple(names)

    def whole(self, data: Mapping[str, object], key: str, path: Where) -> int:
        """A required whole number of at least 1."""
        if key not in data:
            raise self.fail(path, f"{key} is required")
        return self.count(data, key, path, 1)

    def one_of(
        self, data: Mapping[str, object], key: str, path: Where, choices: tuple[str, ...], default: str
    ) -> str:
        value = data.get(key, default)
        if value not in choices:
            raise self.fail(path, f"{key} '{value}' is not one of {', '.join(choices)}", key=key)
        return str(value)

    def unique(self, kind: str, value: int | str, path: Where, key: str) -> None:
        """Ids and GUIDs are unique within their kind across the whole seed."""
        label = f"{kind} {value}".casefold()
        if label in self.ids:
            raise self.fail(path, f"{kind} {value} is used twice", key=key)
        self.ids[label] = path

    def employee_types(self, value: object) -> tuple[EmployeeType, ...]:
        types: list[EmployeeType] = []
        for index, item in enumerate(self.items(value, ("employee_types",))):
            path: Where = ("employee_types", index)
            data = self.mapping(item, path, ("id", "description", "rest"))
            employee_type = EmployeeType(
                self.whole(data, "id", path),
                self.text(data, "description", path),
                self.text(data, "rest", path),
            )
            self.unique("employee type", employee_type.id, path, "id")
            self.unique("REST employee type", employee_type.rest, path, "rest")
            types.append(employee_type)
        if not types:
            raise self.fail((), "employee_types needs at least one type")
        return tuple(types)

    def debtors(self, value: object, types: set[int]) -> tuple[Debtor, ...]:
        debtors: list[Debtor] = []
        for index, item in enumerate(self.items(value, ("debtors",))):
            path: Where = ("debtors", index)
            data = self.mapping(
                item, path, ("id", "guid", "number", "name", "companies", "generated_companies")
            )
            debtor_id = self.whole(data, "id", path)
            self.unique("debtor", debtor_id, path, "id")
            guid = self.guid(data, "guid", path)
            self.unique("GUID", guid, path, "guid")
            companies = [
                self.company(company, (*path, "companies", position), debtor_id, types)
                for position, company in enumerate(self.items(data.get("companies"), (*path, "companies")))
            ]
            if "generated_companies" in data:
                companies.extend(
                    self.generated(data["generated_companies"], (*path, "generated_companies"), debtor_id)
                )
            debtors.append(
                Debtor(
                    debtor_id,
                    guid,
                    self.text(data, "number", path),
                    self.text(data, "name", path),
                    tuple(companies),
                )
            )
        if not debtors:
            raise self.fail((), "debtors needs at least one debtor")
        return tuple(debtors)

    def company(self, value: object, path: Where, debtor_id: int, types: set[int]) -> Company:
        data = self.mapping(
            value,
            path,
            (
                "id",
                "guid",
                "number",
                "name",
                "payroll_period",
                "employees",
                "phone",
                "fax",
                "email",
                "website",
                "kvk",
            ),
        )
        company_id = self.whole(data, "id", path)
        self.unique("company", company_id, path, "id")
        guid = self.guid(data, "guid", path)
        self.unique("GUID", guid, path, "guid")
        period = self.one_of(data, "payroll_period", path, PAYROLL_PERIODS, "Month")
        employees = tuple(
            self.employee(item, (*path, "employees", index), types)
            for index, item in enumerate(self.items(data.get("employees"), (*path, "employees")))
        )
        return Company(
            id=company_id,
            guid=guid,
            number=self.whole(data, "number", path),
            name=self.text(data, "name", path),
            debtor_id=debtor_id,
            payroll_period=period,
            employees=employees,
            phone=self.optional_text(data, "phone", path),
            fax=self.optional_text(data, "fax", path),
            email=self.optional_text(data, "email", path),
            website=self.optional_text(data, "website", path),
            kvk=self.optional_text(data, "kvk", path),
        )

    def generated(self, value: object, path: Where, debtor_id: int) -> list[Company]:
        """`count` companies without employees, numbered on from `first_number`."""
        data = self.mapping(value, path, ("count", "first_id", "first_number", "name"))
        count = self.whole(data, "count", path)
        first_id = self.whole(data, "first_id", path)
        first_number = self.whole(data, "first_number", path)
        name = self.text(data, "name", path)
        companies = []
        for offset in range(count):
            company_id, number = first_id + offset, first_number + offset
            self.unique("company", company_id, path, "first_id")
            companies.append(
                Company(
                    id=company_id,
                    guid=str(uuid.uuid5(_GENERATED, f"company:{company_id}")),
                    number=number,
                    name=name.replace("{number}", str(number)),
                    debtor_id=debtor_id,
                    payroll_period="Month",
                )
            )
        return companies

    def employee(self, value: object, path: Where, types: set[int]) -> Employee:
        data = self.mapping(
            value,
            path,
            ("id", "guid", "number", "first_name", "prefix", "initials", "last_name", "type", "display_name"),
        )
        employee_id = self.whole(data, "id", path)
        self.unique("employee", employee_id, path, "id")
        guid = self.guid(data, "guid", path)
        self.unique("GUID", guid, path, "guid")
        employee_type = self.whole(data, "type", path)
        if employee_type not in types:
            raise self.fail(path, f"type {employee_type} is not one of the employee_types", key="type")
        return Employee(
            id=employee_id,
            guid=guid,
            number=self.whole(data, "number", path),
            first_name=self.text(data, "first_name", path),
            last_name=self.text(data, "last_name", path),
            type=employee_type,
            prefix=self.optional_text(data, "prefix", path),
            initials=self.optional_text(data, "initials", path),
            display_name=self.optional_text(data, "display_name", path),
        )

    def legacy_users(self, value: object, debtors: set[int]) -> tuple[User, ...]:
        users: list[User] = []
        operations = {f"{s.name}.{o.name}" for s in SERVICES.values() for o in s.operations}
        for index, item in enumerate(self.items(value, ("users",))):
            path: Where = ("users", index)
            data = self.mapping(
                item,
                path,
                ("username", "password", "token", "debtor", "master", "denied", "multiple_environments"),
            )
            username = self.text(data, "username", path)
            self.unique("username", username, path, "username")
            debtor = self.whole(data, "debtor", path)
            if debtor not in debtors:
                raise self.fail(path, f"debtor {debtor} is not one of the seed's debtors", key="debtor")
            denied = self.strings(data, "denied", path)
            for position, name in enumerate(denied):
                if name not in operations:
                    raise self.fail(
                        (*path, "denied", position), f"'{name}' is not an emulated Service.Operation"
                    )
            users.append(
                User(
                    username=username,
                    password=self.text(data, "password", path),
                    token=self.text(data, "token", path),
                    debtor=debtor,
                    master=self.flag(data, "master", path, False),
                    denied=frozenset(denied),
                    multiple_environments=self.flag(data, "multiple_environments", path, False),
                )
            )
        if not users:
            raise self.fail((), "users needs at least one user")
        return tuple(users)

    def identity(self, value: object) -> Identity:
        path: Where = ("identity",)
        data = self.mapping(
            value,
            path,
            (
                "clients",
                "scopes",
                "access_token_lifetime",
                "refresh_token_lifetime",
                "refresh_token_expiration",
                "code_lifetime",
            ),
        )
        clients: list[Client] = []
        for index, item in enumerate(self.items(data.get("clients"), (*path, "clients"))):
            client_path: Where = (*path, "clients", index)
            client = self.mapping(item, client_path, ("client_id", "client_secret", "redirect_uris"))
            client_id = self.text(client, "client_id", client_path)
            self.unique("client", client_id, client_path, "client_id")
            redirect_uris = self.strings(client, "redirect_uris", client_path)
            for position, uri in enumerate(redirect_uris):
                parts = urlsplit(uri)
                if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
                    raise self.fail(
                        (*client_path, "redirect_uris", position),
                        f"'{uri}' is not an absolute http(s) URL without a fragment",
                    )
            clients.append(Client(client_id, self.text(client, "client_secret", client_path), redirect_uris))
        if not clients:
            raise self.fail(path, "clients needs at least one client", key="clients")
        expiration = self.one_of(data, "refresh_token_expiration", path, REFRESH_EXPIRATIONS, "sliding")
        return Identity(
            clients=tuple(clients),
            scopes=self.strings(data, "scopes", path),
            access_token_lifetime=self.count(data, "access_token_lifetime", path, 3600),
            refresh_token_lifetime=self.count(data, "refresh_token_lifetime", path, 30 * 24 * 3600),
            refresh_token_sliding=expiration == "sliding",
            code_lifetime=self.count(data, "code_lifetime", path, 300),
        )
