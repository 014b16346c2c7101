"""Write an operation's SOAP answer straight to bytes, as zeep and lxml would, from a plan compiled once."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from bridge.soap import ns
from bridge.soap.envelope import SOAP11, SOAP12, write_envelope
from bridge.soap.shapes import Content, Particle, SimpleType, coerce_simple


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
    """A simple type the writer knows: the Python types it takes and how it spells them."""

    accepts: tuple[type, ...]
    spell: Callable[[Any], str]


# Only the types whose zeep spelling is plainly the one above, where zeep writes them as the
# built-in does (SimpleType.writes_as_builtin); every other simple type (dateTime, decimal,
# anyURI, lists, unions, …) is written by zeep. Accepted input types are the ones
# coerce_simple turns into exactly the value zeep spells; others (floats, None in a list,
# subclasses) go to zeep too.
_INTEGER = _Spelling((int, str), _spell_integer)
_SPELLINGS = {
    "string": _Spelling((str, bool, int), _spell_string),
    "boolean": _Spelling((bool, str), _spell_boolean),
    "int": _INTEGER, "integer": _INTEGER, "long": _INTEGER, "short": _INTEGER,
}


@dataclass(frozen=True)
class _Simple:
    """One simple value: coerced as the zeep path coerces it, then spelled as zeep spells it."""

    type_name: str
    accepts: tuple[type, ...]
    spell: Callable[[Any], str]

    def text(self, value: Any) -> str:
        if type(value) not in self.accepts:
            raise _Unwritable
        try:
            return self.spell(coerce_simple(value, self.type_name))
        except (ValueError, TypeError) as exc:
            # The zeep path raises the same way; let it, so the error is its own.
            raise _Unwritable from exc


def _simple(simple: SimpleType | None) -> _Simple | None:
    spelling = _SPELLINGS.get(simple.name) if simple is not None else None
    if simple is None or spelling is None or not simple.writes_as_builtin:
        return None
    return _Simple(simple.name, spelling.accepts, spelling.spell)


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


def _compile_complex(content: Content | SimpleType | None, name: str, namespace: str,
                     declaration: str = "") -> _Complex | None:
    """The plan for one complex type, or None where only zeep may write it."""
    if not isinstance(content, Content):
        return None
    attributes: list[_Attribute] = []
    for use in content.attributes:
        # A qualified attribute needs a prefix: not worth a plan of its own.
        if etree.QName(use.qname).namespace is not None:
            return None
        key = use.field.name
        attributes.append(_Attribute(key, use.field.required, f' {key}="', _simple(use.type)))
    keys = [use.field.name for use in content.attributes]
    text_key: str | None = None
    text: _Simple | None = None
    if content.text is not None:
        text_key = content.text.field.name
        text = _simple(content.text.type)
        keys.append(text_key)
    children = tuple(_compile_child(member, namespace) for member in content.elements)
    keys.extend(child.key for child in children)
    return _Complex(f"<{name}{declaration}", f"</{name}>", frozenset(keys), tuple(attributes),
                    children, text_key, text)


def _compile_child(member: Particle, namespace: str) -> _Child:
    shape = member.field
    qname = etree.QName(member.tag)
    node: _Complex | _SimpleElement | None = None
    # Another namespace (or none) would need a prefix or an undeclaration, and a default is
    # written even when the value is absent: zeep writes those elements, when present.
    if qname.namespace == namespace and qname.localname == shape.name and not member.has_default:
        if shape.children:
            node = _compile_complex(member.type, shape.name, namespace)
        elif isinstance(member.type, SimpleType):
            simple = _simple(member.type)
            if simple is not None:
                node = _SimpleElement(f"<{shape.name}>", f"</{shape.name}>", simple)
    return _Child(shape.name, member.min_occurs, member.max_occurs, shape.multiple, node)


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


def compile_answer(answer: Particle | None) -> AnswerWriter | None:
    """A writer for an operation's answer element (`Operation.answer`), or None if zeep
    writes them all."""
    if answer is None:
        return None
    qname = etree.QName(answer.tag)
    namespace = qname.namespace
    # The zeep path puts the answer in a default namespace: an answer without a namespace
    # stays as zeep wrote it, and one in an envelope namespace gets the envelope's prefix.
    if namespace is None or namespace in (ns.SOAP11_ENV, ns.SOAP12_ENV):
        return None
    try:
        declaration = f' xmlns="{_attribute_value(namespace)}"'
    except _Unwritable:
        return None
    root = _compile_complex(answer.type, qname.localname, namespace, declaration)
    return None if root is None else AnswerWriter(root)
