"""A second legacy auth scheme, credentials in a SOAP header, carried out with YAML alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from lxml import etree

from tests.servers import REPO, Server, start_bridge
from tests.soapxml import SOAP11, fault11

FIXTURE = REPO / "tests" / "fixtures" / "nmbrs"
NS = "https://api.nmbrs.nl/soap/v3/DebtorService"


@pytest.fixture
def nmbrs_bridge(sandbox: Server, tmp_path: Path) -> Iterator[Server]:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "wsdl": str(FIXTURE / "DebtorService.wsdl"),
        "wsdl_path": "/soap/v3/DebtorService.asmx",
        "mappings": [str(FIXTURE / "mappings")],
        "store": "memory://",
        "upstreams": {"modern": {"base_url": sandbox.url}},
    }))
    server = start_bridge(tmp_path, config, workers=1)
    yield server
    server.stop()


def _call(bridge: Server, username: str, token: str) -> requests.Response:
    body = (
        f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Header>'
        f'<AuthHeaderWithDomain xmlns="{NS}"><Username>{username}</Username>'
        f"<Token>{token}</Token><Domain>example</Domain></AuthHeaderWithDomain>"
        f'</soap:Header><soap:Body><Environment_Get xmlns="{NS}"/></soap:Body></soap:Envelope>'
    )
    return requests.post(bridge.url + "/soap/v3/DebtorService.asmx", data=body, timeout=10,
                         headers={"Content-Type": "text/xml; charset=utf-8",
                                  "SOAPAction": f'"{NS}/Environment_Get"'})


def test_header_credentials_are_verified_and_answered(nmbrs_bridge: Server) -> None:
    response = _call(nmbrs_bridge, "multi@example.com", "Password")
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    assert root.findtext(f".//{{{NS}}}Environment_GetResult/{{{NS}}}SubDomain") == "Multi Holdings"


def test_bad_header_credentials_get_the_vendor_fault(nmbrs_bridge: Server) -> None:
    response = _call(nmbrs_bridge, "multi@example.com", "wrong")
    assert response.status_code == 500
    assert fault11(response.content) == ("s:Client", "1001: Invalid Authentication")


def test_wsdl_is_served_at_the_configured_path(nmbrs_bridge: Server) -> None:
    wsdl = requests.get(nmbrs_bridge.url + "/soap/v3/DebtorService.asmx?wsdl", timeout=5)
    assert wsdl.status_code == 200
    # Both the SOAP 1.1 and the SOAP 1.2 port point back at the bridge.
    assert wsdl.content.count(
        f'location="{nmbrs_bridge.url}/soap/v3/DebtorService.asmx"'.encode()) == 2


def test_the_soap12_binding_is_served_too(nmbrs_bridge: Server) -> None:
    env = "http://www.w3.org/2003/05/soap-envelope"
    body = (
        f'<e:Envelope xmlns:e="{env}"><e:Header><AuthHeaderWithDomain xmlns="{NS}">'
        "<Username>jdoe@example.com</Username><Token>Password</Token></AuthHeaderWithDomain>"
        f'</e:Header><e:Body><Environment_Get xmlns="{NS}"/></e:Body></e:Envelope>'
    )
    response = requests.post(
        nmbrs_bridge.url + "/soap/v3/DebtorService.asmx", data=body, timeout=10,
        headers={"Content-Type": f'application/soap+xml; action="{NS}/Environment_Get"'})
    assert response.status_code == 200, response.text
    assert etree.fromstring(response.content).findtext(f".//{{{NS}}}SubDomain") == "Example, Inc."
