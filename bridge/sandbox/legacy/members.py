"""A request's members read as the vendor's XmlSerializer reads them.

Attributes are unqualified, elements are in the service namespace and may come in any
order; unknown members are ignored. A member the WSDL marks required only because it is a
.NET value type may be absent and reads as that type's default (false, the empty GUID);
a nillable element that is absent or `xsi:nil="true"` reads as None: not given.
"""

from __future__ import annotations

import re

from lxml import etree

from .envelope import Fault, split

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
# The WSDL's xs:pattern for its guid type.
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# xs:boolean's lexical space, after whitespace is collapsed.
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def request(operation: etree._Element, *names: str) -> etree._Element:
    """The operation's one child (`Request` and the like), under the first of `names` found."""
    namespace, operation_name = split(operation.tag)
    for name in names:
        found = operation.find(f"{{{namespace}}}{name}")
        if found is not None:
            return found
    raise Fault("Client", f"{operation_name} needs a {names[0]} element.")


def given(element: etree._Element, name: str) -> str | None:
    """A string attribute of an update: absent or empty means "leave it as it is"."""
    return element.get(name) or None


def flag(element: etree._Element, name: str) -> bool:
    """A required xs:boolean attribute; absent reads as false."""
    value = element.get(name)
    return False if value is None else _boolean(name, value)


def guid(element: etree._Element, name: str) -> str:
    """A required guid attribute; absent reads as the empty GUID."""
    value = element.get(name)
    return EMPTY_GUID if value is None else _guid(name, value)


def nillable_flag(element: etree._Element, name: str) -> bool | None:
    """A nillable xs:boolean element: None when absent or nil."""
    value = _nillable(element, name)
    return None if value is None else _boolean(name, value)


def nillable_guid(element: etree._Element, name: str) -> str | None:
    """A nillable guid element: None when absent or nil."""
    value = _nillable(element, name)
    return None if value is None else _guid(name, value)


def tags(element: etree._Element) -> tuple[tuple[str, str], ...] | None:
    """`Tags/UserTag` as (Name, Value) pairs; None when there is no Tags element."""
    namespace = split(element.tag)[0]
    found = element.find(f"{{{namespace}}}Tags")
    if found is None:
        return None
    return tuple(
        (tag.get("Name") or "", tag.get("Value") or "")
        for tag in found.iterfind(f"{{{namespace}}}UserTag")
        if tag.get(f"{{{XSI_NS}}}nil") not in ("true", "1")
    )


def _nillable(element: etree._Element, name: str) -> str | None:
    namespace = split(element.tag)[0]
    found = element.find(f"{{{namespace}}}{name}")
    if found is None or (found.get(f"{{{XSI_NS}}}nil") or "").strip() in ("true", "1"):
        return None
    return found.text or ""


def _boolean(name: str, value: str) -> bool:
    try:
        return _BOOLEANS[value.strip()]
    except KeyError:
        # XmlSerializer cannot read the request at all: a Client fault, not a refusal.
        raise Fault("Client", f"{name} '{value}' is not an xs:boolean (true, false, 1 or 0).") from None


def _guid(name: str, value: str) -> str:
    if not _GUID.fullmatch(value.strip()):
        raise Fault("Client", f"{name} '{value}' is not a GUID.")
    return value.strip()
