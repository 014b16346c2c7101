"""Serve the WSDL with every soap:address pointing back at the bridge."""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlsplit

from lxml import etree

from bridge.soap import ns
from bridge.soap.xmlparse import XmlLimits, parse_xml

_ADDRESS_TAGS = (f"{{{ns.WSDL_SOAP11}}}address", f"{{{ns.WSDL_SOAP12}}}address")
_DISCO = "http://schemas.xmlsoap.org/disco/"
# The operator's own file: far larger than any request may be (the bundled WSDL has 3,451
# elements and 5,286 attributes), still bounded.
_WSDL_LIMITS = XmlLimits(max_bytes=16 * 1024 * 1024, max_elements=1_000_000,
                         max_attributes=1_000_000, max_attributes_per_element=1024,
                         max_namespaces=10_000)


class WsdlDocument:
    """The WSDL bytes as written in wsdl/, re-addressed per base URL on demand."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as handle:
            self._source = handle.read()
        # Our own file, but it goes through the same hardened parser as requests.
        root = parse_xml(self._source, _WSDL_LIMITS)
        self.rendered = lru_cache(maxsize=16)(self._render)
        service = root.find(f"{{{ns.WSDL}}}service")
        self.service = service.get("name", "") if service is not None else ""
        self.target_namespace = root.get("targetNamespace", "")
        self.operations = sorted({
            op.get("name", "") for port_type in root.iter(f"{{{ns.WSDL}}}portType")
            for op in port_type.iter(f"{{{ns.WSDL}}}operation")} - {""})

    def _render(self, base_url: str) -> bytes:
        root = parse_xml(self._source, _WSDL_LIMITS)
        base = base_url.rstrip("/")
        for tag in _ADDRESS_TAGS:
            for address in root.iter(tag):
                path = urlsplit(address.get("location", "")).path
                address.set("location", base + path)
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def asmx_disco(document: WsdlDocument, endpoint: str) -> bytes:
    """The discovery document ASMX serves at `?disco`: where the WSDL and the endpoint are.

    Old .NET tooling ("Add Web Reference") and some uptime probes ask for it.
    """
    # Default namespaces, as ASMX writes them (lxml-stubs types nsmap keys as str only).
    root = etree.Element(f"{{{_DISCO}}}discovery", nsmap=cast(Any, {None: _DISCO}))
    contract = etree.SubElement(root, f"{{{_DISCO}scl/}}contractRef",
                                nsmap=cast(Any, {None: _DISCO + "scl/"}))
    contract.set("ref", endpoint + "?wsdl")
    contract.set("docRef", endpoint)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def asmx_help_page(document: WsdlDocument) -> bytes:
    """What ASMX answers to a GET without `?WSDL`: the service's name and operations.

    A 200 page rather than a 405, because monitors and people opening the URL in a browser
    expect one from an .asmx address; the page holds nothing but what the WSDL says.
    """
    name = html.escape(document.service)
    items = "".join(f"<li>{html.escape(op)}</li>" for op in document.operations)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{name} Web Service"
            f"</title></head><body><h1>{name}</h1><p>The following operations are supported. "
            f"For a formal definition, please review the <a href=\"?WSDL\">Service "
            f"Description</a>.</p><ul>{items}</ul></body></html>").encode()
