"""A service's WSDL as ASP.NET ASMX writes it, rendered from `contract`, addressed to any host.

ASMX's layout (the v2.1 WSDLs in FACTS §2 show it): one schema of request/response
elements and the named types they use, in order of first use, each header element next to
its type; `{Op}SoapIn`, `{Op}SoapOut` and `{Op}{Header}` messages; one port type
`{Service}Soap`; a SOAP 1.1 binding `{Service}Soap` and a SOAP 1.2 binding `{Service}Soap12`
with the same actions; two ports at the same address. wsdl/nmbrs/*.wsdl are this module's
output for https://api.nmbrs.nl (wsdl/nmbrs/generate.py writes them).
"""

from __future__ import annotations

import functools

from lxml import etree

from .contract import (
    GUID_NS,
    GUID_PATTERN,
    PRODUCTION_BASE,
    SIMPLE,
    ComplexType,
    Enumeration,
    Member,
    Service,
)

WSDL = "http://schemas.xmlsoap.org/wsdl/"
XS = "http://www.w3.org/2001/XMLSchema"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
HEADER = """
  Nmbrs SOAP API v3, {service}: the operations soap-bridge carries first, not the whole
  service. Written by bridge/sandbox/nmbrs/wsdl.py from bridge/sandbox/nmbrs/contract.py,
  the facts of shared/contract/nmbrs/FACTS.md section 2. Do not edit by hand: change the
  contract and run `python wsdl/nmbrs/generate.py`.

  No v3 WSDL was seen: the layout is the one ASMX wrote in the v2.1 WSDLs (two bindings,
  SOAP 1.1 and 1.2, at one address; the auth header declared per operation). Comments
  mark what is inferred.
"""


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _comment(parent: etree._Element, text: str) -> None:
    parent.append(etree.Comment(" " + " ".join(text.replace("--", "-").split()) + " "))


def _type_ref(type_name: str) -> str:
    if type_name == "guid":
        return "s1:guid"
    return f"s:{type_name}" if type_name in SIMPLE else f"tns:{type_name}"


@functools.cache
def render(service: Service, base_url: str = PRODUCTION_BASE) -> bytes:
    """The WSDL document with both ports at `base_url` + the service's path."""
    return _Writer(service).document(base_url.rstrip("/") + service.path)


class _Writer:
    """Builds one WSDL; one method per section."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.written: set[str] = set()

    def document(self, address: str) -> bytes:
        service = self.service
        nsmap = {
            "s": XS,
            "soap12": SOAP12,
            "http": "http://schemas.xmlsoap.org/wsdl/http/",
            "mime": "http://schemas.xmlsoap.org/wsdl/mime/",
            "tns": service.namespace,
            **({"s1": GUID_NS} if service.uses_guid else {}),
            "soap": SOAP,
            "tm": "http://microsoft.com/wsdl/mime/textMatching/",
            "soapenc": "http://schemas.xmlsoap.org/soap/encoding/",
            "wsdl": WSDL,
        }
        root = etree.Element(_q(WSDL, "definitions"), nsmap=nsmap)
        root.set("targetNamespace", service.namespace)
        self.types(etree.SubElement(root, _q(WSDL, "types")))
        self.messages(root)
        self.port_type(root)
        self.binding(root, SOAP, "Soap")
        self.binding(root, SOAP12, "Soap12")
        self.ports(root, address)
        etree.indent(root, space="  ")
        header = HEADER.format(service=service.name)
        body = etree.tostring(root, encoding="unicode")
        return ('<?xml version="1.0" encoding="utf-8"?>\n<!--' + header + "-->\n" + body + "\n").encode()

    # -- types ------------------------------------------------------------------

    def types(self, types: etree._Element) -> None:
        service = self.service
        schema = etree.SubElement(types, _q(XS, "schema"))
        schema.set("elementFormDefault", "qualified")
        schema.set("targetNamespace", service.namespace)
        if service.uses_guid:
            etree.SubElement(schema, _q(XS, "import")).set("namespace", GUID_NS)
        for operation in service.operations:
            if operation.note:
                _comment(schema, f"{operation.name}: {operation.note}")
            self.wrapper(schema, operation.name, operation.request)
            self.wrapper(schema, f"{operation.name}Response", (operation.result,))
            for member in (*operation.request, operation.result):
                self.named_type(schema, member.type)
            if operation.header and operation.header not in self.written:
                header = etree.SubElement(schema, _q(XS, "element"))
                header.set("name", operation.header)
                header.set("type", f"tns:{operation.header}")
                self.named_type(schema, operation.header)
        if service.uses_guid:
            guid_schema = etree.SubElement(types, _q(XS, "schema"))
            guid_schema.set("elementFormDefault", "qualified")
            guid_schema.set("targetNamespace", GUID_NS)
            simple = etree.SubElement(guid_schema, _q(XS, "simpleType"))
            simple.set("name", "guid")
            restriction = etree.SubElement(simple, _q(XS, "restriction"))
            restriction.set("base", "s:string")
            etree.SubElement(restriction, _q(XS, "pattern")).set("value", GUID_PATTERN)

    def wrapper(self, schema: etree._Element, name: str, members: tuple[Member, ...]) -> None:
        element = etree.SubElement(schema, _q(XS, "element"))
        element.set("name", name)
        complex_type = etree.SubElement(element, _q(XS, "complexType"))
        if members:
            self.sequence(complex_type, members)

    def sequence(self, parent: etree._Element, members: tuple[Member, ...]) -> None:
        sequence = etree.SubElement(parent, _q(XS, "sequence"))
        for member in members:
            element = etree.SubElement(sequence, _q(XS, "element"))
            element.set("minOccurs", str(member.min_occurs))
            element.set("maxOccurs", "unbounded" if member.repeated else "1")
            element.set("name", member.name)
            if member.nillable:
                element.set("nillable", "true")
            element.set("type", _type_ref(member.type))

    def named_type(self, schema: etree._Element, name: str) -> None:
        """Write a type and, depth first, the types it uses, each once."""
        if name in SIMPLE or name in self.written:
            return
        self.written.add(name)
        definition = self.service.type(name)
        if definition.note:
            _comment(schema, f"{name}: {definition.note}")
        if isinstance(definition, Enumeration):
            simple = etree.SubElement(schema, _q(XS, "simpleType"))
            simple.set("name", name)
            restriction = etree.SubElement(simple, _q(XS, "restriction"))
            restriction.set("base", "s:string")
            for value in definition.values:
                etree.SubElement(restriction, _q(XS, "enumeration")).set("value", value)
            return
        self.complex_type(schema, definition)
        for name in (definition.base or "", *(m.type for m in definition.members)):
            if name:
                self.named_type(schema, name)

    def complex_type(self, schema: etree._Element, definition: ComplexType) -> None:
        complex_type = etree.SubElement(schema, _q(XS, "complexType"))
        complex_type.set("name", definition.name)
        if definition.base is None:
            self.sequence(complex_type, definition.members)
        else:
            content = etree.SubElement(complex_type, _q(XS, "complexContent"))
            content.set("mixed", "false")
            extension = etree.SubElement(content, _q(XS, "extension"))
            extension.set("base", f"tns:{definition.base}")
            self.sequence(extension, definition.members)
        if definition.any_attribute:
            etree.SubElement(complex_type, _q(XS, "anyAttribute"))

    # -- messages, port type, bindings, service ------------------------------------

    def messages(self, root: etree._Element) -> None:
        for operation in self.service.operations:
            parts = [
                ("SoapIn", "parameters", operation.name),
                ("SoapOut", "parameters", f"{operation.name}Response"),
            ]
            if operation.header:
                parts.append((operation.header, operation.header, operation.header))
            for suffix, part_name, element in parts:
                message = etree.SubElement(root, _q(WSDL, "message"))
                message.set("name", f"{operation.name}{suffix}")
                part = etree.SubElement(message, _q(WSDL, "part"))
                part.set("name", part_name)
                part.set("element", f"tns:{element}")

    def port_type(self, root: etree._Element) -> None:
        port_type = etree.SubElement(root, _q(WSDL, "portType"))
        port_type.set("name", f"{self.service.name}Soap")
        for operation in self.service.operations:
            element = etree.SubElement(port_type, _q(WSDL, "operation"))
            element.set("name", operation.name)
            documentation = etree.SubElement(element, _q(WSDL, "documentation"))
            documentation.text = operation.documentation
            etree.SubElement(element, _q(WSDL, "input")).set("message", f"tns:{operation.name}SoapIn")
            etree.SubElement(element, _q(WSDL, "output")).set("message", f"tns:{operation.name}SoapOut")

    def binding(self, root: etree._Element, soap: str, suffix: str) -> None:
        service = self.service
        binding = etree.SubElement(root, _q(WSDL, "binding"))
        binding.set("name", f"{service.name}{suffix}")
        binding.set("type", f"tns:{service.name}Soap")
        etree.SubElement(binding, _q(soap, "binding")).set("transport", HTTP_TRANSPORT)
        for operation in service.operations:
            element = etree.SubElement(binding, _q(WSDL, "operation"))
            element.set("name", operation.name)
            soap_operation = etree.SubElement(element, _q(soap, "operation"))
            soap_operation.set("soapAction", service.action(operation.name))
            soap_operation.set("style", "document")
            wsdl_input = etree.SubElement(element, _q(WSDL, "input"))
            etree.SubElement(wsdl_input, _q(soap, "body")).set("use", "literal")
            if operation.header:
                header = etree.SubElement(wsdl_input, _q(soap, "header"))
                header.set("message", f"tns:{operation.name}{operation.header}")
                header.set("part", operation.header)
                header.set("use", "literal")
            wsdl_output = etree.SubElement(element, _q(WSDL, "output"))
            etree.SubElement(wsdl_output, _q(soap, "body")).set("use", "literal")

    def ports(self, root: etree._Element, address: str) -> None:
        name = self.service.name
        service = etree.SubElement(root, _q(WSDL, "service"))
        service.set("name", name)
        for suffix, soap in (("Soap", SOAP), ("Soap12", SOAP12)):
            port = etree.SubElement(service, _q(WSDL, "port"))
            port.set("name", f"{name}{suffix}")
            port.set("binding", f"tns:{name}{suffix}")
            etree.SubElement(port, _q(soap, "address")).set("location", address)
