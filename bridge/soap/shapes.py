"""The WSDL's shapes as plain data: fields, operations, content models, simple-type coercion.

Nothing here imports zeep. `xsd` reads zeep's compiled schema into these once at
start-up; the checker, the compiled reader and writer, and the zeep path all read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# The key simple content (an element's text beside its attributes) has in plain data.
TEXT = "_value"


@dataclass(frozen=True)
class Field:
    """The shape of one element or attribute, read from the schema."""

    name: str
    kind: str  # "element" | "attribute" | "text"
    multiple: bool = False
    required: bool = False
    type_name: str = ""
    children: tuple[Field, ...] = ()
    # The element's named complex type when it differs from the element's name: what the
    # vendor's articles name the child (AuthenticateUserRequest for Request). Read as it.
    type_alias: str = ""
    # A member of a repeating choice (see xsd.shape): readable, but not writable by rules.
    repeating_choice: bool = False

    def child(self, name: str) -> Field | None:
        for candidate in self.children:
            if candidate.name == name:
                return candidate
        return None


def walk(shape: Field, path: Sequence[str]) -> Field | None:
    """The field a dotted path's parts lead to from `shape`, or None."""
    current: Field | None = shape
    for part in path:
        if current is None:
            return None
        current = current.child(part)
    return current


# -- content models: what the compiled reader and writer are built from ----------------------


@dataclass(frozen=True)
class SimpleType:
    """A simple type as the zeep path treats it: the XSD built-in it derives from (as
    `Field.type_name` names it), and whether zeep reads and writes its values exactly as that
    built-in's (a restriction with a parse, spelling or validation of its own does not)."""

    name: str
    reads_as_builtin: bool = False
    writes_as_builtin: bool = False


@dataclass(frozen=True)
class AttributeUse:
    """An attribute of a complex type: its field, its name as lxml keys it, its type."""

    field: Field
    qname: str  # "{namespace}Name" when qualified
    type: SimpleType


@dataclass(frozen=True)
class Text:
    """Simple content: the text of an element that has attributes too."""

    field: Field
    type: SimpleType | None  # None: the content's type is not a simple one
    # zeep's stand-in for an extension of a complex type without elements: it takes no
    # text and no element at all.
    extension: bool = False


@dataclass(frozen=True)
class Particle:
    """One element where the schema puts it: its tag, how often it occurs, its type."""

    field: Field
    tag: str  # "{namespace}Name"
    min_occurs: int
    max_occurs: int | None  # None: unbounded
    has_default: bool
    type: Content | SimpleType | None  # None: a complex type whose content is not plain


@dataclass(frozen=True)
class Content:
    """A complex type's content in the one plain form the compiled reader and writer take:
    attributes, then either a sequence (occurring once) of elements or simple text. A type
    with neither attributes nor elements is empty. Anything else (choice, all, any, groups,
    repeated sequences, fields the schema and the shape disagree on) has no Content."""

    attributes: tuple[AttributeUse, ...] = ()
    elements: tuple[Particle, ...] = ()
    text: Text | None = None
    # zeep parses the type its own way (a SOAP-encoded array, a parse of its own), so only
    # zeep may read it.
    own_parse: bool = False

    @property
    def empty(self) -> bool:
        return not self.attributes and not self.elements and self.text is None


@dataclass(frozen=True)
class Operation:
    """One WSDL operation with where it is served and the shapes it exchanges."""

    name: str
    service: str
    port: str
    action: str
    endpoint_path: str
    input_qname: str
    output_qname: str
    input: Field
    output: Field
    # The request and answer elements as content models, for the compiled reader and writer
    # (None where the element is not a plain one).
    request: Particle | None = field(repr=False, compare=False, default=None)
    answer: Particle | None = field(repr=False, compare=False, default=None)
    # zeep's own elements, for the zeep path; opaque outside `service`.
    _input_element: Any = field(repr=False, compare=False, default=None)
    _output_element: Any = field(repr=False, compare=False, default=None)


_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def coerce_simple(value: Any, type_name: str) -> Any:
    """Templates yield strings; the schema says when a string means a boolean or number."""
    if type_name == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE or text in ("", "none"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if type_name in ("int", "integer", "long", "short") and isinstance(value, str):
        return int(value)
    if type_name == "string" and not isinstance(value, str):
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    return value
