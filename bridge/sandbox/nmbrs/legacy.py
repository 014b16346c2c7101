"""The emulated Nmbrs SOAP API v3: `/soap/v3/<Service>.asmx` with its WSDL, header authentication,
the operations of `contract` answered from the seed, Nmbrs' faults, and the fair-use throttle.

Authentication (FACTS §2.2, §3): Username and Token from the header, compared with a seed
user's; a Domain, when given, must be the environment's subdomain. Every failure is
`1001: Invalid Authentication`; an operation switched off in the user's API template is
`1002: Unauthorized Access`; a debtor or company the user has no rights on is 2009 or 2004.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from ..exchange import XML_TYPE, Call, Request, Response, Route
from ..state import SandboxState
from . import soap
from .contract import SERVICES, Service
from .seed import Company, Debtor, NmbrsSeed, User
from .soap import SoapFault, SoapRequest, nmbrs_fault
from .state import NmbrsState
from .wsdl import render

INVALID = "nmbrs:soap-invalid"
THROTTLED = "nmbrs:soap-throttled"
CALL_NAMES = (
    *(f"nmbrs:{s.name}.{o.name}" for s in SERVICES.values() for o in s.operations),
    INVALID,
    THROTTLED,
    "nmbrs:wsdl",
)
# IIS matches paths without regard to case.
_PATH = re.compile(rf"/soap/v3/(?P<service>{'|'.join(SERVICES)})\.asmx", re.IGNORECASE)
_BY_LOWER = {name.lower(): service for name, service in SERVICES.items()}
# Nmbrs' error titles (FACTS §3.2); 9999's spelling is Nmbrs' own.
INVALID_AUTHENTICATION = (1001, "Invalid Authentication")
UNAUTHORIZED_ACCESS = (1002, "Unauthorized Access")
NO_RIGHTS_ON_COMPANY = (2004, "Unauthorized Access")
NO_RIGHTS_ON_DEBTOR = (2009, "Unauthorized Access")
INVALID_DOMAIN = (2043, "Invalid Domain")
UNKNOWN = (9999, "Unkown")
# GetToken's refusal of a bad password carries no number (FACTS §2.3, §3.2 "(1000)").
BAD_PASSWORD = soap.SERVER_PREFIX + "Invalid combination email/password"
_NO_TOKEN = "-" * 32

Handler = Callable[[SoapRequest, User | None], object]


def _fault(error: tuple[int, str]) -> SoapFault:
    return nmbrs_fault(*error)


class LegacyApi:
    """Answers POST and GET (WSDL, help page) on the four services' `.asmx` paths."""

    def __init__(self, seed: NmbrsSeed, sandbox: SandboxState, state: NmbrsState) -> None:
        self.seed = seed
        self.sandbox = sandbox
        self.state = state
        self.routes = (Route(_PATH, "POST", self.prepare), Route(_PATH, "GET", self.prepare_get))
        self.handlers: dict[tuple[str, str], Handler] = {
            ("DebtorService", "Environment_Get"): self.environment_get,
            ("DebtorService", "List_GetAll"): self.debtors,
            ("DebtorService", "Converter_GetDebtors_IntToGuid"): self.debtor_guids,
            ("CompanyService", "List_GetAll"): self.companies,
            ("CompanyService", "List_GetByDebtor"): self.companies_of_debtor,
            ("CompanyService", "Converter_GetByCompany_IntToGuid"): self.company_guids,
            ("EmployeeService", "List_GetByCompany"): self.employees,
            ("EmployeeService", "EmployeeType_GetList"): self.employee_types,
            ("SingleSignOn", "GetToken"): self.sso_token,
            ("SingleSignOn", "GetToken2"): self.sso_token,
            ("SingleSignOn", "GetTokenWithDomain"): self.sso_token,
        }

    # -- routing ----------------------------------------------------------------------

    def prepare_get(self, request: Request) -> Call:
        service = _service(request.path)
        if any(key.lower() == "wsdl" for key, _ in parse_qsl(request.query, keep_blank_values=True)):
            wsdl = render(service, request.base_url)
            return Call("nmbrs:wsdl", lambda: Response(200, wsdl, XML_TYPE))
        return Call("nmbrs:wsdl", lambda: _help_page(service))

    def prepare(self, request: Request) -> Call:
        service = _service(request.path)
        try:
            parsed = soap.read_request(service, request)
        except SoapFault as fault:
            refusal = soap.fault_response(fault.version or soap.version_of(request), fault)
            return Call(INVALID, lambda: refusal)
        return Call(f"nmbrs:{service.name}.{parsed.operation.name}", lambda: self._run(service, parsed))

    def _run(self, service: Service, request: SoapRequest) -> Response:
        try:
            header = soap.auth_header(service, request)
            self._throttle(header.username if header and header.username else soap.text(request, "Username"))
            user = None
            if request.operation.header is not None:
                user = self._authenticate(header)
                if f"{service.name}.{request.operation.name}" in user.denied:
                    raise _fault(UNAUTHORIZED_ACCESS)
            result = self.handlers[(service.name, request.operation.name)](request, user)
        except SoapFault as fault:
            return soap.fault_response(request.version, fault)
        return soap.answer_response(service, request, result)

    def _throttle(self, caller: str | None) -> None:
        """Above the limit a call is answered late, not refused (FACTS §3.3)."""
        throttle = self.state.over_limit("soap", (caller or "").casefold())
        if throttle is not None:
            self.sandbox.count(THROTTLED)
            time.sleep(throttle.delay_ms / 1000)

    def _authenticate(self, header: soap.AuthHeader | None) -> User:
        if header is None or not header.username or not header.token:
            raise _fault(INVALID_AUTHENTICATION)
        user = self.seed.user(header.username)
        token_matches = hmac.compare_digest(
            header.token.encode(), (user.token if user else _NO_TOKEN).encode()
        )
        if user is None or not token_matches:
            raise _fault(INVALID_AUTHENTICATION)
        # [INFERRED] an empty Domain element counts as none (FACTS Unknowns 5).
        domain = (header.domain or "").strip()
        if domain and domain.casefold() != self.seed.subdomain.casefold():
            raise _fault(INVALID_AUTHENTICATION)
        return user

    # -- DebtorService ----------------------------------------------------------------------

    def environment_get(self, request: SoapRequest, user: User | None) -> object:
        return {"Domain": self.seed.domain, "SubDomain": self.seed.subdomain}

    def debtors(self, request: SoapRequest, user: User | None) -> object:
        return [{"Id": d.id, "Number": d.number, "Name": d.name} for d in self._debtors(user)]

    def debtor_guids(self, request: SoapRequest, user: User | None) -> object:
        return _mappings("Debtor", ((d.id, d.guid) for d in self._debtors(user)))

    # -- CompanyService ---------------------------------------------------------------------

    def companies(self, request: SoapRequest, user: User | None) -> object:
        return [_company(c) for d in self._debtors(user) for c in d.companies]

    def companies_of_debtor(self, request: SoapRequest, user: User | None) -> object:
        wanted = soap.integer(request, "DebtorId")
        debtor = next((d for d in self._debtors(user) if d.id == wanted), None)
        # [INFERRED] an unknown debtor is refused like one without rights: ids are not revealed.
        if debtor is None:
            raise _fault(NO_RIGHTS_ON_DEBTOR)
        return [_company(c) for c in debtor.companies]

    def company_guids(self, request: SoapRequest, user: User | None) -> object:
        company = self._company(user, soap.integer(request, "CompanyId"))
        entity = soap.text(request, "Entity") or ""
        debtor = self.seed.debtor(company.debtor_id)
        assert debtor is not None
        pairs = {
            "Company": [(company.id, company.guid)],
            "Employee": [(e.id, e.guid) for e in company.employees],
            "Debtor": [(debtor.id, debtor.guid)],
        }.get(entity)
        # [INFERRED] an entity the converter does not know is Nmbrs' catch-all error.
        if pairs is None:
            raise _fault(UNKNOWN)
        return _mappings(entity, pairs)

    # -- EmployeeService --------------------------------------------------------------------

    def employees(self, request: SoapRequest, user: User | None) -> object:
        company = self._company(user, soap.integer(request, "CompanyId"))
        employee_type = soap.integer(request, "EmployeeType")
        return [
            {"Id": e.id, "Number": e.number, "DisplayName": e.soap_display_name}
            for e in company.employees
            if e.type == employee_type
        ]

    def employee_types(self, request: SoapRequest, user: User | None) -> object:
        return [{"Id": t.id, "Description": t.description} for t in self.seed.employee_types]

    # -- SingleSignOn -------------------------------------------------------------------------

    def sso_token(self, request: SoapRequest, user: User | None) -> object:
        """A token for the login URL ([INFERRED] a GUID; the sandbox serves no login page for it)."""
        operation = request.operation.name
        found = self.seed.user(soap.text(request, "Username") or "")
        if operation == "GetToken2":
            secret, expected = soap.text(request, "Token") or "", found.token if found else _NO_TOKEN
            refusal = _fault(INVALID_AUTHENTICATION)  # [INFERRED] a bad API token is a bad header's error
        else:
            secret, expected = soap.text(request, "Password") or "", found.password if found else _NO_TOKEN
            refusal = SoapFault("Server", BAD_PASSWORD)
        if found is None or not hmac.compare_digest(secret.encode(), expected.encode()):
            raise refusal
        if operation == "GetTokenWithDomain":
            domain = (soap.text(request, "Domain") or "").strip()
            if domain.casefold() != self.seed.subdomain.casefold():
                raise _fault(INVALID_DOMAIN)  # [INFERRED] the code table's "bad Domain value"
        elif found.multiple_environments:
            # GetToken cannot tell which environment is meant (DOC-gettoken).
            raise _fault(UNKNOWN)
        return str(uuid.uuid4())

    # -- what the user may see ----------------------------------------------------------------

    def _debtors(self, user: User | None) -> tuple[Debtor, ...]:
        assert user is not None  # every non-SSO operation authenticates first
        return self.seed.visible_debtors(user)

    def _company(self, user: User | None, company_id: int) -> Company:
        assert user is not None
        company = self.seed.company(company_id)
        visible = {d.id for d in self.seed.visible_debtors(user)}
        if company is None or company.debtor_id not in visible:
            raise _fault(NO_RIGHTS_ON_COMPANY)  # [INFERRED] unknown and forbidden alike
        return company


def _service(path: str) -> Service:
    match = _PATH.fullmatch(path)
    assert match is not None  # the route matched this path
    return _BY_LOWER[match["service"].lower()]


def _company(company: Company) -> dict[str, object]:
    return {
        "ID": company.id,
        "Number": company.number,
        "Name": company.name,
        "PhoneNumber": company.phone,
        "FaxNumber": company.fax,
        "Email": company.email,
        "Website": company.website,
        "LoonaangifteTijdvak": company.payroll_period,
        "KvkNr": company.kvk,
    }


def _mappings(entity: str, pairs: Iterable[tuple[int, str]]) -> dict[str, object]:
    return {"Entity": entity, "Mappings": [{"IdInt": i, "IdGuid": g} for i, g in pairs]}


def _help_page(service: Service) -> Response:
    """ASMX's service help page, reduced to its list of operations."""
    items = "".join(
        f'<li><a href="{service.name}.asmx?op={o.name}">{o.name}</a></li>' for o in service.operations
    )
    page = (
        f"<html><head><title>{service.name} Web Service</title></head><body><h1>{service.name}</h1>"
        "<p>The following operations are supported. For a formal definition, please review the "
        f'<a href="{service.name}.asmx?WSDL">Service Description</a>.</p><ul>{items}</ul></body></html>'
    )
    return Response(200, page.encode(), "text/html; charset=utf-8")
