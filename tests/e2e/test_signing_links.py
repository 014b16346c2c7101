"""Legacy GetSigningLinks and GetAccessLink end to end: on AssureSign's REST (the default pack)
and on OneSpan Sign (mappings/onespan), against the sandbox, with the caller's
AuthenticationToken as the session; raw SOAP and a zeep client generated from the served WSDL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import zeep
from lxml import etree

from tests.servers import (
    REPO,
    WSDL_PATH,
    Server,
    free_port,
    post_login,
    sandbox_calls,
    start_bridge,
    start_process,
    write_config,
)

NS = "https://www.assuresign.net/Services/DocumentNOW/"
CONTEXT = "821ae27f-027c-4f21-a2e5-1667fc9b650a"  # jdoe's account (Example, Inc.)
OTHER_CONTEXT = "06fd91ef-dab3-4d55-8b2c-214401174fbc"  # multi's, not jdoe's
OPEN = "0b6e4f2a-7c1d-4e8b-9a35-2f4d6c8e10c1"  # Pat (signing now) and Sam (later)
SIGNED = "3e5c1a9b-8d7f-4b6e-a5c4-2d1e0f9a8b77"
ELSEWHERE = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"  # another account's
PAT = "6a1f0c3e-2d4b-4c5a-9e8f-7b6a5d4c3b21"
SAM = "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c65"
TOKEN_REFUSED = "The AuthenticationToken is missing, invalid or has expired. Authenticate again."
# One answer for an unknown envelope, another account's and an account not the caller's: no
# refusal tells which ids exist.
NOT_PERMITTED = "The envelope was not found in an account this user can work in."
ACCESS_REFUSED = ("The envelope or the signatory was not found in an account this user can "
                  "work in.")
ONESPAN_KEY_ENV = "TEST_ONESPAN_KEY"


def _call(bridge: Server, operation: str, token: str | None, **attributes: str) -> etree._Element:
    """One legacy call, raw SOAP 1.1; the token travels in the Authorization header."""
    request = "".join(f' {name}="{value}"' for name, value in attributes.items())
    body = (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<{operation} xmlns="{NS}{operation}"><Request{request}/></{operation}>'
            "</soap:Body></soap:Envelope>")
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    answer = requests.post(f"{bridge.url}{WSDL_PATH}/{operation}/text", data=body.encode(),
                           headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    result = etree.fromstring(answer.content).find(f".//{{{NS}{operation}}}{operation}Result")
    assert result is not None, answer.text
    return result


def _links(result: etree._Element) -> list[dict[str, str]]:
    return [dict(link.attrib) for link in result.iter(f"{{{NS}GetSigningLinks}}SigningLink")]


def _refusal(result: etree._Element) -> str | None:
    exception = next(result.iter("{*}LinkException"), None)
    return exception.text if exception is not None else None


# The sandbox seed's demo password (AssureSign), and the one the OneSpan bridge's passwd set.
SANDBOX_PASSWORD = "Password"


def _login(bridge: Server, password: str = SANDBOX_PASSWORD) -> str:
    answer = post_login(bridge, "jdoe@example.com", password)
    found = re.search(r'AuthenticationToken="([^"]+)"', answer.text)
    assert found, answer.text
    return found.group(1)


def _signing(bridge: Server, token: str | None, envelope: str = OPEN, context: str = CONTEXT,
             **extra: str) -> etree._Element:
    return _call(bridge, "GetSigningLinks", token, ContextIdentifier=context,
                 IncludeOnlyCurrentSigners=extra.pop("current", "false"),
                 IsAuthenticated=extra.pop("authenticated", "false"), EnvelopeId=envelope, **extra)


def _open(url: str) -> requests.Response:
    return requests.get(url, timeout=10, allow_redirects=False)


# -- on AssureSign's REST (mappings/assuresign) -------------------------------------------


def test_signing_links_are_the_upstream_links(bridge: Server, sandbox: Server) -> None:
    token = _login(bridge)
    result = _signing(bridge, token)
    assert result.get("EnvelopeId") == OPEN
    links = _links(result)
    assert [(link["SignatoryEmail"], link.get("SignatoryMobilePhone")) for link in links] == [
        ("pat@example.org", "+15555550101"), ("sam@example.org", None)]
    for link in links:
        assert link["EnvelopeId"] == OPEN and link["ExpirationDate"].endswith("Z")
        assert link["Url"].startswith(sandbox.url + "/l/")
        page = _open(link["Url"])
        # The sandbox's own link: it opens the signing of this envelope for this signer.
        assert page.status_code == 200
        assert f"data-envelope='{OPEN}'" in page.text
        assert f"data-party='{link['SignatoryEmail']}'" in page.text
    only_now = _links(_signing(bridge, token, current="true"))
    assert [link["SignatoryEmail"] for link in only_now] == ["pat@example.org"]
    assert _links(_signing(bridge, token, envelope=SIGNED)) == []


def test_signing_links_refusals_in_the_legacy_shape(bridge: Server, sandbox: Server) -> None:
    token = _login(bridge)
    # A header that is sent must carry a good token ("Bearer " alone carries "Bearer").
    for refused in ("", "not-a-token", token[:-2] + "xx"):
        result = _signing(bridge, refused)
        assert _refusal(result) == TOKEN_REFUSED
        assert result.find("{*}SigningLinks") is None
    # No header: the legacy way, and this bridge knows no holder of the account
    # (tests/e2e/test_signing_links_legacy.py has bridges that do).
    assert _refusal(_signing(bridge, None)) == NOT_PERMITTED
    before = sandbox_calls(sandbox).get("signingLinks", 0)
    # An account the login does not have is refused by the bridge: nothing is asked upstream.
    assert _refusal(_signing(bridge, token, context=OTHER_CONTEXT)) == NOT_PERMITTED
    assert sandbox_calls(sandbox).get("signingLinks", 0) == before
    # Another account's envelope: the upstream's 401 becomes the legacy refusal.
    assert _refusal(_signing(bridge, token, envelope=ELSEWHERE)) == NOT_PERMITTED
    assert _refusal(_signing(bridge, token, envelope="0b6e4f2a-0000-4000-8000-000000000000")
                    ) == NOT_PERMITTED


def test_access_link_both_document_states(bridge: Server, sandbox: Server) -> None:
    token = _login(bridge)
    result = _call(bridge, "GetAccessLink", token, ContextIdentifier=CONTEXT, DocumentType="Original",
                   EnvelopeId=OPEN, SignatoryEmail="pat@example.org")
    link = result.find("{*}Link")
    assert link is not None, etree.tostring(result)
    assert (link.get("DocumentType"), link.get("SignatoryId"), link.get("SignatoryEmail")) == (
        "Original", PAT, "pat@example.org")
    page = _open(link.get("Url", ""))
    assert page.status_code == 200 and "data-purpose='original'" in page.text
    # The originator's link when no party is named; the completed document once signed.
    originator = _call(bridge, "GetAccessLink", token, ContextIdentifier=CONTEXT,
                       DocumentType="Completed", EnvelopeId=SIGNED).find("{*}Link")
    assert originator is not None and originator.get("SignatoryEmail") is None
    assert "data-purpose='completed'" in _open(originator.get("Url", "")).text
    unsigned = _call(bridge, "GetAccessLink", token, ContextIdentifier=CONTEXT,
                     DocumentType="Completed", EnvelopeId=OPEN)
    assert _refusal(unsigned) == "That version of the document is not available for this envelope."
    assert _refusal(_call(bridge, "GetAccessLink", "nope", ContextIdentifier=CONTEXT,
                          DocumentType="Original", EnvelopeId=OPEN)) == TOKEN_REFUSED


def _zeep(bridge: Server, token: str) -> zeep.Client:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return zeep.Client(bridge.url + WSDL_PATH + "?wsdl",
                       transport=zeep.Transport(session=session))


def test_zeep_client_from_served_wsdl_gets_assuresign_links(bridge: Server) -> None:
    client = _zeep(bridge, _login(bridge))
    links = client.bind("DocumentNOW", "BasicHttpBinding_IGetSigningLinksService").GetSigningLinks(
        Request={"ContextIdentifier": CONTEXT, "IncludeOnlyCurrentSigners": True,
                 "IsAuthenticated": False, "EnvelopeId": OPEN})
    assert [link.SignatoryEmail for link in links.SigningLinks.SigningLink] == ["pat@example.org"]
    access = client.bind("DocumentNOW", "BasicHttpBinding_IGetAccessLinkService").GetAccessLink(
        Request={"ContextIdentifier": CONTEXT, "DocumentType": "Interim", "EnvelopeId": OPEN,
                 "SignatoryEmail": "sam@example.org"})
    assert (access.Link.DocumentType, access.Link.SignatoryId) == ("Interim", SAM)
    assert _open(access.Link.Url).status_code == 200


# -- on OneSpan Sign (mappings/onespan) ------------------------------------------------------


def _onespan_key() -> str:
    from bridge.sandbox.onespan import load_onespan_seed

    return load_onespan_seed(None).api_keys[0].key


@pytest.fixture(scope="module")
def onespan(sandbox: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("onespan")
    credentials = workdir / "credentials.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "passwd", "jdoe@example.com", "--file", str(credentials),
         "--password-stdin"], input="S3cret!\n", capture_output=True, text=True, timeout=30,
        check=False)
    assert done.returncode == 0, done.stderr
    config = write_config(
        workdir, sandbox.url, mappings="mappings/onespan", credentials_file=str(credentials),
        upstreams={"onespan": {"base_url": sandbox.url, "connect_timeout": "1s",
                               "read_timeout": "2s"}},
        secrets={"onespan_api_key": {"env": ONESPAN_KEY_ENV}},
        vars={"onespan_url": sandbox.url, "onespan_account": "example-onespan",
              "expired_password_url": "https://sandbox.invalid/ChangePassword?expired=1"},
        directory={"file": str(REPO / "examples" / "onespan-directory.yaml")},
    )
    server = start_bridge(workdir, config, workers=1, env={ONESPAN_KEY_ENV: _onespan_key()})
    yield server
    server.stop()


def _onespan_token(onespan: Server) -> str:
    return _login(onespan, password="S3cret!")


def test_onespan_login_answers_the_directory_accounts(onespan: Server) -> None:
    answer = post_login(onespan, "jdoe@example.com", "S3cret!")
    assert 'Success="true"' in answer.text and f'ContextIdentifier="{CONTEXT}"' in answer.text
    assert 'FirstName="John"' in answer.text
    wrong = post_login(onespan, "jdoe@example.com", "Password")
    assert "Invalid user name or password." in wrong.text


def test_onespan_signing_links_are_redeemed_by_onespan(onespan: Server, sandbox: Server) -> None:
    token = _onespan_token(onespan)
    links = _links(_signing(onespan, token))
    assert [(link["SignatoryId"], link["SignatoryEmail"]) for link in links] == [
        (PAT, "pat@example.org"), (SAM, "sam@example.org")]
    for link in links:
        assert link["Url"].startswith(f"{sandbox.url}/access?sessionToken=")
        # Multi-use: the signer may come back to the same link.
        for _ in range(2):
            page = _open(link["Url"])
            assert page.status_code == 200, page.text
            assert "data-kind='signerMultiUse'" in page.text
            assert f"data-signer='{link['SignatoryId']}'" in page.text
    kinds = requests.get(f"{sandbox.url}/_sandbox/onespan/tokens", timeout=5).json()["tokens"]
    assert sorted(t["kind"] for t in kinds) == ["signerMultiUse", "signerMultiUse"]


def test_onespan_one_time_links_work_once(onespan: Server, sandbox: Server) -> None:
    token = _onespan_token(onespan)
    links = _links(_signing(onespan, token, authenticated="true"))
    assert len(links) == 2
    first = _open(links[0]["Url"])
    assert first.status_code == 200 and "data-kind='signerSingleUse'" in first.text
    again = _open(links[0]["Url"])
    assert again.status_code == 401 and "already been used" in again.text
    # The other signer's link is untouched by that, until OneSpan's 30 minutes are over.
    requests.post(f"{sandbox.url}/_sandbox/onespan/clock", json={"advance_s": 30 * 60 + 1},
                  timeout=5).raise_for_status()
    assert _open(links[1]["Url"]).status_code == 401


def test_onespan_access_links_signer_and_originator(onespan: Server, sandbox: Server) -> None:
    token = _onespan_token(onespan)
    signer = _call(onespan, "GetAccessLink", token, ContextIdentifier=CONTEXT,
                   DocumentType="Completed", EnvelopeId=SIGNED,
                   SignatoryId="2b3c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d").find("{*}Link")
    assert signer is not None and signer.get("DocumentType") == "Completed"
    assert signer.get("Url", "").startswith(f"{sandbox.url}/access?sessionToken=")
    assert _open(signer.get("Url", "")).status_code == 200
    originator = _call(onespan, "GetAccessLink", token, ContextIdentifier=CONTEXT,
                       DocumentType="Original", EnvelopeId=OPEN).find("{*}Link")
    assert originator is not None and originator.get("SignatoryId") is None
    url = originator.get("Url", "")
    assert url.startswith(f"{sandbox.url}/auth?senderAuthenticationToken=")
    page = _open(url)
    assert page.status_code == 200 and f"data-package='{OPEN}'" in page.text
    assert _open(url).status_code == 401  # a sender token is single-use


def test_onespan_refusals_in_the_legacy_shape(onespan: Server, sandbox: Server) -> None:
    token = _onespan_token(onespan)
    assert _refusal(_signing(onespan, "nope")) == TOKEN_REFUSED
    assert _refusal(_signing(onespan, token, context=OTHER_CONTEXT)) == NOT_PERMITTED
    # Another OneSpan account's package is not found with this account's key.
    assert _refusal(_signing(onespan, token, envelope=ELSEWHERE)) == NOT_PERMITTED
    assert _refusal(_call(onespan, "GetAccessLink", token, ContextIdentifier=CONTEXT,
                          DocumentType="Original", EnvelopeId=OPEN,
                          SignatoryId="00000000-0000-4000-8000-000000000000")) == (
        ACCESS_REFUSED)


def test_zeep_client_from_served_wsdl_gets_onespan_links(onespan: Server) -> None:
    client = _zeep(onespan, _onespan_token(onespan))
    answer: Any = client.bind("DocumentNOW", "BasicHttpBinding_IGetSigningLinksService").GetSigningLinks(
        Request={"ContextIdentifier": CONTEXT, "IncludeOnlyCurrentSigners": False,
                 "IsAuthenticated": True, "EnvelopeId": OPEN})
    urls = [link.Url for link in answer.SigningLinks.SigningLink]
    assert len(urls) == 2
    assert [_open(url).status_code for url in urls + urls] == [200, 200, 401, 401]


def test_the_onespan_example_runs_in_demo_mode(tmp_path_factory: pytest.TempPathFactory) -> None:
    """examples/onespan.yaml as shipped, but for its paths: demo mode starts the sandbox, hands
    the bridge OneSpan's demo key and points vars.onespan_url at the sandbox."""
    workdir = tmp_path_factory.mktemp("onespan-demo")
    credentials = workdir / "credentials.yaml"
    text = (REPO / "examples" / "onespan.yaml").read_text()
    text = (text.replace("../state/credentials.yaml", str(credentials))
            .replace("../", f"{REPO}/")
            .replace("file: onespan-directory.yaml", f"file: {REPO}/examples/onespan-directory.yaml"))
    config = workdir / "onespan.yaml"
    config.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "passwd", "jdoe@example.com", "--config", str(config),
         "--password-stdin"], input="S3cret!\n", capture_output=True, text=True, timeout=30,
        check=False, cwd=workdir)
    assert done.returncode == 0, done.stderr
    port = free_port()
    server = start_process(["serve", "--config", str(config), "--port", str(port), "--workers", "1"],
                           workdir, f"http://127.0.0.1:{port}/healthz")
    try:
        token = _login(server, password="S3cret!")
        links = _links(_signing(server, token))
        assert len(links) == 2
        sandbox_url = re.search(r"Sandbox upstream \(in-process\): (\S+)", server.output())
        assert sandbox_url is not None, server.output()
        assert all(link["Url"].startswith(f"{sandbox_url.group(1)}/access?sessionToken=")
                   for link in links)
        assert _open(links[0]["Url"]).status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize("stack", ["php", "node"])
def test_field_clients_send_the_token_and_get_links(onespan: Server, stack: str) -> None:
    """PHP's SoapClient (the token through its stream context) and node's soap package (an
    added HTTP header), each built from the served WSDL, get OneSpan links."""
    from tests.e2e.test_field_clients import CLIENTS, FieldClient, _items, _plain

    client = FieldClient(stack, "1.1")
    attributes = {"ContextIdentifier": CONTEXT, "IncludeOnlyCurrentSigners": "false",
                  "IsAuthenticated": "false", "EnvelopeId": OPEN}
    instruction = {"soap_version": "1.1", "operation": "GetSigningLinks",
                   "parameters": {"Request": {"attributes": attributes} if stack == "node"
                                  else attributes},
                   "http_headers": {"Authorization": f"Bearer {_onespan_token(onespan)}"}}
    done = subprocess.run([*client.command(), onespan.url + WSDL_PATH + "?wsdl"],
                          input=json.dumps(instruction), capture_output=True, text=True, timeout=60,
                          cwd=CLIENTS)
    assert done.returncode == 0, done.stdout + done.stderr
    result = _plain(json.loads(done.stdout)["result"])
    links = _items(result.get("GetSigningLinksResult", result)["SigningLinks"]["SigningLink"])
    assert [link["SignatoryEmail"] for link in links] == ["pat@example.org", "sam@example.org"]
    assert all(_open(link["Url"]).status_code == 200 for link in links)
