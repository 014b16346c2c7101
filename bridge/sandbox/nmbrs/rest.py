"""The emulated Nmbrs REST API (FACTS §4.1, §4.3, §4.4): the endpoints that replace the SOAP calls
the bridge carries first, paged, behind a subscription key and a bearer token.

Each request passes, in order: the subscription key (X-Subscription-Key, primary or secondary),
the throttle (a control), the bearer (an access token of the identity service), the scope the
endpoint needs, then the path and query. A grant is for one debtor (REST works at debtor level
only): it sees that debtor's companies and their employees, and gets 403 for any other.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode

from ..exchange import Refused, Request, Response, Route, route
from ..state import SandboxState
from .grants import Consent, Grants
from .seed import Company, Debtor, NmbrsSeed
from .state import NmbrsState

THROTTLED = "nmbrs:rest-throttled"
CALL_NAMES = (
    "nmbrs:rest:debtors",
    "nmbrs:rest:debtor-companies",
    "nmbrs:rest:companies",
    "nmbrs:rest:employees",
    THROTTLED,
)
PROBLEM_TYPE = "application/problem+json; charset=utf-8"
_GUID = r"[^/]+"
# [INFERRED] Azure API Management's answers: the developer portal's products with primary and
# secondary subscription keys are its model (FACTS §4.1), and these are its gateway's bodies.
MISSING_KEY = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."  # noqa: E501
INVALID_KEY = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."  # noqa: E501
RATE_LIMITED = "Rate limit is exceeded."
# [INFERRED] which scope each endpoint needs: the scope names are Nmbrs' (FACTS §4.2).
COMPANY_SCOPE = "company.info.read"
EMPLOYEE_SCOPE = "employee.info.read"


class RestApi:
    """Answers GET /api/debtors, /api/debtors/{id}/companies, /api/companies and
    /api/companies/{id}/employees."""

    def __init__(self, seed: NmbrsSeed, sandbox: SandboxState, state: NmbrsState, grants: Grants) -> None:
        self.seed = seed
        self.sandbox = sandbox
        self.state = state
        self.grants = grants
        self.routes: tuple[Route, ...] = (
            route(r"/api/debtors", "GET", CALL_NAMES[0], self.debtors),
            route(
                rf"/api/debtors/(?P<debtor>{_GUID})/companies", "GET", CALL_NAMES[1], self.debtor_companies
            ),
            route(r"/api/companies", "GET", CALL_NAMES[2], self.companies),
            route(rf"/api/companies/(?P<company>{_GUID})/employees", "GET", CALL_NAMES[3], self.employees),
        )

    # -- endpoints ------------------------------------------------------------------------

    def debtors(self, request: Request, match: re.Match[str]) -> Response:
        """[INFERRED] path and shape: the OpenAPI has a Debtor tag, but no debtor endpoint was read.
        A debtor-level grant lists its own debtor."""
        consent = self._admit(request, COMPANY_SCOPE)
        debtor = self._own_debtor(consent)
        return self._page(request, [{"debtorId": debtor.guid, "number": debtor.number, "name": debtor.name}])

    def debtor_companies(self, request: Request, match: re.Match[str]) -> Response:
        consent = self._admit(request, COMPANY_SCOPE)
        debtor = self.seed.debtor(_guid(match["debtor"], "debtorId"))
        if debtor is None:
            raise _problem(404, "Not Found", "The debtor was not found.")
        if debtor.guid != consent.debtor:
            raise _problem(403, "Forbidden", "The grant does not give access to this debtor.")
        return self._page(request, [_company(c, debtor) for c in debtor.companies])

    def companies(self, request: Request, match: re.Match[str]) -> Response:
        consent = self._admit(request, COMPANY_SCOPE)
        debtor = self._own_debtor(consent)
        return self._page(request, [_company(c, debtor) for c in debtor.companies])

    def employees(self, request: Request, match: re.Match[str]) -> Response:
        consent = self._admit(request, EMPLOYEE_SCOPE)
        company = self.seed.company(_guid(match["company"], "companyId"))
        if company is None:
            raise _problem(404, "Not Found", "The company was not found.")
        debtor = self.seed.debtor(company.debtor_id)
        if debtor is None or debtor.guid != consent.debtor:
            raise _problem(403, "Forbidden", "The grant does not give access to this company.")
        query = dict(parse_qsl(request.query))
        employees = list(company.employees)
        if "employeeType" in query:
            wanted = self.seed.employee_type(query["employeeType"])
            if wanted is None:
                raise _problem(400, "Bad Request", f"employeeType '{query['employeeType']}' is not valid.")
            employees = [e for e in employees if e.type == wanted.id]
        if "employeeId" in query:
            employee_id = _guid(query["employeeId"], "employeeId")
            employees = [e for e in employees if e.guid.casefold() == employee_id]
        rows = []
        for employee in employees:
            employee_type = self.seed.employee_type(employee.type)
            rows.append(
                {
                    "employeeId": employee.guid,
                    "employeeBasicInfo": {
                        "employeeNumber": employee.number,
                        "firstName": employee.first_name,
                        "prefix": employee.prefix,
                        "initials": employee.initials,
                        "lastName": employee.last_name,
                        "employeeType": employee_type.rest if employee_type else None,
                    },
                }
            )
        return self._page(request, rows)

    # -- what every request passes ------------------------------------------------------------

    def _admit(self, request: Request, scope: str) -> Consent:
        key = request.header("x-subscription-key")
        if not key:
            raise Refused(_gateway(401, MISSING_KEY))
        if key not in self.seed.subscription_keys:
            raise Refused(_gateway(401, INVALID_KEY))
        throttle = self.state.over_limit("rest", key)
        if throttle is not None:
            self.sandbox.count(THROTTLED)
            if throttle.retry_after is None:
                raise Refused(_gateway(429, RATE_LIMITED))
            message = f"{RATE_LIMITED} Try again in {throttle.retry_after} seconds."
            raise Refused(_gateway(429, message, (("Retry-After", str(throttle.retry_after)),)))
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _problem(
                401, "Unauthorized", "The access token is missing.", (("WWW-Authenticate", "Bearer"),)
            )
        consent = self.grants.bearer(token.strip())
        if consent is None:
            challenge = 'Bearer error="invalid_token", error_description="The access token is not valid"'
            raise _problem(
                401,
                "Unauthorized",
                "The access token is not valid or has expired.",
                (("WWW-Authenticate", challenge),),
            )
        if scope not in consent.scopes:
            raise _problem(403, "Forbidden", f"The access token lacks the scope {scope}.")
        return consent

    def _own_debtor(self, consent: Consent) -> Debtor:
        debtor = self.seed.debtor(consent.debtor)
        assert debtor is not None  # grants are made for seed debtors only
        return debtor

    def _page(self, request: Request, rows: Sequence[object]) -> Response:
        """One page of `rows` in Nmbrs' envelope: `data` and `pagination` with absolute page URLs."""
        query = parse_qsl(request.query)
        given = dict(query)
        number = _whole(given.get("pageNumber", "1"), "pageNumber")
        # [INFERRED] the default and largest page sizes: clients ask for 100 (FACTS §4.4).
        size = min(
            _whole(given.get("pageSize", str(self.seed.default_page_size)), "pageSize"),
            self.seed.max_page_size,
        )
        total_pages = math.ceil(len(rows) / size)
        last = max(total_pages, 1)

        def url(page: int | None) -> str | None:
            if page is None:
                return None
            kept = [(k, v) for k, v in query if k != "pageNumber"]
            return f"{request.base_url}{request.path}?{urlencode([('pageNumber', str(page)), *kept])}"

        document = {
            "data": list(rows[(number - 1) * size : number * size]),
            "pagination": {
                "pageNumber": number,
                "pageSize": size,
                "totalPages": total_pages,
                "totalRecords": len(rows),
                "firstPage": url(1),
                "lastPage": url(last),
                "nextPage": url(number + 1 if number < total_pages else None),
                # [INFERRED] by symmetry with nextPage.
                "previousPage": url(number - 1 if number > 1 else None),
            },
        }
        return Response(200, json.dumps(document).encode(), "application/json; charset=utf-8")


def _company(company: Company, debtor: Debtor) -> dict[str, object]:
    return {
        "companyId": company.guid,
        "number": company.number,
        "name": company.name,
        "debtorId": debtor.guid,
    }


def _guid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _problem(400, "Bad Request", f"{name} '{value}' is not a valid GUID.") from None


def _whole(value: str, name: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise _problem(400, "Bad Request", f"{name} must be a whole number of at least 1.")
    return int(value)


def _problem(status: int, title: str, detail: str, headers: tuple[tuple[str, str], ...] = ()) -> Refused:
    """An error body as FACTS §4.4 has it: type, status, code, title, detail ([INFERRED] values)."""
    slug = title.lower().replace(" ", "-")
    document = {
        "type": f"https://developer.nmbrs.com/errors/{slug}",
        "status": status,
        "code": status,
        "title": title,
        "detail": detail,
    }
    return Refused(Response(status, json.dumps(document).encode(), PROBLEM_TYPE, headers))


def _gateway(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps({"statusCode": status, "message": message}).encode()
    return Response(status, body, "application/json; charset=utf-8", headers)
