"""The one hardened parser: hostile XML is refused quickly and reads nothing from disk or network."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.errors import SoapClientError
from bridge.soap.xmlparse import XmlLimits, _thread_parser, parse_xml

LIMITS = XmlLimits(max_bytes=4096, max_depth=10, max_attribute_length=100)


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
