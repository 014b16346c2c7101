"""SOAP 1.1 and 1.2 as ASMX speaks them: the parse, the operation asked for, the auth header, members,
answers and Faults, all by the shapes in `contract`.

What callers in the field send decides the leniency (FACTS §2.1-§2.2): the SOAP version is the
Envelope's, whatever the Content-Type says (SOAP 1.2 arrives as text/xml); the operation is the
SOAP action's when one is given (the SOAPAction header, or the `action` parameter of a SOAP 1.2
Content-Type), else the Body element's; the auth header's members may come in any order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from ..exchange import Request, Response
from ..xmlparse import XmlRefused, parse_request_xml
from .contract import AUTH_HEADER, AUTH_HEADER_WITH_DOMAIN, SIMPLE, ComplexType, Member, Operation, Service

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
CONTENT_TYPES = {SOAP11: "text/xml; charset=utf-8", SOAP12: "application/soap+xml; charset=utf-8"}
# ASMX wraps every exception a web method throws in this sentence (FACTS §3.1).
SERVER_PREFIX = "Server was unable to process request. ---> "
# ASMX's own texts for requests it cannot route [INFERRED: ASMX's wording; no Nmbrs capture,
# FACTS Unknowns 3].
UNKNOWN_ACTION = "Server did not recognize the value of HTTP Header SOAPAction: {action}."
NO_ACTION = "Unable to handle request without a valid action parameter. Please supply a valid soap action."
UNREADABLE = "Server was unable to read request. ---> There is an error in XML document. ---> {reason}"
_ACTION_PARAMETER = re.compile(r';\s*action\s*=\s*"?([^";]*)"?', re.IGNORECASE)
# The header namespace a PHP client builds from the base URL it called: the sandbox host's
# (https://api-sandbox.nmbrs.nl/soap/v3/X) where the WSDL says api.nmbrs.nl's (FACTS §2.2).
_HOST_NAMESPACE = re.compile(r"https?://[^/]+/soap/v3/(?P<service>[A-Za-z]+)", re.IGNORECASE)


class SoapFault(Exception):
    """A Fault to answer: `code` is Client or Server (SOAP 1.2: Sender or Receiver)."""

    def __init__(self, code: str, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The SOAP version to answer in, once the Envelope has said it.
        self.version = version


def nmbrs_fault(code: int, title: str) -> SoapFault:
    """A Nmbrs error as ASMX writes it: `Server was unable to process request. ---> 1001: Title`."""
    return SoapFault("Server", f"{SERVER_PREFIX}{code}: {title}")


@dataclass(frozen=True)
class SoapRequest:
    """A parsed request: its SOAP version (the Envelope namespace), operation, Body element and Header."""

    version: str
    operation: Operation
    element: etree._Element
    header: etree._Element | None


@dataclass(frozen=True)
class AuthHeader:
    """The credentials of an AuthHeader or AuthHeaderWithDomain; absent members are None."""

    kind: str
    username: str | None
    token: str | None
    domain: str | None


def version_of(request: Request) -> str:
    """The SOAP version to fault in before the Envelope is read: the Content-Type's guess."""
    content_type = (request.header("content-type") or "").lower()
    return SOAP12 if content_type.startswith("application/soap+xml") else SOAP11


def read_request(service: Service, request: Request) -> SoapRequest:
    """Parse the Envelope and find the operation; a SoapFault says what ASMX would refuse."""
    root = _parse(request.body)
    version = root.tag[1:].partition("}")[0] if isinstance(root.tag, str) else ""
    if version not in CONTENT_TYPES or etree.QName(root).localname != "Envelope":
        raise SoapFault("Client", "The request is not a SOAP 1.1 or 1.2 Envelope.")
    body = root.find(f"{{{version}}}Body")
    children = [child for child in body if isinstance(child.tag, str)] if body is not None else []
    try:
        if len(children) != 1:
            raise SoapFault("Client", "The Body must hold exactly one operation element.")
        operation = _operation(service, request, children[0])
    except SoapFault as fault:
        fault.version = version
        raise
    return SoapRequest(version, operation, children[0], root.find(f"{{{version}}}Header"))


def _parse(body: bytes) -> etree._Element:
    try:
        return parse_request_xml(body)
    except XmlRefused as refused:
        raise SoapFault("Client", UNREADABLE.format(reason=refused.message)) from refused


def _operation(service: Service, request: Request, element: etree._Element) -> Operation:
    action = _action(request)
    if action:
        operation = next((o for o in service.operations if service.action(o.name) == action), None)
        if operation is None:
            raise SoapFault("Client", UNKNOWN_ACTION.format(action=action))
        if element.tag != f"{{{service.namespace}}}{operation.name}":
            qname = etree.QName(element)
            reason = f"<{qname.localname} xmlns='{qname.namespace or ''}'> was not expected."
            raise SoapFault("Client", UNREADABLE.format(reason=reason))
        return operation
    operation = next(
        (o for o in service.operations if element.tag == f"{{{service.namespace}}}{o.name}"), None
    )
    if operation is None:
        raise SoapFault("Client", NO_ACTION)
    return operation


def _action(request: Request) -> str:
    header = request.header("soapaction")
    if header is None:
        found = _ACTION_PARAMETER.search(request.header("content-type") or "")
        header = found.group(1) if found else ""
    return header.strip().strip('"').strip()


def auth_header(service: Service, soap: SoapRequest) -> AuthHeader | None:
    """The AuthHeader or AuthHeaderWithDomain of the request, else None.

    Accepted in the service's namespace or the same path on another host, and either one on
    any operation ([INFERRED] FACTS Unknowns 5: whether Nmbrs takes AuthHeader where it
    declares AuthHeaderWithDomain is not known; clients send both). Members are read by local
    name in any order, as XmlSerializer reads unordered members."""
    if soap.header is None:
        return None
    for child in soap.header:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.localname not in (AUTH_HEADER, AUTH_HEADER_WITH_DOMAIN):
            continue
        host = _HOST_NAMESPACE.fullmatch(qname.namespace or "")
        if qname.namespace != service.namespace and (host is None or host["service"] != service.name):
            continue
        members = {etree.QName(m).localname: (m.text or "") for m in child if isinstance(m.tag, str)}
        return AuthHeader(
            qname.localname, members.get("Username"), members.get("Token"), members.get("Domain")
        )
    return None


def text(soap: SoapRequest, name: str) -> str | None:
    """A string member of the request element; None when absent."""
    found = soap.element.find(f"{{{etree.QName(soap.element).namespace}}}{name}")
    if found is None or found.get(f"{{{XSI}}}nil") in ("true", "1"):
        return None
    return found.text or ""


def integer(soap: SoapRequest, name: str) -> int:
    """An xs:int member; absent reads as 0, the .NET default XmlSerializer leaves in place."""
    value = text(soap, name)
    if value is None:
        return 0
    try:
        number = int(value.strip())
    except ValueError:
        number = None
    if number is None or not -(2**31) <= number < 2**31:
        raise SoapFault("Client", UNREADABLE.format(reason="Input string was not in a correct format."))
    return number


# -- answers --------------------------------------------------------------------------


def answer_response(service: Service, soap: SoapRequest, result: object) -> Response:
    """`<{Op}Response xmlns="ns"><{Op}Result>…` in the caller's SOAP version, as ASMX writes it:
    absent (None) members left out, an empty list an empty element."""
    envelope, body = _envelope(soap.version)
    operation = soap.operation
    response = etree.SubElement(
        body,
        f"{{{service.namespace}}}{operation.name}Response",
        nsmap={None: service.namespace},  # type: ignore[dict-item]
    )
    _member(response, service, operation.result, result)
    return _xml_response(200, soap.version, envelope)


def _member(parent: etree._Element, service: Service, member: Member, value: object) -> None:
    if value is None:
        return
    values: Sequence[object] = value if member.repeated and isinstance(value, list) else [value]
    for item in values:
        element = etree.SubElement(parent, f"{{{service.namespace}}}{member.name}")
        _value(element, service, member.type, item)


def _value(element: etree._Element, service: Service, type_name: str, value: object) -> None:
    definition = None if type_name in SIMPLE else service.type(type_name)
    if not isinstance(definition, ComplexType):
        element.text = str(value)
        return
    members = _members(service, definition)
    if isinstance(value, list):  # an ArrayOfX given as its items
        value = {members[0].name: value}
    assert isinstance(value, Mapping), value
    for member in members:
        _member(element, service, member, value.get(member.name))


def _members(service: Service, definition: ComplexType) -> tuple[Member, ...]:
    base = service.type(definition.base) if definition.base else None
    inherited = _members(service, base) if isinstance(base, ComplexType) else ()
    return inherited + definition.members


def fault_response(version: str, fault: SoapFault) -> Response:
    """HTTP 500 and the Fault as ASMX writes it, in the caller's SOAP version (FACTS §2.4)."""
    envelope, body = _envelope(version)
    element = etree.SubElement(body, f"{{{version}}}Fault")
    if version == SOAP11:
        etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
        etree.SubElement(element, "faultstring").text = fault.message
        etree.SubElement(element, "detail")
    else:
        code = etree.SubElement(etree.SubElement(element, f"{{{version}}}Code"), f"{{{version}}}Value")
        code.text = "soap:" + {"Client": "Sender", "Server": "Receiver"}.get(fault.code, fault.code)
        reason = etree.SubElement(etree.SubElement(element, f"{{{version}}}Reason"), f"{{{version}}}Text")
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason.text = fault.message
        etree.SubElement(element, f"{{{version}}}Detail")
    return _xml_response(500, version, envelope)


def _envelope(version: str) -> tuple[etree._Element, etree._Element]:
    # The three declarations ASMX puts on every Envelope, in its order.
    envelope = etree.Element(f"{{{version}}}Envelope", nsmap={"soap": version, "xsi": XSI, "xsd": XSD})
    return envelope, etree.SubElement(envelope, f"{{{version}}}Body")


def _xml_response(status: int, version: str, envelope: etree._Element) -> Response:
    body = b'<?xml version="1.0" encoding="utf-8"?>' + etree.tostring(envelope, encoding="utf-8")
    return Response(status, body, CONTENT_TYPES[version])
