"""An operation the bridge has not migrated, passed to the sandbox's legacy service and back byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.servers import (
    LIST_TEMPLATES,
    TEMPLATES_ACTION,
    TEMPLATES_PATH,
    Server,
    sandbox_calls,
    start_bridge,
    write_config,
)


@pytest.fixture(scope="module")
def bridge_with_legacy(sandbox: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A bridge whose legacy service is the sandbox's: operations without a rule go there."""
    workdir: Path = tmp_path_factory.mktemp("passthrough")
    config = write_config(workdir, sandbox.url, legacy={"base_url": sandbox.url, "read_timeout": "5s"})
    server = start_bridge(workdir, config, workers=1)
    yield server
    server.stop()


def _post(url: str) -> requests.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": TEMPLATES_ACTION}
    return requests.post(url + TEMPLATES_PATH, data=LIST_TEMPLATES, headers=headers, timeout=5)


def test_list_templates_comes_back_from_the_legacy_service_byte_for_byte(
    sandbox: Server, bridge_with_legacy: Server
) -> None:
    direct = _post(sandbox.url)
    before = sandbox_calls(sandbox)["legacy:ListTemplates"]

    through = _post(bridge_with_legacy.url)

    assert direct.status_code == 200, direct.text
    assert b"<TemplateItem " in direct.content
    assert (through.status_code, through.content) == (direct.status_code, direct.content)
    assert through.headers["Content-Type"] == direct.headers["Content-Type"]
    assert sandbox_calls(sandbox)["legacy:ListTemplates"] == before + 1


def test_ping_is_answered_by_the_bridge_even_with_a_legacy_service(
    sandbox: Server, bridge_with_legacy: Server
) -> None:
    before = sandbox_calls(sandbox).get("legacy:Ping", 0)
    answer = requests.post(
        bridge_with_legacy.url + "/Services/DocumentNOW/v2/DocumentNOW.svc/Ping/text",
        data=b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
             b'<Ping xmlns="https://www.assuresign.net/Services/DocumentNOW/Ping"/></s:Body></s:Envelope>',
        headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=5)
    assert answer.status_code == 200
    assert b'<PingResult Success="true"/>' in answer.content
    assert sandbox_calls(sandbox).get("legacy:Ping", 0) == before  # nothing went to the legacy side


def test_an_mtom_request_goes_to_the_legacy_service_unread(
    sandbox: Server, bridge_with_legacy: Server
) -> None:
    path = "/Services/DocumentNOW/v2/DocumentNOW.svc/Submit/mtom"
    body = b"--b\r\nContent-Type: application/xop+xml\r\n\r\n<not even xml\r\n--b--\r\n"
    headers = {"Content-Type": 'multipart/related; type="application/xop+xml"; boundary="b"; '
                               'start-info="text/xml"'}
    direct = requests.post(sandbox.url + path, data=body, headers=headers, timeout=5)
    before = sandbox_calls(sandbox)["legacy:mtom"]
    through = requests.post(bridge_with_legacy.url + path, data=body, headers=headers, timeout=5)
    assert sandbox_calls(sandbox)["legacy:mtom"] == before + 1
    # The sandbox's legacy service answers its own MTOM fault; the bridge hands it back as it is.
    assert b"Fault" in direct.content
    assert (through.status_code, through.content) == (direct.status_code, direct.content)
