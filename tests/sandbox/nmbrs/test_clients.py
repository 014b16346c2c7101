"""Clients built from the served WSDLs, as Nmbrs connectors build them: zeep (the Python SDK's
stack), suds, and PHP's SoapClient (run by tests/clients/php/call.php). Each sends the auth header
its connectors send and recognises faults by their own rule: a `---> 1001:` substring (zeep SDK),
a `\\d{4}:` regex (PHP connectors)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
import zeep
from suds import WebFault
from suds.client import Client as SudsClient

from bridge.sandbox import SandboxServer
from tests.sandbox.nmbrs.conftest import CODE, MASTER, SUBDOMAIN, namespace
from tests.servers import REPO, Server

CALL_PHP = REPO / "tests" / "clients" / "php" / "call.php"


def wsdl_url(sandbox: SandboxServer | Server, service: str) -> str:
    return f"{sandbox.url}/soap/v3/{service}.asmx?WSDL"


def with_domain(domain: str | None = SUBDOMAIN, token: str = MASTER[1]) -> dict[str, Any]:
    return {"AuthHeaderWithDomain": {"Username": MASTER[0], "Token": token, "Domain": domain}}


# -- zeep ---------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["DebtorServiceSoap", "DebtorServiceSoap12"])
def test_zeep_learns_the_domain_then_lists_debtors(sandbox: SandboxServer, port: str) -> None:
    # The SDK's flow: Environment_Get with AuthHeader, then SubDomain as Domain from then on.
    service = zeep.Client(wsdl_url(sandbox, "DebtorService")).bind("DebtorService", port)

    environment = service.Environment_Get(
        _soapheaders={"AuthHeader": {"Username": MASTER[0], "Token": MASTER[1]}}
    )
    debtors = service.List_GetAll(_soapheaders=with_domain(environment.SubDomain))

    assert (environment.Domain, environment.SubDomain) == ("acmepayroll.nmbrs.nl", SUBDOMAIN)
    assert [(d.Id, d.Number, d.Name) for d in debtors] == [
        (40001, "1", "Acme Holding"),
        (40002, "2", "Bakkerij de Vries"),
    ]


def test_zeep_reads_companies_employees_and_converters(sandbox: SandboxServer) -> None:
    companies = zeep.Client(wsdl_url(sandbox, "CompanyService")).service
    employees = zeep.Client(wsdl_url(sandbox, "EmployeeService")).service

    listed = companies.List_GetByDebtor(DebtorId=40002, _soapheaders=with_domain())
    guids = companies.Converter_GetByCompany_IntToGuid(
        Entity="Company", CompanyId=60101, _soapheaders=with_domain()
    )
    staff = employees.List_GetByCompany(CompanyId=60101, EmployeeType=2, _soapheaders=with_domain())
    types = employees.EmployeeType_GetList(_soapheaders=with_domain())

    (company,) = listed
    assert (company.ID, company.Number, company.Name, company.LoonaangifteTijdvak, company.PhoneNumber) == (
        60101,
        1,
        "Bakkerij de Vries B.V.",
        "Month",
        None,
    )
    assert [(m.IdInt, m.IdGuid) for m in guids.Mappings.Mapping] == [
        (60101, "c02befb3-493d-4721-92a3-e6df2a6b3856")
    ]
    assert [(e.Id, e.Number, e.DisplayName) for e in staff] == [(90101, 1, "Jan de Vries")]
    assert {t.Id: t.Description for t in types}[2] == "Payroll"


def test_zeep_faults_match_the_sdks_substring_rule(sandbox: SandboxServer) -> None:
    service = zeep.Client(wsdl_url(sandbox, "CompanyService")).service

    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.List_GetAll(_soapheaders=with_domain(token="0" * 32))

    assert "---> 1001:" in str(caught.value)
    assert caught.value.code == "soap:Server"


# -- suds ----------------------------------------------------------------------------------


def test_suds_sends_the_header_object_and_reads_employees(sandbox: SandboxServer) -> None:
    client = SudsClient(wsdl_url(sandbox, "EmployeeService"), cache=None)
    auth = client.factory.create(f"{{{namespace('EmployeeService')}}}AuthHeaderWithDomain")
    auth.Username, auth.Token = MASTER
    client.set_options(soapheaders=auth)

    answer = client.service["EmployeeServiceSoap"].List_GetByCompany(CompanyId=60001, EmployeeType=2)

    assert [(e.Id, e.DisplayName) for e in answer.Employee] == [
        (90001, "Sanne van Dijk"),
        (90002, "Daan Bakker"),
    ]


def test_suds_surfaces_the_fault_text(sandbox: SandboxServer) -> None:
    client = SudsClient(wsdl_url(sandbox, "DebtorService"), cache=None)

    with pytest.raises(WebFault) as caught:
        client.service["DebtorServiceSoap"].List_GetAll()

    assert caught.value.fault.faultcode == "soap:Server"
    assert (
        caught.value.fault.faultstring
        == "Server was unable to process request. ---> 1001: Invalid Authentication"
    )


# -- PHP SoapClient --------------------------------------------------------------------------


def php(
    sandbox: SandboxServer | Server,  # a bridge in front of it too (tests/e2e/test_vendor_neutral.py)
    service: str,
    soap_version: str,
    operation: str,
    parameters: dict[str, Any],
    header_ns: str,
    header: dict[str, str],
) -> dict[str, Any]:
    executable = shutil.which("php")
    if executable is None:
        pytest.fail("php is missing: run .ci/ensure-tools", pytrace=False)
    instruction = {
        "soap_version": soap_version,
        "operation": operation,
        "parameters": parameters,
        "headers": [{"namespace": header_ns, "name": "AuthHeaderWithDomain", "data": header}],
    }
    done = subprocess.run(
        [executable, str(CALL_PHP), wsdl_url(sandbox, service)],
        input=json.dumps(instruction),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output: dict[str, Any] = json.loads(done.stdout)
    return output


@pytest.mark.parametrize("soap_version", ["1.1", "1.2"])
def test_php_soapclient_sends_the_header_as_connectors_do(sandbox: SandboxServer, soap_version: str) -> None:
    # timmit-nl and hellohi: SoapHeader(base URL + service, "AuthHeaderWithDomain", [...]); in
    # production that namespace is the WSDL's, so SoapClient writes the header by its schema.
    auth = {"Username": MASTER[0], "Token": MASTER[1], "Domain": SUBDOMAIN}

    output = php(
        sandbox,
        "EmployeeService",
        soap_version,
        "List_GetByCompany",
        {"CompanyId": 60001, "EmployeeType": 4},
        namespace("EmployeeService"),
        auth,
    )

    assert "fault" not in output, output
    employee = output["result"]["List_GetByCompanyResult"]["Employee"]  # a lone item, not a list
    assert (employee["Id"], employee["DisplayName"]) == (90003, "Jong, Fleur de")
    assert "<ns1:Username>" in output["request"]


def test_php_soapclient_with_a_namespace_of_another_host_sends_a_map_nmbrs_cannot_read(
    sandbox: SandboxServer,
) -> None:
    # The same connectors pointed at another base URL (their sandbox switch, or a bridge): the
    # namespace is no longer the WSDL's, and SoapClient writes the array as a key/value map.
    auth = {"Username": MASTER[0], "Token": MASTER[1], "Domain": SUBDOMAIN}

    output = php(
        sandbox,
        "EmployeeService",
        "1.1",
        "List_GetByCompany",
        {"CompanyId": 60001, "EmployeeType": 4},
        f"{sandbox.url}/soap/v3/EmployeeService",
        auth,
    )

    assert "<item><key>Username</key><value>payroll.api@example.nl</value></item>" in output["request"]
    assert (
        output["fault"]["faultstring"]
        == "Server was unable to process request. ---> 1001: Invalid Authentication"
    )


@pytest.mark.parametrize("soap_version", ["1.1", "1.2"])
def test_php_soapclient_faults_match_the_connectors_regex(sandbox: SandboxServer, soap_version: str) -> None:
    auth = {"Username": MASTER[0], "Token": MASTER[1], "Domain": "someone-else"}

    output = php(
        sandbox, "CompanyService", soap_version, "List_GetAll", {}, namespace("CompanyService"), auth
    )

    message = output["fault"]["faultstring"]
    found = CODE.search(message)
    assert found is not None and found.group(0) == "1001:", message
    assert output["fault"]["faultcode"] == ("soap:Server" if soap_version == "1.1" else "soap:Receiver")
