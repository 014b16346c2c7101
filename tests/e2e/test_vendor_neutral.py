"""A second legacy auth scheme, credentials in a SOAP header, carried out with YAML alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from lxml import etree

from tests.servers import REPO, Server, start_bridge

FIXTURE = REPO / "tests" / "fixtures" / "nmbrs"
NS = "https://api.nmbrs.nl/soap/v3/DebtorService"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


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
    fault = etree.fromstring(response.content).find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None
    assert (fault.findtext("faultcode"), fault.findtext("faultstring")) == (
        "s:Client", "1001: Invalid Authentication")


def test_wsdl_is_served_at_the_configured_path(nmbrs_bridge: Server) -> None:
    wsdl = requests.get(nmbrs_bridge.url + "/soap/v3/DebtorService.asmx?wsdl", timeout=5)
    assert wsdl.status_code == 200
    assert f'location="{nmbrs_bridge.url}/soap/v3/DebtorService.asmx"'.encode() in wsdl.content
