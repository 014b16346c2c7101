"""Write wsdl/DocumentNOW.wsdl from the facts of the vendor's DocumentNOW v2 contract.

The facts (`documentnow-v2/types.json` in the shared contract folder) restate the
vendor's live WSDL as data: every operation with its service namespace, port type,
SOAP action and endpoint, and every type with attribute/element, occurrence,
nillable and enumeration facts, each with its evidence. This script turns them into
a WSDL a reader can follow, and says in XML comments wherever a fact is inferred.

    python wsdl/generate.py                 # rewrite wsdl/DocumentNOW.wsdl
    python wsdl/generate.py --check         # exit 1 if the checked-in file is stale
    python wsdl/generate.py --facts PATH    # another copy of types.json

Standard library and lxml only, so it runs from a fresh checkout before anything is
installed but lxml. The output is deterministic: the same facts give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lxml import etree

HERE = Path(__file__).resolve().parent
DEFAULT_FACTS = HERE.parent.parent / "shared" / "contract" / "documentnow-v2" / "types.json"
OUTPUT = HERE / "DocumentNOW.wsdl"

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"
# XmlSerializer's namespace for the Guid simple type [INFERRED: its convention].
GUID_NS = "http://microsoft.com/wsdl/types/"
# Not in any source (types.json "unknowns"): the definitions' own namespace, and the
# service, binding and port names, follow what WCF writes for basicHttpBinding endpoints.
DEFINITIONS_NS = "https://www.assuresign.net/Services/DocumentNOW"
SERVICE_NAME = "DocumentNOW"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
# The addresses are placeholders: the bridge rewrites them to its own URL when serving.
PLACEHOLDER_HOST = "https://www.assuresign.net"


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _inferred(text: str | None) -> bool:
    return bool(text) and "[INFERRED]" in str(text)


def _comment(parent: etree._Element, text: str) -> None:
    # "--" may not appear inside an XML comment.
    parent.append(etree.Comment(" " + " ".join(text.replace("--", "-").split()) + " "))


class Generator:
    """Builds the WSDL tree from the facts; one method per WSDL section."""

    def __init__(self, facts: Mapping[str, Any]) -> None:
        self.facts = facts
        self.types: Mapping[str, Any] = facts["types"]
        self.operations: list[Mapping[str, Any]] = facts["operations"]
        self.namespaces: Mapping[str, Any] = facts["namespaces"]
        # Services in the order the vendor's port order gives (types.json lists operations so).
        self.services: list[str] = []
        for operation in self.operations:
            if operation["service"] not in self.services:
                self.services.append(operation["service"])
        self.prefix = {self._namespace_of(s): s.lower() for s in self.services}

    def _namespace_of(self, service: str) -> str:
        return next(o["namespace"] for o in self.operations if o["service"] == service)

    def _service_ops(self, service: str) -> list[Mapping[str, Any]]:
        return [o for o in self.operations if o["service"] == service]

    # -- the document -------------------------------------------------------

    def build(self) -> etree._Element:
        nsmap: dict[str | None, str] = {"wsdl": WSDL, "soap": SOAP, "xs": XS, "tns": DEFINITIONS_NS}
        for namespace, prefix in self.prefix.items():
            nsmap[prefix] = namespace
        root = etree.Element(_q(WSDL, "definitions"), nsmap=nsmap)  # type: ignore[arg-type]
        root.set("name", SERVICE_NAME)
        root.set("targetNamespace", DEFINITIONS_NS)
        types = etree.SubElement(root, _q(WSDL, "types"))
        self._guid_schema(types)
        for service in self.services:
            self._schema(types, service)
        for service in self.services:
            self._messages(root, service)
        for service in self.services:
            self._port_type(root, service)
        for service in self.services:
            self._binding(root, service)
        self._service(root)
        return root

    # -- wsdl:types ---------------------------------------------------------

    def _guid_schema(self, types: etree._Element) -> None:
        guid = self.types["guid"]
        _comment(types, f"guid: {guid.get('evidence', '')}")
        schema = etree.SubElement(types, _q(XS, "schema"), nsmap={"xs": XS})
        schema.set("targetNamespace", GUID_NS)
        schema.set("elementFormDefault", "qualified")
        simple = etree.SubElement(schema, _q(XS, "simpleType"), name="guid")
        restriction = etree.SubElement(simple, _q(XS, "restriction"), base="xs:string")
        etree.SubElement(restriction, _q(XS, "pattern"), value=guid["pattern"])

    def _schema(self, types: etree._Element, service: str) -> None:
        namespace = self._namespace_of(service)
        facts = self.namespaces[namespace]
        header = [f"Service {service}: namespace {namespace}."]
        if _inferred(facts.get("namespace_evidence")):
            header.append(f"Namespace {facts['namespace_evidence']}.")
        header.append("Types used by several services are declared in each namespace that uses "
                      "them [INFERRED: vendor samples put every element in the wrapper's namespace].")
        _comment(types, " ".join(header))
        names = list(facts["types"])
        imports = self._imports(namespace, names)
        nsmap: dict[str | None, str] = {"xs": XS, "tns": namespace}
        nsmap.update({prefix: ns for ns, prefix in imports.items()})
        schema = etree.SubElement(types, _q(XS, "schema"), nsmap=nsmap)  # type: ignore[arg-type]
        schema.set("targetNamespace", namespace)
        schema.set("elementFormDefault", "qualified")
        for imported in imports:
            etree.SubElement(schema, _q(XS, "import"), namespace=imported)
        wrappers = [w for o in self._service_ops(service)
                    for w in (o["request"]["wrapper"], o["response"]["wrapper"])]
        for name in wrappers:
            self._wrapper(schema, name)
        for name in sorted(n for n in names if n not in wrappers):
            self._named_type(schema, name, namespace)

    def _imports(self, namespace: str, names: Iterable[str]) -> dict[str, str]:
        imports: dict[str, str] = {}
        for name in names:
            for field in self.types[name].get("fields", []):
                if field["type"] == "guid":
                    imports[GUID_NS] = "q1"
                ref = field.get("ref")
                if ref:
                    # [INFERRED] q4 is the Envelopes namespace (types.json, SessionLookupResult).
                    imports[self._namespace_of("Envelopes")] = ref.split(":")[0]
        return imports

    def _wrapper(self, schema: etree._Element, name: str) -> None:
        facts = self.types[name]
        element = etree.SubElement(schema, _q(XS, "element"), name=name)
        complex_type = etree.SubElement(element, _q(XS, "complexType"))
        sequence = etree.SubElement(complex_type, _q(XS, "sequence"))
        for field in facts["fields"]:
            self._element(sequence, field)

    def _named_type(self, schema: etree._Element, name: str, namespace: str) -> None:
        facts = self.types[name]
        kind = facts["kind"]
        if kind == "enum":
            self._enum(schema, name, facts)
        elif kind == "array":
            self._array(schema, name, facts)
        else:
            self._complex(schema, name, facts)
        meta = facts.get("sdk_class_meta")
        if meta and namespace == self._namespace_of("Envelopes"):
            _comment(schema, f"{name} is also a global element: {facts.get('class_meta_evidence', '')}")
            etree.SubElement(schema, _q(XS, "element"), name=name, type=meta["type"])

    def _enum(self, schema: etree._Element, name: str, facts: Mapping[str, Any]) -> None:
        simple = etree.SubElement(schema, _q(XS, "simpleType"), name=name)
        restriction = etree.SubElement(simple, _q(XS, "restriction"), base=facts.get("base", "xs:string"))
        for value in facts["values"]:
            etree.SubElement(restriction, _q(XS, "enumeration"), value=value)

    def _array(self, schema: etree._Element, name: str, facts: Mapping[str, Any]) -> None:
        if _inferred(facts.get("evidence")):
            _comment(schema, f"{name}: {facts['evidence']}")
        complex_type = etree.SubElement(schema, _q(XS, "complexType"), name=name)
        sequence = etree.SubElement(complex_type, _q(XS, "sequence"))
        self._element(sequence, facts["item"])

    def _complex(self, schema: etree._Element, name: str, facts: Mapping[str, Any]) -> None:
        notes = [facts[key] for key in ("base_evidence", "element_order_evidence", "choice_array_evidence")
                 if _inferred(facts.get(key))]
        for field in facts["fields"]:
            evidence = field.get("evidence", "")
            # The guid and number-type notes repeat on hundreds of members: said once, at the type.
            if _inferred(evidence) and field["type"] != "guid" and "SDK records only PHP" not in evidence:
                notes.append(f"{field['name']}: {evidence}")
        for note in notes:
            _comment(schema, f"{name}: {note}")
        complex_type = etree.SubElement(schema, _q(XS, "complexType"), name=name)
        holder = complex_type
        if "simple_content_base" in facts:
            content = etree.SubElement(complex_type, _q(XS, "simpleContent"))
            holder = etree.SubElement(content, _q(XS, "extension"), base=facts["simple_content_base"])
        elif "base" in facts:
            content = etree.SubElement(complex_type, _q(XS, "complexContent"))
            holder = etree.SubElement(content, _q(XS, "extension"), base="tns:" + facts["base"])
        elements = [f for f in facts["fields"] if not f["attribute"]]
        attributes = [f for f in facts["fields"] if f["attribute"]]
        if elements:
            sequence = etree.SubElement(holder, _q(XS, "sequence"))
            choice: etree._Element | None = None
            choice_members: list[str] | None = None
            for field in elements:
                group = field.get("choice")
                if group is None:
                    choice, choice_members = None, None
                    self._element(sequence, field)
                    continue
                if choice is None or group["members"] != choice_members:
                    choice = etree.SubElement(sequence, _q(XS, "choice"))
                    choice.set("minOccurs", str(group["minOccurs"]))
                    choice.set("maxOccurs", str(group["maxOccurs"]))
                    choice_members = group["members"]
                self._element(choice, field)
        for field in attributes:
            attribute = etree.SubElement(holder, _q(XS, "attribute"), name=field["name"],
                                         type=self._type_ref(field["type"]))
            if field.get("use") == "required":
                attribute.set("use", "required")

    def _element(self, parent: etree._Element, field: Mapping[str, Any]) -> None:
        element = etree.SubElement(parent, _q(XS, "element"))
        if field.get("ref"):
            element.set("ref", field["ref"])
        else:
            element.set("name", field["name"])
            element.set("type", self._type_ref(field["type"]))
        element.set("minOccurs", str(field["minOccurs"]))
        element.set("maxOccurs", str(field["maxOccurs"]))
        if field.get("nillable") and not field.get("ref"):
            element.set("nillable", "true")

    def _type_ref(self, name: str) -> str:
        if name.startswith("xs:"):
            return name
        if name == "guid":
            return "q1:guid"
        return "tns:" + name

    # -- messages, port types, bindings, the service -------------------------

    def _messages(self, root: etree._Element, service: str) -> None:
        for operation in self._service_ops(service):
            prefix = self.prefix[operation["namespace"]]
            for direction, wrapper in (("Input", operation["request"]["wrapper"]),
                                       ("Output", operation["response"]["wrapper"])):
                message = etree.SubElement(root, _q(WSDL, "message"),
                                           name=self._message_name(operation, direction))
                etree.SubElement(message, _q(WSDL, "part"), name="parameters",
                                 element=f"{prefix}:{wrapper}")

    @staticmethod
    def _message_name(operation: Mapping[str, Any], direction: str) -> str:
        return f"{operation['port_type']}_{operation['name']}_{direction}Message"

    def _port_type(self, root: etree._Element, service: str) -> None:
        operations = self._service_ops(service)
        if _inferred(operations[0].get("port_type_evidence")):
            _comment(root, f"{operations[0]['port_type']}: {operations[0]['port_type_evidence']}")
        port_type = etree.SubElement(root, _q(WSDL, "portType"), name=operations[0]["port_type"])
        for operation in operations:
            element = etree.SubElement(port_type, _q(WSDL, "operation"), name=operation["name"])
            etree.SubElement(element, _q(WSDL, "input"),
                             message="tns:" + self._message_name(operation, "Input"))
            etree.SubElement(element, _q(WSDL, "output"),
                             message="tns:" + self._message_name(operation, "Output"))

    def _binding(self, root: etree._Element, service: str) -> None:
        operations = self._service_ops(service)
        port_type = operations[0]["port_type"]
        binding = etree.SubElement(root, _q(WSDL, "binding"), name=f"BasicHttpBinding_{port_type}",
                                   type=f"tns:{port_type}")
        etree.SubElement(binding, _q(SOAP, "binding"), transport=HTTP_TRANSPORT)
        for operation in operations:
            for key in ("soap_action_evidence", "conflict"):
                if (key == "conflict" and operation.get(key)) or _inferred(operation.get(key)):
                    _comment(binding, f"{operation['name']}: {operation[key]}")
            element = etree.SubElement(binding, _q(WSDL, "operation"), name=operation["name"])
            etree.SubElement(element, _q(SOAP, "operation"), soapAction=operation["soap_action"],
                             style="document")
            for direction in ("input", "output"):
                holder = etree.SubElement(element, _q(WSDL, direction))
                etree.SubElement(holder, _q(SOAP, "body"), use="literal")

    def _service(self, root: etree._Element) -> None:
        _comment(root, "One service, one SOAP 1.1 port per vendor service, as WCF writes basicHttpBinding "
                       "endpoints [INFERRED: the vendor's service, port and binding names are unknown]. "
                       "The addresses are placeholders: the bridge points them at itself when serving.")
        service = etree.SubElement(root, _q(WSDL, "service"), name=SERVICE_NAME)
        for name in self.services:
            operation = self._service_ops(name)[0]
            if _inferred(operation.get("endpoint_evidence")):
                _comment(service, f"{name} endpoint: {operation['endpoint_evidence']}")
            port_type = operation["port_type"]
            port = etree.SubElement(service, _q(WSDL, "port"), name=f"BasicHttpBinding_{port_type}",
                                    binding=f"tns:BasicHttpBinding_{port_type}")
            etree.SubElement(port, _q(SOAP, "address"), location=PLACEHOLDER_HOST + operation["endpoint"])


HEADER = """
  AssureSign (Nintex eSign) DocumentNOW v2: the vendor's whole SOAP contract,
  {operations} operations in {services} services, generated by wsdl/generate.py from the shared contract
  facts (documentnow-v2/types.json). Do not edit by hand: change the facts or the
  generator and run `python wsdl/generate.py`.

  Comments mark every fact the facts file tags [INFERRED]; everything else comes from a
  client generated from the vendor's live WSDL, cross-checked against vendor samples.
  Members the schema marks required because .NET value types are (use="required",
  minOccurs="1") may be absent: the vendor's service tolerates it, and so does the bridge.
"""


def render(facts: Mapping[str, Any]) -> bytes:
    generator = Generator(facts)
    root = generator.build()
    etree.indent(root, space="  ")
    body = etree.tostring(root, encoding="unicode")
    header = HEADER.format(operations=len(generator.operations), services=len(generator.services))
    return ('<?xml version="1.0" encoding="utf-8"?>\n<!--' + header + "-->\n" + body + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=Path, default=DEFAULT_FACTS)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the output file is stale")
    args = parser.parse_args(argv)
    try:
        facts = json.loads(args.facts.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"generate: cannot read {args.facts}: {exc}", file=sys.stderr)
        return 2
    data = render(facts)
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != data:
            print(f"generate: {args.output} is stale; run python wsdl/generate.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
