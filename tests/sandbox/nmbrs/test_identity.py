"""The emulated identity service end to end: discovery, authorize → code → token with PKCE,
refresh-token rotation with replay detection, revocation, expiry, and the grant controls."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from bridge.sandbox import SandboxServer
from tests.sandbox.conftest import Clock
from tests.sandbox.nmbrs.conftest import (
    ACME_DEBTOR,
    BAKERY_DEBTOR,
    CLIENT_ID,
    CLIENT_SECRET,
    CONNECTOR,
    REDIRECT_URI,
    Pkce,
    authorize,
    grant,
    redeem,
    rest_headers,
    token,
)


def companies(sandbox: SandboxServer, http: requests.Session, access_token: str) -> requests.Response:
    return http.get(sandbox.url + "/api/companies", headers=rest_headers(access_token), timeout=5)


def refresh(sandbox: SandboxServer, http: requests.Session, refresh_token: str) -> requests.Response:
    return token(sandbox, http, grant_type="refresh_token", refresh_token=refresh_token)


def grants(sandbox: SandboxServer, http: requests.Session) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = http.get(sandbox.url + "/_sandbox/nmbrs/grants", timeout=5).json()[
        "grants"
    ]
    return listed


def test_the_discovery_document_names_this_hosts_endpoints(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    document = http.get(sandbox.url + "/.well-known/openid-configuration", timeout=5).json()

    assert document["issuer"] == sandbox.url
    assert document["authorization_endpoint"] == sandbox.url + "/connect/authorize"
    assert document["token_endpoint"] == sandbox.url + "/connect/token"
    assert document["revocation_endpoint"] == sandbox.url + "/connect/revocation"
    assert "offline_access" in document["scopes_supported"]
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_authorization_code_with_pkce_then_rotating_refresh_tokens(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    first = grant(sandbox, http)
    assert first["token_type"] == "Bearer"
    assert first["expires_in"] == 3600
    assert set(first["scope"].split()) == {"offline_access", "company.info.read", "employee.info.read"}
    claims = json.loads(base64.urlsafe_b64decode(first["access_token"].split(".")[1] + "=="))
    assert (claims["client_id"], claims["debtor_id"]) == (CLIENT_ID, ACME_DEBTOR)
    assert companies(sandbox, http, first["access_token"]).status_code == 200

    second = refresh(sandbox, http, first["refresh_token"])
    assert second.status_code == 200
    assert second.headers["Cache-Control"] == "no-store"
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert companies(sandbox, http, rotated["access_token"]).status_code == 200

    third = refresh(sandbox, http, rotated["refresh_token"])
    assert third.status_code == 200
    (family,) = grants(sandbox, http)
    assert (family["rotations"], family["revoked"], family["debtor"]) == (2, False, ACME_DEBTOR)


def test_a_spent_refresh_token_is_refused_and_revokes_the_whole_grant(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    first = grant(sandbox, http)
    rotated = refresh(sandbox, http, first["refresh_token"]).json()

    replayed = refresh(sandbox, http, first["refresh_token"])

    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"
    # The thief's replay ends the family: the rotated tokens die with it.
    assert refresh(sandbox, http, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    assert companies(sandbox, http, rotated["access_token"]).status_code == 401
    assert grants(sandbox, http)[0]["revoked"] is True


def test_a_code_works_once_for_its_verifier_and_redirect_uri(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    pkce = Pkce.new()
    code = authorize(sandbox, http, pkce)["code"]
    base = {"grant_type": "authorization_code", "code": code}

    wrong_verifier = redeem(sandbox, http, code, Pkce.new())
    wrong_redirect = token(
        sandbox, http, **base, redirect_uri="http://127.0.0.1:1/elsewhere", code_verifier=pkce.verifier
    )
    good = redeem(sandbox, http, code, pkce)
    again = redeem(sandbox, http, code, pkce)

    assert [r.status_code for r in (wrong_verifier, wrong_redirect, good, again)] == [400, 400, 200, 400]
    assert again.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: a code used twice revokes what it gave.
    assert companies(sandbox, http, good.json()["access_token"]).status_code == 401


def test_a_code_lives_five_minutes(sandbox: SandboxServer, http: requests.Session, clock: Clock) -> None:
    pkce = Pkce.new()
    code = authorize(sandbox, http, pkce)["code"]
    clock.advance(301)

    late = redeem(sandbox, http, code, pkce)

    assert late.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code has expired.",
    }


def test_access_tokens_expire_and_refresh_tokens_slide(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    first = grant(sandbox, http)
    clock.advance(3601)
    assert companies(sandbox, http, first["access_token"]).status_code == 401

    clock.advance(29 * 24 * 3600)  # 29 days after the grant and then some: still inside 30
    second = refresh(sandbox, http, first["refresh_token"]).json()
    clock.advance(29 * 24 * 3600)  # a sliding lifetime starts again at each rotation
    assert refresh(sandbox, http, second["refresh_token"]).status_code == 200


def test_without_offline_access_there_is_no_refresh_token(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    answer = grant(sandbox, http, scope="company.info.read")

    assert "refresh_token" not in answer


def test_the_grant_is_for_the_consenting_users_debtor(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = grant(sandbox, http, login_hint=CONNECTOR[0])

    listed = companies(sandbox, http, answer["access_token"]).json()["data"]
    assert {row["debtorId"] for row in listed} == {BAKERY_DEBTOR}


def test_client_authentication_basic_or_post(sandbox: SandboxServer, http: requests.Session) -> None:
    first = grant(sandbox, http)
    posted = http.post(
        sandbox.url + "/connect/token",
        timeout=5,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    wrong_basic = http.post(
        sandbox.url + "/connect/token",
        auth=(CLIENT_ID, "nope"),
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": "x"},
    )
    wrong_post = http.post(
        sandbox.url + "/connect/token",
        timeout=5,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": CLIENT_ID,
            "client_secret": "nope",
        },
    )

    assert posted.status_code == 200
    assert (wrong_basic.status_code, wrong_basic.json()["error"]) == (401, "invalid_client")
    assert wrong_basic.headers["WWW-Authenticate"].startswith("Basic")
    assert (wrong_post.status_code, wrong_post.json()["error"]) == (400, "invalid_client")


def test_revoking_the_refresh_token_ends_the_grant(sandbox: SandboxServer, http: requests.Session) -> None:
    first = grant(sandbox, http)

    revoked = http.post(
        sandbox.url + "/connect/revocation",
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
        data={"token": first["refresh_token"], "token_type_hint": "refresh_token"},
    )
    unknown = http.post(
        sandbox.url + "/connect/revocation",
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
        data={"token": "never-issued"},
    )

    assert (revoked.status_code, unknown.status_code) == (200, 200)
    assert refresh(sandbox, http, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert companies(sandbox, http, first["access_token"]).status_code == 401


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "offline_access payroll.everything"}, "invalid_scope"),
        ({"code_challenge": "abc", "code_challenge_method": "plain"}, "invalid_request"),
        ({"login_hint": "nobody@example.nl"}, "access_denied"),
    ],
)
def test_authorize_refusals_go_back_to_the_client(
    sandbox: SandboxServer, http: requests.Session, params: dict[str, str], error: str
) -> None:
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "offline_access",
        "state": "s1",
        **params,
    }

    response = http.get(sandbox.url + "/connect/authorize", params=query, allow_redirects=False, timeout=5)

    assert response.status_code == 302
    assert f"error={error}" in response.headers["Location"]
    assert "state=s1" in response.headers["Location"]


@pytest.mark.parametrize(
    ("client_id", "redirect_uri"),
    [
        ("PartnerApp_Unknown", REDIRECT_URI),
        (CLIENT_ID, "https://evil.example/callback"),
        (CLIENT_ID, "http://127.0.0.1:8080/other-path"),
    ],
)
def test_authorize_never_redirects_to_an_unregistered_uri(
    sandbox: SandboxServer, http: requests.Session, client_id: str, redirect_uri: str
) -> None:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "offline_access",
    }

    response = http.get(sandbox.url + "/connect/authorize", params=query, allow_redirects=False, timeout=5)

    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("action", "access", "refreshed"),
    [("expire_access", 401, 200), ("expire_refresh", 200, 400), ("revoke", 401, 400)],
)
def test_grant_controls(
    sandbox: SandboxServer, http: requests.Session, action: str, access: int, refreshed: int
) -> None:
    mine = grant(sandbox, http)
    other = grant(sandbox, http, login_hint=CONNECTOR[0])

    acted = http.post(
        sandbox.url + "/_sandbox/nmbrs/grants", json={"action": action, "debtor": ACME_DEBTOR}, timeout=5
    )

    assert acted.json() == {"matched": 1}
    assert companies(sandbox, http, mine["access_token"]).status_code == access
    assert refresh(sandbox, http, mine["refresh_token"]).status_code == refreshed
    assert companies(sandbox, http, other["access_token"]).status_code == 200
