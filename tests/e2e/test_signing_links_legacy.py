"""GetSigningLinks and GetAccessLink called exactly as legacy callers call them: no
AuthenticationToken anywhere (the WSDL has no field for one), only the ContextIdentifier and
the envelope. Through the AssureSign pack (the account's holder from contexts.holders) and the
OneSpan pack (the holder from the directory file), with a zeep client generated from the
served WSDL, PHP's SoapClient and raw SOAP; the links are redeemed at the sandbox. A wrong
account or another account's envelope gets the legacy refusal; a token sent still counts;
contexts.require_token refuses tokenless calls in the legacy shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import zeep

from tests.e2e.test_field_clients import Call, FieldClient, _items
from tests.e2e.test_signing_links import (
    ACCESS_REFUSED,
    CONTEXT,
    ELSEWHERE,
    NOT_PERMITTED,
    OPEN,
    OTHER_CONTEXT,
    SAM,
    SIGNED,
    TOKEN_REFUSED,
    _call,
    _links,
    _login,
    _onespan_token,
    _open,
    _refusal,
    _signing,
    onespan,  # noqa: F401 - the OneSpan bridge fixture (its directory file holds CONTEXT)
)
from tests.servers import (
    REPO,
    WSDL_PATH,
    Server,
    free_port,
    sandbox_calls,
    start_bridge,
    start_process,
    write_config,
)

TOKEN_REQUIRED = ("This service requires the AuthenticationToken of AuthenticateUser in the "
                  "HTTP header 'Authorization: Bearer <token>'.")
HOLDERS = {"holders": {CONTEXT: "jdoe@example.com"}}


def _assuresign(sandbox: Server, tmp_path_factory: pytest.TempPathFactory,
                contexts: dict[str, Any]) -> Server:
    workdir = tmp_path_factory.mktemp("links-legacy")
    return start_bridge(workdir, write_config(workdir, sandbox.url, contexts=contexts), workers=1)


@pytest.fixture(scope="module")
def assuresign(sandbox: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default pack; jdoe holds Example, Inc. for calls without a token."""
    server = _assuresign(sandbox, tmp_path_factory, HOLDERS)
    yield server
    server.stop()


def _signed_here(url: str, envelope: str, party: str) -> None:
    """The sandbox's own short link opens this envelope's signing for this party."""
    page = _open(url)
    assert page.status_code == 200, page.text
    assert f"data-envelope='{envelope}'" in page.text and f"data-party='{party}'" in page.text


def _result(call: Call, operation: str) -> dict[str, Any]:
    """The operation's result as SoapClient gives it (with or without its wrapper)."""
    result: dict[str, Any] = call.result.get(f"{operation}Result", call.result)
    return result


def _php_signing_links(client: FieldClient, bridge: Server, current: str,
                       authenticated: str) -> list[dict[str, Any]]:
    """GetSigningLinks from SoapClient, which sends no Authorization header."""
    call = client.call(bridge, "GetSigningLinks", "Request", {
        "ContextIdentifier": CONTEXT, "IncludeOnlyCurrentSigners": current,
        "IsAuthenticated": authenticated, "EnvelopeId": OPEN})
    assert "authorization" not in call.headers
    return _items(_result(call, "GetSigningLinks")["SigningLinks"]["SigningLink"])


def _zeep(bridge: Server) -> zeep.Client:
    """Generated from the served WSDL; no header of any kind is added."""
    return zeep.Client(bridge.url + WSDL_PATH + "?wsdl")


# -- AssureSign's REST (mappings/assuresign) ------------------------------------------------


def test_zeep_without_a_token_gets_links_the_sandbox_redeems(assuresign: Server,
                                                             sandbox: Server) -> None:
    client = _zeep(assuresign)
    service = client.bind("DocumentNOW", "BasicHttpBinding_IGetSigningLinksService")
    before = sandbox_calls(sandbox).get("apiUser", 0)
    answer = service.GetSigningLinks(Request={
        "ContextIdentifier": CONTEXT, "IncludeOnlyCurrentSigners": False, "IsAuthenticated": False,
        "EnvelopeId": OPEN})
    assert answer.Exceptions is None
    links = answer.SigningLinks.SigningLink
    assert [link.SignatoryEmail for link in links] == ["pat@example.org", "sam@example.org"]
    for link in links:
        _signed_here(link.Url, OPEN, link.SignatoryEmail)
    # The holder's bearer came from apiUser once, and is reused (cached) by the next call.
    again = service.GetSigningLinks(Request={
        "ContextIdentifier": CONTEXT.upper(), "IncludeOnlyCurrentSigners": True,
        "IsAuthenticated": False, "EnvelopeId": OPEN})
    assert [link.SignatoryEmail for link in again.SigningLinks.SigningLink] == ["pat@example.org"]
    assert sandbox_calls(sandbox).get("apiUser", 0) == before + 1
    access = client.bind("DocumentNOW", "BasicHttpBinding_IGetAccessLinkService").GetAccessLink(
        Request={"ContextIdentifier": CONTEXT, "DocumentType": "Interim", "EnvelopeId": OPEN,
                 "SignatoryEmail": "sam@example.org"})
    assert (access.Link.DocumentType, access.Link.SignatoryId) == ("Interim", SAM)
    page = _open(access.Link.Url)
    assert page.status_code == 200 and "data-purpose='interim'" in page.text
    # Each operation remembers its own (a cache entry is its rule's).
    assert sandbox_calls(sandbox).get("apiUser", 0) == before + 2
    # The log says these came without a token; it names neither the holder nor the account.
    log = assuresign.output()
    assert log.count("no token: acting as the account's holder") == 3, log
    assert "jdoe@example.com" not in log and CONTEXT not in log.lower()


def test_php_soapclient_without_a_token_gets_both_links(assuresign: Server) -> None:
    client = FieldClient("php", "1.1")
    links = _php_signing_links(client, assuresign, current="true", authenticated="false")
    assert [link["SignatoryEmail"] for link in links] == ["pat@example.org"]
    _signed_here(links[0]["Url"], OPEN, "pat@example.org")
    access = client.call(assuresign, "GetAccessLink", "Request", {
        "ContextIdentifier": CONTEXT, "DocumentType": "Completed", "EnvelopeId": SIGNED})
    link = _result(access, "GetAccessLink")["Link"]
    assert link["DocumentType"] == "Completed" and "SignatoryEmail" not in link
    assert "data-purpose='completed'" in _open(link["Url"]).text


def test_without_a_token_a_wrong_account_or_envelope_is_refused_the_legacy_way(
        assuresign: Server, sandbox: Server) -> None:
    before = sandbox_calls(sandbox)
    # An account no holder is known of (here: another user's): nothing goes upstream.
    result = _signing(assuresign, None, context=OTHER_CONTEXT)
    assert _refusal(result) == NOT_PERMITTED and result.find("{*}SigningLinks") is None
    assert sandbox_calls(sandbox).get("signingLinks", 0) == before.get("signingLinks", 0)
    # Another account's envelope, asked for in jdoe's account: REST's 401 is the refusal.
    assert _refusal(_signing(assuresign, None, envelope=ELSEWHERE)) == NOT_PERMITTED
    assert _refusal(_call(assuresign, "GetAccessLink", None, ContextIdentifier=CONTEXT,
                          DocumentType="Original", EnvelopeId=ELSEWHERE)) == ACCESS_REFUSED
    assert _refusal(_signing(assuresign, None, envelope="0b6e4f2a-0000-4000-8000-000000000000")
                    ) == NOT_PERMITTED


def test_refusals_do_not_tell_which_ids_exist(assuresign: Server,
                                              onespan: Server) -> None:  # noqa: F811
    """Without a token the ContextIdentifier is the credential: an unknown one, another
    account's envelope and an envelope that exists nowhere get one answer, on both packs, so
    probing cannot learn which accounts the bridge knows or which envelopes exist."""
    nowhere = "0b6e4f2a-0000-4000-8000-000000000000"
    unknown_context = "00000000-1111-4222-8333-444444444444"
    asks = ((CONTEXT, ELSEWHERE), (CONTEXT, nowhere), (OTHER_CONTEXT, OPEN),
            (unknown_context, nowhere))
    for bridge in (assuresign, onespan):
        assert {_refusal(_signing(bridge, None, context=context, envelope=envelope))
                for context, envelope in asks} == {NOT_PERMITTED}
        assert {_refusal(_call(bridge, "GetAccessLink", None, ContextIdentifier=context,
                               DocumentType="Original", EnvelopeId=envelope))
                for context, envelope in asks} == {ACCESS_REFUSED}


def test_a_token_sent_is_still_the_session(assuresign: Server) -> None:
    token = _login(assuresign)
    assert len(_links(_signing(assuresign, token))) == 2
    # A token that is sent is checked: a dead one is not passed over for the legacy way.
    assert _refusal(_signing(assuresign, token[:-2] + "xx")) == TOKEN_REFUSED
    # A login's account list still bounds what its token may name.
    assert _refusal(_signing(assuresign, token, context=OTHER_CONTEXT)) == NOT_PERMITTED


def test_require_token_refuses_calls_without_one(sandbox: Server,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    strict = _assuresign(sandbox, tmp_path_factory, {**HOLDERS, "require_token": True})
    try:
        result = _signing(strict, None)
        assert _refusal(result) == TOKEN_REQUIRED and result.find("{*}SigningLinks") is None
        assert _refusal(_call(strict, "GetAccessLink", None, ContextIdentifier=CONTEXT,
                              DocumentType="Original", EnvelopeId=OPEN)) == TOKEN_REQUIRED
        assert len(_links(_signing(strict, _login(strict)))) == 2
    finally:
        strict.stop()


# -- OneSpan Sign (mappings/onespan) --------------------------------------------------------


def test_onespan_without_a_token_zeep_and_php(onespan: Server, sandbox: Server) -> None:  # noqa: F811
    answer = _zeep(onespan).bind("DocumentNOW", "BasicHttpBinding_IGetSigningLinksService"
                                 ).GetSigningLinks(Request={
        "ContextIdentifier": CONTEXT, "IncludeOnlyCurrentSigners": False,
        "IsAuthenticated": False, "EnvelopeId": OPEN})
    urls = [link.Url for link in answer.SigningLinks.SigningLink]
    assert len(urls) == 2 and all(u.startswith(f"{sandbox.url}/access?sessionToken=") for u in urls)
    for url in urls:
        page = _open(url)
        assert page.status_code == 200 and "data-kind='signerMultiUse'" in page.text
    signer = _zeep(onespan).bind("DocumentNOW", "BasicHttpBinding_IGetAccessLinkService"
                                 ).GetAccessLink(Request={
        "ContextIdentifier": CONTEXT, "DocumentType": "Completed", "EnvelopeId": SIGNED,
        "SignatoryId": "2b3c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d"})
    assert signer.Link.Url.startswith(f"{sandbox.url}/access?sessionToken=")
    assert _open(signer.Link.Url).status_code == 200
    php = FieldClient("php", "1.1")
    links = _php_signing_links(php, onespan, current="false", authenticated="true")
    assert [link["SignatoryEmail"] for link in links] == ["pat@example.org", "sam@example.org"]
    assert [_open(links[0]["Url"]).status_code for _ in range(2)] == [200, 401]  # single-use
    call = php.call(onespan, "GetAccessLink", "Request", {
        "ContextIdentifier": CONTEXT, "DocumentType": "Original", "EnvelopeId": OPEN})
    assert "authorization" not in call.headers
    url = _result(call, "GetAccessLink")["Link"]["Url"]
    assert url.startswith(f"{sandbox.url}/auth?senderAuthenticationToken=")
    page = _open(url)
    assert page.status_code == 200 and f"data-package='{OPEN}'" in page.text


def test_onespan_without_a_token_refusals(onespan: Server) -> None:  # noqa: F811
    # The directory file knows no holder of this account.
    assert _refusal(_signing(onespan, None, context=OTHER_CONTEXT)) == NOT_PERMITTED
    # Another OneSpan account's package is not found with this account's key.
    assert _refusal(_signing(onespan, None, envelope=ELSEWHERE)) == NOT_PERMITTED
    assert _refusal(_signing(onespan, "nope")) == TOKEN_REFUSED
    assert len(_links(_signing(onespan, _onespan_token(onespan)))) == 2


def test_raw_soap_without_a_token_gets_no_fault(assuresign: Server) -> None:
    """No Client Fault for a header legacy callers never sent: a 200 with the result."""
    body = (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<GetSigningLinks xmlns="https://www.assuresign.net/Services/DocumentNOW/GetSigningLinks">'
            f'<Request ContextIdentifier="{CONTEXT}" IncludeOnlyCurrentSigners="false" '
            f'IsAuthenticated="false" EnvelopeId="{OPEN}" '
            'EnvelopeAuthToken="5d2a0c1e-0000-4000-8000-000000000090"/>'
            "</GetSigningLinks></soap:Body></soap:Envelope>")
    answer = requests.post(f"{assuresign.url}{WSDL_PATH}/GetSigningLinks/text", data=body.encode(),
                           headers={"Content-Type": "text/xml; charset=utf-8",
                                    "SOAPAction": '"https://www.assuresign.net/Services/DocumentNOW/'
                                                  'GetSigningLinks/IGetSigningLinksService/'
                                                  'GetSigningLinks"'}, timeout=10)
    assert answer.status_code == 200 and b"Fault" not in answer.content, answer.text
    assert answer.text.count("<SigningLink ") + answer.text.count(":SigningLink ") == 2, answer.text


def test_the_demo_serves_links_without_a_token(tmp_path_factory: pytest.TempPathFactory) -> None:
    """examples/demo.yaml as shipped (its contexts.holders), in demo mode: a legacy caller's
    request, with no token, gets links its in-process sandbox redeems."""
    workdir = tmp_path_factory.mktemp("demo-links")
    config = workdir / "demo.yaml"
    config.write_text((REPO / "examples" / "demo.yaml").read_text().replace("../", f"{REPO}/"))
    port = free_port()
    server = start_process(["serve", "--config", str(config), "--port", str(port), "--workers", "1"],
                           workdir, f"http://127.0.0.1:{port}/healthz")
    try:
        links = _links(_signing(server, None))
        assert [link["SignatoryEmail"] for link in links] == ["pat@example.org", "sam@example.org"]
        _signed_here(links[0]["Url"], OPEN, "pat@example.org")
    finally:
        server.stop()
