"""Random and mutated envelopes through the real endpoint: a Fault or a proper status, always."""

from __future__ import annotations

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.servers import AUTH_ACTION, USERS_PATH, Server, soap11_login

SEED = soap11_login("jdoe@example.com", "Password")
ENVELOPES = ("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")
CONTENT_TYPES = st.sampled_from([
    "text/xml", "text/xml; charset=utf-8", "application/soap+xml",
    f'application/soap+xml; action="{AUTH_ACTION}"',
    "application/json", "", "text/xml; charset=latin-1", "multipart/related",
])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b"<", b">", b"&", b"&amp;", b"<!DOCTYPE x>",
                                                b"\x00", b"\xff\xfe", b"]]>", b"<a>" * 40,
                                                b'"', b"xmlns:q='urn:q'", b"<?pi?>"]))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 20))]
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


BODIES = st.one_of(mutated(), st.binary(max_size=512),
                   st.text(max_size=300).map(lambda text: text.encode("utf-8")))


def _check(bridge: Server, response: requests.Response) -> None:
    assert response.status_code in (200, 400, 413, 415, 500), response.status_code
    assert b"Traceback" not in response.content
    if response.status_code in (400, 500):
        root = etree.fromstring(response.content)
        assert root.tag in {f"{{{ns}}}Envelope" for ns in ENVELOPES}
        assert root.find(f"{{{root.nsmap['s']}}}Body/{{{root.nsmap['s']}}}Fault") is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES, content_type=CONTENT_TYPES,
       action=st.one_of(st.none(), st.just(AUTH_ACTION), st.just('""'),
                        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126),
                                max_size=40)))
def test_fuzzed_requests_never_break_the_endpoint(bridge: Server, body: bytes, content_type: str,
                                                  action: str | None) -> None:
    headers = {"Content-Type": content_type}
    if action is not None:
        # Printable header values: the fuzzing is aimed at SOAP, not at the HTTP parser.
        headers["SOAPAction"] = action
    response = requests.post(bridge.url + USERS_PATH, data=body, headers=headers, timeout=10)
    _check(bridge, response)


def test_the_bridge_survived_the_fuzzing(bridge: Server) -> None:
    assert requests.get(bridge.url + "/healthz", timeout=5).status_code == 200
    assert bridge.process.poll() is None
    assert "Traceback" not in bridge.output()
