"""Clients generated from the served WSDL by stacks this project does not write: PHP's
SoapClient (ext-soap, SOAP 1.1 and 1.2) and node's soap package, each run as its own process
by the programs in tests/clients/ against the session's bridge."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from lxml import etree

from tests.servers import REPO, USERS_NS, WSDL_PATH, Server
from tests.soapxml import SOAP11, SOAP12

CLIENTS = REPO / "tests" / "clients"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43,}$")  # ≥ 256 bits of URL-safe base64
JDOE_ACCOUNT = {"ContextIdentifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a", "IsPrimary": "true",
                "Name": "Example, Inc."}
ENSURE_TOOLS = "run .ci/ensure-tools (make test runs it)"


@functools.cache
def _php() -> str:
    php = shutil.which("php")
    if php is None:
        pytest.fail(f"php is missing: {ENSURE_TOOLS}", pytrace=False)
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, timeout=30).stdout
    if "soap" not in modules.lower().split():
        pytest.fail(f"php has no soap extension: {ENSURE_TOOLS}", pytrace=False)
    return php


@functools.cache
def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is missing: {ENSURE_TOOLS}", pytrace=False)
    if not (CLIENTS / "node" / "node_modules" / "soap" / "package.json").is_file():
        pytest.fail(f"node's soap package is not installed in tests/clients/node: {ENSURE_TOOLS}",
                    pytrace=False)
    return node


def _plain(value: Any) -> Any:
    """node's soap shape as PHP's: attributes beside the child elements, text content as "_"."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if not isinstance(value, dict):
        return value
    plain = {key: _plain(item) for key, item in value.items() if key not in ("attributes", "$value")}
    plain.update(value.get("attributes", {}))
    if "$value" in value:
        plain["_"] = value["$value"]
    return plain


def _text(value: Any) -> str:
    """A value as the XML text it came from: PHP turns xs:boolean into true/false, node does not."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _items(value: Any) -> list[Any]:
    """A repeated element's items: PHP gives a lone item as the item itself, node as a list."""
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Call:
    """What one client program printed: the result or fault, and what went over the wire."""

    output: dict[str, Any]
    envelope_ns: str

    @property
    def result(self) -> dict[str, Any]:
        assert "result" in self.output, self.output
        result: dict[str, Any] = _plain(self.output["result"])
        return result

    @property
    def fault(self) -> tuple[str, str]:
        """(local part of the faultcode, faultstring) as the client surfaces them."""
        assert "fault" in self.output, self.output
        fault = _plain(self.output["fault"])
        code, text = fault["faultcode"], fault["faultstring"]
        return code.rpartition(":")[2], text["_"] if isinstance(text, dict) else text

    @property
    def request(self) -> etree._Element:
        """The request's Body element, after checking its envelope's SOAP version."""
        envelope = etree.fromstring(self.output["request"].encode())
        assert envelope.tag == f"{{{self.envelope_ns}}}Envelope", self.output["request"]
        body = envelope.find(f"{{{self.envelope_ns}}}Body")
        assert body is not None, self.output["request"]
        return body

    @property
    def headers(self) -> dict[str, str]:
        raw = self.output["request_headers"]
        if isinstance(raw, dict):
            return {name.lower(): value for name, value in raw.items()}
        lines = raw.split("\r\n")[1:]
        return {name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines if line)}

    @property
    def path(self) -> str:
        """The URL path the request was posted to, as the WSDL's port address gave it."""
        if "endpoint" in self.output:
            return urlsplit(self.output["endpoint"]).path
        return str(self.output["request_headers"].split(" ", 2)[1])


@dataclass(frozen=True)
class FieldClient:
    """One stack's client program, speaking one SOAP version."""

    name: str
    soap_version: str

    @property
    def envelope_ns(self) -> str:
        return SOAP12 if self.soap_version == "1.2" else SOAP11

    def command(self) -> list[str]:
        if self.name == "php":
            return [_php(), str(CLIENTS / "php" / "call.php")]
        return [_node(), str(CLIENTS / "node" / "call.js")]

    def call(self, bridge: Server, operation: str, child: str | None = None,
             attributes: dict[str, str] | None = None) -> Call:
        """Calls `operation` with one child element carrying `attributes` (or no child)."""
        parameters: dict[str, Any] = {}
        if child is not None:
            # node's soap package takes attributes under "attributes", SoapClient as keys.
            parameters[child] = {"attributes": attributes} if self.name == "node" else attributes
        instruction = {"soap_version": self.soap_version, "operation": operation,
                       "parameters": parameters}
        done = subprocess.run(
            [*self.command(), bridge.url + WSDL_PATH + "?wsdl"], input=json.dumps(instruction),
            capture_output=True, text=True, timeout=60, cwd=CLIENTS,
        )
        assert done.returncode == 0, f"{self.name} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return Call(json.loads(done.stdout), self.envelope_ns)


FIELD_CLIENTS = [
    pytest.param(FieldClient("php", "1.1"), id="php-soap11"),
    pytest.param(FieldClient("php", "1.2"), id="php-soap12"),
    pytest.param(FieldClient("node", "1.1"), id="node-soap"),
]


def _login(client: FieldClient, bridge: Server, password: str) -> Call:
    call = client.call(bridge, "AuthenticateUser", "Request",
                       {"UserName": "jdoe@example.com", "Password": password})
    wrapper = call.request.find(f"{{{USERS_NS}}}AuthenticateUser")
    assert wrapper is not None, call.output["request"]
    # The child as the WSDL names it, not the support article's AuthenticateUserRequest.
    assert [child.tag for child in wrapper] == [f"{{{USERS_NS}}}Request"], call.output["request"]
    assert dict(wrapper[0].attrib) == {"UserName": "jdoe@example.com", "Password": "(redacted)"}
    assert call.path == WSDL_PATH + "/Users/text"
    _assert_soap_version(client, call, f'"{USERS_NS}/IUserService/AuthenticateUser"')
    return call


def _assert_soap_version(client: FieldClient, call: Call, action: str) -> None:
    """SOAP 1.2 goes as application/soap+xml with the action in it, 1.1 as text/xml + SOAPAction."""
    content_type = call.headers["content-type"]
    if client.soap_version == "1.2":
        assert content_type.startswith("application/soap+xml"), content_type
        assert f"action={action}" in content_type
        assert "soapaction" not in call.headers
    else:
        assert content_type.startswith("text/xml"), content_type
        assert call.headers["soapaction"] == action


@pytest.mark.parametrize("client", FIELD_CLIENTS)
def test_login_with_the_request_child_the_wsdl_names(client: FieldClient, bridge: Server) -> None:
    result = _login(client, bridge, "Password").result["AuthenticateUserResult"]
    assert _text(result["Success"]) == "true"
    assert TOKEN.match(result["AuthenticationToken"])
    assert (result["UserName"], result["FirstName"], result["LastName"]) == (
        "jdoe@example.com", "John", "Doe")
    accounts = _items(result["Accounts"]["UserAccount"])
    assert [{key: _text(value) for key, value in account.items()} for account in accounts] == [
        JDOE_ACCOUNT]
    assert "Exceptions" not in result


@pytest.mark.parametrize("client", FIELD_CLIENTS)
def test_wrong_password_is_refused_in_the_result(client: FieldClient, bridge: Server) -> None:
    result = _login(client, bridge, "not it").result["AuthenticateUserResult"]
    assert _text(result["Success"]) == "false"
    assert "AuthenticationToken" not in result
    assert _items(result["Exceptions"]["UserException"]) == [
        {"Severity": "Error", "_": "Invalid user name or password."}]


@pytest.mark.parametrize("client", FIELD_CLIENTS)
def test_ping_answers_success(client: FieldClient, bridge: Server) -> None:
    call = client.call(bridge, "Ping")
    assert call.path == WSDL_PATH + "/Ping/text"
    assert _text(call.result["PingResult"]["Success"]) == "true"


@pytest.mark.parametrize("client", FIELD_CLIENTS)
def test_unmigrated_operation_is_a_fault_the_client_surfaces(
    client: FieldClient, bridge: Server
) -> None:
    call = client.call(bridge, "ListTemplates", "TemplateListQuery", {
        "ContextIdentifier": JDOE_ACCOUNT["ContextIdentifier"], "UserName": "jdoe@example.com"})
    assert call.path == WSDL_PATH + "/ListTemplates/text"
    code, text = call.fault
    assert code == ("Receiver" if client.soap_version == "1.2" else "Server"), call.output
    assert "ListTemplates is not yet migrated" in text, call.output
