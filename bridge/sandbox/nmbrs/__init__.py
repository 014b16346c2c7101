"""An emulation of Nmbrs (payroll): its legacy SOAP API v3, its identity service and its REST API.

Served by the sandbox beside the AssureSign emulation, from its own seed (`seed.yaml` here).
Endpoints (see `legacy`, `identity`, `rest` and `controls` for the details; docs/nmbrs.md for
what is faithful and what is inferred):

- legacy SOAP, SOAP 1.1 and 1.2 at one address: `POST /soap/v3/<Service>.asmx` for
  DebtorService (Environment_Get, List_GetAll, Converter_GetDebtors_IntToGuid), CompanyService
  (List_GetAll, List_GetByDebtor, Converter_GetByCompany_IntToGuid), EmployeeService
  (List_GetByCompany, EmployeeType_GetList) and SingleSignOn (GetToken, GetToken2,
  GetTokenWithDomain); `GET …asmx?WSDL` (any case) the WSDL addressed to this host, any other
  GET the help page; the AuthHeader/AuthHeaderWithDomain header, Nmbrs' faults, the throttle;
- identity: `GET /.well-known/openid-configuration`, `GET /connect/authorize` (consents at
  once and redirects), `POST /connect/token` (authorization_code with PKCE, refresh_token with
  rotation), `POST /connect/revocation`;
- REST: `GET /api/debtors`, `/api/debtors/{debtorId}/companies`, `/api/companies`,
  `/api/companies/{companyId}/employees`, paged, with X-Subscription-Key and a bearer;
- test controls: `/_sandbox/nmbrs/throttle`, `/_sandbox/nmbrs/grants`.
"""

from .seed import NmbrsSeed, load_nmbrs_seed, parse_nmbrs_seed
from .service import NmbrsSandbox

__all__ = ["NmbrsSandbox", "NmbrsSeed", "load_nmbrs_seed", "parse_nmbrs_seed"]
