"""Helpers for the Nmbrs emulation's tests: the seed's credentials, raw SOAP calls, the OAuth dance.

The sandbox fixtures (one real server per module, reset before every test, the swappable
clock) come from tests/sandbox/conftest.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests
from lxml import etree

from bridge.sandbox import SandboxServer
from tests.soapxml import SOAP11, SOAP12

NS_ROOT = "https://api.nmbrs.nl/soap/v3/"
MASTER = ("payroll.api@example.nl", "e4c5577c6836855b5ca9f02e04aab76e")  # every debtor
CONNECTOR = ("hr.connector@example.nl", "a02db0a22dc0cb4df49b6c270fafe988")  # debtor 40002 only
MULTI_ENV = ("multi.env@example.nl", "534c31b085c6abe26ea5443a27d96bcf")
PASSWORD = "Sandbox-Passw0rd"
SUBDOMAIN = "acmepayroll"
CLIENT_ID = "PartnerApp_SoapBridge_sandbox"
CLIENT_SECRET = "6ZOXv9EZm0guo1GkiD3YAqJH1BCvYCVm"
SUBSCRIPTION_KEY = "8d56ab7e5da6617f179560bf12515607"
SECONDARY_KEY = "e167481cdc4b42a265eeae1ab4483e19"
ACME_DEBTOR = "ba9cd002-a871-4e60-b1c1-eca7bc91d4d4"
BAKERY_DEBTOR = "3188f3dd-ef53-456b-a702-6b38d3ca8cfa"
ACME_BOUW = "880189cb-1acb-44bc-a8b3-4ad2a24f06a9"
BAKERY_COMPANY = "c02befb3-493d-4721-92a3-e6df2a6b3856"
SCOPES = "offline_access company.info.read employee.info.read"
REDIRECT_URI = "http://127.0.0.1:53682/callback"
CONTENT_TYPES = {SOAP11: "text/xml; charset=utf-8", SOAP12: "application/soap+xml; charset=utf-8"}
# How the clients in the field recognise Nmbrs' errors (FACTS §3.1): zeep's SDK by substring,
# PHP connectors by a four-digit regex.
CODE = re.compile(r"\d{4}:")


def namespace(service: str) -> str:
    return NS_ROOT + service


def header(
    service: str,
    credentials: tuple[str, str] | None = MASTER,
    domain: str | None = None,
    kind: str = "AuthHeaderWithDomain",
    header_ns: str | None = None,
) -> str:
    """An auth header element as the field writes it (members Username, Token[, Domain])."""
    if credentials is None:
        return ""
    members = f"<Username>{credentials[0]}</Username><Token>{credentials[1]}</Token>"
    if domain is not None:
        members += f"<Domain>{domain}</Domain>"
    return f'<{kind} xmlns="{header_ns or namespace(service)}">{members}</{kind}>'


def envelope(service: str, operation: str, body: str = "", head: str = "", version: str = SOAP11) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{version}">'
        f"<soap:Header>{head}</soap:Header><soap:Body>"
        f'<{operation} xmlns="{namespace(service)}">{body}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


def call(
    sandbox: SandboxServer,
    http: requests.Session,
    service: str,
    operation: str,
    body: str = "",
    head: str | None = None,
    version: str = SOAP11,
    action: bool = True,
    content_type: str | None = None,
) -> requests.Response:
    """POST one operation; the header defaults to the master user's AuthHeaderWithDomain."""
    head = header(service) if head is None else head
    headers = {"Content-Type": content_type or CONTENT_TYPES[version]}
    soap_action = f"{namespace(service)}/{operation}"
    if action and version == SOAP11:
        headers["SOAPAction"] = f'"{soap_action}"'
    elif action:
        headers["Content-Type"] += f'; action="{soap_action}"'
    return http.post(
        f"{sandbox.url}/soap/v3/{service}.asmx",
        data=envelope(service, operation, body, head, version),
        headers=headers,
        timeout=10,
    )


def result(response: requests.Response, service: str, operation: str) -> etree._Element:
    """The `{operation}Result` element of a 200 answer."""
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    version = etree.QName(root).namespace
    found = root.find(
        f"{{{version}}}Body/{{{namespace(service)}}}{operation}Response/"
        f"{{{namespace(service)}}}{operation}Result"
    )
    assert found is not None, response.text
    return found


def fault(response: requests.Response) -> tuple[str, str]:
    """(fault code, text) of a Fault in either SOAP version; HTTP 500 as ASMX answers."""
    assert response.status_code == 500, response.text
    root = etree.fromstring(response.content)
    if etree.QName(root).namespace == SOAP11:
        found = root.find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
        assert found is not None, response.text
        return found.findtext("faultcode") or "", found.findtext("faultstring") or ""
    found = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert found is not None, response.text
    return (
        found.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") or "",
        found.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") or "",
    )


def texts(element: etree._Element, path: str) -> list[str]:
    """The text of every element at a local-name path like "Company/Name"."""
    steps = "/".join(f"{{{etree.QName(element).namespace}}}{step}" for step in path.split("/"))
    return [found.text or "" for found in element.iterfind(steps)]


# -- the OAuth dance ---------------------------------------------------------------------


@dataclass
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def authorize(
    sandbox: SandboxServer,
    http: requests.Session,
    pkce: Pkce | None = None,
    scope: str = SCOPES,
    login_hint: str | None = None,
    redirect_uri: str = REDIRECT_URI,
) -> dict[str, str]:
    """GET /connect/authorize without following the redirect; the callback's query parameters."""
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "xyz",
    }
    if pkce is not None:
        params.update(code_challenge=pkce.challenge, code_challenge_method="S256")
    if login_hint is not None:
        params["login_hint"] = login_hint
    response = http.get(sandbox.url + "/connect/authorize", params=params, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def token(sandbox: SandboxServer, http: requests.Session, **form: str) -> requests.Response:
    """POST /connect/token with client_secret_basic."""
    return http.post(sandbox.url + "/connect/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)


def redeem(sandbox: SandboxServer, http: requests.Session, code: str, pkce: Pkce) -> requests.Response:
    """POST /connect/token with an authorization code and its PKCE verifier."""
    return token(
        sandbox,
        http,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=pkce.verifier,
    )


def grant(
    sandbox: SandboxServer, http: requests.Session, scope: str = SCOPES, login_hint: str | None = None
) -> dict[str, str]:
    """The whole authorization-code flow with PKCE: the token answer."""
    pkce = Pkce.new()
    response = redeem(sandbox, http, authorize(sandbox, http, pkce, scope, login_hint)["code"], pkce)
    assert response.status_code == 200, response.text
    answer: dict[str, str] = response.json()
    return answer


def rest_headers(access_token: str, key: str = SUBSCRIPTION_KEY) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access_token}",
        "X-Subscription-Key": key,
        "Accept": "application/json",
    }
