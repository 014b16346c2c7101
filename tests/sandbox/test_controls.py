"""The /_sandbox/ test controls: delays, injected failures, reset, stats and health."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from typing import Any

import pytest
import requests

from bridge.sandbox import SandboxServer

from .conftest import DEMO_KEY, USERS_PATH

API_USER = "/api/v3.7/authentication/apiUser"
CREDENTIALS = "/api/documentnow/v3.7/authentication/credentials"
API_USER_BODY = {
    "request": {
        "apiUsername": "bridge-demo",
        "key": DEMO_KEY,
        "contextUsername": "jdoe@example.com",
    }
}
CREDENTIALS_BODY = {"request": {"authRequest": {"username": "jdoe@example.com", "password": "Password"}}}


def control(sandbox: SandboxServer, http: requests.Session, **fields: Any) -> None:
    response = http.post(sandbox.url + "/_sandbox/control", json=fields, timeout=5)
    assert response.status_code == 204, response.text


def login(sandbox: SandboxServer, http: requests.Session, timeout: float = 5) -> requests.Response:
    return http.post(sandbox.url + API_USER, json=API_USER_BODY, timeout=timeout)


def calls(sandbox: SandboxServer, http: requests.Session) -> dict[str, int]:
    response = http.get(sandbox.url + "/_sandbox/stats", timeout=5)
    assert response.status_code == 200
    counted: dict[str, int] = response.json()["calls"]
    return counted


def test_delay_holds_the_answer_back(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, delay_ms=300)

    started = time.monotonic()
    response = login(sandbox, http)

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_delay_longer_than_the_client_timeout_times_out(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    control(sandbox, http, delay_ms=500, times=1)

    with pytest.raises(requests.exceptions.ReadTimeout):
        login(sandbox, http, timeout=0.1)


def test_delayed_requests_do_not_hold_up_each_other(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, delay_ms=400)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = list(
            pool.map(
                lambda _: requests.get(sandbox.url + "/api/v3.7/nothing", timeout=5).status_code,
                range(5),
            )
        )

    assert statuses == [404] * 5
    assert time.monotonic() - started < 1.5


def test_drip_sends_the_answer_a_few_bytes_at_a_time(sandbox: SandboxServer) -> None:
    requests.post(sandbox.url + "/_sandbox/control", json={"drip_ms": 30, "paths": ["apiUser"]},
                  timeout=5).raise_for_status()
    connection = HTTPConnection("127.0.0.1", int(sandbox.url.rsplit(":", 1)[1]), timeout=5)
    connection.request("POST", API_USER, body=json.dumps(API_USER_BODY),
                       headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    pieces = list(iter(lambda: answer.read1(1024), b""))
    connection.close()
    assert answer.status == 200
    # Undisturbed, the whole answer arrives with its headers; dripped, in pieces.
    assert len(pieces) > 1 and max(map(len, pieces)) <= 8
    assert b'"token"' in b"".join(pieces)


def test_fail_answers_the_given_status_and_json_body(sandbox: SandboxServer, http: requests.Session) -> None:
    body = {"errorCode": "SERVICE_UNAVAILABLE", "summary": "Try later."}
    control(sandbox, http, fail={"status": 503, "body": body})

    response = login(sandbox, http)

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == body


def test_fail_with_a_string_body_sends_it_verbatim(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, fail={"status": 502, "body": "Bad Gateway from the proxy"})

    response = login(sandbox, http)

    assert response.status_code == 502
    assert response.text == "Bad Gateway from the proxy"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_fail_applies_to_the_legacy_endpoint_too(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, fail={"status": 500, "body": "<html>IIS</html>", "content_type": "text/html"})

    response = http.post(sandbox.url + USERS_PATH, data=b"<x/>", timeout=5)

    assert (response.status_code, response.text) == (500, "<html>IIS</html>")
    assert response.headers["Content-Type"] == "text/html"


def test_garbage_answers_200_with_a_body_that_is_not_json(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    control(sandbox, http, fail="garbage")

    response = login(sandbox, http)

    assert response.status_code == 200
    assert response.text == "<html>oops"
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_close_drops_the_connection_without_an_answer(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, fail="close")

    with pytest.raises(requests.exceptions.ConnectionError):
        login(sandbox, http)
    assert calls(sandbox, http)["apiUser"] == 1


def test_times_limits_the_control_to_the_next_n_requests(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    control(sandbox, http, fail={"status": 503, "body": {}}, times=2)

    statuses = [login(sandbox, http).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert calls(sandbox, http)["apiUser"] == 3  # failed attempts count: retries are visible


def test_paths_limit_the_control_to_matching_requests(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, fail={"status": 500, "body": {}}, paths=["credentials", "/sso"])

    credentials = http.post(sandbox.url + CREDENTIALS, json=CREDENTIALS_BODY, timeout=5)
    api_user = login(sandbox, http)

    assert credentials.status_code == 500
    assert api_user.status_code == 200


def test_times_counts_only_matching_requests(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, fail={"status": 500, "body": {}}, paths=["credentials"], times=1)

    assert login(sandbox, http).status_code == 200
    first = http.post(sandbox.url + CREDENTIALS, json=CREDENTIALS_BODY, timeout=5)
    second = http.post(sandbox.url + CREDENTIALS, json=CREDENTIALS_BODY, timeout=5)

    assert (first.status_code, second.status_code) == (500, 200)


def test_controls_never_affect_the_control_endpoints(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, fail="close")

    assert http.get(sandbox.url + "/_sandbox/healthz", timeout=5).json() == {"status": "ok"}
    assert http.post(sandbox.url + "/_sandbox/reset", timeout=5).status_code == 204
    assert login(sandbox, http).status_code == 200


def test_a_new_control_replaces_the_old_one(sandbox: SandboxServer, http: requests.Session) -> None:
    control(sandbox, http, fail="garbage")
    control(sandbox, http, fail=None)

    assert login(sandbox, http).json()["result"].keys() == {"token"}


def test_reset_clears_controls_counters_and_tokens(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http).json()["result"]["token"]
    control(sandbox, http, fail={"status": 418, "body": {}})

    assert http.post(sandbox.url + "/_sandbox/reset", timeout=5).status_code == 204

    assert calls(sandbox, http)["apiUser"] == 0
    accounts = http.get(
        sandbox.url + "/api/documentnow/v3.7/users/jdoe@example.com/accounts",
        headers={"Authorization": f"bearer {token}"},
        timeout=5,
    )
    assert accounts.status_code == 401
    assert login(sandbox, http).status_code == 200


def test_stats_count_each_endpoint(sandbox: SandboxServer, http: requests.Session) -> None:
    token = login(sandbox, http).json()["result"]["token"]
    login(sandbox, http)
    http.post(sandbox.url + CREDENTIALS, json=CREDENTIALS_BODY, timeout=5)
    http.post(
        sandbox.url + "/api/documentnow/v3.5/authentication/sso",
        headers={"Authorization": f"bearer {token}"},
        timeout=5,
    )

    counted = calls(sandbox, http)

    assert (counted["apiUser"], counted["credentials"], counted["sso"], counted["accounts"]) == (
        2,
        1,
        1,
        0,
    )
    assert counted["legacy:AuthenticateUser"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"delay_ms": -1}',
        b'{"delay_ms": "100"}',
        b'{"drip_ms": -5}',
        b'{"fail": "explode"}',
        b'{"fail": {"status": 99}}',
        b'{"fail": {"status": 503, "colour": "red"}}',
        b'{"times": 0}',
        b'{"paths": "credentials"}',
        b'{"sometimes": 1}',
    ],
)
def test_bad_controls_are_refused_and_change_nothing(
    sandbox: SandboxServer, http: requests.Session, body: bytes
) -> None:
    control(sandbox, http, fail="garbage")

    response = http.post(sandbox.url + "/_sandbox/control", data=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["errorCode"] == "BAD_REQUEST"
    assert login(sandbox, http).text == "<html>oops"


def test_healthz(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.get(sandbox.url + "/_sandbox/healthz", timeout=5)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_unknown_control_endpoint_is_404(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.get(sandbox.url + "/_sandbox/nothing", timeout=5)
    assert (response.status_code, response.json()["errorCode"]) == (404, "NOT_FOUND")
