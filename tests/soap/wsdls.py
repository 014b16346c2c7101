"""WSDLs for the reader and writer tests: DocumentNOW, the Nmbrs fixture, and a frame for
a WSDL of no vendor built around a test's own schema (for shapes DocumentNOW lacks)."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
DOCUMENTNOW = REPO / "wsdl" / "DocumentNOW.wsdl"
NMBRS = FIXTURES / "nmbrs" / "DebtorService.wsdl"
WSDL_NS = "{http://schemas.xmlsoap.org/wsdl/}"
# Read from the file, not from the service under test, so a lost operation fails the test.
DOCUMENTNOW_OPERATIONS = sorted({
    operation.get("name", "")
    for operation in etree.parse(str(DOCUMENTNOW)).iterfind(f".//{WSDL_NS}portType/{WSDL_NS}operation")
})

_FRAME = """<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions targetNamespace="urn:example:generic"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:g="urn:example:generic"
    xmlns:o="urn:example:other" xmlns:l="urn:example:loose">
  <wsdl:types>{schemas}</wsdl:types>
  {messages}
  <wsdl:portType name="Generic">{operations}</wsdl:portType>
  <wsdl:binding name="Generic" type="g:Generic">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    {bindings}
  </wsdl:binding>
  <wsdl:service name="Generic">
    <wsdl:port name="Generic" binding="g:Generic">
      <soap:address location="http://example.invalid/generic"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""


def generic_wsdl(schemas: str, operations: list[tuple[str, str, str]]) -> str:
    """A document/literal WSDL around `schemas` (prefixes g, o and l are declared) with one
    operation per (name, input element, output element), e.g. ("Plain", "g:Ask", "g:PlainResponse")."""
    return _FRAME.format(
        schemas=schemas,
        messages="".join(
            f'<wsdl:message name="{name}In"><wsdl:part name="parameters" element="{given}"/>'
            f'</wsdl:message><wsdl:message name="{name}Out">'
            f'<wsdl:part name="parameters" element="{answer}"/></wsdl:message>'
            for name, given, answer in operations),
        operations="".join(
            f'<wsdl:operation name="{name}"><wsdl:input message="g:{name}In"/>'
            f'<wsdl:output message="g:{name}Out"/></wsdl:operation>'
            for name, _, _ in operations),
        bindings="".join(
            f'<wsdl:operation name="{name}"><soap:operation soapAction="urn:example:generic/{name}"/>'
            '<wsdl:input><soap:body use="literal"/></wsdl:input>'
            '<wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>'
            for name, _, _ in operations),
    )
