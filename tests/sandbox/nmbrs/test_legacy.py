"""The emulated Nmbrs SOAP API over HTTP with hand-written envelopes: what the field sends, and the
answers and faults ASMX gives back."""

from __future__ import annotations

import time

import pytest
import requests
from lxml import etree

from bridge.sandbox import SandboxServer
from tests.sandbox.nmbrs.conftest import (
    CODE,
    CONNECTOR,
    MASTER,
    MULTI_ENV,
    PASSWORD,
    SUBDOMAIN,
    call,
    envelope,
    fault,
    header,
    namespace,
    result,
    texts,
)
from tests.soapxml import SOAP11, SOAP12

DEBTOR = "DebtorService"
COMPANY = "CompanyService"
EMPLOYEE = "EmployeeService"
SSO = "SingleSignOn"


def stats(sandbox: SandboxServer, http: requests.Session) -> dict[str, int]:
    counted: dict[str, int] = http.get(sandbox.url + "/_sandbox/stats", timeout=5).json()["calls"]
    return counted


@pytest.mark.parametrize("version", [SOAP11, SOAP12])
def test_environment_get_with_the_auth_header_the_sdks_send_first(
    sandbox: SandboxServer, http: requests.Session, version: str
) -> None:
    response = call(
        sandbox, http, DEBTOR, "Environment_Get", head=header(DEBTOR, kind="AuthHeader"), version=version
    )

    assert response.headers["Content-Type"].startswith(
        "text/xml" if version == SOAP11 else "application/soap+xml"
    )
    found = result(response, DEBTOR, "Environment_Get")
    assert [child.tag for child in found] == [
        f"{{{namespace(DEBTOR)}}}Domain",
        f"{{{namespace(DEBTOR)}}}SubDomain",
    ]
    assert (texts(found, "Domain"), texts(found, "SubDomain")) == (["acmepayroll.nmbrs.nl"], [SUBDOMAIN])
    # ASMX's envelope: soap, xsi and xsd declared; the answer in the service's default namespace.
    root = etree.fromstring(response.content)
    assert root.nsmap == {
        "soap": version,
        "xsi": "http://www.w3.org/2001/XMLSchema-instance",
        "xsd": "http://www.w3.org/2001/XMLSchema",
    }
    assert root[0][0].nsmap[None] == namespace(DEBTOR)


@pytest.mark.parametrize(
    ("version", "content_type"),
    [
        (SOAP11, "text/xml; charset=utf-8"),  # Vandebron: no SOAPAction at all
        (SOAP12, "application/soap+xml; charset=utf-8"),  # leapforce: no action parameter
        (SOAP12, "text/xml; charset=utf-8"),  # HelloID: a SOAP 1.2 envelope as text/xml
    ],
)
def test_requests_without_an_action_are_routed_by_their_body_element(
    sandbox: SandboxServer, http: requests.Session, version: str, content_type: str
) -> None:
    response = call(
        sandbox, http, COMPANY, "List_GetAll", version=version, action=False, content_type=content_type
    )

    assert etree.QName(etree.fromstring(response.content)).namespace == version
    assert "Acme Bouw B.V." in texts(result(response, COMPANY, "List_GetAll"), "Company/Name")


def test_header_members_in_any_order_and_the_sandbox_hosts_namespace(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # leapforce sends Username, Domain, Token; PHP connectors name the host they called.
    head = (
        f'<h:AuthHeaderWithDomain xmlns:h="https://api-sandbox.nmbrs.nl/soap/v3/{EMPLOYEE}">'
        f"<h:Username>{MASTER[0]}</h:Username><h:Domain>{SUBDOMAIN}</h:Domain>"
        f"<h:Token>{MASTER[1]}</h:Token></h:AuthHeaderWithDomain>"
    )

    response = call(sandbox, http, EMPLOYEE, "EmployeeType_GetList", head=head)

    assert texts(result(response, EMPLOYEE, "EmployeeType_GetList"), "EmployeeType/Description") == [
        "Applicant",
        "Payroll",
        "External",
        "Former Payroll",
    ]


def test_a_header_in_another_namespace_is_no_header(sandbox: SandboxServer, http: requests.Session) -> None:
    response = call(sandbox, http, DEBTOR, "List_GetAll", head=header(DEBTOR, header_ns="urn:somewhere-else"))

    assert fault(response) == (
        "soap:Server",
        "Server was unable to process request. ---> 1001: Invalid Authentication",
    )


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (header(DEBTOR, credentials=None), "no header"),
        (header(DEBTOR, (MASTER[0], "0" * 32)), "a wrong token"),
        (header(DEBTOR, ("nobody@example.nl", MASTER[1])), "an unknown user"),
        (header(DEBTOR, (MASTER[0], "")), "an empty token"),
        (header(DEBTOR, domain="otherpayroll"), "another environment's domain"),
        (header(DEBTOR, domain="acmepayroll.nmbrs.nl"), "the full host, which v3 no longer takes"),
    ],
)
def test_every_authentication_failure_is_1001(
    sandbox: SandboxServer, http: requests.Session, head: str, why: str
) -> None:
    code, text = fault(call(sandbox, http, DEBTOR, "List_GetAll", head=head))

    assert code == "soap:Server", why
    assert text == "Server was unable to process request. ---> 1001: Invalid Authentication", why
    assert "---> 1001:" in text and CODE.search(text)


@pytest.mark.parametrize("domain", [None, SUBDOMAIN, SUBDOMAIN.upper(), ""])
def test_domain_is_optional_and_checked_when_given(
    sandbox: SandboxServer, http: requests.Session, domain: str | None
) -> None:
    response = call(sandbox, http, DEBTOR, "List_GetAll", head=header(DEBTOR, domain=domain))

    assert texts(result(response, DEBTOR, "List_GetAll"), "Debtor/Name") == [
        "Acme Holding",
        "Bakkerij de Vries",
    ]


def test_the_soap12_fault_is_a_receiver_fault_with_the_same_text(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    response = call(
        sandbox, http, DEBTOR, "List_GetAll", head=header(DEBTOR, credentials=None), version=SOAP12
    )

    assert response.headers["Content-Type"].startswith("application/soap+xml")
    assert fault(response) == (
        "soap:Receiver",
        "Server was unable to process request. ---> 1001: Invalid Authentication",
    )
    reason = etree.fromstring(response.content).find(f".//{{{SOAP12}}}Text")
    assert reason is not None and reason.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


def test_an_operation_switched_off_in_the_api_template_is_1002(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    response = call(sandbox, http, DEBTOR, "List_GetAll", head=header(DEBTOR, CONNECTOR))

    assert fault(response)[1] == "Server was unable to process request. ---> 1002: Unauthorized Access"


def test_a_user_sees_only_its_debtors(sandbox: SandboxServer, http: requests.Session) -> None:
    own = call(
        sandbox,
        http,
        COMPANY,
        "List_GetByDebtor",
        "<DebtorId>40002</DebtorId>",
        head=header(COMPANY, CONNECTOR),
    )
    other = call(
        sandbox,
        http,
        COMPANY,
        "List_GetByDebtor",
        "<DebtorId>40001</DebtorId>",
        head=header(COMPANY, CONNECTOR),
    )
    company = call(
        sandbox,
        http,
        EMPLOYEE,
        "List_GetByCompany",
        "<CompanyId>60001</CompanyId><EmployeeType>2</EmployeeType>",
        head=header(EMPLOYEE, CONNECTOR),
    )
    everything = call(sandbox, http, COMPANY, "List_GetAll", head=header(COMPANY, CONNECTOR))

    assert texts(result(own, COMPANY, "List_GetByDebtor"), "Company/ID") == ["60101"]
    assert fault(other)[1] == "Server was unable to process request. ---> 2009: Unauthorized Access"
    assert fault(company)[1] == "Server was unable to process request. ---> 2004: Unauthorized Access"
    assert texts(result(everything, COMPANY, "List_GetAll"), "Company/Name") == ["Bakkerij de Vries B.V."]


def test_companies_carry_every_required_member_and_omit_absent_strings(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    response = call(sandbox, http, COMPANY, "List_GetByDebtor", "<DebtorId>40001</DebtorId>")
    companies = list(result(response, COMPANY, "List_GetByDebtor"))

    assert len(companies) == 132
    full, bare = companies[0], companies[1]
    assert [etree.QName(child).localname for child in full] == [
        "ID",
        "Number",
        "Name",
        "PhoneNumber",
        "Email",
        "Website",
        "LoonaangifteTijdvak",
        "KvkNr",
    ]
    assert [etree.QName(child).localname for child in bare] == ["ID", "Number", "Name", "LoonaangifteTijdvak"]
    assert texts(bare.getparent(), "Company/LoonaangifteTijdvak")[:2] == ["Month", "Week4"]


@pytest.mark.parametrize(("employee_type", "numbers"), [("2", ["17", "18"]), ("4", ["19"]), ("3", [])])
def test_employees_of_a_company_by_type(
    sandbox: SandboxServer, http: requests.Session, employee_type: str, numbers: list[str]
) -> None:
    # Members in another order than the schema's, as XmlSerializer reads them.
    response = call(
        sandbox,
        http,
        EMPLOYEE,
        "List_GetByCompany",
        f"<EmployeeType>{employee_type}</EmployeeType><CompanyId>60001</CompanyId>",
    )
    found = result(response, EMPLOYEE, "List_GetByCompany")

    assert texts(found, "Employee/Number") == numbers
    if not numbers:
        assert len(found) == 0 and b"<List_GetByCompanyResult/>" in response.content
    if employee_type == "2":
        assert texts(found, "Employee/DisplayName") == ["Sanne van Dijk", "Daan Bakker"]
    if employee_type == "4":
        assert texts(found, "Employee/DisplayName") == ["Jong, Fleur de"]


def test_a_value_that_is_no_int_cannot_be_read(sandbox: SandboxServer, http: requests.Session) -> None:
    response = call(sandbox, http, COMPANY, "List_GetByDebtor", "<DebtorId>forty</DebtorId>")

    code, text = fault(response)
    assert code == "soap:Client"
    assert text.startswith("Server was unable to read request.")


def test_the_converters_map_ints_to_guids(sandbox: SandboxServer, http: requests.Session) -> None:
    debtors = result(
        call(sandbox, http, DEBTOR, "Converter_GetDebtors_IntToGuid"),
        DEBTOR,
        "Converter_GetDebtors_IntToGuid",
    )
    employees = result(
        call(
            sandbox,
            http,
            COMPANY,
            "Converter_GetByCompany_IntToGuid",
            "<Entity>Employee</Entity><CompanyId>60002</CompanyId>",
        ),
        COMPANY,
        "Converter_GetByCompany_IntToGuid",
    )
    unknown = call(
        sandbox,
        http,
        COMPANY,
        "Converter_GetByCompany_IntToGuid",
        "<Entity>Spaceship</Entity><CompanyId>60002</CompanyId>",
    )

    assert texts(debtors, "Entity") == ["Debtor"]
    assert list(
        zip(texts(debtors, "Mappings/Mapping/IdInt"), texts(debtors, "Mappings/Mapping/IdGuid"), strict=True)
    ) == [
        ("40001", "ba9cd002-a871-4e60-b1c1-eca7bc91d4d4"),
        ("40002", "3188f3dd-ef53-456b-a702-6b38d3ca8cfa"),
    ]
    assert texts(employees, "Mappings/Mapping/IdGuid") == ["56de09d8-4a71-4baf-8ae0-8539b6a98faa"]
    # Nmbrs' catch-all, with Nmbrs' spelling.
    assert fault(unknown)[1] == "Server was unable to process request. ---> 9999: Unkown"


def test_single_sign_on_needs_no_header(sandbox: SandboxServer, http: requests.Session) -> None:
    by_password = call(
        sandbox,
        http,
        SSO,
        "GetToken",
        f"<Username>{MASTER[0]}</Username><Password>{PASSWORD}</Password>",
        head="",
    )
    by_token = call(
        sandbox,
        http,
        SSO,
        "GetToken2",
        f"<Username>{MASTER[0]}</Username><Token>{MASTER[1]}</Token>",
        head="",
    )
    with_domain = call(
        sandbox,
        http,
        SSO,
        "GetTokenWithDomain",
        f"<Username>{MULTI_ENV[0]}</Username><Password>{PASSWORD}</Password><Domain>{SUBDOMAIN}</Domain>",
        head="",
    )

    for response, operation in (
        (by_password, "GetToken"),
        (by_token, "GetToken2"),
        (with_domain, "GetTokenWithDomain"),
    ):
        assert len(result(response, SSO, operation).text or "") == 36


def test_single_sign_on_refusals(sandbox: SandboxServer, http: requests.Session) -> None:
    bad_password = call(
        sandbox, http, SSO, "GetToken", f"<Username>{MASTER[0]}</Username><Password>wrong</Password>", head=""
    )
    ambiguous = call(
        sandbox,
        http,
        SSO,
        "GetToken",
        f"<Username>{MULTI_ENV[0]}</Username><Password>{PASSWORD}</Password>",
        head="",
    )
    wrong_domain = call(
        sandbox,
        http,
        SSO,
        "GetTokenWithDomain",
        f"<Username>{MASTER[0]}</Username><Password>{PASSWORD}</Password><Domain>elsewhere</Domain>",
        head="",
    )

    # The bad password's text has no number: the SDK matches "---> Invalid combination".
    assert (
        fault(bad_password)[1]
        == "Server was unable to process request. ---> Invalid combination email/password"
    )
    assert not CODE.search(fault(bad_password)[1])
    assert fault(ambiguous)[1] == "Server was unable to process request. ---> 9999: Unkown"
    assert fault(wrong_domain)[1] == "Server was unable to process request. ---> 2043: Invalid Domain"


@pytest.mark.parametrize(
    ("soap_action", "body", "expected"),
    [
        (
            '"https://api.nmbrs.nl/soap/v3/DebtorService/Nope"',
            envelope(DEBTOR, "List_GetAll"),
            "Server did not recognize the value of HTTP Header SOAPAction: "
            "https://api.nmbrs.nl/soap/v3/DebtorService/Nope.",
        ),
        (
            '"https://api.nmbrs.nl/soap/v3/DebtorService/Environment_Get"',
            envelope(DEBTOR, "List_GetAll"),
            "Server was unable to read request. ---> There is an error in XML document. ---> "
            "<List_GetAll xmlns='https://api.nmbrs.nl/soap/v3/DebtorService'> was not expected.",
        ),
        (
            None,
            envelope(DEBTOR, "Employee_Delete"),
            "Unable to handle request without a valid action parameter. Please supply a valid soap action.",
        ),
        (
            None,
            b"<soap:Envelope",
            "Server was unable to read request. ---> There is an error in XML document."
            " ---> The request is not well-formed XML.",
        ),
    ],
)
def test_requests_asmx_cannot_route_are_client_faults(
    sandbox: SandboxServer, http: requests.Session, soap_action: str | None, body: bytes, expected: str
) -> None:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if soap_action is not None:
        headers["SOAPAction"] = soap_action

    response = http.post(f"{sandbox.url}/soap/v3/{DEBTOR}.asmx", data=body, headers=headers, timeout=5)

    assert fault(response) == ("soap:Client", expected)
    assert stats(sandbox, http)["nmbrs:soap-invalid"] == 1


def test_paths_match_without_regard_to_case(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.post(
        f"{sandbox.url}/SOAP/V3/debtorservice.ASMX",
        data=envelope(DEBTOR, "Environment_Get", head=header(DEBTOR, kind="AuthHeader")),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=5,
    )

    assert texts(result(response, DEBTOR, "Environment_Get"), "SubDomain") == [SUBDOMAIN]


def test_calls_are_counted_per_operation(sandbox: SandboxServer, http: requests.Session) -> None:
    call(sandbox, http, COMPANY, "List_GetAll")
    call(sandbox, http, COMPANY, "List_GetAll", head="")

    counted = stats(sandbox, http)
    assert counted["nmbrs:CompanyService.List_GetAll"] == 2
    assert counted["nmbrs:DebtorService.List_GetAll"] == 0


def test_the_throttle_delays_calls_above_the_limit_and_never_faults(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    switched = http.post(
        sandbox.url + "/_sandbox/nmbrs/throttle", json={"soap": {"per_second": 2, "delay_ms": 300}}, timeout=5
    )
    assert switched.status_code == 204

    durations = []
    for _ in range(3):
        started = time.monotonic()
        assert call(sandbox, http, DEBTOR, "List_GetAll").status_code == 200
        durations.append(time.monotonic() - started)

    assert max(durations[:2]) < 0.25 <= durations[2]
    assert stats(sandbox, http)["nmbrs:soap-throttled"] == 1
    # Another user has calls of its own.
    started = time.monotonic()
    call(sandbox, http, COMPANY, "List_GetAll", head=header(COMPANY, CONNECTOR))
    assert time.monotonic() - started < 0.25
