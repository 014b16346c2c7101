"""WSDLs for the reader and writer tests (DocumentNOW, Nmbrs' DebtorService, and a frame for a
WSDL of no vendor built around a test's own schema, for shapes DocumentNOW lacks), and what
both proofs need to generate messages from them: the zeep part behind each field, the sample
pool a field draws from, whether the plans were proved for a field, bounded combinations."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree
from zeep.xsd.elements.element import Element
from zeep.xsd.elements.indicators import Choice, Group, OrderIndicator
from zeep.xsd.types.complex import ComplexType

from bridge.soap.shapes import Field

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
DOCUMENTNOW = REPO / "wsdl" / "DocumentNOW.wsdl"
NMBRS = REPO / "wsdl" / "nmbrs" / "DebtorService.wsdl"
WSDL_NS = "{http://schemas.xmlsoap.org/wsdl/}"
# Read from the file, not from the service under test, so a lost operation fails the test.
DOCUMENTNOW_OPERATIONS = sorted({
    operation.get("name", "")
    for operation in etree.parse(str(DOCUMENTNOW)).iterfind(f".//{WSDL_NS}portType/{WSDL_NS}operation")
})

_FRAME = """<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions targetNamespace="urn:example:generic"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:g="urn:example:generic"
    xmlns:o="urn:example:other" xmlns:l="urn:example:loose">
  <wsdl:types>{schemas}</wsdl:types>
  {messages}
  <wsdl:portType name="Generic">{operations}</wsdl:portType>
  <wsdl:binding name="Generic" type="g:Generic">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    {bindings}
  </wsdl:binding>
  <wsdl:service name="Generic">
    <wsdl:port name="Generic" binding="g:Generic">
      <soap:address location="http://example.invalid/generic"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""


def generic_wsdl(schemas: str, operations: list[tuple[str, str, str]]) -> str:
    """A document/literal WSDL around `schemas` (prefixes g, o and l are declared) with one
    operation per (name, input element, output element), e.g. ("Plain", "g:Ask", "g:PlainResponse")."""
    return _FRAME.format(
        schemas=schemas,
        messages="".join(
            f'<wsdl:message name="{name}In"><wsdl:part name="parameters" element="{given}"/>'
            f'</wsdl:message><wsdl:message name="{name}Out">'
            f'<wsdl:part name="parameters" element="{answer}"/></wsdl:message>'
            for name, given, answer in operations),
        operations="".join(
            f'<wsdl:operation name="{name}"><wsdl:input message="g:{name}In"/>'
            f'<wsdl:output message="g:{name}Out"/></wsdl:operation>'
            for name, _, _ in operations),
        bindings="".join(
            f'<wsdl:operation name="{name}"><soap:operation soapAction="urn:example:generic/{name}"/>'
            '<wsdl:input><soap:body use="literal"/></wsdl:input>'
            '<wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>'
            for name, _, _ in operations),
    )


# The simple types the reader and writer were proved for, as Field.type_name names them.
# A value of any other type (double, dateTime, base64Binary, decimal, …) is zeep's to read
# and write: the proofs expect the compiled plans to leave it to the zeep path.
PROVED_TYPES = frozenset({"string", "boolean", "int", "integer", "long", "short"})
XS = "{http://www.w3.org/2001/XMLSchema}"
GUID = "{http://microsoft.com/wsdl/types/}guid"


def _enumerations(path: Path) -> dict[str, tuple[str, ...]]:
    """The enumeration facets of every named simple type, by the type's Clark name."""
    found: dict[str, tuple[str, ...]] = {}
    for schema in etree.parse(str(path)).iterfind(f".//{XS}schema"):
        namespace = schema.get("targetNamespace")
        for simple in schema.iterfind(f"{XS}simpleType"):
            facets = simple.iterfind(f"{XS}restriction/{XS}enumeration")
            values = tuple(facet.get("value", "") for facet in facets)
            if values:
                found[f"{{{namespace}}}{simple.get('name')}"] = values
    return found


ENUMERATIONS = _enumerations(DOCUMENTNOW)


def parts(xsd_type: Any) -> dict[str, Any]:
    """The zeep element or attribute behind each field name of a complex type: the members of
    a choice are found through it, as service._shape flattens them."""
    found: dict[str, Any] = dict(xsd_type.attributes)

    def collect(particle: Any) -> None:
        if isinstance(particle, Element):
            found.setdefault(particle.name, particle)
        elif isinstance(particle, Group):
            collect(particle.child)
        elif isinstance(particle, OrderIndicator):
            for inner in particle:
                collect(inner)

    for _, particle in xsd_type.elements_nested:
        collect(particle)
    return found


def has_choice(xsd_type: Any) -> bool:
    """Whether a complex type's content holds a choice (directly or in a sequence or group)."""
    def holds(particle: Any) -> bool:
        if isinstance(particle, Choice):
            return True
        if isinstance(particle, Group):
            return holds(particle.child)
        return isinstance(particle, OrderIndicator) and any(holds(inner) for inner in particle)

    return any(holds(particle) for _, particle in xsd_type.elements_nested)


State = TypeVar("State")


def combinations(space: Sequence[tuple[State, ...]], cap: int, seed: str) -> list[tuple[State, ...]]:
    """Rows of one state per field: all of them while there are at most `cap`.

    Past `cap` the rows are sampled, deterministically: the row of every field in its first
    state (absent, for an optional field), the row of every field in its last (present, most
    items), one row per field and state with every other field in its last state, so that each
    field meets each of its states at least once; then rows drawn by a generator seeded with
    `seed` (the shape's name) until there are `cap`.
    """
    size = 1
    for states in space:
        size *= len(states)
    if size <= cap:
        return list(itertools.product(*space))
    fullest = tuple(states[-1] for states in space)
    rows = [tuple(states[0] for states in space), fullest]
    for index, states in enumerate(space):
        rows.extend((*fullest[:index], state, *fullest[index + 1:]) for state in states[:-1])
    draw = random.Random(seed)
    while len(rows) < cap:
        rows.append(tuple(draw.choice(states) for states in space))
    return rows


def pool_name(field: Field, part: Any) -> str:
    """Which pool of sample values a simple field draws from: its enumeration's (by the type's
    Clark name), "guid", or its built-in type's name."""
    qname = getattr(part.type, "qname", None)
    name = qname.text if qname is not None else ""
    if name in ENUMERATIONS:
        return name
    return "guid" if name == GUID else field.type_name


def proved(field: Field, part: Any, answer_namespace: str | None = None) -> bool:
    """Whether the reader (or, given the answer's namespace, the writer) was proved for a field.

    Both read and write simple values of PROVED_TYPES, and elements whose content is a plain
    sequence: no choice, no default, no member _shape left out (of a type inside itself), no
    required member they were not proved for. The writer also needs every element in the
    answer's namespace, unqualified attributes and no zeep stand-in for an extension without
    elements (`_value` of a complex type) or simple content it was not proved for.
    """
    writer = answer_namespace is not None
    if getattr(part, "default", None) is not None:
        return False
    namespace = etree.QName(part.qname).namespace if part.qname is not None else None
    if writer and field.kind != "text" and namespace != (
            answer_namespace if field.kind == "element" else None):
        return False
    if not isinstance(part.type, ComplexType):
        return field.type_name in PROVED_TYPES
    if field.kind == "text":
        return not writer  # the reader reads no element there; the writer leaves it to zeep
    found = parts(part.type)
    shaped = {"_value_1" if child.kind == "text" else child.name for child in field.children}
    if has_choice(part.type) or not set(found) <= shaped:
        return False  # a choice, or members _shape left out (of a type inside itself)
    return all(proved(child, member_part(found, child), answer_namespace)
               for child in field.children if child.required or (writer and child.kind == "text"))


def member_part(found: dict[str, Any], field: Field) -> Any:
    """The zeep part of `found` (see `parts`) behind a field: zeep holds simple content as `_value_1`."""
    return found["_value_1" if field.kind == "text" else field.name]
