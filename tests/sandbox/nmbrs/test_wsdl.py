"""wsdl/nmbrs/*.wsdl: fresh from the contract, true to FACTS §2 (restated here, not read from the
contract), loaded by the bridge's SoapService with every operation found at its path in SOAP 1.1
and 1.2, and served by the sandbox at `?WSDL` with its own address."""

from __future__ import annotations

import re

import pytest
import requests
from lxml import etree

from bridge.sandbox import SandboxServer
from bridge.sandbox.nmbrs.contract import SERVICES
from bridge.sandbox.nmbrs.wsdl import render
from bridge.soap.envelope import read_envelope
from bridge.soap.service import SoapService
from bridge.soap.xmlparse import XmlLimits
from tests.sandbox.nmbrs.conftest import envelope, header
from tests.servers import REPO
from tests.soapxml import SOAP11, SOAP12

FOLDER = REPO / "wsdl" / "nmbrs"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XS = "http://www.w3.org/2001/XMLSchema"
# FACTS §2.3 and issue 12: the operations each service must have, and the header each declares.
OPERATIONS = {
    "DebtorService": {
        "Environment_Get": "AuthHeader",
        "List_GetAll": "AuthHeaderWithDomain",
        "Converter_GetDebtors_IntToGuid": "AuthHeaderWithDomain",
    },
    "CompanyService": {
        "List_GetAll": "AuthHeaderWithDomain",
        "List_GetByDebtor": "AuthHeaderWithDomain",
        "Converter_GetByCompany_IntToGuid": "AuthHeaderWithDomain",
    },
    "EmployeeService": {
        "List_GetByCompany": "AuthHeaderWithDomain",
        "EmployeeType_GetList": "AuthHeaderWithDomain",
    },
    "SingleSignOn": {"GetToken": None, "GetToken2": None, "GetTokenWithDomain": None},
}


def parsed(service: str) -> etree._Element:
    return etree.parse(str(FOLDER / f"{service}.wsdl")).getroot()


def sequence(root: etree._Element, type_name: str) -> list[tuple[str, str, str, str]]:
    """(name, type, minOccurs, maxOccurs) of a named complexType's own sequence."""
    found = root.find(f".//{{{XS}}}complexType[@name='{type_name}']")
    assert found is not None, type_name
    return [
        (e.get("name", ""), e.get("type", ""), e.get("minOccurs", ""), e.get("maxOccurs", ""))
        for e in found.iter(f"{{{XS}}}element")
    ]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_checked_in_wsdl_is_what_the_contract_renders(service: str) -> None:
    assert (FOLDER / f"{service}.wsdl").read_bytes() == render(SERVICES[service]), (
        "stale: run python wsdl/nmbrs/generate.py"
    )


@pytest.mark.parametrize("service", sorted(OPERATIONS))
def test_namespaces_actions_ports_and_headers_as_nmbrs_has_them(service: str) -> None:
    root = parsed(service)
    namespace = f"https://api.nmbrs.nl/soap/v3/{service}"

    assert root.get("targetNamespace") == namespace
    ports = {p.get("name"): p[0] for p in root.iter(f"{{{WSDL}}}port")}
    assert sorted(ports) == [f"{service}Soap", f"{service}Soap12"]
    assert {etree.QName(a).namespace for a in ports.values()} == {
        "http://schemas.xmlsoap.org/wsdl/soap/",
        "http://schemas.xmlsoap.org/wsdl/soap12/",
    }
    assert {a.get("location") for a in ports.values()} == {f"https://api.nmbrs.nl/soap/v3/{service}.asmx"}
    for binding in root.iter(f"{{{WSDL}}}binding"):
        operations = {o.get("name"): o for o in binding.iter(f"{{{WSDL}}}operation")}
        assert set(operations) == set(OPERATIONS[service])
        for name, operation in operations.items():
            assert operation[0].get("soapAction") == f"{namespace}/{name}"
            headers = [h.get("part") for h in operation.iter() if etree.QName(h).localname == "header"]
            expected = OPERATIONS[service][name]
            assert headers == ([expected] if expected else [])


def test_the_header_types_as_asmx_declares_them() -> None:
    root = parsed("DebtorService")

    assert sequence(root, "AuthHeader") == [
        ("Username", "s:string", "0", "1"),
        ("Token", "s:string", "0", "1"),
    ]
    assert root.find(f".//{{{XS}}}complexType[@name='AuthHeader']/{{{XS}}}anyAttribute") is not None
    extension = root.find(f".//{{{XS}}}complexType[@name='AuthHeaderWithDomain']//{{{XS}}}extension")
    assert extension is not None and extension.get("base") == "tns:AuthHeader"
    assert sequence(root, "AuthHeaderWithDomain") == [("Domain", "s:string", "0", "1")]
    elements = {
        e.get("name"): e.get("type") for e in root.iterfind(f"{{{WSDL}}}types/{{{XS}}}schema/{{{XS}}}element")
    }
    assert (elements["AuthHeader"], elements["AuthHeaderWithDomain"]) == (
        "tns:AuthHeader",
        "tns:AuthHeaderWithDomain",
    )


def test_the_types_of_facts_section_2_3() -> None:
    company, employee, debtor = parsed("CompanyService"), parsed("EmployeeService"), parsed("DebtorService")

    assert sequence(company, "Company") == [
        ("ID", "s:int", "1", "1"),
        ("Number", "s:int", "1", "1"),
        ("Name", "s:string", "0", "1"),
        ("PhoneNumber", "s:string", "0", "1"),
        ("FaxNumber", "s:string", "0", "1"),
        ("Email", "s:string", "0", "1"),
        ("Website", "s:string", "0", "1"),
        ("LoonaangifteTijdvak", "tns:LoonaangifteTijdvak", "1", "1"),
        ("KvkNr", "s:string", "0", "1"),
    ]
    periods = company.find(f".//{{{XS}}}simpleType[@name='LoonaangifteTijdvak']")
    assert periods is not None
    assert [e.get("value") for e in periods.iter(f"{{{XS}}}enumeration")] == [
        "None",
        "Month",
        "Week4",
        "Month6",
        "Year",
    ]
    assert sequence(company, "ArrayOfCompany") == [("Company", "tns:Company", "0", "unbounded")]
    assert sequence(employee, "Employee") == [
        ("Id", "s:int", "1", "1"),
        ("Number", "s:int", "1", "1"),
        ("DisplayName", "s:string", "0", "1"),
    ]
    assert [m[0] for m in sequence(debtor, "Debtor")] == ["Id", "Number", "Name"]
    assert [m[0] for m in sequence(debtor, "Environment")] == ["Domain", "SubDomain"]
    assert [m[0] for m in sequence(company, "Mapping")] == ["IdInt", "IdGuid"]
    request = employee.find(f".//{{{XS}}}element[@name='List_GetByCompany']")
    assert request is not None
    assert [e.get("name") for e in request.iter(f"{{{XS}}}element")][1:] == ["CompanyId", "EmployeeType"]


def test_inferred_facts_are_marked_in_comments() -> None:
    comments = " ".join(str(c.text) for c in parsed("CompanyService").iter(etree.Comment))

    assert "INFERRED" in comments
    assert "Converter" in comments or "converter" in comments


@pytest.mark.parametrize("service", sorted(OPERATIONS))
@pytest.mark.parametrize(
    ("version", "content_type", "with_action"),
    [
        (SOAP11, "text/xml; charset=utf-8", True),
        (SOAP11, "text/xml; charset=utf-8", False),
        (SOAP12, "application/soap+xml; charset=utf-8", True),
        (SOAP12, "application/soap+xml; charset=utf-8", False),
    ],
)
def test_the_bridges_soap_service_finds_every_operation(
    service: str, version: str, content_type: str, with_action: bool
) -> None:
    soap = SoapService(str(FOLDER / f"{service}.wsdl"))
    path = f"/soap/v3/{service}.asmx"

    assert set(soap.ports) == {path}
    for operation in OPERATIONS[service]:
        action = f"https://api.nmbrs.nl/soap/v3/{service}/{operation}"
        head = header(service) if OPERATIONS[service][operation] else ""
        data = envelope(service, operation, head=head, version=version)
        sent_type = content_type + (f'; action="{action}"' if with_action and version == SOAP12 else "")
        soap_action = action if with_action and version == SOAP11 else None
        parsed_envelope = read_envelope(data, sent_type, soap_action, XmlLimits())
        assert soap.find(path, parsed_envelope).name == operation


def test_the_bridge_reads_the_auth_header_the_wsdl_declares() -> None:
    soap = SoapService(str(FOLDER / "CompanyService.wsdl"))
    data = envelope("CompanyService", "List_GetAll", head=header("CompanyService", domain="acmepayroll"))
    parsed_envelope = read_envelope(data, "text/xml", None, XmlLimits())

    decoded = soap.decode(soap.find("/soap/v3/CompanyService.asmx", parsed_envelope), parsed_envelope)

    sent = {
        "Username": "payroll.api@example.nl",
        "Token": "e4c5577c6836855b5ca9f02e04aab76e",
        "Domain": "acmepayroll",
    }
    # Also under the name of the type it extends (docs/rules.md, header aliases).
    assert decoded["header"] == {"AuthHeaderWithDomain": sent, "AuthHeader": sent}


@pytest.mark.parametrize("query", ["WSDL", "wsdl", "Wsdl"])
def test_the_sandbox_serves_the_wsdl_at_its_own_address(
    sandbox: SandboxServer, http: requests.Session, query: str
) -> None:
    response = http.get(f"{sandbox.url}/soap/v3/CompanyService.asmx?{query}", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    locations = re.findall(rb'location="([^"]+)"', response.content)
    assert locations == [f"{sandbox.url}/soap/v3/CompanyService.asmx".encode()] * 2
    assert response.content == render(SERVICES["CompanyService"], sandbox.url)


def test_without_wsdl_the_help_page_lists_the_operations(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    response = http.get(f"{sandbox.url}/soap/v3/EmployeeService.asmx", timeout=5)

    assert response.headers["Content-Type"].startswith("text/html")
    assert "EmployeeType_GetList" in response.text and "List_GetByCompany" in response.text
