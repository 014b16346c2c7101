"""The one hardened parser: hostile XML is refused quickly and reads nothing from disk or network."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.errors import SoapClientError
from bridge.soap.xmlparse import XmlLimits, _thread_parser, parse_xml

LIMITS = XmlLimits(max_bytes=4096, max_depth=10, max_attribute_length=100, max_elements=20,
                   max_attributes=30, max_attributes_per_element=5, max_namespaces=4)


def _attributes(count: int) -> str:
    return " ".join(f'a{i}=""' for i in range(count))


@pytest.mark.parametrize(("data", "message"), [
    (b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', "DTDs are not allowed"),
    (b'<!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><a>&x;</a>', "DTDs are not allowed"),
    (b'<!DOCTYPE a SYSTEM "http://127.0.0.1:9/a.dtd"><a/>', "DTDs are not allowed"),
    (b"<a>&undeclared;</a>", "not well-formed"),
    (b"<a>" * 11 + b"</a>" * 11, "nesting deeper than 10"),
    (b'<a b="' + b"x" * 101 + b'"/>', "attribute longer than 100"),
    (b"<a>" + b"x" * 5000 + b"</a>", "exceeds 4096 bytes"),
    (b"   ", "empty"),
    (b"<a><b></a>", "not well-formed"),
])
def test_refused(data: bytes, message: str) -> None:
    with pytest.raises(SoapClientError, match=message):
        parse_xml(data, LIMITS)


@pytest.mark.parametrize(("data", "message"), [
    (f"<a {_attributes(6)}/>".encode(), "XML element has more than 5 attributes"),
    (f"<r>{f'<a {_attributes(5)}/>' * 7}</r>".encode(), "XML has more than 30 attributes"),
    (b"<r>" + b"<a/>" * 20 + b"</r>", "XML has more than 20 elements"),
    (b'<r xmlns="urn:0" xmlns:a="urn:1" xmlns:b="urn:2"><c xmlns:d="urn:3" xmlns:e="urn:4"/>'
     b"</r>", "XML declares more than 4 namespaces"),
    # The same prefix declared again further down is another declaration.
    (b"<r>" + b'<a xmlns:p="urn:p"/>' * 5 + b"</r>", "XML declares more than 4 namespaces"),
], ids=["attributes-per-element", "attributes", "elements", "namespaces", "redeclared"])
def test_shape_limits(data: bytes, message: str) -> None:
    with pytest.raises(SoapClientError, match=message):
        parse_xml(data, LIMITS)


def test_a_document_at_every_limit_is_read() -> None:
    # 20 elements, 30 attributes (at most 5 on one, each up to 100 characters), 4 namespace
    # declarations, 10 levels.
    data = (f'<r xmlns="urn:0" xmlns:a="urn:1" xmlns:b="urn:2" xmlns:c="urn:3" {_attributes(5)}>'
            + f'<a:e {_attributes(5)}/>' * 4 + f'<e b="{"x" * 100}"/>' * 5 + "<e>" * 9
            + "</e>" * 9 + "<e/></r>").encode()
    root = parse_xml(data, LIMITS)
    assert len(root) == 11 and len(root.attrib) == 5


@pytest.mark.parametrize(("count", "limit"), [(75_000, "more than 128 attributes"),
                                              (5_000, "more than 256 namespaces")])
def test_hostile_shapes_within_the_size_limit_are_refused_by_default(count: int,
                                                                     limit: str) -> None:
    # Under 1 MiB each. Reading 75,000 attribute values off a built element takes lxml
    # 28 s; the pre-scan refuses before anything is built.
    declare = "a{}=\"\"" if "attributes" in limit else "xmlns:n{0}=\"urn:{0}\""
    data = ("<r " + " ".join(declare.format(i) for i in range(count)) + "/>").encode()
    assert len(data) < 1024 * 1024
    with pytest.raises(SoapClientError, match=limit):
        parse_xml(data, XmlLimits())


def test_a_refusal_leaves_the_thread_able_to_parse() -> None:
    for data in (b"<r>" + b"<a>" * 30, b"<r>" + b"<a/>" * 40 + b"</r>", b"<a><b></a>"):
        with pytest.raises(SoapClientError):
            parse_xml(data, LIMITS)
        assert parse_xml(b'<a xmlns="urn:x"><b/></a>', LIMITS)[0].tag == "{urn:x}b"


def test_billion_laughs_is_refused_fast() -> None:
    entities = "".join(
        f'<!ENTITY l{i} "{"&l" + str(i - 1) + ";" * 1}' + f'{("&l" + str(i - 1) + ";") * 9}">'
        for i in range(1, 10)
    )
    data = f'<!DOCTYPE r [<!ENTITY l0 "lol">{entities}]><r>&l9;</r>'.encode()
    started = time.perf_counter()
    with pytest.raises(SoapClientError):
        parse_xml(data, XmlLimits())
    assert time.perf_counter() - started < 1.0


def test_comments_and_processing_instructions_are_dropped() -> None:
    root = parse_xml(b"<a><!-- hi --><?pi x?><b/></a>", LIMITS)
    assert [child.tag for child in root] == ["b"]


def test_size_limit_is_checked_before_parsing() -> None:
    # Not even well-formed: the size check answers first.
    with pytest.raises(SoapClientError, match="exceeds"):
        parse_xml(b"<" * 5000, LIMITS)


def test_each_thread_parses_with_a_parser_of_its_own() -> None:
    seen: dict[str, list[object]] = {}
    answers: list[str] = []

    def work(name: str) -> None:
        seen[name] = [_thread_parser(), _thread_parser()]
        for n in range(200):
            root = parse_xml(f'<a xmlns="urn:x"><b n="{name}-{n}"/></a>'.encode(), XmlLimits())
            answers.append(root[0].get("n") or "")

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(first is second for first, second in seen.values())
    assert len({id(pair[0]) for pair in seen.values()}) == 6
    assert sorted(answers) == sorted(f"t{i}-{n}" for i in range(6) for n in range(200))


@pytest.mark.parametrize(("data", "message"), [
    (b"<a>" * 65 + b"</a>" * 65, "nesting deeper than 64"),
    (b"<r>" + b"<a>" * 300 + b"</a>" * 300 + b"</r>", "nesting deeper than 64"),
    (f"<r><a {_attributes(129)}/></r>".encode(), "XML element has more than 128 attributes"),
    (b"<a>" * 65, "nesting deeper than 64"),
], ids=["depth", "deeper-than-the-parser-goes", "attributes-per-element", "cut-short"])
def test_small_bodies_built_at_once_keep_the_limits(data: bytes, message: str) -> None:
    # Under the size where only these two limits can be passed, the body is built at once
    # and they are read off the tree (or, if the parser refuses it, found by the pre-scan).
    assert len(data) <= 2304
    with pytest.raises(SoapClientError, match=message):
        parse_xml(data, XmlLimits())


def test_a_small_body_at_the_limits_is_read() -> None:
    data = (b"<a>" * 64 + b"</a>" * 64).replace(b"<a>", f"<a {_attributes(128)}>".encode(), 1)
    assert len(data) <= 2304
    assert parse_xml(data, XmlLimits()).tag == "a"
