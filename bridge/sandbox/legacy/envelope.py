"""SOAP 1.1 envelopes of the legacy service: the request read (by the hardened parse), answers and Faults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

from ..exchange import XML_TYPE, Response
from ..xmlparse import XmlRefused, parse_request_xml

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"


@dataclass(frozen=True)
class Node:
    """One element of an answer as plain data; every element is in the service's namespace,
    attributes are unqualified, and a None attribute is left out."""

    name: str
    attributes: Mapping[str, str | bool | None] = field(default_factory=dict)
    children: tuple[Node, ...] = ()
    text: str | None = None


class Fault(Exception):
    """A SOAP 1.1 Fault to answer instead of a result: `code` is Client, Server or VersionMismatch."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_operation(body: bytes) -> etree._Element:
    """The single operation element inside a SOAP 1.1 Body, read with a hardened parser."""
    try:
        root = parse_request_xml(body)
    except XmlRefused as refused:
        raise Fault("Client", refused.message) from refused
    if root.tag == f"{{{SOAP12_NS}}}Envelope":
        raise Fault("VersionMismatch", "This endpoint speaks SOAP 1.1 only.")
    if root.tag != f"{{{SOAP11_NS}}}Envelope":
        raise Fault("Client", "The request is not a SOAP 1.1 Envelope.")
    soap_body = root.find(f"{{{SOAP11_NS}}}Body")
    if soap_body is None:
        raise Fault("Client", "The Envelope has no Body.")
    operations = [child for child in soap_body if isinstance(child.tag, str)]
    if len(operations) != 1:
        raise Fault("Client", "The Body must hold exactly one operation element.")
    return operations[0]


def split(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an lxml tag."""
    namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, local


def fault_response(fault: Fault) -> Response:
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap={"soap": SOAP11_NS})
    element = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body"), f"{{{SOAP11_NS}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.message
    return _xml_response(500, envelope)


def answer_response(namespace: str, operation: str, result: Node) -> Response:
    """The 200 answer: `<operation>Response` in the service namespace, declared as the default
    namespace as in the vendor's samples, holding the result."""
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap={"soap": SOAP11_NS})
    body = etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body")
    response = etree.SubElement(
        body,
        f"{{{namespace}}}{operation}Response",
        nsmap={None: namespace},  # type: ignore[dict-item]
    )
    _write(response, namespace, result)
    return _xml_response(200, envelope)


def _write(parent: etree._Element, namespace: str, node: Node) -> None:
    element = etree.SubElement(parent, f"{{{namespace}}}{node.name}")
    for name, value in node.attributes.items():
        if value is not None:
            # xs:boolean spelled as .NET writes it.
            element.set(name, ("true" if value else "false") if isinstance(value, bool) else value)
    element.text = node.text
    for child in node.children:
        _write(element, namespace, child)


def _xml_response(status: int, envelope: etree._Element) -> Response:
    # The declaration written by hand for the double quotes .NET services send.
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(envelope, encoding="utf-8")
    return Response(status, body, XML_TYPE)
