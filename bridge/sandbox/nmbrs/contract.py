"""The Nmbrs SOAP v3 services the sandbox emulates, as data: namespaces, actions, types, operations.

One source for two things: `wsdl.py` renders each service's WSDL from it (wsdl/nmbrs/*.wsdl
are its output) and `soap.py` reads requests and writes answers by the same shapes, so the
emulation cannot drift from the WSDL it serves. The facts are shared/contract/nmbrs/FACTS.md
§2; a `note` says where one is inferred, and becomes an XML comment in the WSDL.

Only the operations the bridge needs first are here (issue 12): the real services have about
30 (DebtorService), 65 (CompanyService) and 90 (EmployeeService) more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# The production host's namespace; the sandbox host api-sandbox.nmbrs.nl keeps it too (FACTS §2.1).
NAMESPACE_ROOT = "https://api.nmbrs.nl/soap/v3/"
PRODUCTION_BASE = "https://api.nmbrs.nl"
PATH_ROOT = "/soap/v3/"
# XmlSerializer's namespace for System.Guid, with the pattern it always writes.
GUID_NS = "http://microsoft.com/wsdl/types/"
GUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# The simple types members may have besides the service's own named types.
SIMPLE = ("int", "string", "guid")

AUTH_HEADER = "AuthHeader"
AUTH_HEADER_WITH_DOMAIN = "AuthHeaderWithDomain"


@dataclass(frozen=True)
class Member:
    """One element of a sequence. `type` is int, string, guid or a type of the service.

    `min_occurs` 1 is what XmlSerializer writes for .NET value types (int, enums, Guid);
    reference types (string, classes, arrays) are 0."""

    name: str
    type: str
    min_occurs: int = 0
    repeated: bool = False
    nillable: bool = False


@dataclass(frozen=True)
class ComplexType:
    """A named complexType: a sequence, optionally extending `base`."""

    name: str
    members: tuple[Member, ...]
    base: str | None = None
    any_attribute: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Enumeration:
    """A named simpleType restricting xs:string to `values`."""

    name: str
    values: tuple[str, ...]
    note: str | None = None


@dataclass(frozen=True)
class Operation:
    """One operation: its request members, its `{name}Result` member and the header it declares."""

    name: str
    request: tuple[Member, ...]
    result: Member
    header: str | None
    documentation: str
    note: str | None = None


@dataclass(frozen=True)
class Service:
    """One `.asmx` service: its operations and the types they use, in the WSDL's order."""

    name: str
    operations: tuple[Operation, ...]
    types: tuple[ComplexType | Enumeration, ...]

    @property
    def namespace(self) -> str:
        return NAMESPACE_ROOT + self.name

    @property
    def path(self) -> str:
        return f"{PATH_ROOT}{self.name}.asmx"

    def action(self, operation: str) -> str:
        return f"{self.namespace}/{operation}"

    def operation(self, name: str) -> Operation | None:
        return next((o for o in self.operations if o.name == name), None)

    def type(self, name: str) -> ComplexType | Enumeration:
        return next(t for t in self.types if t.name == name)

    @property
    def headers(self) -> tuple[str, ...]:
        """The header elements the WSDL declares: those its operations use."""
        used = {o.header for o in self.operations if o.header}
        return tuple(h for h in (AUTH_HEADER, AUTH_HEADER_WITH_DOMAIN) if h in used)

    @property
    def uses_guid(self) -> bool:
        return any(m.type == "guid" for t in self.types if isinstance(t, ComplexType) for m in t.members)


def _array(item: str, note: str | None = None) -> ComplexType:
    """ArrayOfX as XmlSerializer writes it: items optional, repeated and nillable."""
    return ComplexType(f"ArrayOf{item}", (Member(item, item, repeated=True, nillable=True),), note=note)


def _result(operation: str, type_name: str, min_occurs: int = 0) -> Member:
    return Member(f"{operation}Result", type_name, min_occurs)


# -- the headers (FACTS §2.2) ---------------------------------------------------

_AUTH_HEADER = ComplexType(
    AUTH_HEADER,
    (Member("Username", "string"), Member("Token", "string")),
    any_attribute=True,
)
_AUTH_HEADER_WITH_DOMAIN = ComplexType(
    AUTH_HEADER_WITH_DOMAIN,
    (Member("Domain", "string"),),
    base=AUTH_HEADER,
    # The v2.1 WSDL has the type; the v3 guide says Domain is optional ("you can ignore it").
    note="AuthHeaderWithDomain extends AuthHeader with Domain, as in the v2.1 EmployeeService WSDL;"
    " Domain is the environment's subdomain only and optional (v3 guide).",
)

# -- the id converters (FACTS §2.3, "related operations") -------------------------

_CONVERTER_NOTE = (
    "INFERRED: the converter types are not in any WSDL seen. Member names (Entity, Mappings/Mapping,"
    " IdInt, IdGuid) are those the nmbrs_api SDK reads; the type names and occurrences follow"
    " XmlSerializer's conventions."
)
_CONVERTER_TYPES: tuple[ComplexType, ...] = (
    ComplexType(
        "GuidConvertor",
        (Member("Entity", "string"), Member("Mappings", "ArrayOfMapping")),
        note=_CONVERTER_NOTE,
    ),
    _array("Mapping"),
    ComplexType("Mapping", (Member("IdInt", "int", 1), Member("IdGuid", "guid", 1))),
)

# -- DebtorService ------------------------------------------------------------------

DEBTOR_SERVICE = Service(
    "DebtorService",
    (
        Operation(
            "Environment_Get",
            (),
            _result("Environment_Get", "Environment"),
            AUTH_HEADER,
            "Returns the environment (domain and subdomain) of the authenticated user",
            note="The one v3 call that takes AuthHeader without Domain: SDKs call it first to learn"
            " the subdomain they send as Domain afterwards (v3 guide, nmbrs_api).",
        ),
        Operation(
            "List_GetAll",
            (),
            _result("List_GetAll", "ArrayOfDebtor"),
            AUTH_HEADER_WITH_DOMAIN,
            "Returns all debtors",
        ),
        Operation(
            "Converter_GetDebtors_IntToGuid",
            (),
            _result("Converter_GetDebtors_IntToGuid", "GuidConvertor"),
            AUTH_HEADER_WITH_DOMAIN,
            "Returns the GUIDs of all debtors by their integer ids",
            note="INFERRED: no request members; the answer is the GuidConvertor of"
            " Converter_GetByCompany_IntToGuid with Entity Debtor.",
        ),
    ),
    (
        _AUTH_HEADER,
        _AUTH_HEADER_WITH_DOMAIN,
        ComplexType(
            "Environment",
            (Member("Domain", "string"), Member("SubDomain", "string")),
            note="INFERRED: type name and member order (Domain, SubDomain) from the SDKs' data"
            " classes; no v3 WSDL was seen. Domain is the host (acme.nmbrs.nl), SubDomain the bare"
            " environment name.",
        ),
        _array("Debtor"),
        ComplexType(
            "Debtor",
            (Member("Id", "int", 1), Member("Number", "string"), Member("Name", "string")),
            note="Id is spelled Id here and ID in Company (go-nmbrs, nmbrs_api).",
        ),
        *_CONVERTER_TYPES,
    ),
)

# -- CompanyService -------------------------------------------------------------------

_PAYROLL_PERIODS = ("None", "Month", "Week4", "Month6", "Year")

COMPANY_SERVICE = Service(
    "CompanyService",
    (
        Operation(
            "List_GetAll",
            (),
            _result("List_GetAll", "ArrayOfCompany"),
            AUTH_HEADER_WITH_DOMAIN,
            "Returns all companies",
        ),
        Operation(
            "List_GetByDebtor",
            (Member("DebtorId", "int", 1),),
            _result("List_GetByDebtor", "ArrayOfCompany"),
            AUTH_HEADER_WITH_DOMAIN,
            "Returns companies that belong to a debtor",
        ),
        Operation(
            "Converter_GetByCompany_IntToGuid",
            (Member("Entity", "string"), Member("CompanyId", "int", 1)),
            _result("Converter_GetByCompany_IntToGuid", "GuidConvertor"),
            AUTH_HEADER_WITH_DOMAIN,
            "Returns the GUIDs of a company's entities (Company, Employee, Debtor) by their integer ids",
            note="Request members Entity, CompanyId as the nmbrs_api SDK sends them.",
        ),
    ),
    (
        _AUTH_HEADER,
        _AUTH_HEADER_WITH_DOMAIN,
        _array("Company"),
        ComplexType(
            "Company",
            (
                Member("ID", "int", 1),
                Member("Number", "int", 1),
                Member("Name", "string"),
                Member("PhoneNumber", "string"),
                Member("FaxNumber", "string"),
                Member("Email", "string"),
                Member("Website", "string"),
                Member("LoonaangifteTijdvak", "LoonaangifteTijdvak", 1),
                Member("KvkNr", "string"),
            ),
            note="The nine members of the v2.1 CompanyService WSDL, which v3 clients still read.",
        ),
        Enumeration(
            "LoonaangifteTijdvak",
            _PAYROLL_PERIODS,
            note="INFERRED: the simpleType's name; its values are the v2.1 WSDL's.",
        ),
        *_CONVERTER_TYPES,
    ),
)

# -- EmployeeService ------------------------------------------------------------------

EMPLOYEE_SERVICE = Service(
    "EmployeeService",
    (
        Operation(
            "List_GetByCompany",
            (Member("CompanyId", "int", 1), Member("EmployeeType", "int", 1)),
            _result("List_GetByCompany", "ArrayOfEmployee"),
            AUTH_HEADER_WITH_DOMAIN,
            "Returns the employees of a company of the given employee type",
            note="v3 callers send CompanyId and EmployeeType (an id from EmployeeType_GetList);"
            " v2.1 had an enum 'active' in its place. Whether v3 still takes it is unknown.",
        ),
        Operation(
            "EmployeeType_GetList",
            (),
            _result("EmployeeType_GetList", "ArrayOfEmployeeType"),
            AUTH_HEADER_WITH_DOMAIN,
            "Returns the employee types",
        ),
    ),
    (
        _AUTH_HEADER,
        _AUTH_HEADER_WITH_DOMAIN,
        _array("Employee"),
        ComplexType(
            "Employee",
            (Member("Id", "int", 1), Member("Number", "int", 1), Member("DisplayName", "string")),
            note="As in the v2.1 EmployeeService WSDL and its captured List_GetByCompany answer.",
        ),
        _array("EmployeeType"),
        ComplexType(
            "EmployeeType",
            (Member("Id", "int", 1), Member("Description", "string")),
            note="Members from go-nmbrs and go_nmbrs (Id, Description); occurrences INFERRED.",
        ),
    ),
)

# -- SingleSignOn (no header) ---------------------------------------------------------------

_SSO_NOTE = "The token is valid for 30 seconds (help page)."
SINGLE_SIGN_ON = Service(
    "SingleSignOn",
    (
        Operation(
            "GetToken",
            (Member("Username", "string"), Member("Password", "string")),
            _result("GetToken", "string"),
            None,
            "Returns a token for single sign-on. Valid for 30 seconds",
            note=_SSO_NOTE,
        ),
        Operation(
            "GetToken2",
            (Member("Username", "string"), Member("Token", "string")),
            _result("GetToken2", "string"),
            None,
            "Returns a token for single sign-on, authenticated with the API token. Valid for 30 seconds",
            note="INFERRED: GetToken2Response/GetToken2Result by ASMX's naming; the request is documented.",
        ),
        Operation(
            "GetTokenWithDomain",
            (Member("Username", "string"), Member("Password", "string"), Member("Domain", "string")),
            _result("GetTokenWithDomain", "string"),
            None,
            "Returns a token for single sign-on in the given environment. Valid for 30 seconds",
            note=_SSO_NOTE,
        ),
    ),
    (),
)

SERVICES: Mapping[str, Service] = MappingProxyType(
    {s.name: s for s in (DEBTOR_SERVICE, COMPANY_SERVICE, EMPLOYEE_SERVICE, SINGLE_SIGN_ON)}
)
PAYROLL_PERIODS = _PAYROLL_PERIODS
