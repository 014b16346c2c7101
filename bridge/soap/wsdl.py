"""Serve the WSDL with every soap:address pointing back at the bridge."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from lxml import etree

from bridge.soap import ns
from bridge.soap.xmlparse import XmlLimits, parse_xml

_ADDRESS_TAGS = (f"{{{ns.WSDL_SOAP11}}}address", f"{{{ns.WSDL_SOAP12}}}address")
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
        parse_xml(self._source, _WSDL_LIMITS)
        self.rendered = lru_cache(maxsize=16)(self._render)

    def _render(self, base_url: str) -> bytes:
        root = parse_xml(self._source, _WSDL_LIMITS)
        base = base_url.rstrip("/")
        for tag in _ADDRESS_TAGS:
            for address in root.iter(tag):
                path = urlsplit(address.get("location", "")).path
                address.set("location", base + path)
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")
