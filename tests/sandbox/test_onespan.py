"""The OneSpan Sign emulation over real HTTP: authentication tokens of each kind, the session
hand-off that redeems them (single use, 30 minutes), packages, errors and the seed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from bridge.sandbox import SandboxServer, SeedError
from bridge.sandbox.onespan import load_onespan_seed

SEED = load_onespan_seed(None)
KEY, OTHER_KEY = (api.key for api in SEED.api_keys)
PACKAGE = "0b6e4f2a-7c1d-4e8b-9a35-2f4d6c8e10c1"
SIGNER = "6a1f0c3e-2d4b-4c5a-9e8f-7b6a5d4c3b21"
TOKENS = "/api/cs-authenticationTokens"


def _post(sandbox: SandboxServer, http: requests.Session, path: str, body: object = None,
          key: str | None = KEY) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http.post(f"{sandbox.url}{TOKENS}{path}", json=body, headers=headers, timeout=5)


def _open(sandbox: SandboxServer, http: requests.Session, path: str) -> requests.Response:
    return http.get(f"{sandbox.url}{path}", timeout=5, allow_redirects=False)


def test_each_kind_of_token_and_its_hand_off(sandbox: SandboxServer, http: requests.Session) -> None:
    user = _post(sandbox, http, "/user").json()
    assert set(user) == {"value"}
    sender = _post(sandbox, http, "/sender", {"packageId": PACKAGE}).json()
    multi = _post(sandbox, http, "/signer/multiUse", {"packageId": PACKAGE, "signerId": SIGNER}).json()
    single = _post(sandbox, http, "/signer/singleUse",
                   {"packageId": PACKAGE, "signerId": SIGNER, "sessionFields": {"a": "b"}}).json()
    assert (multi["packageId"], multi["signerId"]) == (single["packageId"], single["signerId"]) == (
        PACKAGE, SIGNER)
    # All single-use but the multi-use signer token.
    for path, times in ((f"/auth?authenticationToken={user['value']}", 1),
                        (f"/auth?senderAuthenticationToken={sender['value']}", 1),
                        (f"/access?sessionToken={single['value']}", 1),
                        (f"/access?sessionToken={multi['value']}", 3)):
        assert [_open(sandbox, http, path).status_code for _ in range(3)] == (
            [200] * times + [401] * (3 - times)), path
    # A token opens only its own door.
    other = _post(sandbox, http, "/signer/multiUse", {"packageId": PACKAGE, "signerId": SIGNER}).json()
    assert _open(sandbox, http, f"/auth?authenticationToken={other['value']}").status_code == 401


def test_tokens_live_thirty_minutes(sandbox: SandboxServer, http: requests.Session) -> None:
    early = _post(sandbox, http, "/signer/multiUse", {"packageId": PACKAGE, "signerId": SIGNER}).json()
    late = _post(sandbox, http, "/signer/multiUse", {"packageId": PACKAGE, "signerId": SIGNER}).json()
    clock = f"{sandbox.url}/_sandbox/onespan/clock"
    assert http.post(clock, json={"advance_s": 29 * 60}, timeout=5).status_code == 204
    assert _open(sandbox, http, f"/access?sessionToken={early['value']}").status_code == 200
    assert http.post(clock, json={"advance_s": 61}, timeout=5).status_code == 204
    assert _open(sandbox, http, f"/access?sessionToken={late['value']}").status_code == 401
    assert http.post(clock, json={"advance_s": -1}, timeout=5).status_code == 400


def test_a_single_use_token_opens_once_under_a_race(sandbox: SandboxServer) -> None:
    with requests.Session() as http:
        value = _post(sandbox, http, "/signer/singleUse",
                      {"packageId": PACKAGE, "signerId": SIGNER}).json()["value"]
    statuses: list[int] = []

    def redeem() -> None:
        statuses.append(requests.get(f"{sandbox.url}/access?sessionToken={value}", timeout=5).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [401] * 7


@pytest.mark.parametrize(("path", "body", "key", "status", "message_key"), [
    ("/user", None, None, 401, "error.unauthorised.noApiKey"),
    ("/user", None, "wrong", 401, "error.unauthorised.noApiKey"),
    ("/sender", {}, KEY, 400, "error.validation.packageId"),
    ("/sender", {"packageId": "nope"}, KEY, 404, "error.resourceNotFound"),
    ("/sender", {"packageId": PACKAGE}, OTHER_KEY, 404, "error.resourceNotFound"),
    ("/signer/multiUse", {"packageId": PACKAGE, "signerId": "nobody"}, KEY, 400,
     "error.validation.invalidSigner"),
])
def test_errors(sandbox: SandboxServer, http: requests.Session, path: str, body: object,
                key: str | None, status: int, message_key: str) -> None:
    answer = _post(sandbox, http, path, body, key)
    assert answer.status_code == status
    assert answer.json()["messageKey"] == message_key and answer.json()["code"] == status


def test_the_package_lists_its_signer_roles(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = http.get(f"{sandbox.url}/api/packages/{PACKAGE}",
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=5).json()
    assert answer["status"] == "SENT"
    assert [(r["id"], r["signers"][0]["email"]) for r in answer["roles"]] == [
        (SIGNER, "pat@example.org"), ("9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c65", "sam@example.org")]


def test_a_broken_seed_names_file_and_line(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("api_keys:\n  - {key: k, account: a, sender: s}\npackages:\n"
                    "  - {id: p, account: nobody, name: n, status: SENT}\n")
    with pytest.raises(SeedError, match=r"seed.yaml:4: packages\[0\]: account 'nobody' has no API key"):
        load_onespan_seed(str(seed))
