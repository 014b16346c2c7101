"""SOAP 1.1 requests the bridge itself sends to a legacy service (a credentials check, the
id converters), written from plain data: document/literal, every element qualified in the
operation's namespace, as ASMX's `elementFormDefault="qualified"` WSDLs expect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from bridge.soap.ns import SOAP11_CONTENT_TYPE, SOAP11_ENV


def write_request(namespace: str, operation: str, body: Mapping[str, Any],
                  header: Mapping[str, Any] | None = None) -> bytes:
    """The envelope of `operation` with `body`'s members (and `header`'s elements), in
    `namespace`. Values are dicts (elements), lists (repeats) or scalars (text); None and
    empty strings are left out, as an optional member not given."""
    root = etree.Element(f"{{{SOAP11_ENV}}}Envelope", nsmap={"soap": SOAP11_ENV})
    if header:
        _members(etree.SubElement(root, f"{{{SOAP11_ENV}}}Header"), namespace, header)
    soap_body = etree.SubElement(root, f"{{{SOAP11_ENV}}}Body")
    element = etree.SubElement(soap_body, f"{{{namespace}}}{operation}",
                               nsmap={None: namespace})  # type: ignore[dict-item]
    _members(element, namespace, body)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def request_headers(action: str) -> dict[str, str]:
    """The HTTP headers of a SOAP 1.1 request for `action`."""
    return {"Content-Type": f"{SOAP11_CONTENT_TYPE}; charset=utf-8", "SOAPAction": f'"{action}"'}


def _members(parent: etree._Element, namespace: str, members: Mapping[str, Any]) -> None:
    for name, value in members.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None or item == "":
                continue
            child = etree.SubElement(parent, f"{{{namespace}}}{name}")
            if isinstance(item, Mapping):
                _members(child, namespace, item)
            elif isinstance(item, bool):
                child.text = "true" if item else "false"
            else:
                child.text = str(item)


def answer_data(element: etree._Element) -> Any:
    """An answer element as plain data by local names, without a WSDL: text for a leaf
    (None when empty), a dict for an element with children, a list where a name repeats."""
    children = list(element)
    if not children:
        return element.text or None
    data: dict[str, Any] = {}
    for child in children:
        name = etree.QName(child).localname
        value = answer_data(child)
        if name in data:
            known = data[name]
            data[name] = [*known, value] if isinstance(known, list) else [known, value]
        else:
            data[name] = value
    return data
