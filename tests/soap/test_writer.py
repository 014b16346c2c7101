"""The compiled answer writer: byte for byte what zeep and lxml write, or the zeep path itself."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from bridge.soap.envelope import SOAP11, SOAP12, write_envelope
from bridge.soap.service import TEXT, Field, Operation, SoapService, coerce_simple
from bridge.soap.writer import AnswerWriter, compile_answer
from tests.soap.wsdls import DOCUMENTNOW, DOCUMENTNOW_OPERATIONS, FIXTURES, NMBRS, generic_wsdl

GOLDEN = FIXTURES / "authenticate-user.answer.soap11.xml"
VERSIONS = (SOAP11, SOAP12)

# A WSDL of no vendor, for what DocumentNOW does not have: simple child elements, integers,
# bounded and required repeats, attributes on the answer element, simple content of a
# non-string type, and the things only zeep writes (dateTime, anyURI, a choice, an element
# default, another namespace, unqualified elements, an attribute default).
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
# as an attribute, as text and as a simple element.
POOLS: dict[str, tuple[Any, ...]] = {
    "string": ('& < > " \'', "line\nbreak\ttab\rreturn\r\n", "  leading and trailing  ", "",
               "Ünïcødé ✓ 😀 \u2028 \x85", "]]> &amp; &#10;", "Example, Inc.", 42, True, False,
               "\t", "821ae27f-027c-4f21-a2e5-1667fc9b650a"),
    "boolean": (True, False, "true", "0", "1", "false", " TRUE ", ""),
    "int": ("42", 7, "-3", " 12 ", 0, "+5", "1_000"),
}
POOLS["integer"] = POOLS["long"] = POOLS["short"] = POOLS["int"]

AUTHENTICATED = {"AuthenticateUserResult": {
    "Success": True, "AuthenticationToken": "x" * 43, "UserName": "jdoe@example.com",
    "FirstName": "John", "LastName": "Doe",
    "Accounts": {"UserAccount": [{"Name": "Example, Inc.", "IsPrimary": True,
                                  "ContextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a"}]},
}}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SoapService]:
    generic = tmp_path_factory.mktemp("wsdl") / "generic.wsdl"
    generic.write_text(GENERIC_WSDL, encoding="utf-8")
    return {"DocumentNOW": SoapService(str(DOCUMENTNOW)), "Nmbrs": SoapService(str(NMBRS)),
            "Generic": SoapService(str(generic))}


def _writer(operation: Operation) -> AnswerWriter:
    writer = compile_answer(operation.output, operation._output_element, coerce_simple)
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
    """Sample values per simple type, in turn; absent fields alternate missing and None."""

    def __init__(self) -> None:
        self._turns: dict[str, Iterator[Any]] = {}
        self._absent = itertools.cycle((False, True))

    def next(self, type_name: str) -> Any:
        turn = self._turns.setdefault(type_name, itertools.cycle(POOLS[type_name]))
        return next(turn)

    def absent_as_none(self) -> bool:
        return next(self._absent)


# Every combination of one element's own optional fields is enumerated (absent or present;
# repeated elements absent or with 0, 1 or 3 items). Across levels the full product would run
# to millions (e.g. ListUsers: 4 states of User x 128 per User), so a nested element's
# variants are taken in turn, with rows of every field present added until each variant has
# appeared at least once. No level needs a cap: the largest is AuthenticateUserResult's
# 2^9 = 512; _MAX_ROWS fails loudly should a WSDL ever need one.
_MAX_ROWS = 4096


def _variants(shape: Field, values: _Values, skip: frozenset[str]) -> list[dict[str, Any]]:
    fields = [field for field in shape.children if field.name not in skip]
    nested = {field.name: _variants(field, values, skip) for field in fields if field.children}
    taken = dict.fromkeys(nested, 0)

    def occurrence(field: Field) -> Any:
        if not field.children:
            return values.next(field.type_name)
        options = nested[field.name]
        taken[field.name] += 1
        return options[(taken[field.name] - 1) % len(options)]

    def states(field: Field) -> tuple[int | None, ...]:
        counts: tuple[int | None, ...] = (0, 1, 3) if field.multiple else (1,)
        # zeep writes missing simple content as its type spells None ("false" for a
        # boolean): a case for the zeep path, tested below, not for the enumeration.
        required = field.required or (field.kind == "text" and field.type_name != "string")
        if field.multiple and field.required:
            counts = (1, 3)
        return counts if required else (None, *counts)

    def row(combination: tuple[int | None, ...]) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for field, state in zip(fields, combination, strict=True):
            if state is None:
                if values.absent_as_none():
                    value[field.name] = None
            elif field.multiple:
                value[field.name] = [occurrence(field) for _ in range(state)]
            else:
                value[field.name] = occurrence(field)
        return value

    space = [states(field) for field in fields]
    size = 1
    for options in space:
        size *= len(options)
    assert size <= _MAX_ROWS, f"{shape.name}: {size} combinations; cap them"
    rows = [row(combination) for combination in itertools.product(*space)]
    while any(taken[name] < len(options) for name, options in nested.items()):
        rows.append(row(tuple(options[-1] for options in space)))
    return rows


def test_every_operation_is_enumerated(services: dict[str, SoapService]) -> None:
    assert set(DOCUMENTNOW_OPERATIONS) == set(services["DocumentNOW"].operations)


@pytest.mark.parametrize(("wsdl", "name"), OPERATIONS)
def test_every_combination_is_written_as_zeep_writes_it(
        services: dict[str, SoapService], wsdl: str, name: str) -> None:
    service = services[wsdl]
    operation = service.operations[name]
    writer = _writer(operation)
    rows = _variants(operation.output, _Values(), ZEEP_ONLY if wsdl == "Generic" else frozenset())
    assert len(rows) > 1
    for result in rows:
        for version in VERSIONS:
            fast = writer.write(result, version)
            assert fast is not None, result
            slow = _zeep(service, operation, result, version)
            assert fast == slow, result
            assert _c14n(fast) == _c14n(slow)
            assert service.answer(operation, result, version) == fast


def test_the_enumeration_reaches_every_field_and_count(services: dict[str, SoapService]) -> None:
    """Guards the generator above: the golden comparison is only as wide as its rows."""
    operation = services["DocumentNOW"].operations["ListUsers"]
    rows = _variants(operation.output, _Values(), frozenset())
    seen: dict[str, set[Any]] = {}

    def walk(value: Mapping[str, Any]) -> None:
        for key, item in value.items():
            if item is None:
                continue
            items = item if isinstance(item, list) else [item]
            seen.setdefault(key, set()).add(len(item) if isinstance(item, list) else "one")
            for entry in items:
                if isinstance(entry, dict):
                    walk(entry)

    for result in rows:
        walk(result)
    assert seen["User"] == {0, 1, 3}
    assert seen["Tag"] == {0, 1, 3}
    assert {"RequirePasswordChange", "Locked", "Value", TEXT, "Severity"} <= set(seen)


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
    return {"Line": ["a"], **changes}


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
    ("under minOccurs", "Generic", "Plain", {"Line": []}),
    ("required repeat missing", "Generic", "Plain", {}),
    ("required simple element missing", "Generic", "Plain", _plain(Item=[{"Id": 1}])),
    ("one value for a repeated simple element", "Generic", "Plain", _plain(Tag="x")),
    ("boolean simple content missing", "Generic", "Plain", _plain(Note={"Kind": "k"})),
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
    assert compile_answer(operation.output, operation._output_element, coerce_simple) is None
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
