"""The sandbox's one hardened XML parse, for every request body its SOAP services read."""

from __future__ import annotations

from typing import Any

from lxml import etree

from .exchange import MAX_BODY


class XmlRefused(ValueError):
    """A body the sandbox will not read as XML; `message` says why, for the caller's Fault."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_request_xml(body: bytes) -> etree._Element:
    """The document element of a request body, or XmlRefused."""
    if len(body) > MAX_BODY:
        raise XmlRefused("The request is larger than 1 MiB.")
    # No DTDs, no entity expansion, no network: the defences against XXE and entity bombs.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise XmlRefused("The request is not well-formed XML.") from exc
    # lxml-stubs lack DocInfo.doctype.
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlRefused("DOCTYPE declarations are not accepted.")
    return root
