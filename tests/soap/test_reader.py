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
from zeep.xsd.types.complex import ComplexType

from bridge.soap import ns
from bridge.soap.envelope import SOAP11, SOAP12, Envelope, read_envelope
from bridge.soap.reader import RequestReader, compile_request
from bridge.soap.service import Field, Operation, SoapService
from bridge.soap.xmlparse import XmlLimits
from tests.soap.wsdls import DOCUMENTNOW, DOCUMENTNOW_OPERATIONS, NMBRS, REPO, generic_wsdl

VECTORS = REPO.parent / "shared" / "contract" / "vectors"
USERS = "https://www.assuresign.net/Services/DocumentNOW/Users"
LIMITS = XmlLimits(max_bytes=1024 * 1024)

# A WSDL of no vendor, for what DocumentNOW does not have: simple child elements of every
# type the reader knows, bounded and required repeats, simple content of a non-string type,
# an empty type, an extension without elements, an element from another namespace,
# unqualified elements and qualified attributes; and what only zeep reads (dateTime, a choice,
# an element default, normalizedString, anyType, anyURI, an attribute default).
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

# Lexical forms the reader reads itself, chosen to stress whitespace, escaping and the
# spellings of booleans and integers. Each is written somewhere as an attribute, as element
# text and as simple content, in turn.
POOLS: dict[str, tuple[str, ...]] = {
    "string": ('& < > " \'', "line\nbreak\ttab\rreturn\r\n", "  leading and trailing  ", "",
               "Ünïcødé ✓ 😀 \u2028 \x85", "]]> &amp; &#10;", "Example, Inc.", "\t", " ",
               "\u00a0non-breaking\u00a0", "821ae27f-027c-4f21-a2e5-1667fc9b650a"),
    "boolean": ("true", "false", "1", "0", " true ", "\n\tfalse\r\n", "\t1 ", " 0"),
    "int": ("42", "-3", "+5", " 12 ", "\n7\t", "0", "-0", "007", "99999999999999999999999",
            "+0012"),
}
POOLS["integer"] = POOLS["long"] = POOLS["short"] = POOLS["int"]
# Spellings zeep reads its own way (or not at all); the reader leaves every one to zeep.
ODD: dict[str, tuple[str, ...]] = {
    "boolean": ("yes", "TRUE", "True", "", " ", "\u00a0true", "tr ue", "2", "-1", "true\u2028"),
    "int": ("1_000", "١٢", "12.0", "", " ", "abc", "+-1", "- 1", "0x10", "\u00a012", "1e3",
            "9" * 5000),
}
ODD["integer"] = ODD["long"] = ODD["short"] = ODD["int"]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SoapService]:
    generic = tmp_path_factory.mktemp("wsdl") / "generic.wsdl"
    generic.write_text(GENERIC_WSDL, encoding="utf-8")
    return {"DocumentNOW": SoapService(str(DOCUMENTNOW)), "Nmbrs": SoapService(str(NMBRS)),
            "Generic": SoapService(str(generic))}


def _zeep(service: SoapService) -> SoapService:
    """The same service as it read requests before the reader existed: zeep for everything."""
    slow = copy.copy(service)
    slow._readers = {}
    return slow


def _reader(operation: Operation) -> RequestReader:
    reader = compile_request(operation.input, operation._input_element)
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
    """What SoapService.decode gives, and what the zeep path gives: data or error."""
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
    """Sample lexical forms per simple type, in turn."""

    def __init__(self) -> None:
        self._turns: dict[str, Iterator[str]] = {}

    def next(self, type_name: str) -> str:
        turn = self._turns.setdefault(type_name, itertools.cycle(POOLS[type_name]))
        return next(turn)


def _parts(xsd_type: Any) -> dict[str, Any]:
    """The zeep element or attribute behind each field name of a complex type."""
    return {**dict(xsd_type.elements), **dict(xsd_type.attributes)}


def _fields(shape: Field, skip: frozenset[str]) -> list[Field]:
    # Text fields of a type the pools do not know are zeep's stand-in for an extension without
    # elements: nothing to write.
    return [field for field in shape.children if field.name not in skip
            and (field.kind != "text" or field.type_name in POOLS)]


# Every combination of one element's own fields is enumerated (absent or present; repeated
# elements with 0, 1 or 3 items, or as many as maxOccurs allows; required ones always
# present). Across levels the full product would run to millions, so a nested element's
# variants are taken in turn, with rows of every field present added until each variant has
# appeared at least once. The largest level is UpdateUser's Request, 2 x 2^11 = 4096.
_MAX_ROWS = 4096


def _variants(shape: Field, xsd_type: Any, values: _Values, skip: frozenset[str]) -> list[Content]:
    fields = _fields(shape, skip)
    parts = _parts(xsd_type)
    nested = {field.name: _variants(field, parts[field.name].type, values, skip)
              for field in fields
              if field.kind == "element" and isinstance(parts[field.name].type, ComplexType)}
    taken = dict.fromkeys(nested, 0)

    def occurrence(field: Field) -> Node:
        tag = parts[field.name].qname.text
        options = nested.get(field.name)
        if options is None:
            return Node(tag, text=values.next(field.type_name))
        taken[field.name] += 1
        attributes, text, children = options[(taken[field.name] - 1) % len(options)]
        return Node(tag, attributes, text, children)

    def states(field: Field) -> tuple[int | None, ...]:
        if field.kind != "element" or not field.multiple:
            return (1,) if field.required else (None, 1)
        element = parts[field.name]
        most = 3 if element.max_occurs == "unbounded" else min(3, int(element.max_occurs))
        return tuple(count for count in sorted({0, 1, most}) if count >= element.min_occurs)

    def row(combination: tuple[int | None, ...]) -> Content:
        attributes: list[tuple[str, str]] = []
        text: str | None = None
        children: list[Node] = []
        for field, state in zip(fields, combination, strict=True):
            if state is None:
                continue
            if field.kind == "attribute":
                attributes.append((parts[field.name].qname.text, values.next(field.type_name)))
            elif field.kind == "text":
                text = values.next(field.type_name)
            else:
                children.extend(occurrence(field) for _ in range(state))
        return tuple(attributes), text, tuple(children)

    space = [states(field) for field in fields]
    size = 1
    for options in space:
        size *= len(options)
    assert size <= _MAX_ROWS, f"{shape.name}: {size} combinations; cap them"
    rows = [row(combination) for combination in itertools.product(*space)]
    while any(taken[name] < len(options) for name, options in nested.items()):
        rows.append(row(tuple(options[-1] for options in space)))
    return rows


_MISSING = object()


def _full(shape: Field, xsd_type: Any, values: _Values, skip: frozenset[str],
          change: Mapping[tuple[str, ...], Any], path: tuple[str, ...] = ()) -> Content:
    """Every field present once, except where `change` leaves a field out or gives its text."""
    parts = _parts(xsd_type)
    attributes: list[tuple[str, str]] = []
    text: str | None = None
    children: list[Node] = []
    for field in _fields(shape, skip):
        here = (*path, field.name)
        given = change.get(here)
        if given is _MISSING:
            continue
        if field.kind == "text":
            text = values.next(field.type_name) if given is None else given
            continue
        part = parts[field.name]
        if field.kind == "attribute":
            attributes.append((part.qname.text,
                               values.next(field.type_name) if given is None else given))
        elif isinstance(part.type, ComplexType):
            inner = _full(field, part.type, values, skip, change, here)
            children.append(Node(part.qname.text, *inner))
        else:
            children.append(Node(part.qname.text,
                                 text=values.next(field.type_name) if given is None else given))
    return tuple(attributes), text, tuple(children)


def _paths(shape: Field, xsd_type: Any, skip: frozenset[str],
           path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Field]]:
    """Every field at every depth, with its path from the request element."""
    parts = _parts(xsd_type)
    for field in _fields(shape, skip):
        here = (*path, field.name)
        yield here, field
        if field.kind == "element" and isinstance(parts[field.name].type, ComplexType):
            yield from _paths(field, parts[field.name].type, skip, here)


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


def test_every_operation_is_enumerated(services: dict[str, SoapService]) -> None:
    assert set(DOCUMENTNOW_OPERATIONS) == set(services["DocumentNOW"].operations)
    for wsdl, name in OPERATIONS:
        assert name in services[wsdl]._readers, name


@pytest.mark.parametrize(("version", "prefixed"), SPELLINGS)
@pytest.mark.parametrize(("wsdl", "name"), OPERATIONS)
def test_every_combination_is_read_as_zeep_reads_it(
        services: dict[str, SoapService], wsdl: str, name: str, version: str,
        prefixed: bool) -> None:
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
        decoded, zeep = _decode_and_zeep(service, operation, envelope)
        assert decoded == zeep, (spelling, content)
        assert repr(service.decode(operation, envelope)["body"]) == repr(fast)


def test_the_enumeration_reaches_every_field_and_count(services: dict[str, SoapService]) -> None:
    """Guards the generator above: the comparison is only as wide as its rows."""
    seen: dict[str, set[int]] = {}

    def walk(node: Node) -> None:
        for key, _ in node.attributes:
            seen.setdefault(etree.QName(key).localname, set()).add(1)
        counts: dict[str, int] = {}
        for child in node.children:
            name = etree.QName(child.tag).localname
            counts[name] = counts.get(name, 0) + 1
            walk(child)
        for name, count in counts.items():
            seen.setdefault(name, set()).add(count)
        if node.text is not None:
            seen.setdefault(f"{etree.QName(node.tag).localname}/text", set()).add(1)

    for wsdl, name in (("DocumentNOW", "UpdateUser"), ("Generic", "Plain"), ("Generic", "Loose")):
        operation = services[wsdl].operations[name]
        for content in _variants(operation.input, operation._input_element.type, _Values(),
                                 _skip(wsdl)):
            walk(_request(operation, content))
    assert seen["Tag"] == {1, 3}
    assert seen["Code"] == {1, 3}
    assert seen["Amount"] == {1, 2}
    assert seen["Line"] == {1, 3}
    assert {"Locked", "AutoGenerateNewPassword", "Note/text", "Amount/text", "Nothing", "Derived",
            "Extra", "Foreign", "Stamp", "Value", "Plain", "Kept", "Mark", "Big"} <= set(seen)


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

DOCUMENTED = {"body": {"AuthenticateUserRequest": {"UserName": "jdoe@example.com",
                                                   "Password": "Password"}}, "header": {}}


@pytest.mark.parametrize(("vector", "content_type"), [
    ("authenticate-user.soap11.request.xml", "text/xml; charset=utf-8"),
    ("authenticate-user.soap12.request.xml", "application/soap+xml; charset=utf-8; "
     f'action="{USERS}/IUserService/AuthenticateUser"'),
    ("authenticate-user.wcf-style.request.xml", "text/xml; charset=utf-8"),
])
def test_documented_requests(services: dict[str, SoapService], vector: str,
                             content_type: str) -> None:
    service = services["DocumentNOW"]
    envelope = read_envelope((VECTORS / vector).read_bytes(), content_type, None, LIMITS)
    operation = service.find("/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text", envelope)
    assert envelope.payload is not None
    assert _reader(operation).read(envelope.payload) == DOCUMENTED["body"]
    decoded, zeep = _decode_and_zeep(service, operation, envelope)
    assert decoded == zeep == ("data", repr(DOCUMENTED))


def test_values_read_back_as_given(services: dict[str, SoapService]) -> None:
    """Independent of zeep: every stress value reads back from the request as it was written."""
    cases = [("DocumentNOW", "AuthenticateUser", ("AuthenticateUserRequest", "UserName")),
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


def _odd_cases(services: dict[str, SoapService]) -> Iterator[tuple[str, str, tuple[str, ...], str]]:
    for wsdl, name in OPERATIONS:
        operation = services[wsdl].operations[name]
        for path, field in _paths(operation.input, operation._input_element.type,
                                         _skip(wsdl)):
            for text in ODD.get(field.type_name, ()):
                # Empty element text is no text at all (lxml gives None), which reads as absent.
                if text or field.kind == "attribute":
                    yield wsdl, name, path, text


def test_odd_spellings_give_what_zeep_gives(services: dict[str, SoapService]) -> None:
    """Every boolean and integer field, written as zeep reads it its own way (or not at all)."""
    cases = list(_odd_cases(services))
    assert len(cases) > 200
    for wsdl, name, path, text in cases:
        service = services[wsdl]
        operation = service.operations[name]
        content = _full(operation.input, operation._input_element.type, _Values(), _skip(wsdl),
                        {path: text})
        for version, prefixed in SPELLINGS:
            spelling = _Spelling(version, prefixed, indent=False)
            envelope = _envelope(operation, spelling.envelope(_request(operation, content)),
                                 version)
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
        for path, field in _paths(operation.input, operation._input_element.type,
                                         _skip(wsdl)):
            if not field.required:
                continue
            content = _full(operation.input, operation._input_element.type, _Values(),
                            _skip(wsdl), {path: _MISSING})
            envelope = _envelope(operation, _Spelling(SOAP11, False, False).envelope(
                _request(operation, content)), SOAP11)
            assert envelope.payload is not None
            assert _reader(operation).read(envelope.payload) is None, (name, path)
            decoded, zeep = _decode_and_zeep(service, operation, envelope)
            assert decoded == zeep, (name, path)
            checked += 1
    assert checked >= 15


XSI = f'xmlns:xsi="{ns.XSI}"'
AUTH = f'<AuthenticateUser xmlns="{USERS}">{{}}</AuthenticateUser>'
REQ = "<AuthenticateUserRequest {}/>"
CREATE = (f'<CreateUser xmlns="{USERS}"><Request ContextIdentifier="c" AuthenticationToken="t" '
          'UserName="u">{}</Request></CreateUser>')
GET = (f'<GetUser xmlns="{USERS}"><Request ContextIdentifier="c" AuthenticationToken="t" '
       'UserName="u">{}</Request></GetUser>')
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
     f'<AuthenticateUser xmlns="{USERS}" Mode="x"><AuthenticateUserRequest/></AuthenticateUser>'),
    ("unknown child element", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<AuthenticateUserRequest UserName="u"><Extra/></AuthenticateUserRequest>')),
    ("unknown element at the top", "DocumentNOW", "AuthenticateUser", AUTH.format("<Other/>")),
    ("element in another namespace", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<AuthenticateUserRequest xmlns="urn:other" UserName="u"/>')),
    ("unqualified element", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<AuthenticateUserRequest xmlns="" UserName="u"/>')),
    ("unqualified element with text", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<AuthenticateUserRequest xmlns="">x</AuthenticateUserRequest>')),
    ("element twice", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format('UserName="a"') + REQ.format('UserName="b"'))),
    ("text at the top", "DocumentNOW", "AuthenticateUser",
     AUTH.format("hello" + REQ.format('UserName="u"'))),
    ("text after a child", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format('UserName="u"') + " tail ")),
    ("text in an element without text", "DocumentNOW", "AuthenticateUser",
     AUTH.format("<AuthenticateUserRequest>x</AuthenticateUserRequest>")),
    ("text and attributes in an element without text", "DocumentNOW", "AuthenticateUser",
     AUTH.format('<AuthenticateUserRequest UserName="u">x</AuthenticateUserRequest>')),
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
     AUTH.format(REQ.format(f'{XSI} xmlns:u="{USERS}" xsi:type="u:UserContextRequest" '
                            'ContextIdentifier="c"'))),
    ("xsi:type unknown", "DocumentNOW", "AuthenticateUser",
     AUTH.format(REQ.format(f'{XSI} xsi:type="Nope" UserName="u"'))),
    ("xsi:type on the request element", "DocumentNOW", "AuthenticateUser",
     f'<AuthenticateUser xmlns="{USERS}" {XSI} xmlns:u="{USERS}" xsi:type="u:User" '
     'UserName="u"/>'),
    ("text in Tags", "DocumentNOW", "CreateUser", CREATE.format("<Tags>x<Tag Name='n'/></Tags>")),
    ("child in a Tag", "DocumentNOW", "CreateUser",
     CREATE.format("<Tags><Tag Name='n'><Tag Name='m'/></Tag></Tags>")),
    ("Tag outside Tags", "DocumentNOW", "CreateUser", CREATE.format("<Tag Name='n'/>")),
    ("zeep's stand-in element spelled out", "DocumentNOW", "GetUser",
     GET.format('<_value_1 ContextIdentifier="x"/>')),
    ("element under an extension without elements", "DocumentNOW", "GetUser",
     GET.format("<Tags/>")),
    ("text under an extension without elements", "DocumentNOW", "GetUser", GET.format("x")),
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


def test_operations_only_zeep_reads(services: dict[str, SoapService]) -> None:
    """A choice at the top, or an attribute default, gets no reader at all."""
    for name in ("Chosen", "Defaulted"):
        operation = services["Generic"].operations[name]
        assert compile_request(operation.input, operation._input_element) is None
        assert name not in services["Generic"]._readers


# The hardened parser drops comments and PIs; a caller handing decode() a tree that kept
# them still gets zeep's answer.
KEPT = [
    ("comment between elements", AUTH.format("<!-- c -->" + REQ.format('UserName="u"'))),
    ("PI between elements", AUTH.format("<?pi x?>" + REQ.format('UserName="u"'))),
    ("comment in an element without text", AUTH.format(
        '<AuthenticateUserRequest UserName="u"><!-- c --></AuthenticateUserRequest>')),
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


def test_decode_reads_without_zeep(services: dict[str, SoapService]) -> None:
    """decode() uses the reader: with zeep's element gone, what the reader reads still decodes."""
    service = services["DocumentNOW"]
    operation = dataclasses.replace(service.operations["AuthenticateUser"],
                                    _input_element=_NoZeep())
    readable = _soap11(operation, AUTH.format(REQ.format('UserName="u" Password="p"')))
    assert service.decode(operation, readable) == {
        "body": {"AuthenticateUserRequest": {"UserName": "u", "Password": "p"}}, "header": {}}
    odd = _soap11(operation, AUTH.format(REQ.format('UserName="u" Bogus="x"')))
    with pytest.raises(AssertionError, match="zeep was asked"):
        service.decode(operation, odd)


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
        f"{{{USERS}}}AuthenticateUserRequest", (("UserName", name), ("Password", password))),))
    envelope = _envelope(operation, _Spelling(version, prefixed, False).envelope(request), version)
    assert envelope.payload is not None
    assert _reader(operation).read(envelope.payload) == {
        "AuthenticateUserRequest": {"UserName": name, "Password": password}}
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
