"""The emulated Nmbrs REST API: subscription key, bearer and scope, paging followed to the end,
a debtor-level grant's reach, error bodies, and the 429 throttle."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bridge.sandbox import SandboxServer
from tests.sandbox.conftest import Clock
from tests.sandbox.nmbrs.conftest import (
    ACME_BOUW,
    ACME_DEBTOR,
    BAKERY_COMPANY,
    BAKERY_DEBTOR,
    SECONDARY_KEY,
    grant,
    rest_headers,
)


@pytest.fixture
def bearer(sandbox: SandboxServer, http: requests.Session) -> str:
    return grant(sandbox, http)["access_token"]


def get(
    sandbox: SandboxServer, http: requests.Session, path: str, bearer: str, **params: str
) -> requests.Response:
    return http.get(sandbox.url + path, headers=rest_headers(bearer), params=params, timeout=5)


def test_companies_are_paged_and_every_page_is_followed(
    sandbox: SandboxServer, http: requests.Session, bearer: str
) -> None:
    rows: list[dict[str, Any]] = []
    url: str | None = sandbox.url + "/api/companies"
    pages = []
    while url is not None:
        response = http.get(url, headers=rest_headers(bearer), timeout=5)
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page["data"])
        pages.append(page["pagination"])
        url = page["pagination"]["nextPage"]

    assert len(pages) == 2
    assert pages[0]["pageNumber"] == 1 and pages[0]["pageSize"] == 100
    assert (pages[0]["totalPages"], pages[0]["totalRecords"]) == (2, 132)
    assert pages[0]["firstPage"] == sandbox.url + "/api/companies?pageNumber=1"
    assert pages[0]["previousPage"] is None
    assert pages[1]["previousPage"] == sandbox.url + "/api/companies?pageNumber=1"
    assert len(rows) == 132 and len({row["companyId"] for row in rows}) == 132
    assert rows[0] == {"companyId": ACME_BOUW, "number": 1, "name": "Acme Bouw B.V.", "debtorId": ACME_DEBTOR}


def test_page_urls_keep_the_callers_other_parameters(
    sandbox: SandboxServer, http: requests.Session, bearer: str
) -> None:
    page = get(sandbox, http, "/api/companies", bearer, pageSize="50", pageNumber="2").json()

    pagination = page["pagination"]
    assert (len(page["data"]), pagination["totalPages"]) == (50, 3)
    assert pagination["nextPage"] == sandbox.url + "/api/companies?pageNumber=3&pageSize=50"
    assert pagination["lastPage"] == sandbox.url + "/api/companies?pageNumber=3&pageSize=50"
    beyond = get(sandbox, http, "/api/companies", bearer, pageNumber="9").json()
    assert (beyond["data"], beyond["pagination"]["nextPage"]) == ([], None)


def test_debtors_and_their_companies(sandbox: SandboxServer, http: requests.Session, bearer: str) -> None:
    debtors = get(sandbox, http, "/api/debtors", bearer).json()["data"]
    own = get(sandbox, http, f"/api/debtors/{ACME_DEBTOR}/companies", bearer, pageSize="5").json()
    other = get(sandbox, http, f"/api/debtors/{BAKERY_DEBTOR}/companies", bearer)

    assert debtors == [{"debtorId": ACME_DEBTOR, "number": "1", "name": "Acme Holding"}]
    assert own["pagination"]["totalRecords"] == 132
    assert other.status_code == 403
    assert other.headers["Content-Type"].startswith("application/problem+json")
    assert set(other.json()) == {"type", "status", "code", "title", "detail"}


def test_employees_with_their_basic_info_and_type(
    sandbox: SandboxServer, http: requests.Session, bearer: str
) -> None:
    everyone = get(sandbox, http, f"/api/companies/{ACME_BOUW}/employees", bearer).json()["data"]
    payroll = get(
        sandbox, http, f"/api/companies/{ACME_BOUW}/employees", bearer, employeeType="payroll"
    ).json()

    assert len(everyone) == 4
    assert payroll["data"][0] == {
        "employeeId": "4e6183af-151c-4972-ad8e-86c5d8a2aa4d",
        "employeeBasicInfo": {
            "employeeNumber": 17,
            "firstName": "Sanne",
            "prefix": "van",
            "initials": "S.",
            "lastName": "Dijk",
            "employeeType": "payroll",
        },
    }
    assert [row["employeeBasicInfo"]["employeeNumber"] for row in payroll["data"]] == [17, 18]
    assert payroll["pagination"]["firstPage"].endswith("?pageNumber=1&employeeType=payroll")


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (f"/api/companies/{BAKERY_COMPANY}/employees", {}, 403),
        ("/api/companies/00000000-0000-0000-0000-000000000001/employees", {}, 404),
        ("/api/companies/60001/employees", {}, 400),
        (f"/api/companies/{ACME_BOUW}/employees", {"employeeType": "astronaut"}, 400),
        ("/api/companies", {"pageNumber": "0"}, 400),
        ("/api/companies", {"pageSize": "many"}, 400),
    ],
)
def test_refusals_are_problem_details(
    sandbox: SandboxServer,
    http: requests.Session,
    bearer: str,
    path: str,
    params: dict[str, str],
    status: int,
) -> None:
    response = get(sandbox, http, path, bearer, **params)

    assert response.status_code == status
    body = response.json()
    assert (body["status"], body["code"]) == (status, status)
    assert body["title"] and body["detail"]


def test_the_subscription_key_comes_first(
    sandbox: SandboxServer, http: requests.Session, bearer: str
) -> None:
    missing = http.get(
        sandbox.url + "/api/companies", headers={"Authorization": f"Bearer {bearer}"}, timeout=5
    )
    wrong = http.get(sandbox.url + "/api/companies", headers=rest_headers(bearer, key="0" * 32), timeout=5)
    secondary = http.get(
        sandbox.url + "/api/companies", headers=rest_headers(bearer, key=SECONDARY_KEY), timeout=5
    )
    no_bearer = http.get(sandbox.url + "/api/companies", headers=rest_headers(""), timeout=5)

    assert (missing.status_code, wrong.status_code, secondary.status_code) == (401, 401, 200)
    assert missing.json()["message"].startswith("Access denied due to missing subscription key")
    assert wrong.json()["message"].startswith("Access denied due to invalid subscription key")
    assert no_bearer.status_code == 401
    assert no_bearer.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_without_the_scope_is_forbidden(sandbox: SandboxServer, http: requests.Session) -> None:
    companies_only = grant(sandbox, http, scope="company.info.read")["access_token"]

    response = get(sandbox, http, f"/api/companies/{ACME_BOUW}/employees", companies_only)

    assert response.status_code == 403
    assert "employee.info.read" in response.json()["detail"]


def test_the_throttle_answers_429_with_retry_after(
    sandbox: SandboxServer, http: requests.Session, clock: Clock
) -> None:
    # The test's clock stands still: every call falls into the same second.
    bearer = grant(sandbox, http)["access_token"]
    http.post(
        sandbox.url + "/_sandbox/nmbrs/throttle",
        json={"rest": {"per_second": 2, "retry_after": 1}},
        timeout=5,
    )

    answers = [get(sandbox, http, "/api/debtors", bearer) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == "1"
    assert answers[2].json() == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 1 seconds.",
    }
    calls = http.get(sandbox.url + "/_sandbox/stats", timeout=5).json()["calls"]
    assert (calls["nmbrs:rest:debtors"], calls["nmbrs:rest-throttled"]) == (3, 1)
    clock.advance(1.5)
    assert get(sandbox, http, "/api/debtors", bearer).status_code == 200


def test_the_generic_controls_reach_nmbrs_paths(
    sandbox: SandboxServer, http: requests.Session, bearer: str
) -> None:
    http.post(
        sandbox.url + "/_sandbox/control",
        json={"fail": {"status": 503, "body": "upstream down"}, "paths": ["/api/companies"], "times": 1},
        timeout=5,
    )

    assert get(sandbox, http, "/api/companies", bearer).status_code == 503
    assert get(sandbox, http, "/api/companies", bearer).status_code == 200
