"""The documented REST messages: our rules send and read exactly their shapes."""

from __future__ import annotations

import json
from typing import Any

import requests
import yaml

from tests.contract import VECTORS
from tests.servers import REPO, Server, post_login, sandbox_control
from tests.soapxml import fault11

RULE = REPO / "mappings" / "assuresign" / "authenticate-user.yaml"


def _shape(value: Any) -> Any:
    """Keys all the way down, values left out."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def _step(step_id: str) -> dict[str, Any]:
    steps = yaml.safe_load(RULE.read_text())["steps"]
    return next(step for step in steps if step["id"] == step_id)


def test_our_apiuser_request_has_the_documented_shape(sandbox: Server) -> None:
    documented = json.loads((VECTORS / "apiuser.request.json").read_text())
    assert _shape(_step("bearer")["json"]) == _shape(documented)
    # The sandbox takes the documented message as it is (and knows no NewAPIUser).
    reply = requests.post(f"{sandbox.url}/api/v3.7/authentication/apiUser", json=documented,
                          timeout=5)
    assert (reply.status_code, reply.json()["errorCode"]) == (401, "UNAUTHORIZED")


def test_what_we_read_from_credentials_is_in_the_documented_answer(sandbox: Server) -> None:
    documented = json.loads((VECTORS / "credentials.response.json").read_text())
    step = _step("credentials")
    for path in step.get("extract", {}).values():
        node: Any = documented
        for part in path.split("."):
            node = node[part]
        assert node, path
    fields = {"accountId", "name", "isPrimary"}
    assert fields <= set(documented["result"]["accounts"][0])
    answer = requests.post(f"{sandbox.url}/api/documentnow/v3.7/authentication/credentials",
                           json={"request": {"authRequest": {"username": "jdoe@example.com",
                                                             "password": "Password"}}},
                           timeout=5).json()
    # The documentation's sample leaves out the `messages` every answer carries (FACTS §2).
    assert answer["messages"] == []
    assert _shape(answer["result"]) == _shape(documented["result"])


def test_the_documented_error_body_gives_a_fault_and_no_token(bridge: Server,
                                                              sandbox: Server) -> None:
    documented = json.loads((VECTORS / "rest-error.response.json").read_text())
    sandbox_control(sandbox, paths=["credentials"], fail={"status": 500, "body": documented})
    response = post_login(bridge, "jdoe@example.com", "Password")
    assert response.status_code == 500
    assert fault11(response.content)[0] == "s:Server"
    assert b"AuthenticationToken" not in response.content
    assert "INTERNAL_SERVER_ERROR: An Unknown Error Occurred. (Error code: LRP8V)" in (
        bridge.output())
