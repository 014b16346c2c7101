"""The compiled answer writer: byte for byte what zeep and lxml write, or the zeep path itself."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from zeep.xsd.types.complex import ComplexType

from bridge.soap.envelope import SOAP11, SOAP12, write_envelope
from bridge.soap.service import SoapService
from bridge.soap.shapes import TEXT, Field, Operation
from bridge.soap.writer import AnswerWriter, compile_answer
from tests.soap.wsdls import (
    DOCUMENTNOW,
    DOCUMENTNOW_OPERATIONS,
    ENUMERATIONS,
    FIXTURES,
    NMBRS,
    combinations,
    generic_wsdl,
    member_part,
    parts,
    pool_name,
    proved,
)

GOLDEN = FIXTURES / "authenticate-user.answer.soap11.xml"
VERSIONS = (SOAP11, SOAP12)

# A WSDL of no vendor, for what DocumentNOW does not have: simple child elements, integers,
# bounded and required repeats, a required nillable element, nillable repeats, attributes on
# the answer element, simple content of a non-string type, and the things only zeep writes
# (dateTime, anyURI, a choice, an element default, another namespace, unqualified elements,
# an attribute default).
GENERIC_ANSWERS = [("Plain", "g"), ("Chosen", "g"), ("Defaulted", "g"), ("Loose", "l")]
GENERIC_WSDL = generic_wsdl("""
    <xs:schema targetNamespace="urn:example:other" elementFormDefault="qualified">
      <xs:element name="Foreign" type="xs:string"/>
    </xs:schema>
    <xs:schema targetNamespace="urn:example:loose" elementFormDefault="unqualified">
      <xs:element name="LooseResponse">
        <xs:complexType><xs:sequence>
          <xs:element name="Name" type="xs:string" minOccurs="0"/>
        </xs:sequence></xs:complexType>
      </xs:element>
    </xs:schema>
    <xs:schema targetNamespace="urn:example:generic" elementFormDefault="qualified">
      <xs:import namespace="urn:example:other"/>
      <xs:complexType name="Note">
        <xs:simpleContent><xs:extension base="xs:boolean">
          <xs:attribute name="Kind" type="xs:string"/>
        </xs:extension></xs:simpleContent>
      </xs:complexType>
      <xs:complexType name="Item">
        <xs:sequence>
          <xs:element name="Label" type="xs:string"/>
          <xs:element name="Count" type="xs:int" minOccurs="0"/>
          <xs:element name="Flag" type="xs:boolean" minOccurs="0"/>
          <xs:element name="Code" type="xs:short" minOccurs="0" maxOccurs="3"/>
        </xs:sequence>
        <xs:attribute name="Id" type="xs:long" use="required"/>
        <xs:attribute name="Big" type="xs:integer"/>
      </xs:complexType>
      <xs:element name="PlainResponse">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="Title" type="xs:string" minOccurs="0"/>
            <xs:element name="Item" type="g:Item" minOccurs="0" maxOccurs="unbounded"/>
            <xs:element name="Note" type="g:Note" minOccurs="0"/>
            <xs:element name="Tag" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
            <xs:element name="Line" type="xs:string" maxOccurs="unbounded"/>
            <xs:element name="Maybe" type="xs:string" nillable="true"/>
            <xs:element name="Slot" type="xs:string" minOccurs="0" maxOccurs="unbounded"
                        nillable="true"/>
            <xs:element name="When" type="xs:dateTime" minOccurs="0"/>
            <xs:element name="Pick" minOccurs="0">
              <xs:complexType><xs:choice>
                <xs:element name="A" type="xs:string"/>
                <xs:element name="B" type="xs:string"/>
              </xs:choice></xs:complexType>
            </xs:element>
            <xs:element name="Defaulted" type="xs:string" minOccurs="0" default="d"/>
            <xs:element ref="o:Foreign" minOccurs="0"/>
          </xs:sequence>
          <xs:attribute name="Version" type="xs:int"/>
          <xs:attribute name="Link" type="xs:anyURI"/>
        </xs:complexType>
      </xs:element>
      <xs:element name="ChosenResponse">
        <xs:complexType><xs:choice>
          <xs:element name="A" type="xs:string"/>
          <xs:element name="B" type="xs:string"/>
        </xs:choice></xs:complexType>
      </xs:element>
      <xs:element name="DefaultedResponse">
        <xs:complexType><xs:attribute name="Mode" type="xs:string" default="x"/></xs:complexType>
      </xs:element>
      <xs:element name="Ask"><xs:complexType/></xs:element>
    </xs:schema>
  """, [
    (name, "g:Ask", f"{prefix}:{name}Response") for name, prefix in GENERIC_ANSWERS])
# Fields of the generic WSDL only zeep writes: the enumeration leaves them out.
ZEEP_ONLY = frozenset({"When", "Pick", "Defaulted", "Foreign", "Link"})
OPERATIONS = ([("DocumentNOW", name) for name in DOCUMENTNOW_OPERATIONS]
              + [("Nmbrs", "Environment_Get"), ("Generic", "Plain")])

# Values that stress escaping and coercion, taken in turn so that each is written somewhere
# as an attribute, as text and as a simple element. The writer writes every one of them.
POOLS: dict[str, tuple[Any, ...]] = {
    "string": ('& < > " \'', "line\nbreak\ttab\rreturn\r\n", "  leading and trailing  ", "",
               "Ünïcødé ✓ 😀 \u2028 \x85", "]]> &amp; &#10;", "Example, Inc.", 42, True, False,
               "\t", "821ae27f-027c-4f21-a2e5-1667fc9b650a"),
    "boolean": (True, False, "true", "0", "1", "false", " TRUE ", ""),
    "int": ("42", 7, "-3", " 12 ", 0, "+5", "1_000"),
    # A guid is a string to zeep (it checks no pattern), and so to the writer.
    "guid": ("821ae27f-027c-4f21-a2e5-1667fc9b650a", "821AE27F-027C-4F21-A2E5-1667FC9B650A",
             "not a guid", "", 7),
}
POOLS["integer"] = POOLS["long"] = POOLS["short"] = POOLS["int"]
# An enumeration's values, then what zeep writes as a string all the same (it checks no facet).
POOLS.update({name: (*values, f" {values[0]} ", values[0].lower(), "Unknown", "", 3, True)
              for name, values in ENUMERATIONS.items()})
# Values only zeep writes: of the types the writer does not know, and of the ones it knows but
# in Python types it leaves to zeep. Requests of every field draw these in turn with the above.
ODD: dict[str, tuple[Any, ...]] = {
    "double": (1.5, 2, "3.25", -0.0, float("nan"), float("inf"), 1e300, "x", Decimal("0.1"),
               True),
    "datetime": (datetime.datetime(2024, 1, 2, 3, 4, 5),
                 datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC),
                 datetime.date(2024, 1, 2), "2024-01-02T03:04:05", "yesterday", 0),
    "base64binary": (b"hello", b"", "aGVsbG8=", bytearray(b"\x00\xff"), "not base64!", 5),
    "guid": (uuid.UUID("821ae27f-027c-4f21-a2e5-1667fc9b650a"), 1.5),
    "string": (1.5, b"bytes", None),
    "boolean": ("yes", 1, 2.0),
    "int": (True, 1.5, "twelve", "١٢"),
}
ODD["integer"] = ODD["long"] = ODD["short"] = ODD["int"]

AUTHENTICATED = {"AuthenticateUserResult": {
    "Success": True, "AuthenticationToken": "x" * 43, "UserName": "jdoe@example.com",
    "FirstName": "John", "LastName": "Doe",
    "Accounts": {"UserAccount": [{"Name": "Example, Inc.", "IsPrimary": True,
                                  "ContextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a"}]},
}}
PONG = {"PingResult": {"Success": True}}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SoapService]:
    generic = tmp_path_factory.mktemp("wsdl") / "generic.wsdl"
    generic.write_text(GENERIC_WSDL, encoding="utf-8")
    return {"DocumentNOW": SoapService(str(DOCUMENTNOW)), "Nmbrs": SoapService(str(NMBRS)),
            "Generic": SoapService(str(generic))}


def _writer(operation: Operation) -> AnswerWriter:
    writer = compile_answer(operation.answer)
    assert writer is not None, operation.name
    return writer


def _zeep(service: SoapService, operation: Operation, result: Any, version: str) -> bytes:
    """The answer as the bridge wrote it before the writer existed."""
    return write_envelope(version, service.encode(operation, result))


def _outcome(call: Callable[[], bytes]) -> tuple[str, Any]:
    try:
        return "answer", call()
    except Exception as exc:
        return "error", (type(exc), str(exc))


def _answer_and_zeep(service: SoapService, operation: Operation, result: Any,
                     version: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """What SoapService.answer gives, and what the zeep path gives: answer or error."""
    return (_outcome(lambda: service.answer(operation, result, version)),
            _outcome(lambda: _zeep(service, operation, result, version)))


def _c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n")


class _Values:
    """Sample values per pool (see wsdls.pool_name), in turn; absent fields alternate missing
    and None. With `odd`, the values only zeep writes take their turn too."""

    def __init__(self, odd: bool = False) -> None:
        self._odd = odd
        self._turns: dict[str, Iterator[Any]] = {}
        self._absent = itertools.cycle((False, True))

    def next(self, field: Field, part: Any) -> Any:
        name = pool_name(field, part)
        if name not in self._turns:
            pool = POOLS.get(name, ())
            if self._odd:
                pool = (*pool, *ODD.get("string" if name in ENUMERATIONS else name, ()))
            self._turns[name] = itertools.cycle(pool)
        return next(self._turns[name])

    def absent_as_none(self) -> bool:
        return next(self._absent)


def _members(shape: Field, xsd_type: Any, namespace: str, skip: frozenset[str],
             everything: bool) -> list[tuple[Field, Any]]:
    """The fields a generated answer may give, each with the zeep part behind it: every one
    (`everything`) or only those the writer was proved for. zeep's stand-in for an extension
    without elements takes no value."""
    found = parts(xsd_type)
    members = []
    for field in shape.children:
        part = member_part(found, field)
        if field.name in skip or (field.kind == "text" and isinstance(part.type, ComplexType)):
            continue
        if everything or proved(field, part, namespace):
            members.append((field, part))
    return members


def _states(field: Field) -> tuple[int | None, ...]:
    """A field's states in a generated answer: absent (None), or how many items it holds."""
    counts: tuple[int | None, ...] = (0, 1, 3) if field.multiple else (1,)
    # zeep writes missing simple content as its type spells None ("false" for a
    # boolean): a case for the zeep path, tested below, not for the enumeration.
    required = field.required or (field.kind == "text" and field.type_name != "string")
    if field.multiple and field.required:
        counts = (1, 3)
    return counts if required else (None, *counts)


# Every combination of one element's own optional fields is enumerated (absent or present;
# repeated elements absent or with 0, 1 or 3 items) while a level has at most _CAP of them.
# Larger levels (the contract's largest is JotBlockInfo's, 2^18) are sampled by
# wsdls.combinations: each field absent and present, each count, at least once, then seeded
# draws up to _CAP. Across levels the product would run to millions, so a nested element's
# variants are taken in turn, with rows of every field present added until each variant has
# appeared at least once.
_CAP = 512


def _variants(shape: Field, xsd_type: Any, namespace: str, values: _Values, skip: frozenset[str],
              everything: bool = False) -> list[dict[str, Any]]:
    """Answers' values for one element: of the fields the writer was proved for, or of all."""
    members = _members(shape, xsd_type, namespace, skip, everything)
    nested = {field.name: _variants(field, part.type, namespace, values, skip, everything)
              for field, part in members if field.children}
    taken = dict.fromkeys(nested, 0)

    def occurrence(field: Field, part: Any) -> Any:
        if not field.children:
            return values.next(field, part)
        options = nested[field.name]
        taken[field.name] += 1
        return options[(taken[field.name] - 1) % len(options)]

    def row(combination: tuple[int | None, ...]) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for (field, part), state in zip(members, combination, strict=True):
            if state is None:
                if values.absent_as_none():
                    value[field.name] = None
            elif field.multiple:
                value[field.name] = [occurrence(field, part) for _ in range(state)]
            else:
                value[field.name] = occurrence(field, part)
        return value

    space = [_states(field) for field, _ in members]
    rows = [row(combination) for combination in combinations(space, _CAP, shape.name)]
    while any(taken[name] < len(options) for name, options in nested.items()):
        rows.append(row(tuple(options[-1] for options in space)))
    return rows


def _answers(service: SoapService, wsdl: str, name: str, everything: bool = False,
             ) -> list[dict[str, Any]]:
    operation = service.operations[name]
    namespace = etree.QName(operation.output_qname).namespace or ""
    return _variants(operation.output, operation._output_element.type, namespace,
                     _Values(odd=everything), ZEEP_ONLY if wsdl == "Generic" else frozenset(),
                     everything)


def test_every_operation_is_enumerated(services: dict[str, SoapService]) -> None:
    assert set(DOCUMENTNOW_OPERATIONS) == set(services["DocumentNOW"].operations)
    assert len(DOCUMENTNOW_OPERATIONS) == 45
    for wsdl, name in OPERATIONS:
        assert name in services[wsdl]._writers, name


@pytest.mark.parametrize(("wsdl", "name"), OPERATIONS)
def test_every_combination_is_written_as_zeep_writes_it(
        services: dict[str, SoapService], wsdl: str, name: str) -> None:
    """Answers of every field the writer was proved for: it writes each one, as zeep does."""
    service = services[wsdl]
    operation = service.operations[name]
    writer = _writer(operation)
    rows = _answers(service, wsdl, name)
    for result in rows:
        for version in VERSIONS:
            fast = writer.write(result, version)
            assert fast is not None, result
            slow = _zeep(service, operation, result, version)
            assert fast == slow, result
            assert _c14n(fast) == _c14n(slow)
            assert service.answer(operation, result, version) == fast


@pytest.mark.parametrize(("wsdl", "name"), OPERATIONS)
def test_every_combination_of_every_field_answers_as_zeep_answers(
        services: dict[str, SoapService], wsdl: str, name: str) -> None:
    """Answers of every field, the writer's or not (doubles, dates, binaries, choices, another
    namespace, zeep's stand-ins) with values only zeep writes among them: what the writer writes
    is zeep's answer, byte for byte, and answer() gives zeep's either way (error included). The
    SOAP versions take turns, one per answer."""
    service = services[wsdl]
    operation = service.operations[name]
    writer = _writer(operation)
    for number, result in enumerate(_answers(service, wsdl, name, everything=True)):
        version = VERSIONS[number % len(VERSIONS)]
        answer, zeep = _answer_and_zeep(service, operation, result, version)
        assert answer == zeep, result
        fast = writer.write(result, version)
        assert fast is None or ("answer", fast) == zeep, result


def _reached(value: Any, shape: Field, seen: dict[tuple[str, ...], set[Any]],
             path: tuple[str, ...] = ()) -> None:
    """Every field path an answer gives a value, with how many items it holds ("one": not a list)."""
    for key, item in value.items():
        if item is None:
            continue
        field = shape.child(key)
        assert field is not None, key
        seen.setdefault((*path, key), set()).add(len(item) if isinstance(item, list) else "one")
        for entry in item if isinstance(item, list) else [item]:
            if isinstance(entry, dict):
                _reached(entry, field, seen, (*path, key))


def _paths(shape: Field, xsd_type: Any, namespace: str, skip: frozenset[str], everything: bool,
           path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Field]]:
    for field, part in _members(shape, xsd_type, namespace, skip, everything):
        yield (*path, field.name), field
        if field.children:
            yield from _paths(field, part.type, namespace, skip, everything, (*path, field.name))


@pytest.mark.parametrize("everything", [False, True])
def test_the_enumeration_reaches_every_field_and_count(services: dict[str, SoapService],
                                                        everything: bool) -> None:
    """Guards the generator above: the golden comparison is only as wide as its rows. Every
    field (the writer's, or all) of every answer is given, and a repeated one every count."""
    reached: dict[tuple[str, ...], set[Any]] = {}
    for wsdl, name in OPERATIONS:
        service = services[wsdl]
        operation = service.operations[name]
        namespace = etree.QName(operation.output_qname).namespace or ""
        skip = ZEEP_ONLY if wsdl == "Generic" else frozenset()
        seen: dict[tuple[str, ...], set[Any]] = {}
        for result in _answers(service, wsdl, name, everything):
            _reached(result, operation.output, seen)
        expected = {path: {"one"} if not field.multiple else set(_states(field)) - {None}
                    for path, field in _paths(operation.output, operation._output_element.type,
                                              namespace, skip, everything)}
        assert seen == expected, name
        reached.update({(name, *path): counts for path, counts in seen.items()})
    assert reached[("ListUsers", "ListUsersResult", "Users", "User")] == {0, 1, 3}
    assert reached[("ListUsers", "ListUsersResult", "Users", "User", "Tags", "UserTag")] == {0, 1, 3}
    assert {("AuthenticateUser", "AuthenticateUserResult", "Exceptions", "UserException", TEXT),
            ("AuthenticateUser", "AuthenticateUserResult", "Exceptions", "UserException",
             "Severity"),
            ("Ping", "PingResult", "Success"), ("Plain", "Note", TEXT)} <= set(reached)
    # Of every field, the writer's or not: doubles, dates, stand-ins, another namespace, choices.
    assert ({("CreateEnvelope", "CreateEnvelopeResult", "ExpirationDate"),
             ("LookupSession", "SessionLookupResults", "SessionLookupResult",
              "CloseEnvelopeResult"),
             ("ListParameters", "ParameterListQueryResult", "Parameters", "TypedParameterItem"),
             } <= set(reached)) == everything


def test_values_parse_back_as_given(services: dict[str, SoapService]) -> None:
    """Independent of zeep: every stress value reads back from the fast path's bytes."""
    service = services["DocumentNOW"]
    operation = service.operations["AuthenticateUser"]
    for text in POOLS["string"]:
        if not isinstance(text, str):
            continue
        result = {"AuthenticateUserResult": {
            "Success": "1", "UserName": text,
            "Exceptions": {"UserException": [{"Severity": text, TEXT: text}]}}}
        data = _writer(operation).write(result, SOAP12)
        assert data is not None
        answer = etree.fromstring(data)[0][0][0]
        exception = answer[0][0]
        assert (answer.get("Success"), answer.get("UserName")) == ("true", text)
        assert (exception.get("Severity"), exception.text or "") == (text, text)


def _normalised(data: bytes) -> bytes:
    """Canonical XML without the indentation of a hand-kept golden file."""
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


def test_golden_answer(services: dict[str, SoapService]) -> None:
    service = services["DocumentNOW"]
    operation = service.operations["AuthenticateUser"]
    golden = _normalised(GOLDEN.read_bytes())
    assert _normalised(service.answer(operation, AUTHENTICATED, SOAP11)) == golden
    assert _normalised(_zeep(service, operation, AUTHENTICATED, SOAP11)) == golden


class _NoZeep:
    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("zeep was asked")

    render = __call__


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "result"), [("AuthenticateUser", AUTHENTICATED), ("Ping", PONG)])
def test_the_bridges_own_answers_are_written_without_zeep(
        services: dict[str, SoapService], name: str, result: dict[str, Any], version: str) -> None:
    """The answers the bridge gives itself (its mappings' results) are the writer's: with zeep's
    element gone, they are still written; an answer the writer leaves to zeep is not."""
    service = services["DocumentNOW"]
    operation = service.operations[name]
    assert name in service._writers
    expected = _zeep(service, operation, result, version)
    without_zeep = dataclasses.replace(operation, _output_element=_NoZeep())
    assert service.answer(without_zeep, result, version) == expected
    odd = {key: {**value, "Bogus": "x"} for key, value in result.items()}
    with pytest.raises(AssertionError, match="zeep was asked"):
        service.answer(without_zeep, odd, version)


def _authenticated(**changes: Any) -> dict[str, Any]:
    result = dict(AUTHENTICATED["AuthenticateUserResult"])
    result.update(changes)
    return {"AuthenticateUserResult": result}


def _account(**changes: Any) -> dict[str, Any]:
    return _authenticated(Accounts={"UserAccount": [
        {"ContextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a", "IsPrimary": True,
         **changes}]})


def _exception(text: Any) -> dict[str, Any]:
    return _authenticated(Exceptions={"UserException": [{"Severity": "Error", TEXT: text}]})


def _plain(**changes: Any) -> dict[str, Any]:
    return {"Line": ["a"], "Maybe": "m", **changes}


LINK = {"Url": "https://example.com/l", "DocumentType": "Original"}


FALLBACKS: list[tuple[str, str, str, Any]] = [
    # (why, wsdl, operation, result); each goes the zeep path, error or not
    ("required attribute missing", "DocumentNOW", "AuthenticateUser",
     {"AuthenticateUserResult": {"UserName": "u"}}),
    ("required attribute None", "DocumentNOW", "AuthenticateUser", _authenticated(Success=None)),
    ("required attribute of a repeat missing", "DocumentNOW", "AuthenticateUser",
     _account(IsPrimary=None)),
    ("not a boolean", "DocumentNOW", "AuthenticateUser", _authenticated(Success="yes")),
    ("int for a boolean", "DocumentNOW", "AuthenticateUser", _authenticated(Success=1)),
    ("float for a string", "DocumentNOW", "AuthenticateUser", _authenticated(UserName=1.5)),
    ("bytes for a string", "DocumentNOW", "AuthenticateUser", _authenticated(UserName=b"u")),
    ("str subclass", "DocumentNOW", "AuthenticateUser",
     _authenticated(UserName=type("Name", (str,), {})("u"))),
    ("NUL in an attribute", "DocumentNOW", "AuthenticateUser", _authenticated(UserName="a\x00")),
    ("control character", "DocumentNOW", "AuthenticateUser", _authenticated(LastName="\x1b[0m")),
    ("lone surrogate", "DocumentNOW", "AuthenticateUser", _authenticated(FirstName="\ud800")),
    ("noncharacter", "DocumentNOW", "AuthenticateUser", _authenticated(FirstName="\ufffe")),
    ("vertical tab in text", "DocumentNOW", "AuthenticateUser", _exception("a\x0bb")),
    ("float for text", "DocumentNOW", "AuthenticateUser", _exception(5.0)),
    ("unknown key", "DocumentNOW", "AuthenticateUser", _authenticated(Bogus="x")),
    ("unknown key at the top", "DocumentNOW", "AuthenticateUser", {**AUTHENTICATED, "Extra": 1}),
    ("text on a type without text", "DocumentNOW", "AuthenticateUser", _authenticated(_value="x")),
    ("list for a single element", "DocumentNOW", "AuthenticateUser",
     _authenticated(Accounts=[{"UserAccount": []}])),
    ("empty list for a single element", "DocumentNOW", "AuthenticateUser",
     _authenticated(Accounts=[])),
    ("string for a complex element", "DocumentNOW", "AuthenticateUser",
     _authenticated(Accounts="none")),
    ("None among the repeats", "DocumentNOW", "AuthenticateUser",
     _authenticated(Accounts={"UserAccount": [None]})),
    ("tuple of repeats", "DocumentNOW", "AuthenticateUser",
     _authenticated(Accounts={"UserAccount": ()})),
    ("OrderedDict", "DocumentNOW", "AuthenticateUser",
     OrderedDict(AUTHENTICATED)),
    ("not a mapping", "DocumentNOW", "AuthenticateUser", None),
    ("dateTime", "Generic", "Plain", _plain(When="2024-01-01T00:00:00")),
    ("anyURI", "Generic", "Plain", _plain(Link="https://example.com/?a=1&b=2")),
    ("choice", "Generic", "Plain", _plain(Pick={"A": "x"})),
    ("element default", "Generic", "Plain", _plain(Defaulted="x")),
    ("another namespace", "Generic", "Plain", _plain(Foreign="x")),
    ("unqualified element", "Generic", "Loose", {"Name": "x"}),
    ("not an integer", "Generic", "Plain", _plain(Version="twelve")),
    ("bool for an integer", "Generic", "Plain", _plain(Version=True)),
    ("float for an integer", "Generic", "Plain", _plain(Version=1.0)),
    ("over maxOccurs", "Generic", "Plain", _plain(Item=[{"Id": 1, "Label": "l", "Code": [1] * 4}])),
    ("under minOccurs", "Generic", "Plain", {"Line": [], "Maybe": "m"}),
    ("required repeat missing", "Generic", "Plain", {"Maybe": "m"}),
    ("required simple element missing", "Generic", "Plain", _plain(Item=[{"Id": 1}])),
    ("one value for a repeated simple element", "Generic", "Plain", _plain(Tag="x")),
    ("boolean simple content missing", "Generic", "Plain", _plain(Note={"Kind": "k"})),
    # Shapes the old contract did not have.
    ("required nillable element None", "Generic", "Plain", _plain(Maybe=None)),
    ("required nillable element missing", "Generic", "Plain", {"Line": ["a"]}),
    ("None among nillable repeats", "Generic", "Plain", _plain(Slot=["a", None, "b"])),
    ("None among nillable complex repeats", "DocumentNOW", "ListUsers",
     {"ListUsersResult": {"Success": True, "Users": {"User": [None]}}}),
    ("a repeating choice's members", "DocumentNOW", "ListParameters",
     {"ParameterListQueryResult": {"TemplateId": "t", "Parameters": {
         "TypedParameterItem": [{"Required": True}]}}}),
    ("a repeating choice, as zeep reads it", "DocumentNOW", "ListParameters",
     {"ParameterListQueryResult": {"TemplateId": "t", "Parameters": {
         TEXT: [{"TypedParameterItem": {"Required": True}}]}}}),
    ("a repeating choice empty", "DocumentNOW", "ListParameters",
     {"ParameterListQueryResult": {"TemplateId": "t", "Parameters": {}}}),
    ("an extension without elements", "DocumentNOW", "GetAccessLink",
     {"GetAccessLinkResult": {"Link": LINK}}),
    ("an extension without elements, text given", "DocumentNOW", "GetAccessLink",
     {"GetAccessLinkResult": {"Link": {**LINK, TEXT: "x"}}}),
    ("an extension without elements, repeated", "DocumentNOW", "GetSigningLinks",
     {"GetSigningLinksResult": {"SigningLinks": {"SigningLink": [LINK]}}}),
    ("a derived type's own attribute on a base element", "DocumentNOW", "ListUsers",
     {"ListUsersResult": {"Success": True, "Users": {"User": [
         {"RequirePasswordChange": True, "Inactive": False, "Locked": False, "Extra": "x"}]}}}),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("why", "wsdl", "name", "result"), FALLBACKS,
                         ids=[case[0] for case in FALLBACKS])
def test_fallback_gives_what_zeep_gives(services: dict[str, SoapService], why: str, wsdl: str,
                                        name: str, result: Any, version: str) -> None:
    service = services[wsdl]
    operation = service.operations[name]
    assert _writer(operation).write(result, version) is None, why
    answer, zeep = _answer_and_zeep(service, operation, result, version)
    assert answer == zeep


# Values of the types only zeep writes, at fields of the contract: (why, operation, path,
# value, how much of the path to leave out for an answer of the writer's, or None where the
# answer holds other values of the type). The answer gives every required field on the way a
# value (see _filled).
UNPROVED: list[tuple[str, str, tuple[str, ...], Any, int | None]] = [
    ("double", "RetrieveTemplateInfo",
     ("RetrieveTemplateInfoResult", "TemplateInfo", "JotBlocks", "JotBlockInfo", "Width"), 2.5,
     None),
    ("double as text", "RetrieveTemplateInfo",
     ("RetrieveTemplateInfoResult", "TemplateInfo", "JotBlocks", "JotBlockInfo", "Width"), "2.5",
     None),
    ("dateTime", "CheckEnvelopeStatus",
     ("CheckEnvelopeStatusResult", "History", "EnvelopeHistoryEvent", "Date"),
     datetime.datetime(2024, 1, 2, 3, 4, 5), 2),
    ("dateTime as text", "CreateEnvelope", ("CreateEnvelopeResult", "StaleDate"),
     "2024-01-02T03:04:05Z", None),
    ("base64Binary", "Download", ("DownloadResult", "FileData"), b"%PDF-1.7", 1),
    ("base64Binary as text", "Download", ("DownloadResult", "CompletionReportData"), "JVBERg==", 1),
    ("a referenced element of another namespace", "LookupSession",
     ("SessionLookupResults", "SessionLookupResult", "CloseEnvelopeResult", "EnvelopeId"), "e", 2),
]
_OMITTED = object()


def _first(field: Field, part: Any) -> Any:
    pool = pool_name(field, part)
    return (POOLS.get(pool) or ODD[pool])[0]


def _filled(operation: Operation, path: tuple[str, ...], leaf: Any) -> dict[str, Any]:
    """An answer that gives `leaf` at `path` (or leaves it out: _OMITTED), and on the way every
    required simple field a value."""
    def level(shape: Field, xsd_type: Any, rest: tuple[str, ...]) -> dict[str, Any]:
        found = parts(xsd_type)
        value: dict[str, Any] = {}
        for field in shape.children:
            part = member_part(found, field)
            if field.name == rest[0]:
                if len(rest) > 1:
                    item = level(field, part.type, rest[1:])
                elif leaf is _OMITTED:
                    continue
                else:
                    item = leaf
            elif field.required and not field.children:
                item = _first(field, part)
            else:
                continue
            value[field.name] = [item] if field.multiple else item
        return value
    return level(operation.output, operation._output_element.type, path)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("why", "name", "path", "leaf", "omit"), UNPROVED,
                         ids=[case[0] for case in UNPROVED])
def test_unproved_fields_give_what_zeep_gives(services: dict[str, SoapService], why: str,
                                              name: str, path: tuple[str, ...], leaf: Any,
                                              omit: int | None, version: str) -> None:
    service = services["DocumentNOW"]
    operation = service.operations[name]
    result = _filled(operation, path, leaf)
    assert _writer(operation).write(result, version) is None, why
    answer, zeep = _answer_and_zeep(service, operation, result, version)
    assert answer == zeep
    if omit is not None:
        # Without it, the same answer is the writer's: the value alone made it decline.
        bare = _filled(operation, path[:len(path) - omit + 1], _OMITTED)
        fast = _writer(operation).write(bare, version)
        assert fast is not None, bare
        assert ("answer", fast) == _answer_and_zeep(service, operation, bare, version)[1]


def test_unknown_version_gives_what_zeep_gives(services: dict[str, SoapService]) -> None:
    service = services["DocumentNOW"]
    operation = service.operations["AuthenticateUser"]
    assert _writer(operation).write(AUTHENTICATED, "1.3") is None
    answer, zeep = _answer_and_zeep(service, operation, AUTHENTICATED, "1.3")
    assert answer[0] == "error"
    assert answer == zeep


@pytest.mark.parametrize("name", ["Chosen", "Defaulted"])
def test_answers_only_zeep_writes(services: dict[str, SoapService], name: str) -> None:
    """A choice at the top, or an attribute default, gets no writer at all: zeep writes them."""
    service = services["Generic"]
    operation = service.operations[name]
    assert compile_answer(operation.answer) is None
    for result in ({}, {"A": "x"}, {"Mode": "m"}):
        for version in VERSIONS:
            answer, zeep = _answer_and_zeep(service, operation, result, version)
            assert answer == zeep


def test_one_mapping_for_repeats_is_a_list_of_one(services: dict[str, SoapService]) -> None:
    service = services["DocumentNOW"]
    operation = service.operations["AuthenticateUser"]
    single = _authenticated(Accounts={"UserAccount": {"ContextIdentifier": "c", "IsPrimary": "0"}})
    fast = _writer(operation).write(single, SOAP11)
    assert fast is not None
    assert fast == _zeep(service, operation, single, SOAP11)


TEXT_WITH_ANY_CHARACTER = st.text(st.characters(exclude_categories=()))


@settings(max_examples=400, deadline=None)
@given(text=TEXT_WITH_ANY_CHARACTER, version=st.sampled_from(VERSIONS))
def test_any_text_is_written_as_zeep_writes_it(services: dict[str, SoapService], text: str,
                                               version: str) -> None:
    service = services["DocumentNOW"]
    operation = service.operations["AuthenticateUser"]
    result = {"AuthenticateUserResult": {
        "Success": True, "UserName": text,
        "Exceptions": {"UserException": [{"Severity": text, TEXT: text}]}}}
    fast = _writer(operation).write(result, version)
    answer, zeep = _answer_and_zeep(service, operation, result, version)
    # Every text lxml can write is written by the fast path; the rest is left to zeep.
    assert (fast is None) == (zeep[0] == "error")
    if fast is not None:
        assert ("answer", fast) == zeep
    assert answer == zeep


ANY_SIMPLE_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                             st.binary(), st.sampled_from(["true", "0", " 1 ", "12", "-0", "x"]))


@settings(max_examples=300, deadline=None)
@given(name=ANY_SIMPLE_VALUE, primary=ANY_SIMPLE_VALUE, count=ANY_SIMPLE_VALUE,
       flag=ANY_SIMPLE_VALUE)
def test_any_value_answers_as_zeep_answers(services: dict[str, SoapService], name: Any,
                                           primary: Any, count: Any, flag: Any) -> None:
    cases = [
        (services["DocumentNOW"], "AuthenticateUser", _account(Name=name, IsPrimary=primary)),
        (services["Generic"], "Plain", _plain(Version=count, Item=[
            {"Id": count, "Label": name, "Count": count, "Flag": flag}])),
    ]
    for service, operation_name, result in cases:
        answer, zeep = _answer_and_zeep(service, service.operations[operation_name], result,
                                         SOAP11)
        assert answer == zeep
