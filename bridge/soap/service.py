"""The WSDL as the one source of truth: find operations, turn XML into plain data and back.

zeep reads the WSDL once at start-up, and `xsd` turns what it compiled into plain
shapes and content models (`shapes`). Requests are read and answers written by plans
compiled from those (`reader`, `writer`), with zeep itself as the path for anything
those were not proved to handle exactly as zeep does. The rest of the
bridge only ever sees dicts shaped like the XML (attributes and child elements by
local name, repeated elements as lists, simple content under ``_value``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.helpers import serialize_object
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsdl import Document

from bridge.errors import ConfigError, Problem, SoapClientError
from bridge.soap import xsd
from bridge.soap.envelope import Envelope, write_envelope
from bridge.soap.headers import Declarations, declared_members, unmapped
from bridge.soap.reader import RequestReader, compile_request
from bridge.soap.shapes import TEXT, Field, Operation, coerce_simple
from bridge.soap.writer import AnswerWriter, compile_answer

_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@dataclass(frozen=True)
class Port:
    """An endpoint path and the operations served there."""

    service: str
    name: str
    path: str
    by_action: Mapping[str, Operation]
    by_element: Mapping[str, Operation]
    # Operations whose input element's local name is unique at this port: a client built
    # from a WSDL whose namespace we could only infer still finds its operation.
    by_local_name: Mapping[str, Operation] = field(default_factory=dict)


class SoapService:
    """Everything the bridge needs to know about its WSDLs, compiled once.

    Operations are known by their key (`Operation.name`): the WSDL's name while the WSDLs
    hold one `wsdl:service`, else `Service.Operation`, so that names several services share
    (Nmbrs' `List_GetAll`) stay apart. `resolve` turns what a rule or the routing wrote into
    the key."""

    def __init__(self, wsdl_paths: str | Sequence[str]) -> None:
        paths = [wsdl_paths] if isinstance(wsdl_paths, str) else list(wsdl_paths)
        documents = [_load(path) for path in paths]
        self.wsdl_path = paths[0]
        # The first WSDL's schema (the tests' zeep path reads with it).
        self._types = documents[0][1].types
        self.qualified = len(_service_names(documents)) > 1
        self.ports: dict[str, Port] = {}
        self.operations: dict[str, Operation] = {}
        # Each operation's schema and what it declares: the WSDLs are compiled apart.
        self._schemas: dict[str, tuple[Any, Declarations]] = {}
        self._header_shapes: dict[str, Field] = {}
        for path, document in documents:
            source = _Source(path, document.types, Declarations(xsd.declarations(document.types)))
            for service_name, service in document.services.items():
                for port_name, port in service.ports.items():
                    address = urlsplit(port.binding_options.get("address", "")).path
                    existing = self.ports.get(address)
                    if existing is not None and existing.service != service_name:
                        raise ConfigError([Problem(path, None, (
                            f"services {existing.service} and {service_name} are both at "
                            f"{address}: each endpoint path serves one service"))])
                    self._add_port(source, service_name, port_name, address, port.binding)
        # Compiled once here, so reading requests and answering never pay for zeep's schema walk.
        self._readers: dict[str, RequestReader] = {}
        self._writers: dict[str, AnswerWriter] = {}
        for name, operation in self.operations.items():
            reader = compile_request(operation.request)
            if reader is not None:
                self._readers[name] = reader
            writer = compile_answer(operation.answer)
            if writer is not None:
                self._writers[name] = writer

    def _add_port(self, source: _Source, service: str, port_name: str, path: str,
                  binding: Any) -> None:
        # ASMX-style WSDLs bind the same operations twice (SOAP 1.1 and 1.2) at one
        # address: both bindings share the operation and the endpoint.
        existing = self.ports.get(path)
        by_action: dict[str, Operation] = dict(existing.by_action) if existing else {}
        by_element: dict[str, Operation] = dict(existing.by_element) if existing else {}
        for name, op in binding._operations.items():
            operation = self._operation(source, service, port_name, path,
                                        self.key(service, name), op)
            if operation.action:
                by_action[operation.action] = operation
            by_element[operation.input_qname] = operation
        local_names: dict[str, list[Operation]] = {}
        for operation in by_element.values():
            local_names.setdefault(etree.QName(operation.input_qname).localname, []).append(operation)
        by_local_name = {name: ops[0] for name, ops in local_names.items() if len(ops) == 1}
        self.ports[path] = Port(service, port_name, path, by_action, by_element, by_local_name)

    def _operation(self, source: _Source, service: str, port: str, path: str, name: str,
                   op: Any) -> Operation:
        input_element, output_element = op.input.body, op.output.body
        known = self.operations.get(name)
        if known is not None:
            if (known.input_qname, known.output_qname) != (input_element.qname.text,
                                                           output_element.qname.text):
                raise ConfigError([Problem(source.path, None,
                                           f"operation {name} is defined twice, differently")])
            return known
        input_shape, output_shape = xsd.shape(input_element), xsd.shape(output_element)
        operation = Operation(
            name=name,
            service=service,
            port=port,
            action=op.soapaction or "",
            endpoint_path=path,
            input_qname=input_element.qname.text,
            output_qname=output_element.qname.text,
            input=input_shape,
            output=output_shape,
            request=xsd.root(input_shape, input_element),
            answer=xsd.root(output_shape, output_element),
            _input_element=input_element,
            _output_element=output_element,
        )
        self.operations[name] = operation
        self._schemas[name] = (source.schema, source.declared)
        return operation

    def key(self, service: str, name: str) -> str:
        """The key of the WSDL operation `name` of `service` (a `wsdl:service` name)."""
        return f"{service}.{name}" if self.qualified else name

    def resolve(self, written: str) -> tuple[str | None, str]:
        """The key of the operation a rule or the routing names, bare or `Service.Operation`,
        and, when there is none, why (for a `file:line` problem)."""
        if written in self.operations:
            return written, ""
        service, dot, name = written.rpartition(".")
        if dot and not self.qualified:
            # One service: its qualified spelling is the bare name.
            known = self.operations.get(name)
            if known is not None and known.service == service:
                return name, ""
        if not dot:
            owners = sorted(op.service for op in self.operations.values()
                            if op.name.rpartition(".")[2] == written)
            if len(owners) == 1:
                return self.key(owners[0], written), ""
            if owners:
                spelled = " or ".join(f"{owner}.{written}" for owner in owners)
                return None, (f"operation {written!r} is in several services "
                              f"({', '.join(owners)}): write {spelled}")
        return None, (f"operation {written!r} is not in the WSDL (known: "
                      f"{', '.join(sorted(self.operations))})")

    def find(self, path: str, envelope: Envelope) -> Operation:
        """The operation a request is for: by SOAP action, else by the body element.

        The body element may be in another namespace than ours when its local name says
        which operation it is: several of the vendor's namespaces are inferred, and a
        client generated from the real ones must still be served (`foreign_namespace`).
        """
        port = self.ports.get(path)
        if port is None:
            raise SoapClientError(f"no SOAP service at {path}", http_status=404)
        payload = envelope.payload
        if payload is None or not isinstance(payload.tag, str):
            raise SoapClientError("the Body is empty")
        local = etree.QName(payload).localname
        by_action = port.by_action.get(envelope.action) if envelope.action else None
        if by_action is not None:
            if etree.QName(by_action.input_qname).localname != local:
                raise SoapClientError(
                    f"the Body does not hold {by_action.name}, which the SOAP action names"
                )
            return by_action
        operation = port.by_element.get(str(payload.tag)) or port.by_local_name.get(local)
        if operation is None:
            if envelope.action:
                raise SoapClientError(
                    f"unknown SOAP action {envelope.action!r} at {path}"
                )
            raise SoapClientError(f"unknown operation {local!r} at {path}")
        return operation

    @staticmethod
    def foreign_namespace(operation: Operation, envelope: Envelope) -> str | None:
        """The caller's namespace for the operation when it is not the WSDL's, else None."""
        payload = envelope.payload
        if payload is None or payload.tag == operation.input_qname:
            return None
        return etree.QName(payload).namespace or ""

    def decode(self, operation: Operation, envelope: Envelope) -> dict[str, Any]:
        """The request as plain data: {"body": {...}, "header": {name: {...}}}.

        The compiled reader reads what it was proved to read exactly as the zeep path does;
        anything else (other types, odd spellings, unknown or missing fields) goes the zeep
        path, errors included.
        """
        payload = envelope.payload
        assert payload is not None  # find() made sure
        reader = self._readers.get(operation.name)
        body = reader.read(payload) if reader is not None else None
        if body is None:
            # What the field sends besides the WSDL's exact form (another namespace, a child
            # named after its type, members out of order) is put into that form first.
            payload = _canonical(payload, operation.input, etree.QName(operation.input_qname).namespace)
            body = reader.read(payload) if reader is not None else None
        if body is None:
            try:
                value = operation._input_element.parse(payload, self._schemas[operation.name][0])
            except (ZeepError, ValueError, TypeError) as exc:
                raise SoapClientError(
                    f"{operation.name} request does not match the WSDL: {exc}. "
                    f"Expected {expected(operation)}"
                ) from exc
            body = _plain(serialize_object(value, dict)) or {}
        # A header is read under its own name first: the name sent beats a related header
        # standing in for it (both AuthHeader and AuthHeaderWithDomain sent: each is itself,
        # as ASMX reads the declared one). The same header twice is refused: which of the two
        # the legacy service reads is not known, and a call passed through in legacy mode
        # teaches the bridge the credentials it read (verify.learn), so reading the other
        # would let one user's token be learned for another's name.
        own: dict[str, Any] = {}
        related: dict[str, Any] = {}
        if envelope.header is not None:
            for child in envelope.header:
                sent = etree.QName(child).localname if isinstance(child.tag, str) else ""
                for name, value in self._decode_header(child, operation).items():
                    if name == sent and name in own:
                        raise SoapClientError(f"SOAP header {sent} is sent twice")
                    (own if name == sent else related).setdefault(name, value)
        return {"body": body, "header": {**related, **own}}

    def _decode_header(self, element: etree._Element, operation: Operation) -> dict[str, Any]:
        """A header element read as the WSDL declares it (`soap.headers`), under its name and
        the names of the headers related to it; {} for one the WSDL does not declare
        (WS-Addressing and the like): not ours to interpret, and rules cannot address it."""
        if not isinstance(element.tag, str):
            return {}
        schema, declared = self._schemas[operation.name]
        theirs = etree.QName(element).namespace or ""
        namespace = declared.namespace_of(theirs)
        match = declared.match(namespace, etree.QName(element).localname) if namespace else None
        if namespace is None or match is None:
            return {}
        target = match.element.element
        shape = self._header_shapes.get(match.element.qname)
        if shape is None:
            shape = self._header_shapes.setdefault(match.element.qname, xsd.shape(target))
        sent = declared_members(unmapped(element), match.element.members)
        canonical = _canonical(sent, shape, namespace, theirs)
        try:
            value = target.parse(canonical, schema)
        except (ZeepError, ValueError, TypeError) as exc:
            raise SoapClientError(f"SOAP header {match.element.local} does not match the WSDL: "
                                  f"{exc}") from exc
        plain = _plain(serialize_object(value, dict))
        return dict.fromkeys(match.names, plain)

    def encode(self, operation: Operation, result: Mapping[str, Any]) -> etree._Element:
        """Render the operation's response element from plain data."""
        element = operation._output_element
        holder = etree.Element("holder")
        try:
            value = element(**_to_zeep(result, operation.output))
            element.render(holder, value)
        except (ZeepError, ValueError, TypeError) as exc:
            # Rules are checked against the WSDL at start-up, so this is our bug.
            raise RuntimeError(f"cannot render {operation.name} response: {exc}") from exc
        return _default_namespace(holder[0])

    def answer(self, operation: Operation, result: Mapping[str, Any], version: str,
               namespace: str | None = None) -> bytes:
        """The whole answer envelope for the caller's SOAP version, as bytes.

        The compiled writer writes what it was proved to write exactly as the zeep path
        does; anything else (other types, odd values, missing or unknown fields) goes the
        zeep path, errors included. `namespace`: answer in the caller's namespace instead of
        the WSDL's (see `foreign_namespace`): a client expects its answer where it asked.
        """
        writer = self._writers.get(operation.name)
        data = writer.write(result, version) if writer is not None else None
        if data is None:
            data = write_envelope(version, self.encode(operation, result))
        if namespace is not None:
            data = _moved(data, etree.QName(operation.output_qname).namespace or "", namespace)
        return data

    def parse_response(self, operation: Operation, payload: etree._Element) -> dict[str, Any]:
        """A response element (e.g. from the legacy service) as plain data."""
        try:
            value = operation._output_element.parse(payload, self._schemas[operation.name][0])
        except (ZeepError, ValueError, TypeError) as exc:
            raise SoapClientError(f"{operation.name} response does not match the WSDL: {exc}") from exc
        return _plain(serialize_object(value, dict)) or {}


@dataclass(frozen=True)
class _Source:
    """One WSDL file as zeep compiled it: where it is, its schema, what the schema declares."""

    path: str
    schema: Any
    declared: Declarations


def _load(path: str) -> tuple[str, Document]:
    settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True)
    try:
        return path, Document(path, Transport(), settings=settings)  # type: ignore[arg-type]
    except (OSError, ZeepError, etree.XMLSyntaxError) as exc:
        raise ConfigError([Problem(path, None, f"cannot load WSDL: {exc}")]) from exc


def _service_names(documents: Sequence[tuple[str, Document]]) -> dict[str, str]:
    """Each wsdl:service name and its file; the names must differ, as they qualify operations."""
    owners: dict[str, str] = {}
    for path, document in documents:
        for name in document.services:
            if name in owners:
                raise ConfigError([Problem(path, None, (
                    f"wsdl:service {name} is also in {owners[name]}: the service names "
                    "qualify the operations, so they must differ"))])
            owners[name] = path
    return owners


def _moved(data: bytes, ours: str, theirs: str) -> bytes:
    """An answer envelope with every element of namespace `ours` moved to `theirs`."""
    root = etree.fromstring(data)
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).namespace == ours:
            element.tag = f"{{{theirs}}}{etree.QName(element).localname}" if theirs \
                else etree.QName(element).localname
    etree.cleanup_namespaces(root)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _canonical(payload: etree._Element, shape: Field, namespace: str | None,
               theirs: str | None = None) -> etree._Element:
    """A copy of a request element in the WSDL's own form, as lenient as the vendor's service.

    - elements in another namespace are read as ours (the namespace of several of the
      vendor's services is inferred);
    - a child named after its declared type (`AuthenticateUserRequest` for `Request`, as the
      vendor's 2016 articles show it) is read as the declared child;
    - child elements are put in schema order (XmlSerializer reads them in any order).
    Anything else unknown stays as sent, for zeep to refuse.
    """
    if theirs is None:
        theirs = etree.QName(payload).namespace
    copy = _copy(payload, _retag(payload.tag, theirs, namespace, shape.name), theirs, namespace)
    copy.text = payload.text
    aliases = {child.type_alias: child.name for child in shape.children if child.type_alias}
    order = {child.name: index for index, child in enumerate(shape.children) if child.kind == "element"}
    children = []
    for child in payload:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        name = local if local in order else aliases.get(local, local)
        field = shape.child(name)
        if field is not None and field.kind == "element" and field.children:
            converted = _canonical(child, field, namespace, theirs)
        else:
            converted = _copy(child, _retag(child.tag, theirs, namespace, name), theirs, namespace)
            converted.text = child.text
            converted.extend(deepcopy(list(child)))
        children.append((order.get(name, len(order)), converted))
    # A member the schema requires only because it is a .NET value type may be absent
    # (the vendor's service takes absence as "not given"); every such member of the
    # contract is nillable, and nil reads as not given too.
    given = {etree.QName(element).localname for _, element in children}
    for member in shape.children:
        if (member.kind == "element" and member.required and not member.multiple
                and member.name not in given):
            nil = etree.Element(_retag(payload.tag, theirs, namespace, member.name), {_NIL: "true"})
            children.append((order[member.name], nil))
    # sorted() is stable: repeats of one element keep their order.
    copy.extend(element for _, element in sorted(children, key=lambda pair: pair[0]))
    return copy


def _copy(source: etree._Element, tag: str, theirs: str | None,
          ours: str | None) -> etree._Element:
    """A new element `tag` with the source's attributes and the namespace prefixes in scope
    there: an `xsi:type="ns1:AuthHeaderWithDomain"` (suds, for a derived header) or
    `xsi:type="xsd:int"` (PHP's SoapVar) names its prefix on the Envelope, and the copy must
    still resolve it. A type in the caller's namespace for the operation is moved to ours,
    as the tags are."""
    attributes = _attributes(source)
    prefixes = dict(source.nsmap)
    named = attributes.get(_TYPE)
    if named is not None and theirs != ours and ours:
        prefix, _, local = named.strip().rpartition(":")
        if source.nsmap.get(prefix or None) == theirs and local:
            prefixes["_ours"] = ours
            attributes[_TYPE] = f"_ours:{local}"
    return etree.Element(tag, attributes, nsmap=cast(Any, prefixes))  # None: the default


def _retag(tag: Any, theirs: str | None, ours: str | None, local: str) -> str:
    """The element's tag with the caller's namespace for the operation moved to ours; an
    element of any other namespace (a ref into another schema) keeps its own."""
    namespace = etree.QName(tag).namespace
    if namespace != theirs:
        return f"{{{namespace}}}{local}" if namespace else local
    return f"{{{ours}}}{local}" if ours and namespace else local


def expected(operation: Operation) -> str:
    """The request's shape in one line, for Faults: <Op><Child Attr="…"/></Op>."""
    def render(shape: Field, depth: int) -> str:
        attributes = "".join(f' {c.name}="…"' for c in shape.children if c.kind == "attribute")
        elements = [c for c in shape.children if c.kind == "element"]
        if not elements or depth > 1:
            return f"<{shape.name}{attributes}/>"
        inner = "".join(render(child, depth + 1) for child in elements)
        return f"<{shape.name}{attributes}>{inner}</{shape.name}>"
    return render(operation.input, 0)


def _default_namespace(element: etree._Element) -> etree._Element:
    """Re-root zeep's `ns0:` prefixed answer in a default namespace, as the legacy service wrote it.

    Callers that parse answers properly do not care; hand-rolled parsers written
    against the legacy service's bytes do.
    """
    namespace = etree.QName(element).namespace
    if namespace is None or element.prefix is None:
        return element
    nsmap: Any = {None: namespace}  # lxml's stubs do not admit the default-namespace key
    copy = etree.Element(element.tag, _attributes(element), nsmap=nsmap)
    copy.text = element.text
    for child in element:
        copy.append(_restamp(child))
    return copy


def _restamp(element: etree._Element) -> etree._Element:
    copy = etree.Element(element.tag, _attributes(element))
    copy.text, copy.tail = element.text, element.tail
    for child in element:
        copy.append(_restamp(child))
    return copy


def _attributes(element: etree._Element) -> dict[str, str]:
    return {str(key): str(value) for key, value in element.attrib.items()}


def _plain(value: Any) -> Any:
    """zeep's serialised objects with absent fields dropped and text under `_value`."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            out[TEXT if key == xsd.ZEEP_TEXT else key] = _plain(item)
        return out
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _to_zeep(value: Mapping[str, Any], shape: Field) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        child = shape.child(key)
        if child is None or item is None:
            # check() refuses unknown fields at load time; None means "leave out".
            continue
        name = xsd.ZEEP_TEXT if child.kind == "text" else key
        if child.children:
            items = item if isinstance(item, list) else [item]
            converted = [_to_zeep(entry, child) for entry in items if isinstance(entry, Mapping)]
            out[name] = converted if child.multiple else (converted[0] if converted else None)
        elif child.multiple and isinstance(item, list):
            out[name] = [coerce_simple(entry, child.type_name) for entry in item]
        else:
            out[name] = coerce_simple(item, child.type_name)
    return out
