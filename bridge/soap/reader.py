"""Read an operation's request element into plain data, as zeep's path does, from a plan compiled once."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from bridge.soap.shapes import Content, Particle, SimpleType

Read = Callable[[str], Any]


class _Unreadable(Exception):
    """Input only the zeep path may judge: the reader gives up and the caller falls back."""


# XML's own whitespace. Python's str.strip() and int() take more (NBSP, U+2028, …); a value
# that needs those is left to zeep, which is where the difference would show.
_SPACE = " \t\r\n"


def _read_string(text: str) -> str:
    return text  # zeep's String.pythonvalue: the text as lxml gives it


# zeep reads a boolean as `value.strip() in ("true", "1")` (after turning \t\r\n into spaces)
# and anything else as False without complaint. Only XSD's four spellings are read here:
# "yes" or "TRUE" is not a boolean, and zeep alone says what becomes of it.
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _read_boolean(text: str) -> bool:
    value = _BOOLEANS.get(text.strip(_SPACE))
    if value is None:
        raise _Unreadable
    return value


# zeep reads integers with int(), which also takes "1_000", other scripts' digits and
# Unicode spaces, and logs a traceback and drops the value when int() fails. Only XSD's
# lexical form is read here.
_INTEGER = re.compile("[ \t\r\n]*[+-]?[0-9]+[ \t\r\n]*")


def _read_integer(text: str) -> int:
    if _INTEGER.fullmatch(text) is None:
        raise _Unreadable
    try:
        return int(text)
    except ValueError as exc:  # more digits than int() converts
        raise _Unreadable from exc


# The types writer.py writes, each read from its XSD lexical form where zeep reads it as the
# built-in does (SimpleType.reads_as_builtin). Every other simple type (dateTime, decimal,
# normalizedString, lists, unions, …) is read by zeep.
_READS: dict[str, Read] = {
    "string": _read_string, "boolean": _read_boolean,
    "int": _read_integer, "integer": _read_integer, "long": _read_integer, "short": _read_integer,
}


def _simple(simple: SimpleType) -> Read | None:
    return _READS.get(simple.name) if simple.reads_as_builtin else None


def _is_space(text: str | None) -> bool:
    return text is None or not text.strip(_SPACE)


@dataclass(frozen=True)
class _Attribute:
    qname: str  # as lxml keys it: "{namespace}Name" when qualified
    key: str
    required: bool
    read: Read | None  # None: a type only zeep reads


def _read_attributes(attributes: tuple[_Attribute, ...], element: etree._Element,
                     out: dict[str, Any]) -> None:
    found = 0
    for attribute in attributes:
        text = element.get(attribute.qname)
        if text is None:
            # zeep leaves a required attribute out without a word; the reader lets it.
            if attribute.required:
                raise _Unreadable
            continue
        if attribute.read is None:
            raise _Unreadable
        out[attribute.key] = attribute.read(text)
        found += 1
    if found != len(element.attrib):
        # zeep ignores attributes it does not know, but xsi:type changes the type it reads
        # and xsi:nil means something; neither is worth a plan of its own.
        raise _Unreadable


@dataclass(frozen=True)
class _SimpleElement:
    """An element of simple type: its text, read as zeep reads the type."""

    read: Read

    def value(self, element: etree._Element) -> Any:
        # zeep reads only the text before a first child, and ignores attributes (xsi:nil,
        # xsi:type included): mixed content and attributes are its to judge.
        if len(element) or len(element.attrib):
            raise _Unreadable
        text = element.text
        return None if text is None else self.read(text)


@dataclass(frozen=True)
class _Child:
    """One element of a sequence: its tag, how often it may occur, how one occurrence reads."""

    key: str
    tag: str
    min_occurs: int
    max_occurs: int | None  # None: unbounded
    multiple: bool
    node: _Complex | _SimpleContent | _Empty | _SimpleElement | None  # None: only zeep reads it


@dataclass(frozen=True)
class _Complex:
    """Element-only content: a sequence of child elements, then attributes, as zeep orders them."""

    attributes: tuple[_Attribute, ...]
    children: tuple[_Child, ...]
    allow_none: bool  # zeep reads a nested element with nothing in it as None, the top one not

    def value(self, element: etree._Element) -> dict[str, Any] | None:
        # zeep ignores text between child elements; text there means a mixed-content
        # document that zeep alone judges.
        if not _is_space(element.text):
            raise _Unreadable
        elements = list(element)
        count = len(elements)
        if self.allow_none and not count and not len(element.attrib):
            return None
        out: dict[str, Any] = {}
        index = 0
        for child in self.children:
            items: list[Any] = []
            # zeep matches children by local name (and on namespace only when both have one);
            # the reader takes only the exact tag the schema gives.
            while index < count and elements[index].tag == child.tag:
                node = child.node
                if node is None or (child.max_occurs is not None and len(items) == child.max_occurs):
                    raise _Unreadable
                current = elements[index]
                if not _is_space(current.tail):
                    raise _Unreadable
                items.append(node.value(current))
                index += 1
                if not child.multiple:
                    break
            if len(items) < child.min_occurs:
                raise _Unreadable  # zeep does not always notice a missing required element
            if child.multiple:
                out[child.key] = items  # zeep gives absent repeats as []
            elif items and items[0] is not None:
                out[child.key] = items[0]
        if index != count:
            # Unknown, misplaced or extra elements, other namespaces, comments and PIs.
            raise _Unreadable
        _read_attributes(self.attributes, element, out)
        return out


@dataclass(frozen=True)
class _SimpleContent:
    """Simple content with attributes: the text under the shape's text key, then attributes."""

    text_key: str
    read: Read | None  # None: a type only zeep reads
    attributes: tuple[_Attribute, ...]

    def value(self, element: etree._Element) -> dict[str, Any]:
        if len(element):
            raise _Unreadable  # zeep reads only the text before a first child
        out: dict[str, Any] = {}
        text = element.text
        if text is not None:
            if self.read is None:
                raise _Unreadable
            out[self.text_key] = self.read(text)
        _read_attributes(self.attributes, element, out)
        return out


@dataclass(frozen=True)
class _Empty:
    """A type with neither attributes nor elements: zeep reads None whatever the element holds."""

    def value(self, element: etree._Element) -> None:
        if len(element) or len(element.attrib) or not _is_space(element.text):
            raise _Unreadable
        return None


def _compile_complex(content: Content | None,
                     allow_none: bool) -> _Complex | _SimpleContent | _Empty | None:
    """The plan for one complex type, or None where only zeep may read it."""
    if content is None or content.own_parse:
        return None
    if content.empty:
        return _Empty()
    attributes = tuple(_Attribute(use.qname, use.field.name, use.field.required, _simple(use.type))
                       for use in content.attributes)
    text = content.text
    if text is None:
        return _Complex(attributes, tuple(_compile_child(member) for member in content.elements),
                        allow_none)
    if text.type is not None:
        return _SimpleContent(text.field.name, _simple(text.type), attributes)
    if text.extension:
        # zeep's stand-in for an extension of a complex type without elements: it reads
        # no element at all, so none may occur.
        return _Complex(attributes, (), allow_none)
    return None


def _compile_child(member: Particle) -> _Child:
    node: _Complex | _SimpleContent | _Empty | _SimpleElement | None = None
    # An element default would be filled in for a missing element: zeep reads those.
    if not member.has_default:
        if isinstance(member.type, SimpleType):
            read = _simple(member.type)
            if read is not None:
                node = _SimpleElement(read)
        else:
            node = _compile_complex(member.type, allow_none=True)
    return _Child(member.field.name, member.tag, member.min_occurs, member.max_occurs,
                  member.field.multiple, node)


class RequestReader:
    """One operation's request element as plain data, or None where only zeep may read it."""

    def __init__(self, tag: str, root: _Complex | _SimpleContent | _Empty) -> None:
        self._tag = tag
        self._root = root

    def read(self, payload: etree._Element) -> dict[str, Any] | None:
        if payload.tag != self._tag:
            return None
        try:
            value = self._root.value(payload)
        except _Unreadable:
            return None
        return {} if value is None else value


def compile_request(request: Particle | None) -> RequestReader | None:
    """A reader for an operation's request element (`Operation.request`), or None if zeep
    reads them all."""
    if request is None or request.has_default or not isinstance(request.type, Content):
        return None
    root = _compile_complex(request.type, allow_none=False)
    return None if root is None else RequestReader(request.tag, root)
