"""SOAP 1.1 / 1.2 envelopes: read a request, write an answer or a Fault."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from bridge.errors import Fault, SoapClientError
from bridge.soap import ns
from bridge.soap.xmlparse import XmlLimits, parse_xml

SOAP11 = "1.1"
SOAP12 = "1.2"

_ENV_NS = {SOAP11: ns.SOAP11_ENV, SOAP12: ns.SOAP12_ENV}
_CONTENT_TYPE = {
    SOAP11: "text/xml; charset=utf-8",
    SOAP12: "application/soap+xml; charset=utf-8",
}
# SOAP 1.2 spells the generic fault codes differently.
_FAULT_CODE_12 = {"Client": "Sender", "Server": "Receiver"}

# How Faults look (config `fault_style`): WCF's, or ASMX's (an ASP.NET .asmx service, Nmbrs).
WCF = "wcf"
ASMX = "asmx"
# ASMX wraps every exception a web method throws in this sentence; callers find the error by
# the four-digit code after it (`---> 1001:`, or the regex `\d{4}:`), FACTS nmbrs §3.1.
ASMX_PREFIX = "Server was unable to process request. ---> "
# Nmbrs' generic error, in its own spelling, for a message that carries no code of its own.
ASMX_GENERIC = "9999: Unkown"
_CODED = re.compile(r"\d{4}:")
_XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'


@dataclass(frozen=True)
class Envelope:
    """A parsed request: version, the action the caller named, header and body."""

    version: str
    action: str | None
    header: etree._Element | None
    body: etree._Element

    @property
    def payload(self) -> etree._Element | None:
        """The first element in the Body: the operation's wrapper element."""
        for child in self.body:
            return child
        return None


def content_type_for(version: str) -> str:
    return _CONTENT_TYPE[version]


def _split_content_type(value: str) -> tuple[str, dict[str, str]]:
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for part in rest.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params


def version_of(content_type: str) -> str | None:
    """The SOAP version a Content-Type announces, or None for anything else."""
    media, _ = _split_content_type(content_type)
    if media == ns.SOAP11_CONTENT_TYPE:
        return SOAP11
    if media == ns.SOAP12_CONTENT_TYPE:
        return SOAP12
    return None


def read_envelope(
    data: bytes, content_type: str, soap_action: str | None, limits: XmlLimits,
    by_envelope: bool = False,
) -> Envelope:
    """Check transport headers and envelope agree, then split out header and body.

    `by_envelope`: the SOAP version is the Envelope's whatever the Content-Type says, as
    ASMX reads it (field clients post SOAP 1.2 envelopes as text/xml, FACTS nmbrs §2.1;
    [INFERRED] there that Nmbrs accepts them, since those clients run against production);
    WCF refuses the mismatch."""
    media, params = _split_content_type(content_type)
    if media == ns.SOAP11_CONTENT_TYPE:
        version = SOAP11
        action = soap_action.strip().strip('"') if soap_action is not None else None
    elif media == ns.SOAP12_CONTENT_TYPE:
        version = SOAP12
        action = params.get("action") or (soap_action or "").strip().strip('"') or None
    else:
        raise SoapClientError(
            f"unsupported Content-Type {media or '(none)'!r}: SOAP 1.1 needs text/xml, "
            "SOAP 1.2 application/soap+xml",
            http_status=415,
        )
    root = parse_xml(data, limits)
    expected = _ENV_NS[version]
    if not isinstance(root.tag, str) or etree.QName(root).localname != "Envelope":
        raise SoapClientError("the document is not a SOAP Envelope")
    if etree.QName(root).namespace != expected:
        other = SOAP12 if version == SOAP11 else SOAP11
        if etree.QName(root).namespace == _ENV_NS[other] and by_envelope:
            # The action is wherever the caller put it: the SOAPAction header or the
            # Content-Type's action parameter.
            version, expected = other, _ENV_NS[other]
            action = (params.get("action") or (soap_action or "").strip().strip('"')
                      or None)
        elif etree.QName(root).namespace == _ENV_NS[other]:
            raise SoapClientError(
                f"a SOAP {other} envelope was sent with the SOAP {version} content type {media}"
            )
        else:
            raise SoapClientError("the Envelope is not in a SOAP envelope namespace")
    header = root.find(f"{{{expected}}}Header")
    body = root.find(f"{{{expected}}}Body")
    if body is None:
        raise SoapClientError("the Envelope has no Body")
    return Envelope(version=version, action=action or None, header=header, body=body)


def swap_values(envelope: Envelope, name: str, swap: Callable[[str], str | None]) -> bytes | None:
    """The envelope re-serialised with each attribute or element text called `name` swapped.

    None when nothing was swapped, so the caller can forward the original bytes untouched.
    """
    changed = False
    for element in envelope.body.iter():
        if not isinstance(element.tag, str):
            continue
        value = element.get(name)
        if value is not None and (new := swap(value)) is not None:
            element.set(name, new)
            changed = True
        if etree.QName(element).localname == name and element.text and len(element) == 0:
            if (new := swap(element.text.strip())) is not None:
                element.text = new
                changed = True
    if not changed:
        return None
    root = envelope.body.getroottree().getroot()
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def write_envelope(version: str, payload: etree._Element) -> bytes:
    """Wrap one response element in an Envelope/Body of the caller's SOAP version."""
    env_ns = _ENV_NS[version]
    envelope = etree.Element(f"{{{env_ns}}}Envelope", nsmap={"s": env_ns})
    body = etree.SubElement(envelope, f"{{{env_ns}}}Body")
    body.append(payload)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def fault_status(fault: Fault, version: str, style: str = WCF) -> int:
    """The HTTP status of a Fault: every fault is a 500 in SOAP 1.1's HTTP binding, and in
    every version for ASMX; WCF answers SOAP 1.2 Sender faults with 400."""
    if version == SOAP12 and fault.code == "Client" and style != ASMX:
        return 400
    return 500


def asmx_text(message: str) -> str:
    """A Fault's text as ASMX writes it: `Server was unable to process request. ---> NNNN:
    Title`. A message without a four-digit code of its own gets Nmbrs' generic one."""
    if message.startswith(ASMX_PREFIX):
        return message
    if not _CODED.match(message):
        message = f"{ASMX_GENERIC}. {message}" if message else ASMX_GENERIC
    return ASMX_PREFIX + message


def write_fault(fault: Fault, version: str, style: str = WCF) -> bytes:
    """A Fault in an Envelope/Body of the caller's SOAP version, in the style asked for."""
    if style == ASMX:
        return _write_asmx_fault(fault, version)
    env_ns = _ENV_NS[version]
    envelope = etree.Element(f"{{{env_ns}}}Envelope", nsmap={"s": env_ns})
    body = etree.SubElement(envelope, f"{{{env_ns}}}Body")
    node = etree.SubElement(body, f"{{{env_ns}}}Fault")
    xml_lang = "{http://www.w3.org/XML/1998/namespace}lang"
    if version == SOAP11:
        etree.SubElement(node, "faultcode").text = f"s:{fault.code}"
        string = etree.SubElement(node, "faultstring")
        string.set(xml_lang, "en-US")
        string.text = fault.message
    else:
        code = etree.SubElement(node, f"{{{env_ns}}}Code")
        value = etree.SubElement(code, f"{{{env_ns}}}Value")
        value.text = f"s:{_FAULT_CODE_12.get(fault.code, fault.code)}"
        reason = etree.SubElement(node, f"{{{env_ns}}}Reason")
        text = etree.SubElement(reason, f"{{{env_ns}}}Text")
        text.set(xml_lang, "en")
        text.text = fault.message
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def _write_asmx_fault(fault: Fault, version: str) -> bytes:
    """The Fault as ASMX writes it (FACTS nmbrs §2.4, [INFERRED] there from ASMX's standard
    wrapping of an exception; the `---> NNNN:` tail is what clients parse, §3.1): the
    Envelope's three declarations, `soap:Server` (1.2 `soap:Receiver`) whatever the cause,
    an empty detail."""
    env_ns = _ENV_NS[version]
    envelope = etree.Element(f"{{{env_ns}}}Envelope",
                             nsmap={"soap": env_ns, "xsi": ns.XSI, "xsd": ns.XSD})
    node = etree.SubElement(etree.SubElement(envelope, f"{{{env_ns}}}Body"), f"{{{env_ns}}}Fault")
    if version == SOAP11:
        etree.SubElement(node, "faultcode").text = "soap:Server"
        etree.SubElement(node, "faultstring").text = asmx_text(fault.message)
        etree.SubElement(node, "detail")
    else:
        code = etree.SubElement(node, f"{{{env_ns}}}Code")
        etree.SubElement(code, f"{{{env_ns}}}Value").text = "soap:Receiver"
        reason = etree.SubElement(node, f"{{{env_ns}}}Reason")
        text = etree.SubElement(reason, f"{{{env_ns}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = asmx_text(fault.message)
        etree.SubElement(node, f"{{{env_ns}}}Detail")
    return _XML_DECLARATION + etree.tostring(envelope, encoding="utf-8")


def read_answer(data: bytes, limits: XmlLimits) -> etree._Element | Fault:
    """An upstream SOAP answer: its payload element, or the Fault it carries."""
    root = parse_xml(data, limits)
    for version, env_ns in _ENV_NS.items():
        if root.tag != f"{{{env_ns}}}Envelope":
            continue
        body = root.find(f"{{{env_ns}}}Body")
        payload = None if body is None else next(iter(body), None)
        if payload is None:
            raise SoapClientError("the answer has an empty Body")
        if payload.tag == f"{{{env_ns}}}Fault":
            return _read_fault(version, env_ns, payload)
        return payload
    raise SoapClientError("the answer is not a SOAP Envelope")


def _read_fault(version: str, env_ns: str, fault: etree._Element) -> Fault:
    if version == SOAP11:
        code = (fault.findtext("faultcode") or "").rpartition(":")[2]
        message = fault.findtext("faultstring") or ""
    else:
        code = (fault.findtext(f"{{{env_ns}}}Code/{{{env_ns}}}Value") or "").rpartition(":")[2]
        message = fault.findtext(f"{{{env_ns}}}Reason/{{{env_ns}}}Text") or ""
    generic = {value: key for key, value in _FAULT_CODE_12.items()}
    return Fault(generic.get(code, code), message)
