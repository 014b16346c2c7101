"""XML shaped to cost the bridge time: refused by its shape limits with a Client Fault naming
the limit, before anything superlinear runs, while other users' logins are answered."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.servers import USERS_NS, USERS_PATH, Server, post_login
from tests.soapxml import SOAP11, auth_result, fault11


def _login(extra: str = "", around: tuple[str, str] = ("", "")) -> bytes:
    return (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>{around[0]}'
            f'<AuthenticateUser xmlns="{USERS_NS}"><Request UserName="jdoe@example.com" '
            f'Password="Password" {extra}/></AuthenticateUser>{around[1]}</s:Body></s:Envelope>'
            ).encode()


# Each under the 1 MiB body limit; the first took 28 s and more before the limits.
HOSTILE = {
    "XML element has more than 128 attributes":
        _login(" ".join(f'a{i}=""' for i in range(75_000))),
    "XML declares more than 256 namespaces":
        _login(" ".join(f'xmlns:n{i}="urn:{i}"' for i in range(5_000))),
    "XML has more than 10000 elements": _login(around=("<a/>" * 100_000, "")),
    "XML nesting deeper than 64 levels": _login(around=("<a>" * 100_000, "</a>" * 100_000)),
    "XML has more than 20000 attributes":
        _login(around=('<a b="" c="" d="" e="" f="" g="" h="" i="" j="" k=""/>' * 2_001, "")),
}


def _post(bridge: Server, body: bytes) -> requests.Response:
    return requests.post(bridge.url + USERS_PATH, data=body,
                         headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)


def test_hostile_shapes_get_a_client_fault_naming_the_limit(bridge: Server) -> None:
    for limit, body in HOSTILE.items():
        assert len(body) < 1024 * 1024
        response = _post(bridge, body)
        assert response.status_code == 500
        assert fault11(response.content) == ("s:Client", limit)


def test_logins_are_answered_while_hostile_bodies_arrive(bridge: Server) -> None:
    # Eight of each shape at once, as many as the bridge has threads; the logins are
    # sent meanwhile and must each be answered within their usual 10 s.
    bodies = [body for body in HOSTILE.values() for _ in range(8)]
    faults: list[str] = []
    logins: list[requests.Response] = []

    def log_in() -> None:
        users = ["jdoe@example.com", "multi@example.com"] * 10
        with ThreadPoolExecutor(2) as pool:
            logins.extend(pool.map(lambda user: post_login(bridge, user, "Password"), users))

    steady = threading.Thread(target=log_in)
    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(lambda body: _post(bridge, body), bodies)
        steady.start()
        faults.extend(fault11(answer.content)[0] for answer in answers)
    steady.join()
    assert faults == ["s:Client"] * len(bodies)
    assert [auth_result(answer.content).get("Success") for answer in logins] == ["true"] * 20
