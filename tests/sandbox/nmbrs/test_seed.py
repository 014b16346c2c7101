"""The Nmbrs seed: the bundled one's contents, and bad seeds refused with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bridge.sandbox import SeedError
from bridge.sandbox.nmbrs import load_nmbrs_seed, parse_nmbrs_seed
from bridge.sandbox.nmbrs.seed import BUNDLED_SEED
from tests.sandbox.nmbrs.conftest import CLIENT_ID, CLIENT_SECRET, MASTER, SUBSCRIPTION_KEY

BUNDLED = Path(__file__).resolve().parents[3] / "bridge" / "sandbox" / "nmbrs" / BUNDLED_SEED


def test_the_bundled_seed() -> None:
    seed = load_nmbrs_seed(None)

    assert (seed.subdomain, seed.domain) == ("acmepayroll", "acmepayroll.nmbrs.nl")
    assert [d.id for d in seed.debtors] == [40001, 40002]
    assert len(list(seed.companies())) == 133
    # Generated companies get the same GUID on every start.
    assert seed.company(61000) == load_nmbrs_seed(None).company(61000)
    user = seed.user(MASTER[0].upper())
    assert user is not None and user.token == MASTER[1] and user.master
    assert seed.identity.client(CLIENT_ID) is not None
    assert seed.identity.client(CLIENT_ID).client_secret == CLIENT_SECRET  # type: ignore[union-attr]
    assert SUBSCRIPTION_KEY in seed.subscription_keys
    assert seed.employee_type("payroll") == seed.employee_type(2)


def edited(change: str, replacement: str) -> str:
    text = BUNDLED.read_text(encoding="utf-8")
    assert change in text
    return text.replace(change, replacement, 1)


def line_of(change: str) -> int:
    text = BUNDLED.read_text(encoding="utf-8")
    return text[: text.index(change)].count("\n") + 1


@pytest.mark.parametrize(
    ("change", "replacement", "problem"),
    [
        ("      - id: 60002", "      - id: 60001", "company 60001 is used twice"),
        ("    debtor: 40002", "    debtor: 49999", "debtor 49999 is not one of the seed's debtors"),
        (
            "initials: M., last_name: Visser, type: 1}",
            "initials: M., last_name: Visser, type: 7}",
            "type 7 is not one of the employee_types",
        ),
        ("        payroll_period: Week4", "        payroll_period: Fortnight", "payroll_period 'Fortnight'"),
        (
            "denied: [DebtorService.List_GetAll]",
            "denied: [DebtorService.Nope]",
            "not an emulated Service.Operation",
        ),
        (
            "refresh_token_expiration: sliding",
            "refresh_token_expiration: forever",
            "refresh_token_expiration",
        ),
        ("redirect_uris: [http://127.0.0.1/callback,", "redirect_uris: [callback,", "is not an absolute"),
    ],
)
def test_bad_seeds_are_refused_with_file_and_line(change: str, replacement: str, problem: str) -> None:
    text = edited(change, replacement)

    with pytest.raises(SeedError) as caught:
        parse_nmbrs_seed(text, "nmbrs.yaml")

    assert problem in str(caught.value)
    assert caught.value.source == "nmbrs.yaml"
    assert caught.value.line == line_of(change)


def test_unknown_keys_and_bad_yaml() -> None:
    with pytest.raises(SeedError, match="unknown key 'colour'"):
        parse_nmbrs_seed(edited("environment:\n", "colour: red\nenvironment:\n"))
    with pytest.raises(SeedError, match="not valid YAML"):
        parse_nmbrs_seed("debtors: [")
    with pytest.raises(SeedError, match="cannot read"):
        load_nmbrs_seed("/nonexistent/nmbrs.yaml")
    assert yaml.safe_load(BUNDLED.read_text())["rest"]["max_page_size"] == 100
