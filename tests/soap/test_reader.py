"""The compiled request reader: exactly the plain data zeep's path reads, or the zeep path itself."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from zeep.helpers import serialize_object
from zeep.xsd.types.complex import ComplexType

from bridge.soap import ns
from bridge.soap.envelope import SOAP11, SOAP12, Envelope, read_envelope
from bridge.soap.reader import RequestReader, compile_request
from bridge.soap.service import SoapService, _plain
from bridge.soap.shapes import TEXT, Field, Operation
from bridge.soap.xmlparse import XmlLimits
from tests.contract import VECTORS
from tests.soap.wsdls import (
    DOCUMENTNOW,
    DOCUMENTNOW_OPERATIONS,
    ENUMERATIONS,
    NMBRS,
    combinations,
    generic_wsdl,
    member_part,
    parts,
    pool_name,
    proved,
)

USERS = "https://www.assuresign.net/Services/DocumentNOW/Users"
LIMITS = XmlLimits(max_bytes=1024 * 1024)

# A WSDL of no vendor, for what DocumentNOW does not have: simple child elements of every
# type the reader knows, bounded and required repeats, simple content of a non-string type,
# an empty type, an extension without elements, an element from another namespace,
# unqualified elements and qualified attributes, a type inside itself; and what only zeep
# reads (dateTime, a choice, a repeating choice, an element default, normalizedString,
# anyType, anyURI, an attribute default).
GENERIC_REQUESTS = [("Plain", "g"), ("Loose", "l"), ("Chosen", "g"), ("Defaulted", "g")]
GENERIC_WSDL = generic_wsdl("""
    <xs:schema targetNamespace="urn:example:other" elementFormDefault="qualified">
      <xs:element name="Foreign" type="xs:string"/>
      <xs:attribute name="Stamp" type="xs:string"/>
    </xs:schema>
    <xs:schema targetNamespace="urn:example:loose" elementFormDefault="unqualified"
               attributeFormDefault="qualified">
      <xs:complexType name="Inner">
        <xs:sequence>
          <xs:element name="Value" type="xs:int" minOccurs="0" maxOccurs="2"/>
        </xs:sequence>
        <xs:attribute name="Code" type="xs:string"/>
        <xs:attribute name="Plain" type="xs:boolean" form="unqualified"/>
      </xs:complexType>
      <xs:element name="Loose">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="Name" type="xs:string" minOccurs="0"/>
            <xs:element name="Inner" type="l:Inner" minOccurs="0" maxOccurs="unbounded"/>
            <xs:element name="Kept" type="xs:string" form="qualified" minOccurs="0"/>
          </xs:sequence>
          <xs:attribute name="Mark" type="xs:string"/>
        </xs:complexType>
      </xs:element>
    </xs:schema>
    <xs:schema targetNamespace="urn:example:generic" elementFormDefault="qualified">
      <xs:import namespace="urn:example:other"/>
      <xs:complexType name="Note">
        <xs:simpleContent><xs:extension base="xs:boolean">
          <xs:attribute name="Kind" type="xs:string"/>
        </xs:extension></xs:simpleContent>
      </xs:complexType>
      <xs:complexType name="Amount">
        <xs:simpleContent><xs:extension base="xs:int">
          <xs:attribute name="Unit" type="xs:string" use="required"/>
        </xs:extension></xs:simpleContent>
      </xs:complexType>
      <xs:complexType name="Base">
        <xs:attribute name="Ref" type="xs:string" use="required"/>
      </xs:complexType>
      <xs:complexType name="Derived">
        <xs:complexContent><xs:extension base="g:Base">
          <xs:attribute name="Extra" type="xs:int"/>
        </xs:extension></xs:complexContent>
      </xs:complexType>
      <xs:complexType name="Nothing"/>
      <xs:complexType name="Tree">
        <xs:sequence>
          <xs:element name="Tree" type="g:Tree" minOccurs="0"/>
        </xs:sequence>
        <xs:attribute name="Name" type="xs:string"/>
      </xs:complexType>
      <xs:complexType name="Extras">
        <xs:sequence>
          <xs:element name="Note" type="g:Note" minOccurs="0"/>
          <xs:element name="Amount" type="g:Amount" minOccurs="0" maxOccurs="2"/>
          <xs:element name="Nothing" type="g:Nothing" minOccurs="0"/>
          <xs:element name="Derived" type="g:Derived" minOccurs="0"/>
        </xs:sequence>
      </xs:complexType>
      <xs:complexType name="Item">
        <xs:sequence>
          <xs:element name="Label" type="xs:string"/>
          <xs:element name="Count" type="xs:int" minOccurs="0"/>
          <xs:element name="Flag" type="xs:boolean" minOccurs="0"/>
          <xs:element name="Code" type="xs:short" minOccurs="0" maxOccurs="3"/>
          <xs:element name="Big" type="xs:integer" minOccurs="0"/>
        </xs:sequence>
        <xs:attribute name="Id" type="xs:long" use="required"/>
        <xs:attribute name="Live" type="xs:boolean"/>
      </xs:complexType>
      <xs:element name="Plain">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="Title" type="xs:string" minOccurs="0"/>
            <xs:element name="Item" type="g:Item" minOccurs="0" maxOccurs="unbounded"/>
            <xs:element name="Tag" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
            <xs:element name="Line" type="xs:string" maxOccurs="unbounded"/>
            <xs:element name="Extras" type="g:Extras" minOccurs="0"/>
            <xs:element ref="o:Foreign" minOccurs="0"/>
            <xs:element name="When" type="xs:dateTime" minOccurs="0"/>
            <xs:element name="Pick" minOccurs="0">
              <xs:complexType><xs:choice>
                <xs:element name="A" type="xs:string"/>
                <xs:element name="B" type="xs:string"/>
              </xs:choice></xs:complexType>
            </xs:element>
            <xs:element name="Defaulted" type="xs:string" minOccurs="0" default="d"/>
            <xs:element name="Token" type="xs:normalizedString" minOccurs="0"/>
            <xs:element name="Blob" type="xs:anyType" minOccurs="0"/>
            <xs:element name="Tree" type="g:Tree" minOccurs="0"/>
            <xs:element name="Picks" minOccurs="0">
              <xs:complexType><xs:choice maxOccurs="unbounded">
                <xs:element name="A" type="xs:string"/>
                <xs:element name="B" type="xs:int"/>
              </xs:choice></xs:complexType>
            </xs:element>
          </xs:sequence>
          <xs:attribute name="Version" type="xs:int"/>
          <xs:attribute name="Strict" type="xs:boolean"/>
          <xs:attribute ref="o:Stamp"/>
          <xs:attribute name="Link" type="xs:anyURI"/>
        </xs:complexType>
      </xs:element>
      <xs:element name="Chosen">
        <xs:complexType><xs:choice>
          <xs:element name="A" type="xs:string"/>
          <xs:element name="B" type="xs:string"/>
        </xs:choice></xs:complexType>
      </xs:element>
      <xs:element name="Defaulted">
        <xs:complexType><xs:attribute name="Mode" type="xs:string" default="x"/></xs:complexType>
      </xs:element>
      <xs:element name="Done"><xs:complexType/></xs:element>
    </xs:schema>
  """, [
    (name, f"{prefix}:{name}", "g:Done") for name, prefix in GENERIC_REQUESTS])
# Fields of the generic WSDL only zeep reads: the enumeration leaves them out.
ZEEP_ONLY = frozenset({"When", "Pick", "Defaulted", "Token", "Blob", "Link"})
OPERATIONS = ([("DocumentNOW", name) for name in DOCUMENTNOW_OPERATIONS]
              + [("Nmbrs", "Environment_Get"), ("Generic", "Plain"), ("Generic", "Loose")])

# Lexical forms, chosen to stress whitespace, escaping and the spellings of each type. Each
# is written somewhere as an attribute, as element text and as simple content, in turn. The
# reader reads strings (enumerations and guids are strings to zeep: it checks no facet),
# booleans and integers; the forms of other types are zeep's to read, and the reader leaves
# every element that holds one to zeep.
POOLS: dict[str, tuple[str, ...]] = {
    "string": ('& < > " \'', "line\nbreak\ttab\rreturn\r\n", "  leading and trailing  ", "",
               "Ünïcødé ✓ 😀 \u2028 \x85", "]]> &amp; &#10;", "Example, Inc.", "\t", " ",
               "\u00a0non-breaking\u00a0", "821ae27f-027c-4f21-a2e5-1667fc9b650a"),
    "boolean": ("true", "false", "1", "0", " true ", "\n\tfalse\r\n", "\t1 ", " 0"),
    "int": ("42", "-3", "+5", " 12 ", "\n7\t", "0", "-0", "007", "99999999999999999999999",
            "+0012"),
    "guid": ("821ae27f-027c-4f21-a2e5-1667fc9b650a", "821AE27F-027C-4F21-A2E5-1667FC9B650A",
             "{821ae27f-027c-4f21-a2e5-1667fc9b650a}", " 821ae27f-027c-4f21-a2e5-1667fc9b650a ",
             "821ae27f027c4f21a2e51667fc9b650a", "not a guid", ""),
    "double": ("1.5", "-0", "2", " 3.25 ", "1e3", "-1.5E-3", ".5", "5.", "INF", "-INF", "NaN",
               "1_0", "0x1p3", "infinity", "\u0661\u066b\u0665", "1,5", "abc", ""),
    "datetime": ("2024-01-02T03:04:05", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.1234567+01:00",
                 "2024-01-02", "2024-01-02 03:04:05", " 2024-01-02T03:04:05 ", "0001-01-01T00:00:00",
                 "2024-02-30T00:00:00", "24:00", "yesterday", ""),
    "base64binary": ("aGVsbG8=", "AAEC/w==", "aGVs\nbG8=", "aGVsbG8", "not base64!", "=", ""),
}
POOLS["integer"] = POOLS["long"] = POOLS["short"] = POOLS["int"]
# An enumeration's values, then what zeep reads as a string all the same.
POOLS.update({name: (*values, f" {values[0]} ", values[0].lower(), "Unknown", "")
              for name, values in ENUMERATIONS.items()})
# Spellings zeep reads its own way (or not at all); the reader leaves every one to zeep.
ODD: dict[str, tuple[str, ...]] = {
    "boolean": ("yes", "TRUE", "True", "", " ", "\u00a0true", "tr ue", "2", "-1", "true\u2028"),
    "int": ("1_000", "١٢", "12.0", "", " ", "abc", "+-1", "- 1", "0x10", "\u00a012", "1e3",
            "9" * 5000),
    "double": POOLS["double"], "datetime": POOLS["datetime"], "base64binary": POOLS["base64binary"],
}
ODD["integer"] = ODD["long"] = ODD["short"] = ODD["int"]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SoapService]:
    generic = tmp_path_factory.mktemp("wsdl") / "generic.wsdl"
    generic.write_text(GENERIC_WSDL, encoding="utf-8")
    return {"DocumentNOW": SoapService(str(DOCUMENTNOW)), "Nmbrs": SoapService(str(NMBRS)),
            "Generic": SoapService(str(generic))}


def _zeep_plain(service: SoapService, operation: Operation, payload: etree._Element) -> Any:
    """What the zeep path reads from a request element, as decode gives it."""
    value = operation._input_element.parse(payload, service._types)
    return _plain(serialize_object(value, dict)) or {}


class _AsZeep:
    """A reader that reads what the reader reads, but gives zeep's reading of it."""

    def __init__(self, service: SoapService, operation: Operation) -> None:
        self._service = service
        self._operation = operation

    def read(self, payload: etree._Element) -> Any:
        if self._service._readers[self._operation.name].read(payload) is None:
            return None
        return _zeep_plain(self._service, self._operation, payload)


def _zeep(service: SoapService) -> SoapService:
    """The same service with zeep's reading in place of each the reader gives: decode takes the
    reader's path (the request, then the lenient copy decode makes of what the reader declines,
    then the zeep path) and gives zeep's result on it."""
    slow = copy.copy(service)
    slow._readers = {name: _AsZeep(service, operation)
                     for name, operation in service.operations.items() if name in service._readers}
    return slow


def _reader(operation: Operation) -> RequestReader:
    reader = compile_request(operation.request)
    assert reader is not None, operation.name
    return reader


def _comparable(value: Any) -> Any:
    """repr, not ==: True == 1, and the order of keys is part of "the same dict".

    zeep gives anyType content as lxml elements, a new proxy object on each read.
    """
    if isinstance(value, etree._Element):
        return etree.tostring(value)
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "data", repr(_comparable(call()))
    except Exception as exc:
        return "error", (type(exc), str(exc))


def _decode_and_zeep(service: SoapService, operation: Operation,
                     envelope: Envelope) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """What SoapService.decode gives, and what it gives with zeep's reading in place of the
    reader's: data or error."""
    return (_outcome(lambda: service.decode(operation, envelope)),
            _outcome(lambda: _zeep(service).decode(operation, envelope)))


# -- requests generated from the Field shapes ------------------------------------------


@dataclass(frozen=True)
class Node:
    """One element of a generated request: tag and attributes in Clark notation, logical text."""

    tag: str
    attributes: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    children: tuple[Node, ...] = ()


Content = tuple[tuple[tuple[str, str], ...], str | None, tuple[Node, ...]]


class _Values:
    """Sample lexical forms per pool (see wsdls.pool_name), in turn."""

    def __init__(self) -> None:
        self._turns: dict[str, Iterator[str]] = {}

    def next(self, field: Field, part: Any) -> str:
        name = pool_name(field, part)
        turn = self._turns.setdefault(name, itertools.cycle(POOLS[name]))
        return next(turn)


def _members(shape: Field, xsd_type: Any, skip: frozenset[str], everything: bool,
             path: tuple[str, ...] = (), change: Mapping[tuple[str, ...], Any] | None = None,
             ) -> list[tuple[Field, Any]]:
    """The fields a generated request may write, each with the zeep part behind it: every one
    (`everything`) or only those the reader was proved for, and those `change` names a path
    through. zeep's stand-in for an extension without elements has no text to write."""
    found = parts(xsd_type)
    members = []
    for field in shape.children:
        part = member_part(found, field)
        if field.name in skip or (field.kind == "text" and isinstance(part.type, ComplexType)):
            continue
        named = change is not None and any(key[:len(path) + 1] == (*path, field.name)
                                           for key in change)
        if everything or named or proved(field, part):
            members.append((field, part))
    return members


# Every combination of one element's own fields is enumerated (absent or present; repeated
# elements with 0, 1 or 3 items, or as many as maxOccurs allows; required ones always
# present) while a level has at most _CAP of them. Larger levels (the contract's largest is
# UpdateSignatory's SignatoryInfo, 2^15) are sampled by wsdls.combinations: each field absent
# and present, each count, at least once, then seeded draws up to _CAP. Across levels the
# product would run to millions, so a nested element's variants are taken in turn, with rows
# of every field present added until each variant has appeared at least once.
_CAP = 48


def _states(field: Field, part: Any) -> tuple[int | None, ...]:
    """A field's states in a generated request: absent (None), or how many times it occurs."""
    if field.kind != "element" or not field.multiple:
        return (1,) if field.required else (None, 1)
    # A member of a repeating choice repeats with the choice; zeep's element says once.
    most = 3 if part.max_occurs in ("unbounded", 1) else min(3, int(part.max_occurs))
    least = int(part.min_occurs) if field.required else 0
    return tuple(count for count in sorted({0, 1, most}) if count >= least)


def _variants(shape: Field, xsd_type: Any, values: _Values, skip: frozenset[str],
              everything: bool = False) -> list[Content]:
    """Requests' content for one element: of the fields the reader was proved for, or of all."""
    members = _members(shape, xsd_type, skip, everything)
    nested = {field.name: _variants(field, part.type, values, skip, everything)
              for field, part in members
              if field.kind == "element" and isinstance(part.type, ComplexType)}
    taken = dict.fromkeys(nested, 0)

    def occurrence(field: Field, part: Any) -> Node:
        options = nested.get(field.name)
        if options is None:
            return Node(part.qname.text, text=values.next(field, part))
        taken[field.name] += 1
        attributes, text, children = options[(taken[field.name] - 1) % len(options)]
        return Node(part.qname.text, attributes, text, children)

    def row(combination: tuple[int | None, ...]) -> Content:
        attributes: list[tuple[str, str]] = []
        text: str | None = None
        children: list[Node] = []
        for (field, part), state in zip(members, combination, strict=True):
            if state is None:
                continue
            if field.kind == "attribute":
                attributes.append((part.qname.text, values.next(field, part)))
            elif field.kind == "text":
                text = values.next(field, part)
            else:
                children.extend(occurrence(field, part) for _ in range(state))
        return tuple(attributes), text, tuple(children)

    space = [_states(field, part) for field, part in members]
    rows = [row(combination) for combination in combinations(space, _CAP, shape.name)]
    while any(taken[name] < len(options) for name, options in nested.items()):
        rows.append(row(tuple(options[-1] for options in space)))
    return rows


_MISSING = object()


def _full(shape: Field, xsd_type: Any, values: _Values, skip: frozenset[str],
          change: Mapping[tuple[str, ...], Any], path: tuple[str, ...] = ()) -> Content:
    """Every field the reader was proved for present once, and the fields `change` names a path
    to; except where `change` leaves a field out or gives its text."""
    attributes: list[tuple[str, str]] = []
    text: str | None = None
    children: list[Node] = []
    for field, part in _members(shape, xsd_type, skip, False, path, change):
        here = (*path, field.name)
        given = change.get(here)
        if given is _MISSING:
            continue
        if field.kind == "text":
            text = values.next(field, part) if given is None else given
        elif field.kind == "attribute":
            attributes.append((part.qname.text,
                               values.next(field, part) if given is None else given))
        elif isinstance(part.type, ComplexType):
            inner = _full(field, part.type, values, skip, change, here)
            children.append(Node(part.qname.text, *inner))
        else:
            children.append(Node(part.qname.text,
                                 text=values.next(field, part) if given is None else given))
    return tuple(attributes), text, tuple(children)


def _paths(shape: Field, xsd_type: Any, skip: frozenset[str], everything: bool = False,
           path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Field, Any]]:
    """Every field at every depth (or every one the reader was proved for), with its path."""
    for field, part in _members(shape, xsd_type, skip, everything):
        here = (*path, field.name)
        yield here, field, part
        if field.kind == "element" and isinstance(part.type, ComplexType):
            yield from _paths(field, part.type, skip, everything, here)


# -- writing a generated request as XML, in several spellings -----------------------------

def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


_ENVELOPE = {SOAP11: ("soap", ns.SOAP11_ENV), SOAP12: ("env", ns.SOAP12_ENV)}


class _Spelling:
    """One way to write the same request: SOAP version, namespace style, layout and escapes."""

    def __init__(self, version: str, prefixed: bool, indent: bool, plain: bool = False) -> None:
        self.version = version
        self.prefixed = prefixed
        self.indent = indent
        # plain: only the escapes that leave every value exactly as it was written.
        self._turn: Iterator[int] = itertools.repeat(0) if plain else itertools.count()
        self._prefixes: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"_Spelling({self.version!r}, prefixed={self.prefixed}, indent={self.indent})"

    def _prefix(self, namespace: str) -> str:
        return self._prefixes.setdefault(namespace, f"p{len(self._prefixes)}")

    def attribute_value(self, value: str) -> str:
        if next(self._turn) % 2:
            return "".join(char if char.isascii() and char.isalnum() else f"&#x{ord(char):X};"
                           for char in value)
        # Tabs and line ends as references, or the parser normalises them to spaces.
        return (value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
                .replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;"))

    def text(self, value: str) -> str:
        turn = next(self._turn) % 4
        if turn == 1:
            return "".join(char if char.isascii() and char.isalnum() else f"&#{ord(char)};"
                           for char in value)
        if turn == 2:
            # lxml keeps the CDATA's text; line ends in it are normalised like any other.
            return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"
        if turn == 3 and len(value) > 1:
            # The hardened parser drops comments and PIs; the text around them joins up.
            return f"{_escape(value[:1])}<!-- a comment -->{_escape(value[1:])}<?pi here?>"
        return _escape(value)

    def _name(self, clark: str, default: str | None) -> tuple[str, str]:
        qname = etree.QName(clark)
        if self.prefixed:
            if qname.namespace is None:
                return qname.localname, ""
            return f"{self._prefix(qname.namespace)}:{qname.localname}", ""
        if qname.namespace == default:
            return qname.localname, ""
        return qname.localname, f' xmlns="{qname.namespace or ""}"'

    def element(self, node: Node, default: str | None = None, depth: int = 0) -> str:
        name, declaration = self._name(node.tag, default)
        if declaration:
            default = etree.QName(node.tag).namespace
        parts = [f"<{name}{declaration}"]
        for key, value in node.attributes:
            qname = etree.QName(key)
            spelled = (qname.localname if qname.namespace is None
                       else f"{self._prefix(qname.namespace)}:{qname.localname}")
            parts.append(f' {spelled}="{self.attribute_value(value)}"')
        if node.text is None and not node.children:
            parts.append("/>")
            return "".join(parts)
        parts.append(">")
        if node.text is not None:
            parts.append(self.text(node.text))
        pad = "\n" + "  " * (depth + 1) if self.indent else ""
        for child in node.children:
            parts.append(pad)
            parts.append(self.element(child, default, depth + 1))
        if node.children and self.indent:
            parts.append("\n" + "  " * depth)
        parts.append(f"</{name}>")
        return "".join(parts)

    def envelope(self, payload: Node, header: str = "") -> bytes:
        body = self.element(payload)
        prefix, envelope_ns = _ENVELOPE[self.version]
        declarations = "".join(f' xmlns:{short}="{namespace}"'
                               for namespace, short in self._prefixes.items())
        header = f"<{prefix}:Header>{header}</{prefix}:Header>" if header else ""
        return (f'<?xml version="1.0" encoding="utf-8"?>\n<{prefix}:Envelope xmlns:{prefix}='
                f'"{envelope_ns}"{declarations}>{header}<{prefix}:Body>{body}</{prefix}:Body>'
                f"</{prefix}:Envelope>").encode()


SPELLINGS = [(version, prefixed) for version in (SOAP11, SOAP12) for prefixed in (False, True)]


def _envelope(operation: Operation, data: bytes, version: str) -> Envelope:
    if version == SOAP11:
        return read_envelope(data, "text/xml; charset=utf-8", f'"{operation.action}"', LIMITS)
    return read_envelope(data, f'application/soap+xml; charset=utf-8; action="{operation.action}"',
                         None, LIMITS)


NMBRS_HEADER = ('<AuthHeaderWithDomain xmlns="https://api.nmbrs.nl/soap/v3/DebtorService">'
                "<Username>u</Username><Token>t</Token><Domain>d</Domain></AuthHeaderWithDomain>")


def _skip(wsdl: str) -> frozenset[str]:
    return ZEEP_ONLY if wsdl == "Generic" else frozenset()


def _request(operation: Operation, content: Content) -> Node:
    return Node(operation.input_qname, *content)


# -- the proof: every combination reads as zeep reads it ----------------------------------


def _zeep_reads(service: SoapService, operation: Operation, payload: etree._Element) -> tuple[str, Any]:
    return _outcome(lambda: _zeep_plain(service, operation, payload))


def test_every_operation_is_enumerated(services: dict[str, SoapService]) -> None:
    assert set(DOCUMENTNOW_OPERATIONS) == set(services["DocumentNOW"].operations)
    assert len(DOCUMENTNOW_OPERATIONS) == 45
    for wsdl, name in OPERATIONS:
        assert name in services[wsdl]._readers, name


@pytest.mark.parametrize(("version", "prefixed"), SPELLINGS)
@pytest.mark.parametrize(("wsdl", "name"), OPERATIONS)
def test_every_combination_is_read_as_zeep_reads_it(
        services: dict[str, SoapService], wsdl: str, name: str, version: str,
        prefixed: bool) -> None:
    """Requests of every field the reader was proved for: it reads each one, as zeep does."""
    service = services[wsdl]
    operation = service.operations[name]
    reader = _reader(operation)
    rows = _variants(operation.input, operation._input_element.type, _Values(), _skip(wsdl))
    for number, content in enumerate(rows):
        spelling = _Spelling(version, prefixed, indent=bool(number % 2))
        header = NMBRS_HEADER if wsdl == "Nmbrs" and number % 2 == 0 else ""
        envelope = _envelope(operation, spelling.envelope(_request(operation, content), header),
                             version)
        assert envelope.payload is not None
        fast = reader.read(envelope.payload)
        assert fast is not None, (spelling, content)
        assert ("data", repr(_comparable(fast))) == _zeep_reads(service, operation,
                                                                envelope.payload), (spelling, content)
        assert repr(service.decode(operation, envelope)["body"]) == repr(fast)


@pytest.mark.parametrize(("wsdl", "name"), OPERATIONS)
def test_every_combination_of_every_field_gives_what_zeep_gives(
        services: dict[str, SoapService], wsdl: str, name: str) -> None:
    """Requests of every field, the reader's or not (doubles, dates, binaries, choices, derived
    and nillable types): what the reader reads is zeep's reading, and decode gives zeep's
    result either way. The spellings take turns, one per request."""
    service = services[wsdl]
    operation = service.operations[name]
    reader = _reader(operation)
    rows = _variants(operation.input, operation._input_element.type, _Values(), _skip(wsdl),
                     everything=True)
    for number, content in enumerate(rows):
        version, prefixed = SPELLINGS[number % len(SPELLINGS)]
        spelling = _Spelling(version, prefixed, indent=bool(number % 3))
        envelope = _envelope(operation, spelling.envelope(_request(operation, content)), version)
        assert envelope.payload is not None
        fast = reader.read(envelope.payload)
        if fast is not None:
            assert ("data", repr(_comparable(fast))) == _zeep_reads(
                service, operation, envelope.payload), (spelling, content)
        decoded, zeep = _decode_and_zeep(service, operation, envelope)
        assert decoded == zeep, (spelling, content)


def _reached(node: Node, shape: Field, xsd_type: Any, skip: frozenset[str],
             seen: dict[tuple[str, ...], set[int]], path: tuple[str, ...] = ()) -> None:
    """Every field path a generated request holds, with how many times it occurs."""
    members = {part.qname.text if field.kind != "text" else TEXT: (field, part)
               for field, part in _members(shape, xsd_type, skip, everything=True)}
    for key, _ in node.attributes:
        seen.setdefault((*path, members[key][0].name), set()).add(1)
    if node.text is not None:
        seen.setdefault((*path, TEXT), set()).add(1)
    counts: dict[str, int] = {}
    for child in node.children:
        counts[child.tag] = counts.get(child.tag, 0) + 1
        field, part = members[child.tag]
        if isinstance(part.type, ComplexType):
            _reached(child, field, part.type, skip, seen, (*path, field.name))
    for tag, count in counts.items():
        seen.setdefault((*path, members[tag][0].name), set()).add(count)


@pytest.mark.parametrize("everything", [False, True])
def test_the_enumeration_reaches_every_field_and_count(services: dict[str, SoapService],
                                                        everything: bool) -> None:
    """Guards the generator above: the comparison is only as wide as its rows. Every field
    (the reader's, or all) of every operation occurs in some request, and a repeated one with
    every count it is given (1 and 3, or as many as maxOccurs allows)."""
    reached: dict[tuple[str, ...], set[int]] = {}
    for wsdl, name in OPERATIONS:
        operation = services[wsdl].operations[name]
        shape, xsd_type = operation.input, operation._input_element.type
        seen: dict[tuple[str, ...], set[int]] = {}
        for content in _variants(shape, xsd_type, _Values(), _skip(wsdl), everything):
            _reached(_request(operation, content), shape, xsd_type, _skip(wsdl), seen)
        expected = {path: {count for count in _states(field, part) if count}
                    for path, field, part in _paths(shape, xsd_type, _skip(wsdl), everything)}
        assert seen == expected, name
        reached.update({(name, *path): counts for path, counts in seen.items()})
    assert reached[("UpdateUser", "Request", "Tags", "UserTag")] == {1, 3}
    assert reached[("Plain", "Item", "Code")] == {1, 3}
    assert reached[("Plain", "Extras", "Amount")] == {1, 2}
    assert reached[("Plain", "Line")] == {1, 3}
    assert {("Plain", "Extras", "Note", TEXT), ("Plain", "Extras", "Derived", "Extra"),
            ("Plain", "Foreign"), ("Plain", "Stamp"), ("Loose", "Inner", "Value"),
            ("Loose", "Inner", "Plain"), ("Loose", "Kept"), ("Loose", "Mark"),
            ("CreateUser", "Request", "AutoGeneratePassword"),
            ("ListParameters", "ParameterListQuery", "TemplateId")} <= set(reached)
    # Of every field, the reader's or not: doubles, dates, binaries, enumerations, choices.
    assert ({("SubmitWithFile", "Documents", "FileDocument", "Data"),
             ("ResendNotification", "ResendRequests", "ResendNotificationRequest",
              "EmailNotification")} <= set(reached)) == everything


def test_the_spellings_differ(services: dict[str, SoapService]) -> None:
    """Guards the writer of test requests: default namespaces, prefixes, escapes, CDATA."""
    operation = services["Generic"].operations["Plain"]
    content = _full(operation.input, operation._input_element.type, _Values(), ZEEP_ONLY, {})
    request = _request(operation, content)
    plain = _Spelling(SOAP11, prefixed=False, indent=False).envelope(request)
    prefixed = _Spelling(SOAP12, prefixed=True, indent=True).envelope(request)
    assert b'<Plain xmlns="urn:example:generic"' in plain
    assert b'<Foreign xmlns="urn:example:other">' in plain
    assert b"<p0:Plain" in prefixed and b"\n  <p0:Title>" in prefixed
    for marker in (b"<![CDATA[", b"&#x", b"&#", b"<!-- a comment -->"):
        assert marker in plain + prefixed


# -- the documented requests --------------------------------------------------------------

DOCUMENTED = {"body": {"Request": {"UserName": "jdoe@example.com", "Password": "Password"}},
              "header": {}}


@pytest.mark.parametrize(("vector", "content_type"), [
    ("authenticate-user.soap11.request.xml", "text/xml; charset=utf-8"),
    ("authenticate-user.soap12.request.xml", "application/soap+xml; charset=utf-8; "
     f'action="{USERS}/IUserService/AuthenticateUser"'),
    ("authenticate-user.wcf-style.request.xml", "text/xml; charset=utf-8"),
])
def test_documented_requests(services: dict[str, SoapService], vector: str,
                             content_type: str) -> None:
    """The articles name the child after its type (AuthenticateUserRequest, not the WSDL's
    Request): the reader declines that, and reads decode's lenient copy, without zeep."""
    service = services["DocumentNOW"]
    envelope = read_envelope((VECTORS / vector).read_bytes(), content_type, None, LIMITS)
    operation = service.find("/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text", envelope)
    assert envelope.payload is not None
    assert _reader(operation).read(envelope.payload) is None
    decoded, zeep = _decode_and_zeep(service, operation, envelope)
    assert decoded == zeep == ("data", repr(DOCUMENTED))
    without_zeep = dataclasses.replace(operation, _input_element=_NoZeep())
    assert service.decode(without_zeep, envelope) == DOCUMENTED


def test_values_read_back_as_given(services: dict[str, SoapService]) -> None:
    """Independent of zeep: every stress value reads back from the request as it was written."""
    cases = [("DocumentNOW", "AuthenticateUser", ("Request", "UserName")),
             ("Generic", "Plain", ("Title",)),
             ("Generic", "Loose", ("Inner", "Code"))]
    for wsdl, name, path in cases:
        operation = services[wsdl].operations[name]
        for text in POOLS["string"]:
            content = _full(operation.input, operation._input_element.type, _Values(),
                            ZEEP_ONLY, {path: text})
            spelling = _Spelling(SOAP11, prefixed=False, indent=False, plain=True)
            envelope = _envelope(operation, spelling.envelope(_request(operation, content)), SOAP11)
            assert envelope.payload is not None
            value: Any = _reader(operation).read(envelope.payload)
            for key in path[:-1]:
                value = value[key]
                value = value[0] if isinstance(value, list) else value
            if text == "" and path == ("Title",):
                assert path[-1] not in value  # lxml gives empty element text as None
            else:
                assert value[path[-1]] == text


# -- what the reader leaves to zeep -------------------------------------------------------


# Each field meets at least this many of its type's odd spellings, taken in turn, and every
# spelling meets some field of its type: the cases stay a few hundred (every spelling at every
# field would be 2000).
_ODD_PER_FIELD = 3


def _odd_spellings(field: Field, part: Any) -> tuple[str, ...]:
    # Empty element text is no text at all (lxml gives None), which reads as absent.
    return tuple(text for text in ODD.get(pool_name(field, part), ())
                 if text or field.kind == "attribute")


def _odd_cases(services: dict[str, SoapService]) -> list[tuple[str, str, tuple[str, ...], str]]:
    fields: dict[tuple[str, ...], list[tuple[str, str, tuple[str, ...]]]] = {}
    for wsdl, name in OPERATIONS:
        operation = services[wsdl].operations[name]
        for path, field, part in _paths(operation.input, operation._input_element.type,
                                        _skip(wsdl), everything=True):
            spellings = _odd_spellings(field, part)
            if spellings:
                fields.setdefault(spellings, []).append((wsdl, name, path))
    cases = []
    for spellings, places in fields.items():
        turn = itertools.cycle(spellings)
        each = max(_ODD_PER_FIELD, -(-len(spellings) // len(places)))
        cases.extend((*place, next(turn)) for place in places for _ in range(each))
    return cases


def test_odd_spellings_give_what_zeep_gives(services: dict[str, SoapService]) -> None:
    """Boolean, integer, double, dateTime and base64Binary fields, written as zeep reads them its
    own way (or not at all), in a request of every other field the reader was proved for. The
    SOAP spellings take turns, one per case."""
    cases = list(_odd_cases(services))
    assert len(cases) > 400
    assert {"1_000", "yes", "NaN", "not base64!"} <= {text for *_, text in cases}
    for number, (wsdl, name, path, text) in enumerate(cases):
        service = services[wsdl]
        operation = service.operations[name]
        content = _full(operation.input, operation._input_element.type, _Values(), _skip(wsdl),
                        {path: text})
        version, prefixed = SPELLINGS[number % len(SPELLINGS)]
        spelling = _Spelling(version, prefixed, indent=False)
        envelope = _envelope(operation, spelling.envelope(_request(operation, content)), version)
        assert envelope.payload is not None
        assert _reader(operation).read(envelope.payload) is None, (name, path, text)
        decoded, zeep = _decode_and_zeep(service, operation, envelope)
        assert decoded == zeep, (name, path, text)


def test_missing_required_fields_give_what_zeep_gives(services: dict[str, SoapService]) -> None:
    """zeep does not always notice a required attribute or element is missing; zeep says."""
    checked = 0
    for wsdl, name in OPERATIONS:
        service = services[wsdl]
        operation = service.operations[name]
        for path, field, _ in _paths(operation.input, operation._input_element.type, _skip(wsdl)):
            if not field.required:
                continue
            content = _full(operation.input, operation._input_element.type, _Values(),
                            _skip(wsdl), {path: _MISSING})
            envelope = _envelope(operation, _Spelling(SOAP11, False, False).envelope(
                _request(operation, content)), SOAP11)
            assert envelope.payload is not None
            fast = _reader(operation).read(envelope.payload)
            if fast is None:
                checked += 1
            else:
                # The field was all its element held: zeep reads an empty element as None,
                # without a look at what it requires, and so does the reader.
                assert ("data", repr(fast)) == _zeep_reads(service, operation, envelope.payload)
            decoded, zeep = _decode_and_zeep(service, operation, envelope)
            assert decoded == zeep, (name, path)
    assert checked >= 150


XSI = f'xmlns:xsi="{ns.XSI}"'
AUTH = f'<AuthenticateUser xmlns="{USERS}">{{}}</AuthenticateUser>'
REQ = "<Request {}/>"
CREATE = (f'<CreateUser xmlns="{USERS}" {XSI}><Request ContextIdentifier="c" '
          'RequirePasswordChange="true" Inactive="false">{}</Request></CreateUser>')
# The two booleans CreateUser requires (as nillable elements), for a request the reader reads.
GIVEN = ("<AutoGeneratePassword>true</AutoGeneratePassword>"
         "<SendCredentialsViaEmail>0</SendCredentialsViaEmail>")
LIST_PARAMETERS = ('<ListParameters xmlns="https://www.assuresign.net/Services/DocumentNOW/'
                   'ListParameters"><ParameterListQuery ContextIdentifier="c" TemplateId="t">{}'
                   "</ParameterListQuery></ListParameters>")
SUBMIT = "https://www.assuresign.net/Services/DocumentNOW/Submit"
RESENDS = ('<ResendNotification xmlns="https://www.assuresign.net/Services/DocumentNOW/'
           'ResendNotification"><ResendRequests>{}</ResendRequests></ResendNotification>')
RESEND = RESENDS.format('<ResendNotificationRequest ContextIdentifier="c">{}'
                        "</ResendNotificationRequest>")
EMAIL = '<EmailNotification NotificationId="n" Timing="Immediate"/>'
PLAIN = '<Plain xmlns="urn:example:generic">{}<Line>l</Line>{}</Plain>'
ITEM = '<Item Id="1"><Label>x</Label>{}</Item>'
EXTRAS = "<Extras>{}</Extras>"
LOOSE = '<l:Loose xmlns:l="urn:example:loose">{}</l:Loose>'
NMBRS_REQUEST = '<Environment_Get xmlns="https://api.nmbrs.nl/soap/v3/DebtorService"{}</Environment_Get>'

GIVE_UPS: list[tuple[str, str, str, str]] = [
    # (why, wsdl, operation, payload); each goes the zeep path, error or not
    ("unknown attribute", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format('UserName="u" Bogus="x"'))),
    ("attribute in a namespace", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format(f'xmlns:u="{USERS}" u:UserName="u"'))),
    ("attribute on the request element", "DocumentNOW", "AuthenticateUser",
     f'<AuthenticateUser xmlns="{USERS}" Mode="x"><Request/></AuthenticateUser>'),
    ("unknown child element", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<Request UserName="u"><Extra/></Request>')),
    ("unknown element at the top", "DocumentNOW", "AuthenticateUser", AUTH.format("<Other/>")),
    ("element in another namespace", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<Request xmlns="urn:other" UserName="u"/>')),
    ("unqualified element", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<Request xmlns="" UserName="u"/>')),
    ("unqualified element with text", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<Request xmlns="">x</Request>')),
    ("element twice", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format('UserName="a"') + REQ.format('UserName="b"'))),
    ("text at the top", "DocumentNOW", "AuthenticateUser",
     AUTH.format("hello" + REQ.format('UserName="u"'))),
    ("text after a child", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format('UserName="u"') + " tail ")),
    ("text in an element without text", "DocumentNOW", "AuthenticateUser",
     AUTH.format("<Request>x</Request>")),
    ("text and attributes in an element without text", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<Request UserName="u">x</Request>')),
    ("non-breaking space between elements", "DocumentNOW", "AuthenticateUser",
     AUTH.format("&#160;" + REQ.format('UserName="u"'))),
    ("xsi:nil", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format(f'{XSI} xsi:nil="true"'))),
    ("xsi:nil with attributes", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format(f'{XSI} xsi:nil="true" UserName="u"'))),
    ("xsi:type of its own type", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format(f'{XSI} xmlns:u="{USERS}" xsi:type="u:AuthenticateUserRequest" '
                            'UserName="u"'))),
    ("xsi:type of another type", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format(f'{XSI} xmlns:u="{USERS}" xsi:type="u:GetUserRequest" '
                            'ContextIdentifier="c"'))),
    ("xsi:type unknown", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format(f'{XSI} xsi:type="Nope" UserName="u"'))),
    ("xsi:type on the request element", "DocumentNOW", "AuthenticateUser",
     f'<AuthenticateUser xmlns="{USERS}" {XSI} xmlns:u="{USERS}" xsi:type="u:User" '
     'UserName="u"/>'),
    ("text in Tags", "DocumentNOW", "CreateUser",
     CREATE.format(GIVEN + "<Tags>x<UserTag Name='n'/></Tags>")),
    ("child in a UserTag", "DocumentNOW", "CreateUser",
     CREATE.format(GIVEN + "<Tags><UserTag Name='n'><UserTag Name='m'/></UserTag></Tags>")),
    ("UserTag outside Tags", "DocumentNOW", "CreateUser",
     CREATE.format(GIVEN + "<UserTag Name='n'/>")),
    ("zeep's stand-in element spelled out", "DocumentNOW", "ListParameters",
     LIST_PARAMETERS.format('<_value_1 ContextIdentifier="x"/>')),
    ("element under an extension without elements", "DocumentNOW", "ListParameters",
     LIST_PARAMETERS.format("<UserName/>")),
    ("text under an extension without elements", "DocumentNOW", "ListParameters",
     LIST_PARAMETERS.format("x")),
    # Shapes the old contract did not have.
    ("xsi:nil on a required nillable element", "DocumentNOW", "CreateUser", CREATE.format(
        '<AutoGeneratePassword xsi:nil="true"/><SendCredentialsViaEmail>0</SendCredentialsViaEmail>')),
    ("xsi:nil false on a required nillable element", "DocumentNOW", "CreateUser", CREATE.format(
        '<AutoGeneratePassword xsi:nil="false">true</AutoGeneratePassword>'
        "<SendCredentialsViaEmail>0</SendCredentialsViaEmail>")),
    ("required nillable element absent", "DocumentNOW", "CreateUser",
     CREATE.format("<SendCredentialsViaEmail>0</SendCredentialsViaEmail>")),
    ("xsi:nil on an item of a nillable repeat", "DocumentNOW", "CreateUser",
     CREATE.format(GIVEN + '<Tags><UserTag Name="a"/><UserTag xsi:nil="true"/></Tags>')),
    ("xsi:nil on a derived item", "DocumentNOW", "SubmitWithFile",
     f'<SubmitWithFile xmlns="{SUBMIT}" {XSI}><Documents><FileDocument xsi:nil="true"/>'
     "</Documents></SubmitWithFile>"),
    ("xsi:type of a derived type", "DocumentNOW", "Submit",
     f'<Submit xmlns="{SUBMIT}" {XSI} xmlns:s="{SUBMIT}"><Documents>'
     '<Document xsi:type="s:FileDocument" ContextIdentifier="c"/></Documents></Submit>'),
    ("base64Binary", "DocumentNOW", "SubmitWithFile",
     f'<SubmitWithFile xmlns="{SUBMIT}"><Documents><FileDocument><Data>aGVsbG8=</Data>'
     "</FileDocument></Documents></SubmitWithFile>"),
    ("a choice's member", "DocumentNOW", "ResendNotification", RESEND.format(EMAIL)),
    ("a choice's members both", "DocumentNOW", "ResendNotification", RESEND.format(
        EMAIL + '<SmsNotification NotificationId="n" Timing="Immediate"/>')),
    ("a choice with no member", "DocumentNOW", "ResendNotification", RESEND.format("")),
    ("a derived choice member without elements", "DocumentNOW", "ResendNotification",
     RESEND.format('<WebNotification NotificationId="n"/>')),
    ("element in the empty request", "Nmbrs", "Environment_Get", NMBRS_REQUEST.format("><x/>")),
    ("attribute on the empty request", "Nmbrs", "Environment_Get",
     NMBRS_REQUEST.format(' a="1">')),
    ("text in the empty request", "Nmbrs", "Environment_Get", NMBRS_REQUEST.format(">x")),
    ("out of order", "Generic", "Plain", PLAIN.format("", "<Title>t</Title>")),
    ("over maxOccurs of a simple element", "Generic", "Plain",
     PLAIN.format(ITEM.format("<Code>1</Code>" * 4), "")),
    ("over maxOccurs of simple content", "Generic", "Plain",
     PLAIN.format("", EXTRAS.format('<Amount Unit="u">1</Amount>' * 3))),
    ("required repeat missing", "Generic", "Plain", '<Plain xmlns="urn:example:generic"/>'),
    ("child in a simple element", "Generic", "Plain",
     PLAIN.format("<Title>a<b/>c</Title>", "")),
    ("attribute on a simple element", "Generic", "Plain",
     PLAIN.format('<Title Lang="en">t</Title>', "")),
    ("xsi:nil on a simple element", "Generic", "Plain",
     PLAIN.format(f'<Title {XSI} xsi:nil="true"/>', "")),
    ("xsi:type on a simple element", "Generic", "Plain",
     PLAIN.format(f'<Title {XSI} xmlns:xs="http://www.w3.org/2001/XMLSchema" '
                  'xsi:type="xs:int">12</Title>', "")),
    ("child in simple content", "Generic", "Plain",
     PLAIN.format("", EXTRAS.format("<Note>true<x/></Note>"))),
    ("attribute on an empty type", "Generic", "Plain",
     PLAIN.format("", EXTRAS.format('<Nothing a="1"/>'))),
    ("element in an empty type", "Generic", "Plain",
     PLAIN.format("", EXTRAS.format("<Nothing><x/></Nothing>"))),
    ("text in an empty type", "Generic", "Plain",
     PLAIN.format("", EXTRAS.format("<Nothing>x</Nothing>"))),
    ("dateTime", "Generic", "Plain", PLAIN.format("", "<When>2024-01-01T00:00:00</When>")),
    ("a type inside itself", "Generic", "Plain", PLAIN.format("", '<Tree Name="a"><Tree/></Tree>')),
    ("a repeating choice", "Generic", "Plain", PLAIN.format("", "<Picks><A>a</A><B>1</B></Picks>")),
    ("a referenced element in the referrer's namespace", "Generic", "Plain",
     PLAIN.format("", "<Foreign>f</Foreign>")),
    ("choice", "Generic", "Plain", PLAIN.format("", "<Pick><A>x</A></Pick>")),
    ("element default", "Generic", "Plain", PLAIN.format("", "<Defaulted>x</Defaulted>")),
    ("normalizedString", "Generic", "Plain", PLAIN.format("", "<Token>a\tb</Token>")),
    ("anyType", "Generic", "Plain", PLAIN.format("", "<Blob><x/></Blob>")),
    ("anyURI", "Generic", "Plain",
     '<Plain xmlns="urn:example:generic" Link="https://x/?a=1"><Line>l</Line></Plain>'),
    ("unprefixed attribute that is qualified", "Generic", "Plain",
     '<Plain xmlns="urn:example:generic" Stamp="s"><Line>l</Line></Plain>'),
    ("qualified element that is unqualified", "Generic", "Loose", LOOSE.format("<l:Name>n</l:Name>")),
    ("unqualified element that is qualified", "Generic", "Loose", LOOSE.format("<Kept>k</Kept>")),
    ("unqualified attribute that is qualified", "Generic", "Loose",
     LOOSE.format('<Inner Code="c"/>')),
    ("qualified attribute that is unqualified", "Generic", "Loose",
     LOOSE.format('<Inner l:Plain="true"/>')),
    ("a choice at the top", "Generic", "Chosen", '<Chosen xmlns="urn:example:generic"><A>x</A></Chosen>'),
    ("an attribute default", "Generic", "Defaulted", '<Defaulted xmlns="urn:example:generic"/>'),
]


# What each give-up above changes, in a request the reader reads.
READ_BASES = [("DocumentNOW", "AuthenticateUser", AUTH.format(REQ.format('UserName="u"'))),
              ("DocumentNOW", "CreateUser", CREATE.format(GIVEN)),
              ("DocumentNOW", "CreateUser", CREATE.format(GIVEN + '<Tags><UserTag Name="a"/></Tags>')),
              ("DocumentNOW", "ListParameters", LIST_PARAMETERS.format("")),
              ("DocumentNOW", "SubmitWithFile",
               f'<SubmitWithFile xmlns="{SUBMIT}"><Documents/></SubmitWithFile>'),
              ("DocumentNOW", "ResendNotification", RESENDS.format("")),
              ("Generic", "Plain", PLAIN.format(ITEM.format(""), EXTRAS.format(""))),
              ("Generic", "Plain", PLAIN.format("", '<Tree Name="a"/>')),
              ("Generic", "Loose", LOOSE.format('<Name>n</Name><Inner l:Code="c" Plain="true"/>'))]


def _soap11(operation: Operation, payload: str) -> Envelope:
    data = (f'<soap:Envelope xmlns:soap="{ns.SOAP11_ENV}"><soap:Body>{payload}</soap:Body>'
            "</soap:Envelope>").encode()
    return _envelope(operation, data, SOAP11)


@pytest.mark.parametrize(("why", "wsdl", "name", "payload"), GIVE_UPS,
                         ids=[case[0] for case in GIVE_UPS])
def test_give_up_gives_what_zeep_gives(services: dict[str, SoapService], why: str, wsdl: str,
                                       name: str, payload: str) -> None:
    service = services[wsdl]
    operation = service.operations[name]
    envelope = _soap11(operation, payload)
    assert envelope.payload is not None
    reader = service._readers.get(name)
    assert reader is None or reader.read(envelope.payload) is None, why
    decoded, zeep = _decode_and_zeep(service, operation, envelope)
    assert decoded == zeep


@pytest.mark.parametrize(("wsdl", "name", "payload"), READ_BASES)
def test_what_the_give_ups_change_is_read(services: dict[str, SoapService], wsdl: str,
                                          name: str, payload: str) -> None:
    service = services[wsdl]
    operation = service.operations[name]
    envelope = _soap11(operation, payload)
    assert envelope.payload is not None
    fast = service._readers[name].read(envelope.payload)
    assert fast is not None
    assert ("data", repr(fast)) == _zeep_reads(service, operation, envelope.payload)


def test_operations_only_zeep_reads(services: dict[str, SoapService]) -> None:
    """A choice at the top, or an attribute default, gets no reader at all."""
    for name in ("Chosen", "Defaulted"):
        operation = services["Generic"].operations[name]
        assert compile_request(operation.request) is None
        assert name not in services["Generic"]._readers


# The hardened parser drops comments and PIs; a caller handing decode() a tree that kept
# them still gets zeep's answer.
KEPT = [
    ("comment between elements", AUTH.format("<!-- c -->" + REQ.format('UserName="u"'))),
    ("PI between elements", AUTH.format("<?pi x?>" + REQ.format('UserName="u"'))),
    ("comment in an element without text", AUTH.format(
        '<Request UserName="u"><!-- c --></Request>')),
    ("comment in simple content", PLAIN.format("", EXTRAS.format("<Note>tr<!-- c -->ue</Note>"))),
    ("comment in a simple element", PLAIN.format("<Title>a<!-- c -->b</Title>", "")),
    ("PI in a simple element", PLAIN.format("<Title>a<?pi x?>b</Title>", "")),
    ("comment in an empty type", PLAIN.format("", EXTRAS.format("<Nothing><!-- c --></Nothing>"))),
]


@pytest.mark.parametrize(("why", "payload"), KEPT, ids=[case[0] for case in KEPT])
def test_comments_and_pis_give_what_zeep_gives(services: dict[str, SoapService], why: str,
                                               payload: str) -> None:
    service = services["DocumentNOW" if "AuthenticateUser" in payload else "Generic"]
    root = etree.fromstring(f'<soap:Envelope xmlns:soap="{ns.SOAP11_ENV}"><soap:Body>{payload}'
                            "</soap:Body></soap:Envelope>")
    body = root[0]
    operation = next(operation for operation in service.operations.values()
                     if operation.input_qname == body[0].tag)
    envelope = Envelope(SOAP11, operation.action, None, body)
    assert envelope.payload is not None
    assert _reader(operation).read(envelope.payload) is None, why
    decoded, zeep = _decode_and_zeep(service, operation, envelope)
    assert decoded == zeep


def test_another_operations_element_is_not_read(services: dict[str, SoapService]) -> None:
    service = services["DocumentNOW"]
    envelope = _soap11(service.operations["ListUsers"],
                       f'<ListUsers xmlns="{USERS}"><Request ContextIdentifier="c" '
                       'AuthenticationToken="t"/></ListUsers>')
    assert envelope.payload is not None
    assert _reader(service.operations["AuthenticateUser"]).read(envelope.payload) is None


class _NoZeep:
    def parse(self, *args: Any) -> None:
        raise AssertionError("zeep was asked")


PING = "https://www.assuresign.net/Services/DocumentNOW/Ping"


@pytest.mark.parametrize(("version", "prefixed"), SPELLINGS)
@pytest.mark.parametrize(("name", "payload", "body"), [
    ("AuthenticateUser", AUTH.format(REQ.format('UserName="u" Password="p"')),
     {"Request": {"UserName": "u", "Password": "p"}}),
    ("AuthenticateUser", AUTH.format(""), {}),
    ("Ping", f'<Ping xmlns="{PING}"/>', {}),
    ("Ping", f'<Ping xmlns="{PING}">\n  </Ping>', {}),
])
def test_decode_reads_without_zeep(services: dict[str, SoapService], name: str, payload: str,
                                   body: dict[str, Any], version: str, prefixed: bool) -> None:
    """The requests the bridge answers itself are the reader's: with zeep's element gone, what
    the reader reads still decodes; what it leaves to zeep does not."""
    service = services["DocumentNOW"]
    assert name in service._readers
    operation = dataclasses.replace(service.operations[name], _input_element=_NoZeep())
    request = etree.fromstring(payload)
    envelope = _envelope(operation, _Spelling(version, prefixed, False).envelope(_node(request)),
                         version)
    assert service.decode(operation, envelope) == {"body": body, "header": {}}
    request.set("Bogus", "x")
    odd = _envelope(operation, _Spelling(version, prefixed, False).envelope(_node(request)), version)
    with pytest.raises(AssertionError, match="zeep was asked"):
        service.decode(operation, odd)


def _node(element: etree._Element) -> Node:
    """A parsed element as a generated request's node."""
    return Node(str(element.tag), tuple((str(key), str(value)) for key, value in element.attrib.items()),
                element.text, tuple(_node(child) for child in element))


# -- arbitrary values ---------------------------------------------------------------------

_XML_CHAR = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
XML_TEXT = st.text(st.characters(exclude_categories=("Cs",)).filter(
    lambda char: _XML_CHAR.fullmatch(char) is not None))
LEXICAL = st.one_of(XML_TEXT, st.sampled_from(POOLS["boolean"] + POOLS["int"] + ODD["boolean"]),
                    st.from_regex(re.compile(r"[ \t\r\n]{0,2}[+-]?[0-9]{1,25}[ \t\r\n]{0,2}"),
                                  fullmatch=True))
_BOOLEAN_FORM = re.compile("[ \t\r\n]*(true|false|1|0)[ \t\r\n]*")
_INTEGER_FORM = re.compile("[ \t\r\n]*[+-]?[0-9]+[ \t\r\n]*")


@settings(max_examples=300, deadline=None)
@given(name=XML_TEXT, password=XML_TEXT, version=st.sampled_from((SOAP11, SOAP12)),
       prefixed=st.booleans())
def test_any_attribute_text_reads_as_zeep_reads_it(services: dict[str, SoapService], name: str,
                                                    password: str, version: str,
                                                    prefixed: bool) -> None:
    service = services["DocumentNOW"]
    operation = service.operations["AuthenticateUser"]
    request = Node(operation.input_qname, children=(Node(
        f"{{{USERS}}}Request", (("UserName", name), ("Password", password))),))
    envelope = _envelope(operation, _Spelling(version, prefixed, False).envelope(request), version)
    assert envelope.payload is not None
    assert _reader(operation).read(envelope.payload) == {
        "Request": {"UserName": name, "Password": password}}
    decoded, zeep = _decode_and_zeep(service, operation, envelope)
    assert decoded == zeep


@settings(max_examples=300, deadline=None)
@given(title=XML_TEXT, tag=XML_TEXT, version=LEXICAL, strict=LEXICAL, count=LEXICAL,
       flag=LEXICAL, note=LEXICAL, amount=LEXICAL, prefixed=st.booleans())
def test_any_value_reads_as_zeep_reads_it(services: dict[str, SoapService], title: str, tag: str,
                                          version: str, strict: str, count: str, flag: str,
                                          note: str, amount: str, prefixed: bool) -> None:
    service = services["Generic"]
    operation = service.operations["Plain"]
    lexical = {("Version",): version, ("Strict",): strict, ("Item", "Count"): count,
               ("Item", "Flag"): flag, ("Extras", "Note", "_value"): note,
               ("Extras", "Amount", "_value"): amount}
    # An empty boolean or integer is left out: as element text it would be no text at all.
    changes: dict[tuple[str, ...], Any] = {path: value or _MISSING for path, value in lexical.items()}
    changes.update({("Title",): title, ("Tag",): tag})
    content = _full(operation.input, operation._input_element.type, _Values(), ZEEP_ONLY, changes)
    envelope = _envelope(operation, _Spelling(SOAP11, prefixed, False).envelope(
        _request(operation, content)), SOAP11)
    assert envelope.payload is not None
    # The reader reads exactly XSD's lexical forms of booleans and integers; zeep the rest.
    readable = (all(not value or _BOOLEAN_FORM.fullmatch(value) for value in (strict, flag, note))
                and all(not value or _INTEGER_FORM.fullmatch(value)
                        for value in (version, count, amount)))
    assert (_reader(operation).read(envelope.payload) is not None) == readable
    decoded, zeep = _decode_and_zeep(service, operation, envelope)
    assert decoded == zeep


def test_a_ref_into_another_namespace_keeps_it_when_the_request_is_made_canonical(
        services: dict[str, SoapService]) -> None:
    # Strict="yes" sends decode down the canonical path; the referenced element of another
    # schema must keep its namespace there (only the caller's namespace moves to ours).
    service = services["Generic"]
    operation = service.operations["Plain"]
    payload = PLAIN.format("", '<o:Foreign xmlns:o="urn:example:other">f</o:Foreign>').replace(
        "<Plain ", '<Plain Strict="yes" ')
    envelope = _soap11(operation, payload)
    assert envelope.payload is not None
    decoded = service.decode(operation, envelope)["body"]
    assert decoded["Foreign"] == "f"
    assert decoded == _zeep_plain(service, operation, envelope.payload)
