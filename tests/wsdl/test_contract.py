"""The served WSDL against the vendor's contract facts (shared/contract/documentnow-v2/types.json).

Read independently of wsdl/generate.py: the WSDL is fetched from a running bridge and
walked with lxml, every fact of the facts file looked up in it. A fact the WSDL lost or
changed fails here, whoever changed it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree

from tests.contract import DOCUMENTNOW_FACTS as FACTS
from tests.servers import REPO, WSDL_PATH, Server

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"
GUID_NS = "http://microsoft.com/wsdl/types/"
ENVELOPES_NS = "https://www.assuresign.net/Services/DocumentNOW/Envelopes"


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    assert FACTS.exists(), f"the contract facts are read from {FACTS}: check out shared/ beside the project"
    loaded: dict[str, Any] = json.loads(FACTS.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def served(bridge: Server) -> etree._Element:
    answer = requests.get(bridge.url + WSDL_PATH + "?wsdl", timeout=10)
    assert answer.status_code == 200
    return etree.fromstring(answer.content)


def _qname(context: etree._Element, value: str) -> str:
    """A QName-valued attribute in Clark notation, resolved where it is written."""
    prefix, _, local = value.rpartition(":")
    namespace = context.nsmap.get(prefix or None)
    assert namespace is not None, f"prefix {prefix!r} of {value!r} is not declared"
    return f"{{{namespace}}}{local}"


def _type_qname(name: str, namespace: str) -> str:
    if name.startswith("xs:"):
        return f"{{{XS}}}{name[3:]}"
    if name == "guid":
        return f"{{{GUID_NS}}}guid"
    return f"{{{namespace}}}{name}"


@dataclass
class Schemas:
    """The schemas of the served WSDL by target namespace."""

    by_namespace: dict[str, etree._Element]

    def schema(self, namespace: str) -> etree._Element:
        assert namespace in self.by_namespace, f"no schema for {namespace}"
        return self.by_namespace[namespace]

    def top(self, namespace: str, kind: str, name: str) -> etree._Element:
        found = self.schema(namespace).findall(f"{{{XS}}}{kind}[@name='{name}']")
        assert len(found) == 1, f"{{{namespace}}}{name}: {len(found)} xs:{kind} declarations"
        return found[0]


@pytest.fixture(scope="module")
def schemas(served: etree._Element) -> Schemas:
    found = {schema.get("targetNamespace", ""): schema
             for schema in served.iterfind(f"{{{WSDL}}}types/{{{XS}}}schema")}
    return Schemas(found)


def _elements(holder: etree._Element) -> Iterator[tuple[etree._Element, etree._Element | None]]:
    """Every xs:element under a content model, with the xs:choice holding it (if any)."""
    for child in holder:
        if child.tag == f"{{{XS}}}element":
            yield child, None
        elif child.tag == f"{{{XS}}}choice":
            for element in child.iterfind(f"{{{XS}}}element"):
                yield element, child
        elif child.tag == f"{{{XS}}}sequence":
            yield from _elements(child)


def _check_element(element: etree._Element, field: Mapping[str, Any], namespace: str,
                   where: str) -> None:
    if field.get("ref"):
        # types.json: the ref's prefix stands for the Envelopes namespace [INFERRED there].
        local = field["ref"].split(":")[-1]
        assert _qname(element, element.get("ref", "")) == f"{{{ENVELOPES_NS}}}{local}", where
        assert element.get("minOccurs", "1") == str(field["minOccurs"]), f"{where}: minOccurs"
        return
    assert element.get("name") == field["name"], where
    assert _qname(element, element.get("type", "")) == _type_qname(field["type"], namespace), where
    assert element.get("minOccurs", "1") == str(field["minOccurs"]), f"{where}: minOccurs"
    assert element.get("maxOccurs", "1") == str(field["maxOccurs"]), f"{where}: maxOccurs"
    assert (element.get("nillable", "false") == "true") == bool(field["nillable"]), f"{where}: nillable"


def _check_fields(holder: etree._Element, fields: list[Mapping[str, Any]], namespace: str,
                  where: str) -> None:
    elements = list(_elements(holder))
    wanted = [f for f in fields if not f["attribute"]]
    assert [e.get("name") or e.get("ref", "").split(":")[-1] for e, _ in elements] == \
        [f["name"] for f in wanted], f"{where}: elements and their order"
    for (element, choice), field in zip(elements, wanted, strict=True):
        _check_element(element, field, namespace, f"{where}/{field['name']}")
        group = field.get("choice")
        assert (choice is not None) == (group is not None), f"{where}/{field['name']}: choice"
        if choice is not None and group is not None:
            assert choice.get("minOccurs", "1") == str(group["minOccurs"]), where
            assert choice.get("maxOccurs", "1") == str(group["maxOccurs"]), where
            members = [e.get("name") for e in choice.iterfind(f"{{{XS}}}element")]
            assert members == group["members"], f"{where}: choice members"
    attributes = {a.get("name"): a for a in holder.iterfind(f"{{{XS}}}attribute")}
    wanted_attributes = {f["name"]: f for f in fields if f["attribute"]}
    assert set(attributes) == set(wanted_attributes), f"{where}: attributes"
    for name, field in wanted_attributes.items():
        attribute = attributes[name]
        assert _qname(attribute, attribute.get("type", "")) == _type_qname(field["type"], namespace), \
            f"{where}/@{name}: type"
        assert (attribute.get("use", "optional") == "required") == (field.get("use") == "required"), \
            f"{where}/@{name}: use"


def _check_type(schemas: Schemas, namespace: str, name: str, facts: Mapping[str, Any]) -> None:
    where = f"{{{namespace}}}{name}"
    kind = facts["kind"]
    if facts.get("wrapper_element"):
        element = schemas.top(namespace, "element", name)
        sequence = element.find(f"{{{XS}}}complexType/{{{XS}}}sequence")
        assert sequence is not None, where
        _check_fields(sequence, facts["fields"], namespace, where)
    elif kind == "enum":
        simple = schemas.top(namespace, "simpleType", name)
        values = [e.get("value") for e in simple.iterfind(f"{{{XS}}}restriction/{{{XS}}}enumeration")]
        assert values == facts["values"], f"{where}: enumeration"
    elif kind == "array":
        complex_type = schemas.top(namespace, "complexType", name)
        _check_fields(complex_type, facts["fields"], namespace, where)
    else:
        complex_type = schemas.top(namespace, "complexType", name)
        holder = complex_type
        if "simple_content_base" in facts:
            holder = complex_type.find(f"{{{XS}}}simpleContent/{{{XS}}}extension")
            assert holder is not None, f"{where}: simple content"
            assert _qname(holder, holder.get("base", "")) == _type_qname(facts["simple_content_base"],
                                                                         namespace), where
        elif "base" in facts:
            holder = complex_type.find(f"{{{XS}}}complexContent/{{{XS}}}extension")
            assert holder is not None, f"{where}: extension of {facts['base']}"
            assert _qname(holder, holder.get("base", "")) == _type_qname(facts["base"], namespace), where
        _check_fields(holder, facts["fields"], namespace, where)


def test_every_type_of_every_namespace(facts: dict[str, Any], schemas: Schemas) -> None:
    checked = 0
    for namespace, entry in facts["namespaces"].items():
        if namespace == GUID_NS:
            guid = schemas.top(GUID_NS, "simpleType", "guid")
            pattern = guid.find(f"{{{XS}}}restriction/{{{XS}}}pattern")
            assert pattern is not None and pattern.get("value") == facts["types"]["guid"]["pattern"]
            continue
        for name in entry["types"]:
            _check_type(schemas, namespace, name, facts["types"][name])
            checked += 1
    assert checked >= 400  # 465 declarations across the 24 service namespaces


def test_every_operation_action_and_endpoint(facts: dict[str, Any], served: etree._Element,
                                             bridge: Server) -> None:
    port_types = {p.get("name"): p for p in served.iterfind(f"{{{WSDL}}}portType")}
    bindings = {b.get("name"): b for b in served.iterfind(f"{{{WSDL}}}binding")}
    messages = {m.get("name"): m for m in served.iterfind(f"{{{WSDL}}}message")}
    ports = list(served.iterfind(f"{{{WSDL}}}service/{{{WSDL}}}port"))
    host = urlsplit(bridge.url).netloc
    served_ops = {op.get("name") for p in port_types.values() for op in p.iterfind(f"{{{WSDL}}}operation")}
    assert served_ops == {op["name"] for op in facts["operations"]}
    for operation in facts["operations"]:
        name, namespace = operation["name"], operation["namespace"]
        port_type = port_types[operation["port_type"]]
        declared = port_type.find(f"{{{WSDL}}}operation[@name='{name}']")
        assert declared is not None, f"{name} is not in {operation['port_type']}"
        for direction, side in (("input", "request"), ("output", "response")):
            message_ref = declared.find(f"{{{WSDL}}}{direction}")
            assert message_ref is not None
            message = messages[_qname(message_ref, message_ref.get("message", "")).split("}")[1]]
            (part,) = message.iterfind(f"{{{WSDL}}}part")
            assert _qname(part, part.get("element", "")) == f"{{{namespace}}}{operation[side]['wrapper']}"
        (binding,) = [b for b in bindings.values()
                      if _qname(b, b.get("type", "")).endswith("}" + operation["port_type"])]
        soap_operation = binding.find(f"{{{WSDL}}}operation[@name='{name}']/{{{SOAP}}}operation")
        assert soap_operation is not None
        assert soap_operation.get("soapAction") == operation["soap_action"], name
        assert binding.find(f"{{{SOAP}}}binding") is not None, f"{name}: SOAP 1.1 binding"
        bound = [p for p in ports if _qname(p, p.get("binding", "")).split("}")[1] == binding.get("name")]
        assert len(bound) == 1, f"{name}: one port for its binding"
        address = bound[0].find(f"{{{SOAP}}}address")
        assert address is not None
        location = urlsplit(address.get("location", ""))
        # Every address points back at the bridge the WSDL was fetched from.
        assert (location.netloc, location.path) == (host, operation["endpoint"]), name


def test_single_wsdl_is_the_same_document(bridge: Server, served: etree._Element) -> None:
    single = requests.get(bridge.url + WSDL_PATH + "?singleWsdl", timeout=10)
    assert single.status_code == 200
    assert etree.tostring(etree.fromstring(single.content), method="c14n") == \
        etree.tostring(served, method="c14n")


def test_inferred_facts_are_said_in_the_wsdl(facts: dict[str, Any]) -> None:
    text = (REPO / "wsdl" / "DocumentNOW.wsdl").read_text(encoding="utf-8")
    for operation in facts["operations"]:
        if "[INFERRED]" in operation["namespace_evidence"]:
            # The comment on the namespace of each service we could only infer.
            said = f"Service {operation['service']}: namespace {operation['namespace']}. Namespace [INFERRED]"
            assert said in text, operation["service"]


def test_the_checked_in_wsdl_is_what_the_facts_give() -> None:
    done = subprocess.run([sys.executable, str(REPO / "wsdl" / "generate.py"), "--check",
                           "--facts", str(FACTS)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
