"""The seed's legacy section beyond extra accounts and lockout: accounts, names and templates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from bridge.sandbox import SeedError, load_seed, parse_seed

from .conftest import EXAMPLE_INC
from .test_seed import valid

CHILD = "d29e2e80-aaf7-4865-a11c-cf9e2a05d1a7"
OTHER = "4560e159-5256-4d73-8264-8b37ceefb017"
TEMPLATE = "2fa8dc35-f992-46ab-a981-b266f614b5a3"


def seed_with(legacy: dict[str, Any]) -> Any:
    data = valid()
    data["legacy"] = legacy
    return parse_seed(yaml.safe_dump(data, sort_keys=False), "seed.yaml")


def test_the_bundled_seed_has_two_children_of_example_inc_and_two_templates() -> None:
    legacy = load_seed(None).legacy

    assert [(a.name, a.parent, a.inactive) for a in legacy.accounts] == [
        ("Example, Inc.", None, False),
        ("Example Sales", EXAMPLE_INC, False),
        ("Example Archive", EXAMPLE_INC, True),
    ]
    assert [(t.name, t.account, t.page_count) for t in legacy.templates] == [
        ("Mutual NDA", EXAMPLE_INC, 2),
        ("Sales Order", EXAMPLE_INC, 1),
    ]


def test_defaults_when_the_seed_says_nothing() -> None:
    legacy = seed_with({}).legacy

    assert (legacy.accounts, legacy.templates) == ((), ())
    assert legacy.roles == ("Administrator", "User", "Limited User")
    assert (legacy.account_templates, legacy.account_groups) == (("Standard",), ("All",))
    assert legacy.change_password_url == "https://sandbox.invalid/ChangePassword"


def test_an_account_of_a_user_takes_its_name_from_there_and_a_template_its_zone_from_utc() -> None:
    legacy = seed_with(
        {
            "accounts": [{"context_identifier": EXAMPLE_INC, "display_name": "X Ltd", "account_group": "G"}],
            "account_groups": ["G"],
            "roles": ["Boss"],
            "templates": [
                {
                    "id": TEMPLATE,
                    "account": EXAMPLE_INC.upper(),
                    "name": "T",
                    "created": "2020-01-02T03:04:05",
                }
            ],
        }
    ).legacy

    assert (legacy.accounts[0].name, legacy.accounts[0].display_name) == ("X", "X Ltd")
    assert legacy.roles == ("Boss",)
    # The account as the users name it, and a moment without a zone taken as UTC.
    assert legacy.templates[0].account == EXAMPLE_INC
    assert legacy.templates[0].created == dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("legacy", "message"),
    [
        (
            {"accounts": [{"context_identifier": CHILD}]},
            f"legacy.accounts[0]: account {CHILD} is no user's account",
        ),
        (
            {"accounts": [{"context_identifier": EXAMPLE_INC, "name": "Y"}]},
            f"account {EXAMPLE_INC} is named 'Y' here but 'X' elsewhere",
        ),
        (
            {"accounts": [{"context_identifier": CHILD, "name": "C", "parent": OTHER}]},
            f"legacy.accounts[0]: parent {OTHER} is not an account of the seed",
        ),
        (
            {
                "accounts": [
                    {"context_identifier": CHILD, "name": "C", "parent": OTHER},
                    {"context_identifier": OTHER, "name": "O", "parent": CHILD},
                ]
            },
            f"account {CHILD} is its own ancestor",
        ),
        (
            {"accounts": [{"context_identifier": EXAMPLE_INC}, {"context_identifier": EXAMPLE_INC}]},
            f"account {EXAMPLE_INC} is listed twice",
        ),
        (
            {"accounts": [{"context_identifier": EXAMPLE_INC, "account_group": "Elsewhere"}]},
            "account_group 'Elsewhere' is not one of All",
        ),
        (
            {"accounts": [{"context_identifier": EXAMPLE_INC, "inactive": "no"}]},
            "inactive must be true or false",
        ),
        ({"roles": ["User", "User"]}, "legacy.roles[1]: 'User' is listed twice"),
        ({"account_groups": [""]}, "legacy.account_groups[0]: must be a non-empty string"),
        ({"roles": "User"}, "roles must be a list"),
        (
            {"templates": [{"id": TEMPLATE, "account": CHILD, "name": "T", "created": "2020-01-01"}]},
            f"legacy.templates[0]: account {CHILD} is not an account of the seed",
        ),
        (
            {"templates": [{"id": TEMPLATE, "account": EXAMPLE_INC, "name": "T", "created": "soon"}]},
            "created 'soon' is not a date and time",
        ),
        ({"templates": [{"id": TEMPLATE, "account": EXAMPLE_INC, "name": "T"}]}, "created is required"),
        (
            {
                "templates": [
                    {
                        "id": TEMPLATE,
                        "account": EXAMPLE_INC,
                        "name": "T",
                        "created": "2020-01-01",
                        "page_count": 0,
                    }
                ]
            },
            "page_count must be a whole number of at least 1",
        ),
        (
            {
                "templates": [
                    {"id": TEMPLATE, "account": EXAMPLE_INC, "name": "T", "created": "2020-01-01"},
                    {"id": TEMPLATE.upper(), "account": EXAMPLE_INC, "name": "U", "created": "2020-01-01"},
                ]
            },
            f"template {TEMPLATE.upper()} is listed twice",
        ),
        ({"change_password_url": ""}, "change_password_url must be a non-empty string"),
        ({"colour": "red"}, "legacy: unknown key 'colour'"),
    ],
)
def test_bad_legacy_sections_are_refused(legacy: dict[str, Any], message: str) -> None:
    with pytest.raises(SeedError) as refused:
        seed_with(legacy)

    assert str(refused.value).startswith("seed.yaml:")
    assert message in str(refused.value)
