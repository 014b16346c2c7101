"""An operation the bridge has not migrated, passed to the sandbox's legacy service and back byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.servers import Server, sandbox_calls, start_bridge, write_config

TEMPLATES_PATH = "/Services/DocumentNOW/v2/DocumentNOW.svc/ListTemplates/text"
TEMPLATES_ACTION = (
    '"https://www.assuresign.net/Services/DocumentNOW/ListTemplates/IListTemplatesService/ListTemplates"'
)
LIST_TEMPLATES = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<ListTemplates xmlns="https://www.assuresign.net/Services/DocumentNOW/ListTemplates">'
    b'<TemplateListQuery ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a"'
    b' UserName="jdoe@example.com"/>'
    b"</ListTemplates></soap:Body></soap:Envelope>"
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
