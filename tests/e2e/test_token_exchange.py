"""The token exchange as RFC 8693 means it, on a real bridge: expires_in is the bearer's life,
targets and token types it cannot serve are refused, and configured clients must authenticate
(HTTP Basic, RFC 6749 §2.3.1) with a secret hashed by `soap-bridge passwd --client`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
import yaml

from tests.servers import REPO, Server, post_login, start_bridge, write_config
from tests.soapxml import auth_result

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
CLIENT, SECRET = "integration-a", "s3cret:with%odd+chars"
BEARER_TTL, BEARER_CACHE = 60, 20


@pytest.fixture(scope="module")
def exchange_bridge(sandbox: Server, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("exchange")
    # The shipped rule, with a bearer that lives 60 s and is reused for up to 20 s.
    mappings = workdir / "mappings"
    mappings.mkdir()
    rule = yaml.safe_load((REPO / "mappings/assuresign/authenticate-user.yaml").read_text())
    rule["token"]["bearer_ttl"] = f"{BEARER_TTL}s"
    next(s for s in rule["steps"] if s["id"] == "bearer")["cache"]["ttl"] = f"{BEARER_CACHE}s"
    (mappings / "authenticate-user.yaml").write_text(yaml.safe_dump(rule, sort_keys=False))
    # The client's entry as the command line prints it.
    printed = subprocess.run([sys.executable, "-m", "bridge", "passwd", CLIENT, "--client",
                              "--password-stdin"], input=SECRET + "\n", capture_output=True,
                             text=True, timeout=60, check=True).stdout
    config = write_config(workdir, sandbox.url, mappings=str(mappings), tokens={"ttl": "2s"},
                          **yaml.safe_load(printed))
    server = start_bridge(workdir, config, workers=1)
    yield server
    server.stop()


def _login(bridge: Server) -> str:
    token = auth_result(post_login(bridge, "jdoe@example.com", "Password").content).get(
        "AuthenticationToken")
    assert token
    return token


def _exchange(bridge: Server, auth: tuple[str, str] | None = (CLIENT, SECRET),
              **form: str | list[str]) -> requests.Response:
    form = {"grant_type": EXCHANGE, "subject_token_type": ACCESS, **form}
    return requests.post(bridge.url + "/v1/token", data=form, timeout=10,
                         auth=None if auth is None else _form_encoded(*auth))


def _form_encoded(client: str, secret: str) -> tuple[str, str]:
    # RFC 6749 §2.3.1: id and secret are form-encoded before Basic joins them.
    from urllib.parse import quote_plus

    return quote_plus(client), quote_plus(secret)


def test_expires_in_is_the_life_left_to_the_bearer(exchange_bridge: Server) -> None:
    first = _exchange(exchange_bridge, subject_token=_login(exchange_bridge)).json()
    assert BEARER_TTL - 5 < first["expires_in"] <= BEARER_TTL
    time.sleep(2.2)
    # A second login reuses the cached bearer: its life counts from when it was obtained,
    # not from this login (and not from the AuthenticationToken's 2 s).
    again = _exchange(exchange_bridge, subject_token=_login(exchange_bridge)).json()
    assert again["access_token"] == first["access_token"]
    assert BEARER_TTL - BEARER_CACHE < again["expires_in"] <= first["expires_in"] - 2


@pytest.mark.parametrize(("form", "error"), [
    ({"resource": "https://elsewhere.example/api"}, "invalid_target"),
    ({"audience": "elsewhere"}, "invalid_target"),
    ({"resource": ["{sandbox}", "https://elsewhere.example"]}, "invalid_target"),
    ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
    ({"actor_token": "x", "actor_token_type": ACCESS}, "invalid_request"),
    ({"scope": "everything"}, "invalid_scope"),
])
def test_what_the_exchange_cannot_give_is_refused(exchange_bridge: Server, sandbox: Server,
                                                  form: dict[str, str | list[str]],
                                                  error: str) -> None:
    form = {key: [v.format(sandbox=sandbox.url) for v in value] if isinstance(value, list)
            else value for key, value in form.items()}
    reply = _exchange(exchange_bridge, subject_token=_login(exchange_bridge), **form)
    assert (reply.status_code, reply.json()["error"]) == (400, error)
    assert reply.headers["Cache-Control"] == "no-store"


def test_targets_the_bearer_is_good_for_are_accepted(exchange_bridge: Server,
                                                     sandbox: Server) -> None:
    token = _login(exchange_bridge)
    for form in ({"resource": sandbox.url}, {"resource": sandbox.url + "/api/v3.7/x"},
                 {"audience": "esign"}, {"audience": sandbox.url, "requested_token_type": ACCESS},
                 {"resource": [sandbox.url, sandbox.url + "/api"], "audience": "account"}):
        reply = _exchange(exchange_bridge, subject_token=token, **form)
        assert reply.status_code == 200, (form, reply.text)


@pytest.mark.parametrize("auth", [None, (CLIENT, "wrong"), ("someone-else", SECRET),
                                  (CLIENT, SECRET.replace("%", ""))],
                         ids=["none", "wrong secret", "unknown client", "not form-encoded"])
def test_a_configured_client_must_authenticate(exchange_bridge: Server,
                                               auth: tuple[str, str] | None) -> None:
    token = _login(exchange_bridge)
    reply = _exchange(exchange_bridge, auth=auth, subject_token=token)
    assert (reply.status_code, reply.json()["error"]) == (401, "invalid_client")
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="soap-bridge"'
    assert reply.headers["Cache-Control"] == "no-store"
    assert "access_token" not in reply.text


def test_client_credentials_in_the_body_are_refused(exchange_bridge: Server) -> None:
    reply = _exchange(exchange_bridge, subject_token=_login(exchange_bridge),
                      client_id=CLIENT, client_secret=SECRET)
    assert (reply.status_code, reply.json()["error"]) == (401, "invalid_client")
    reply = _exchange(exchange_bridge, auth=None, subject_token=_login(exchange_bridge),
                      client_id=CLIENT, client_secret=SECRET)
    assert reply.status_code == 401
