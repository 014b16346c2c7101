"""Write an operation's SOAP answer straight to bytes, as zeep and lxml would, from a plan compiled once."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree
from zeep.xsd.elements.attribute import Attribute
from zeep.xsd.elements.element import Element
from zeep.xsd.elements.indicators import Sequence
from zeep.xsd.types.builtins import Boolean, Integer, String
from zeep.xsd.types.complex import ComplexType
from zeep.xsd.types.simple import AnySimpleType

from bridge.soap import ns
from bridge.soap.envelope import SOAP11, SOAP12, write_envelope

if TYPE_CHECKING:
    from bridge.soap.service import Field

Coerce = Callable[[Any, str], Any]

class _Unwritable(Exception):
    """Input only the zeep path may judge: the writer gives up and the caller falls back."""


# Characters XML 1.0 cannot carry at all: lxml refuses them, so zeep's path raises.
_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Characters that are invalid or that lxml writes as references; most values have none,
# and one search is cheaper than the replacements.
_ATTRIBUTE_SPECIAL = re.compile('[\x00-\x1f"&<>\ud800-\udfff\ufffe\uffff]')
_TEXT_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f&<>\ud800-\udfff\ufffe\uffff]")
# lxml (libxml2) escapes exactly these; tests/soap/test_writer.py holds it to that.
_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                    "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _attribute_value(text: str) -> str:
    if _ATTRIBUTE_SPECIAL.search(text) is None:
        return text
    if _INVALID.search(text) is not None:
        raise _Unwritable
    return text.translate(_ATTRIBUTE_ESCAPES)


def _text(text: str) -> str:
    if _TEXT_SPECIAL.search(text) is None:
        return text
    if _INVALID.search(text) is not None:
        raise _Unwritable
    return text.translate(_TEXT_ESCAPES)


def _spell_string(value: Any) -> str:
    if type(value) is not str:
        raise _Unwritable
    return value


def _spell_boolean(value: Any) -> str:
    if type(value) is not bool:
        raise _Unwritable
    return "true" if value else "false"


def _spell_integer(value: Any) -> str:
    if type(value) is not int:
        raise _Unwritable
    return str(value)


@dataclass(frozen=True)
class _Spelling:
    """A simple type the writer knows: the Python types it takes and zeep's class for it."""

    accepts: tuple[type, ...]
    zeep_type: Any  # a zeep class; zeep has no type hints
    spell: Callable[[Any], str]


# Only the types whose zeep spelling is plainly the one above; every other simple type
# (dateTime, decimal, anyURI, lists, unions, …) is written by zeep. Accepted input types are
# the ones coerce_simple turns into exactly the value zeep spells; others (floats, None in a
# list, subclasses) go to zeep too.
_INTEGER = _Spelling((int, str), Integer, _spell_integer)
_SPELLINGS = {
    "string": _Spelling((str, bool, int), String, _spell_string),
    "boolean": _Spelling((bool, str), Boolean, _spell_boolean),
    "int": _INTEGER, "integer": _INTEGER, "long": _INTEGER, "short": _INTEGER,
}


@dataclass(frozen=True)
class _Simple:
    """One simple value: coerced as the zeep path coerces it, then spelled as zeep spells it."""

    type_name: str
    accepts: tuple[type, ...]
    spell: Callable[[Any], str]
    coerce: Coerce

    def text(self, value: Any) -> str:
        if type(value) not in self.accepts:
            raise _Unwritable
        try:
            return self.spell(self.coerce(value, self.type_name))
        except (ValueError, TypeError) as exc:
            # The zeep path raises the same way; let it, so the error is its own.
            raise _Unwritable from exc


def _simple(type_name: str, xsd_type: Any, coerce: Coerce) -> _Simple | None:
    spelling = _SPELLINGS.get(type_name)
    if spelling is None or not isinstance(xsd_type, spelling.zeep_type):
        return None
    klass: Any = type(xsd_type)
    # A restriction (Guid, Severity) is zeep's base class under another name; one that
    # rendered or validated differently would be a type we have not proved.
    if (klass.xmlvalue is not spelling.zeep_type.xmlvalue
            or klass.render is not AnySimpleType.render
            or klass.validate is not AnySimpleType.validate):
        return None
    return _Simple(type_name, spelling.accepts, spelling.spell, coerce)


@dataclass(frozen=True)
class _Attribute:
    key: str
    required: bool
    prefix: str  # ' Name="'
    simple: _Simple | None  # None: a type only zeep writes


@dataclass(frozen=True)
class _SimpleElement:
    open: str
    close: str
    simple: _Simple

    def write(self, value: Any, out: list[str]) -> None:
        out.append(self.open)
        out.append(_text(self.simple.text(value)))
        out.append(self.close)


@dataclass(frozen=True)
class _Child:
    """One element of a sequence: how often it may occur and how one occurrence is written."""

    key: str
    min_occurs: int
    max_occurs: int | None  # None: unbounded
    multiple: bool
    node: _Complex | _SimpleElement | None  # None: only zeep writes it

    def write(self, value: Any, out: list[str]) -> None:
        if value is None:
            # Absent; zeep refuses a required element that is missing.
            if self.min_occurs:
                raise _Unwritable
            return
        node = self.node
        if node is None:
            raise _Unwritable
        if not self.multiple:
            node.write(value, out)
            return
        if type(value) is list:
            items = value
        elif type(value) is dict and isinstance(node, _Complex):
            items = [value]  # the zeep path reads one mapping as a list of one
        else:
            raise _Unwritable
        if len(items) < self.min_occurs or (self.max_occurs is not None
                                            and len(items) > self.max_occurs):
            raise _Unwritable
        for item in items:
            node.write(item, out)


@dataclass(frozen=True)
class _Complex:
    """An element of complex type: attributes in schema order, then text or child elements."""

    open: str  # '<Name' (the answer element adds its xmlns)
    close: str
    keys: frozenset[str]
    attributes: tuple[_Attribute, ...]
    children: tuple[_Child, ...]
    text_key: str | None  # simple content
    text: _Simple | None

    def write(self, value: Any, out: list[str]) -> None:
        if type(value) is not dict:
            raise _Unwritable
        for key in value:
            if key not in self.keys:
                # The zeep path drops keys the schema does not have; rules should not make them.
                raise _Unwritable
        out.append(self.open)
        for attribute in self.attributes:
            item = value.get(attribute.key)
            if item is None:
                if attribute.required:
                    raise _Unwritable
                continue
            if attribute.simple is None:
                raise _Unwritable
            out.append(attribute.prefix)
            out.append(_attribute_value(attribute.simple.text(item)))
            out.append('"')
        if self.text_key is not None:
            item = value.get(self.text_key)
            out.append(">")
            if item is not None:
                if self.text is None:
                    raise _Unwritable
                out.append(_text(self.text.text(item)))
            elif self.text is None or self.text.type_name != "string":
                # zeep spells missing simple content as its type spells None: "" only for strings.
                raise _Unwritable
            out.append(self.close)
            return
        mark = len(out)
        out.append(">")
        for child in self.children:
            child.write(value.get(child.key), out)
        if len(out) == mark + 1:
            out[mark] = "/>"
        else:
            out.append(self.close)


def _compile_complex(shape: Field, xsd_type: Any, name: str, namespace: str, coerce: Coerce,
                     declaration: str = "") -> _Complex | None:
    """The plan for one complex type, or None where its content model is not a plain one."""
    if not isinstance(xsd_type, ComplexType):
        return None
    names = [field.name for field in shape.children]
    if len(set(names)) != len(names):
        return None  # _to_zeep would pick the first of two same-named fields
    used: list[str] = []
    attributes: list[_Attribute] = []
    for key, attribute in xsd_type.attributes:
        field = shape.child(key)
        qname = etree.QName(attribute.qname)
        # A default is written even when the value is absent; a qualified attribute
        # needs a prefix. Neither is worth a plan of its own.
        if (type(attribute) is not Attribute or field is None or field.kind != "attribute"
                or attribute.default is not None or qname.namespace is not None
                or qname.localname != key):
            return None
        used.append(key)
        attributes.append(_Attribute(key, field.required, f' {key}="',
                                     _simple(field.type_name, attribute.type, coerce)))
    text_key: str | None = None
    text: _Simple | None = None
    children: list[_Child] = []
    nested = xsd_type.elements_nested
    content = next((field for field in shape.children if field.kind == "text"), None)
    if content is not None:
        # Simple content: zeep holds it as one bare element, and the shape as a text field.
        if len(nested) != 1 or type(nested[0][1]) is not Element:
            return None
        used.append(content.name)
        text_key = content.name
        text = _simple(content.type_name, nested[0][1].type, coerce)
    elif len(nested) == 1 and type(nested[0][1]) is Sequence:
        sequence = nested[0][1]
        if sequence.min_occurs != 1 or sequence.max_occurs != 1:
            return None
        for key, element in sequence.elements_nested:
            field = shape.child(key)
            if type(element) is not Element or field is None or field.kind != "element":
                return None
            used.append(key)
            children.append(_compile_child(field, element, namespace, coerce))
    elif nested:
        return None  # choice, all, groups, any: zeep's own rules decide what is written
    if sorted(used) != sorted(names):
        return None
    return _Complex(f"<{name}{declaration}", f"</{name}>", frozenset(names), tuple(attributes),
                    tuple(children), text_key, text)


def _compile_child(shape: Field, element: Any, namespace: str, coerce: Coerce) -> _Child:
    qname = etree.QName(element.qname)
    node: _Complex | _SimpleElement | None = None
    # Another namespace (or none) would need a prefix or an undeclaration, and a default is
    # written even when the value is absent: zeep writes those elements, when present.
    if qname.namespace == namespace and qname.localname == shape.name and element.default is None:
        if shape.children:
            node = _compile_complex(shape, element.type, shape.name, namespace, coerce)
        else:
            simple = _simple(shape.type_name, element.type, coerce)
            if simple is not None:
                node = _SimpleElement(f"<{shape.name}>", f"</{shape.name}>", simple)
    max_occurs = None if element.max_occurs == "unbounded" else int(element.max_occurs)
    return _Child(shape.name, int(element.min_occurs), max_occurs, shape.multiple, node)


def _frame(version: str) -> tuple[str, str]:
    # Cut from write_envelope's own output, so both paths wrap answers identically.
    data = write_envelope(version, etree.Element("answer")).decode("utf-8")
    head, tail = data.split("<answer/>")
    return head, tail


_FRAMES = {version: _frame(version) for version in (SOAP11, SOAP12)}


class AnswerWriter:
    """One operation's answer envelope as bytes, or None where only zeep may write it."""

    def __init__(self, root: _Complex) -> None:
        self._root = root

    def write(self, result: Any, version: str) -> bytes | None:
        frame = _FRAMES.get(version)
        if frame is None:
            return None
        out = [frame[0]]
        try:
            self._root.write(result, out)
        except _Unwritable:
            return None
        out.append(frame[1])
        return "".join(out).encode("utf-8")


def compile_answer(shape: Field, element: Any, coerce: Coerce) -> AnswerWriter | None:
    """A writer for the answer element `element` of shape `shape`, or None if zeep writes them all.

    `coerce` is the zeep path's own coercion (service.coerce_simple), so both turn a
    template's strings into booleans and numbers the same way.
    """
    qname = etree.QName(element.qname)
    namespace = qname.namespace
    # The zeep path puts the answer in a default namespace: an answer without a namespace
    # stays as zeep wrote it, and one in an envelope namespace gets the envelope's prefix.
    if namespace is None or namespace in (ns.SOAP11_ENV, ns.SOAP12_ENV):
        return None
    try:
        declaration = f' xmlns="{_attribute_value(namespace)}"'
    except _Unwritable:
        return None
    root = _compile_complex(shape, element.type, qname.localname, namespace, coerce, declaration)
    return None if root is None else AnswerWriter(root)
