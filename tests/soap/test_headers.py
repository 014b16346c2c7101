"""Header elements as the field sends them, matched to what a schema declares (bridge/soap/
headers.py): another host's namespace, headers related by extension, PHP's key/value map."""

from __future__ import annotations

import pytest
from lxml import etree

from bridge.soap.headers import Declarations, declared_members, unmapped

NS = "https://api.nmbrs.nl/soap/v3/CompanyService"
ELEMENT = object()  # stands for zeep's element: only its presence matters here


def _company() -> Declarations:
    # As CompanyService declares them: the AuthHeaderWithDomain element and type, the
    # AuthHeader type alone (its base), and an unrelated Company type.
    return Declarations([
        (f"{{{NS}}}AuthHeaderWithDomain", ("Username", "Token", "Domain"), ELEMENT),
        (f"{{{NS}}}AuthHeaderWithDomain", ("Username", "Token", "Domain"), None),
        (f"{{{NS}}}AuthHeader", ("Username", "Token"), None),
        (f"{{{NS}}}Company", ("ID", "Number", "Name"), None),
    ])


@pytest.mark.parametrize(("sent", "expected"), [
    (NS, NS),
    ("https://api-sandbox.nmbrs.nl/soap/v3/CompanyService", NS),
    ("http://127.0.0.1:8080/soap/v3/CompanyService/", NS),
    ("HTTPS://Bridge.Example.com/SOAP/v3/companyservice", NS),
    ("https://api.nmbrs.nl/soap/v3/DebtorService", None),
    ("urn:other", None),
    ("", None),
])
def test_a_namespace_of_another_host_with_the_same_path_is_ours(sent: str,
                                                                expected: str | None) -> None:
    assert _company().namespace_of(sent) == expected


def test_the_declared_header_is_also_named_after_the_type_it_extends() -> None:
    match = _company().match(NS, "AuthHeaderWithDomain")

    assert match is not None and match.element.element is ELEMENT
    assert match.names == ("AuthHeaderWithDomain", "AuthHeader")


def test_a_base_declared_only_as_a_type_is_read_as_the_element_extending_it() -> None:
    match = _company().match(NS, "AuthHeader")

    assert match is not None
    assert match.element.local == "AuthHeaderWithDomain" and match.element.element is ELEMENT
    assert match.names == ("AuthHeader", "AuthHeaderWithDomain")


@pytest.mark.parametrize("local", ["Company", "Security", "Action"])
def test_what_no_element_stands_for_is_not_matched(local: str) -> None:
    assert _company().match(NS, local) is None


def test_key_value_map_becomes_members_in_the_element_namespace() -> None:
    element = etree.fromstring(
        f'<h:AuthHeaderWithDomain xmlns:h="{NS}" xmlns:xsi="http://www.w3.org/2001/'
        'XMLSchema-instance"><item><key xsi:type="xsd:string">Username</key>'
        '<value>a@example.nl</value></item><item><key>Token</key><value>t0k</value></item>'
        "<item><key>Domain</key></item><item><key>not a name</key><value>x</value></item>"
        "</h:AuthHeaderWithDomain>")

    members = unmapped(element)

    assert members.tag == f"{{{NS}}}AuthHeaderWithDomain"
    assert [(child.tag, child.text) for child in members] == [
        (f"{{{NS}}}Username", "a@example.nl"), (f"{{{NS}}}Token", "t0k"),
        (f"{{{NS}}}Domain", "")]


@pytest.mark.parametrize("xml", [
    f'<AuthHeader xmlns="{NS}"><Username>u</Username><Token>t</Token></AuthHeader>',
    f'<AuthHeader xmlns="{NS}"><item><value>no key</value></item></AuthHeader>',
    f'<AuthHeader xmlns="{NS}"/>',
])
def test_anything_else_is_left_as_it_is(xml: str) -> None:
    element = etree.fromstring(xml)

    assert unmapped(element) is element


def test_members_the_schema_does_not_declare_are_dropped() -> None:
    element = etree.fromstring(f'<AuthHeader xmlns="{NS}"><Username>u</Username><Extra>x</Extra>'
                               "<Token>t</Token></AuthHeader>")

    kept = declared_members(element, ("Username", "Token", "Domain"))

    assert [etree.QName(child).localname for child in kept] == ["Username", "Token"]
    assert len(element) == 3  # the request itself is left as it came
    assert declared_members(kept, ("Username", "Token")) is kept
