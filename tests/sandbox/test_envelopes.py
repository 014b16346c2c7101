"""The sandbox's REST envelope links over real HTTP: signingLinks, accessLinks/{type} and the
/l/ links they hand out (assuresign-rest/FACTS.md §5.2, §5.3)."""

from __future__ import annotations

import pytest
import requests

from bridge.sandbox import SandboxServer

from .conftest import DEMO_KEY, EXAMPLE_INC

OPEN = "0b6e4f2a-7c1d-4e8b-9a35-2f4d6c8e10c1"
SIGNED = "3e5c1a9b-8d7f-4b6e-a5c4-2d1e0f9a8b77"
ELSEWHERE = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
BASE = "/api/documentnow/v3.7/envelope"


def _bearer(sandbox: SandboxServer, http: requests.Session, user: str = "jdoe@example.com") -> dict[str, str]:
    answer = http.post(f"{sandbox.url}/api/v3.7/authentication/apiUser", json={"request": {
        "apiUsername": "bridge-demo", "key": DEMO_KEY, "contextUsername": user}}, timeout=5)
    return {"Authorization": f"bearer {answer.json()['result']['token']}"}


def _get(sandbox: SandboxServer, http: requests.Session, path: str, headers: dict[str, str],
         **params: str) -> requests.Response:
    return http.get(f"{sandbox.url}{BASE}/{path}", params=params, headers=headers, timeout=5)


def test_signing_links_per_signer_and_their_pages(sandbox: SandboxServer, http: requests.Session) -> None:
    headers = _bearer(sandbox, http) | {"X-AS-UserContext": f"jdoe@example.com:{EXAMPLE_INC}"}
    answer = _get(sandbox, http, f"{OPEN}/signingLinks", headers, linkExpirationDate="2030-01-02T03:04:05Z")
    assert answer.status_code == 200
    links = answer.json()["result"]["signingLinks"]
    # No signer id and no name on REST: e-mail, mobile phone, url, expiry.
    assert [set(link) for link in links] == [
        {"envelopeID", "signatoryEmail", "signatoryMobilePhone", "url", "expirationDate"},
        {"envelopeID", "signatoryEmail", "url", "expirationDate"}]
    assert {link["expirationDate"] for link in links} == {"2030-01-02T03:04:05Z"}
    for link in links:
        assert link["url"].startswith(f"{sandbox.url}/l/")
        page = http.get(link["url"], timeout=5)
        assert page.status_code == 200 and link["signatoryEmail"] in page.text
    current = _get(sandbox, http, f"{OPEN}/signingLinks", headers, includeOnlyCurrentSigners="true")
    assert [link["signatoryEmail"] for link in current.json()["result"]["signingLinks"]] == [
        "pat@example.org"]
    assert _get(sandbox, http, f"{SIGNED}/signingLinks", headers).json()["result"]["signingLinks"] == []


@pytest.mark.parametrize(("path", "status", "code"), [
    ("not-a-guid/signingLinks", 400, "VALIDATION_FAILED"),
    ("0b6e4f2a-0000-4000-8000-000000000000/signingLinks", 404, "NOT_FOUND"),
    (f"{ELSEWHERE}/signingLinks", 401, "UNAUTHORIZED"),
    (f"{OPEN}/accessLinks/COMPLETED", 401, None),
    (f"{SIGNED}/accessLinks/INTERIM", 401, None),
    (f"{OPEN}/accessLinks/SUMMARY", 401, None),
    (f"{OPEN}/accessLinks", 404, "NOT_FOUND"),
])
def test_refusals_as_the_vendor_gives_them(sandbox: SandboxServer, http: requests.Session, path: str,
                                           status: int, code: str | None) -> None:
    answer = _get(sandbox, http, path, _bearer(sandbox, http))
    assert answer.status_code == status
    assert (answer.json()["errorCode"] if answer.content else None) == code


def test_access_links_party_or_originator(sandbox: SandboxServer, http: requests.Session) -> None:
    headers = _bearer(sandbox, http)
    party = _get(sandbox, http, f"{OPEN}/accessLinks/original", headers, signerEmail="SAM@example.org")
    link = party.json()["result"]["accessLink"]
    assert (link["documentType"], link["signerEmail"]) == ("original", "sam@example.org")
    assert "signerMobilePhone" not in link  # nulls are left out
    originator = _get(sandbox, http, f"{SIGNED}/accessLinks/COMPLETED", headers).json()["result"]
    assert set(originator["accessLink"]) == {"envelopeID", "documentType", "url", "expirationDate"}
    assert _get(sandbox, http, f"{OPEN}/accessLinks/ORIGINAL", headers,
                signerEmail="nobody@example.org").status_code == 404


def test_no_bearer_no_links(sandbox: SandboxServer, http: requests.Session) -> None:
    for headers in ({}, {"Authorization": "bearer nope"}):
        assert _get(sandbox, http, f"{OPEN}/signingLinks", headers).status_code == 401
    assert http.get(f"{sandbox.url}/l/unknown", timeout=5).status_code == 404
