"""SOAP header elements as the field sends them, matched to the WSDL's declarations.

ASMX's XmlSerializer, and so Nmbrs, reads a header leniently; callers rely on it
(FACTS §2.2, docs/rules.md "Header aliases and namespaces"):

- the namespace of another host with the same path (PHP connectors build the header's
  namespace from the base URL they call: the sandbox host's, or the bridge's);
- a header related by extension in place of the declared one (`AuthHeader` where
  `AuthHeaderWithDomain` is declared, and the other way round);
- PHP SoapClient's untyped key/value map, which a PHP `SoapHeader` whose namespace is not
  the WSDL's becomes (`<item><key>Username</key><value>…</value></item>`).

`Declarations` holds one schema's global elements and named types as plain data;
`soap.service` decodes the element it chooses.
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from lxml import etree


@dataclass(frozen=True)
class Declared:
    """A global element or named complex type: its name, members in order, zeep's element
    (None for a type alone)."""

    qname: str
    members: tuple[str, ...]
    element: Any = None

    @property
    def local(self) -> str:
        return etree.QName(self.qname).localname

    def extends(self, other: Declared) -> bool:
        """Whether this one is `other` extended: XSD extension appends members."""
        return (len(self.members) > len(other.members) > 0
                and self.members[:len(other.members)] == other.members)


@dataclass(frozen=True)
class Match:
    """The declared element a header is read as, and every name the decoded value is
    given (the name sent, the declared one, and the headers related to it by extension)."""

    element: Declared
    names: tuple[str, ...]


class Declarations:
    """What one schema declares, by namespace, for matching header elements."""

    def __init__(self, declared: Iterable[tuple[str, tuple[str, ...], Any]]) -> None:
        self._by_namespace: dict[str, list[Declared]] = {}
        for qname, members, element in declared:
            namespace = etree.QName(qname).namespace or ""
            self._by_namespace.setdefault(namespace, []).append(Declared(qname, members,
                                                                         element))
        # The namespaces by their URL's path, for a caller that wrote another host.
        self._by_path: dict[str, str] = {}
        for namespace in self._by_namespace:
            path = _path(namespace)
            if path:
                self._by_path.setdefault(path, namespace)
        self._matches: dict[str, Match | None] = {}

    def namespace_of(self, namespace: str) -> str | None:
        """The schema's namespace a header in `namespace` belongs to, or None."""
        if namespace in self._by_namespace:
            return namespace
        return self._by_path.get(_path(namespace)) if namespace else None

    def match(self, namespace: str, local: str) -> Match | None:
        """How a header element `local` of the schema's `namespace` is read, or None when
        nothing declares it (a header the rules cannot address: WS-Addressing and the like)."""
        key = f"{{{namespace}}}{local}"
        if key not in self._matches:
            self._matches[key] = self._match(namespace, local)
        return self._matches[key]

    def _match(self, namespace: str, local: str) -> Match | None:
        candidates = self._by_namespace.get(namespace, [])
        named = [entry for entry in candidates if entry.local == local]
        element = next((entry for entry in named if entry.element is not None), None)
        if element is None and named:
            # Declared only as a type (CompanyService's AuthHeader, the base of its
            # AuthHeaderWithDomain): read as the closest declared element extending it.
            extending = [entry for entry in candidates
                         if entry.element is not None and entry.extends(named[0])]
            element = min(extending, key=lambda entry: len(entry.members), default=None)
        if element is None:
            return None
        related = [entry.local for entry in candidates
                   if entry.extends(element) or element.extends(entry)]
        names = dict.fromkeys([local, element.local, *related])
        return Match(element, tuple(names))


def _path(namespace: str) -> str:
    parts = urlsplit(namespace)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return parts.path.rstrip("/").lower()


def declared_members(element: etree._Element, names: Iterable[str]) -> etree._Element:
    """The element without the members the schema does not declare: XmlSerializer skips an
    unknown element, and so a caller's extra member (or a map key that is none) is ignored."""
    known = set(names)
    extra = [child for child in element
             if isinstance(child.tag, str) and etree.QName(child).localname not in known]
    if not extra:
        return element
    # Made anew with the prefixes in scope on the Envelope (a deepcopy keeps only those its
    # tags use), so a QName in an attribute (suds' xsi:type="ns1:AuthHeaderWithDomain")
    # still resolves.
    attributes = {str(key): str(value) for key, value in element.attrib.items()}
    copy = etree.Element(element.tag, attributes, nsmap=cast(Any, element.nsmap))
    copy.text = element.text
    copy.extend(deepcopy(child) for child in element
                if not isinstance(child.tag, str) or etree.QName(child).localname in known)
    return copy


def unmapped(element: etree._Element) -> etree._Element:
    """PHP SoapClient's key/value map (`<item><key>K</key><value>V</value></item>…`) as the
    members it names (`<K>V</K>…`, in the element's namespace); any other element as it is."""
    items = [child for child in element if isinstance(child.tag, str)]
    if not items or any(etree.QName(item).localname != "item" for item in items):
        return element
    members: list[tuple[str, str]] = []
    for item in items:
        fields = {etree.QName(child).localname: child.text or "" for child in item
                  if isinstance(child.tag, str)}
        name = fields.get("key", "").strip()
        if not name:
            return element
        members.append((name, fields.get("value", "")))
    namespace = etree.QName(element).namespace
    copy = etree.Element(element.tag)
    for name, value in members:
        try:
            member = etree.SubElement(copy, f"{{{namespace}}}{name}" if namespace else name)
        except ValueError:
            continue  # a key that is no XML name is no member either
        member.text = value
    return copy
