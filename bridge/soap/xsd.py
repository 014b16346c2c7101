"""The WSDL's XML Schema, as zeep compiled it, read once into plain shapes and content models.

The one module that looks into zeep's schema objects (`soap.shapes` holds what it finds);
they were read against the zeep versions setup.cfg pins. Every judgement the compiled
reader and writer share ("is this content plain enough?") is made here, once; each then
adds only its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zeep.xsd.elements.attribute import Attribute
from zeep.xsd.elements.element import Element
from zeep.xsd.elements.indicators import Choice, Sequence
from zeep.xsd.types.complex import ComplexType
from zeep.xsd.types.simple import AnySimpleType

from bridge.soap.shapes import TEXT, AttributeUse, Content, Field, Particle, SimpleType, Text

# The key zeep gives simple content, in its schema and in the objects it parses.
ZEEP_TEXT = "_value_1"
_BUILTINS = "zeep.xsd.types.builtins"


def shape(element: Any, kind: str = "element", seen: frozenset[int] = frozenset()) -> Field:
    """The Field of a zeep element: its attributes, child elements and simple content."""
    xsd_type = element.type
    children: list[Field] = []
    # A type that contains itself is shaped once: its inner occurrences are left opaque.
    recursive = id(xsd_type) in seen
    inner = seen | {id(xsd_type)}
    for name, child in getattr(xsd_type, "elements", []) if not recursive else ():
        if isinstance(child, Choice):
            # A choice's members are each optional, and repeat when the choice does. zeep
            # takes a repeating choice as a list of one-member dicts under a key of its own,
            # not as the members: such members are marked, and check refuses rules that
            # write them (they can still be read and compared).
            repeats = child.max_occurs == "unbounded" or int(child.max_occurs) > 1
            for _, member in child.elements:
                shaped = shape(member, seen=inner)
                children.append(replace(shaped, required=False, multiple=shaped.multiple or repeats,
                                        repeating_choice=repeats))
        elif name == ZEEP_TEXT:
            children.append(Field(TEXT, "text", type_name=type_name(child.type)))
        else:
            children.append(shape(child, seen=inner))
    for name, attribute in getattr(xsd_type, "attributes", []):
        if not isinstance(attribute, Attribute):
            continue  # <anyAttribute/> (Nmbrs' AuthHeader): nothing a rule can name
        children.append(
            Field(
                name,
                "attribute",
                required=bool(getattr(attribute, "required", False)),
                type_name=type_name(attribute.type),
            )
        )
    type_alias = getattr(xsd_type, "name", None) or ""
    return Field(
        name=element.name,
        kind=kind,
        multiple=bool(getattr(element, "accepts_multiple", False)),
        required=not getattr(element, "is_optional", True),
        type_name=type_name(xsd_type) if not children else "",
        children=tuple(children),
        type_alias=type_alias if children and type_alias != element.name else "",
    )


def _builtin(xsd_type: Any) -> Any:
    """zeep's class for the XSD built-in a type derives from, or None."""
    for klass in type(xsd_type).__mro__:
        if klass.__module__.startswith(_BUILTINS):
            return klass
    return None


def type_name(xsd_type: Any) -> str:
    # Restrictions (Guid, Severity) report their base's Python behaviour through
    # the class name zeep gives the built-in type they derive from.
    builtin = _builtin(xsd_type)
    return (builtin or type(xsd_type)).__name__.lower()


def simple_type(xsd_type: Any) -> SimpleType:
    builtin = _builtin(xsd_type)
    name = type_name(xsd_type)
    if builtin is None:
        return SimpleType(name)
    klass: Any = type(xsd_type)
    # A restriction is zeep's class for its base under another name; one that parsed,
    # spelled or validated values differently would be a type the plans were not proved on
    # (zeep does not check facets either way).
    return SimpleType(
        name,
        reads_as_builtin=(klass.pythonvalue is builtin.pythonvalue
                          and klass.parse_xmlelement is AnySimpleType.parse_xmlelement),
        writes_as_builtin=(klass.xmlvalue is builtin.xmlvalue
                           and klass.render is AnySimpleType.render
                           and klass.validate is AnySimpleType.validate),
    )


def particle(field: Field, element: Any) -> Particle:
    """One element of a sequence (or the operation's own element) as a content model."""
    xsd_type = element.type
    kind: Content | SimpleType | None = (content(field, xsd_type) if isinstance(xsd_type, ComplexType)
                                         else simple_type(xsd_type))
    max_occurs = None if element.max_occurs == "unbounded" else int(element.max_occurs)
    return Particle(field, element.qname.text, int(element.min_occurs), max_occurs,
                    element.default is not None, kind)


def root(field: Field, element: Any) -> Particle | None:
    """An operation's request or answer element, when it is a plain element."""
    return particle(field, element) if type(element) is Element else None


def content(field: Field, xsd_type: ComplexType) -> Content | None:
    """The content of a complex type whose model is a plain one, else None.

    Plain: attributes without defaults under their own names, then a sequence occurring
    once of elements, or a single simple-content holder; every member a field of the shape
    and every field a member (names unique).
    """
    own_parse = (type(xsd_type).parse_xmlelement is not ComplexType.parse_xmlelement
                 or xsd_type._array_type is not None)
    nested = xsd_type.elements_nested
    if not xsd_type.attributes and not xsd_type.elements:
        # Empty; an empty choice or group is not plain (zeep reads and writes those its way).
        return None if field.children or nested else Content(own_parse=own_parse)
    names = [child.name for child in field.children]
    if len(set(names)) != len(names):
        return None  # the zeep path would pick the first of two same-named fields
    used: list[str] = []
    attributes: list[AttributeUse] = []
    for key, attribute in xsd_type.attributes:
        member = field.child(key)
        # A default is filled in when the attribute is absent; a key that is not the
        # attribute's name (zeep's attr__X when an element has the name) is not the shape's.
        if (type(attribute) is not Attribute or member is None or member.kind != "attribute"
                or attribute.default is not None or attribute.qname.localname != key):
            return None
        used.append(key)
        attributes.append(AttributeUse(member, attribute.qname.text, simple_type(attribute.type)))
    elements: list[Particle] = []
    text: Text | None = None
    holder_field = next((child for child in field.children if child.kind == "text"), None)
    if holder_field is not None:
        # Simple content: zeep holds it as one bare element, and the shape as a text field.
        if len(nested) != 1 or type(nested[0][1]) is not Element:
            return None
        holder = nested[0][1]
        used.append(holder_field.name)
        if isinstance(holder.type, AnySimpleType):
            text = Text(holder_field, simple_type(holder.type))
        else:
            text = Text(holder_field, None, extension=(
                isinstance(holder.type, ComplexType) and not holder.type.elements
                and holder.max_occurs == 1))
    elif len(nested) == 1 and type(nested[0][1]) is Sequence:
        sequence = nested[0][1]
        if sequence.min_occurs != 1 or sequence.max_occurs != 1:
            return None
        for key, element in sequence.elements_nested:
            member = field.child(key)
            if type(element) is not Element or member is None or member.kind != "element":
                return None
            used.append(key)
            elements.append(particle(member, element))
    elif nested:
        return None  # choice, all, groups, any: zeep's own rules decide what is read and written
    if sorted(used) != sorted(names):
        return None
    return Content(tuple(attributes), tuple(elements), text, own_parse)


def declarations(schema: Any) -> list[tuple[str, tuple[str, ...], Any]]:
    """Every global element and named complex type of a compiled schema: its qualified name,
    its child elements' names in order, and zeep's element (None for a type): what header
    elements are matched against (`soap.headers`)."""
    found: list[tuple[str, tuple[str, ...], Any]] = []
    for element in schema.elements:
        if isinstance(element, Element):  # zeep also lists xs:schema itself
            found.append((element.qname.text, _member_names(element.type), element))
    for xsd_type in schema.types:
        if isinstance(xsd_type, ComplexType) and xsd_type.qname is not None:
            found.append((xsd_type.qname.text, _member_names(xsd_type), None))
    return found


def _member_names(xsd_type: Any) -> tuple[str, ...]:
    return tuple(name for name, child in getattr(xsd_type, "elements", [])
                 if isinstance(child, Element) and name != ZEEP_TEXT)
