"""Loading the seed: the bundled default's contents and the errors bad seeds get."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.sandbox import SeedError, bundled_directory_path, load_seed, parse_seed

from .conftest import API_KEYS, EXAMPLE_INC

GUID = "06fd91ef-dab3-4d55-8b2c-214401174fbc"


def valid() -> dict[str, Any]:
    return {
        "environment": "sandbox",
        "organisation": "example-org",
        "users": [
            {
                "username": "a@example.com",
                "password": "pw",
                "first_name": "A",
                "last_name": "B",
                "status": "active",
                "accounts": [{"context_identifier": EXAMPLE_INC, "name": "X", "primary": True}],
            },
            {
                "username": "b@example.com",
                "password": "pw",
                "first_name": "C",
                "last_name": "D",
                "accounts": [{"context_identifier": GUID, "name": "Y", "primary": True}],
            },
        ],
        "api_users": [
            {
                "username": "api",
                "key": "k",
                "scope": {"kind": "organisation"},
                "expires": dt.date(2099, 12, 31),
            }
        ],
    }


def parse(data: object, source: str = "seed.yaml") -> Any:
    return parse_seed(yaml.safe_dump(data, sort_keys=False), source)


# -- the bundled default -----------------------------------------------------------


def test_default_seed_holds_the_documented_user() -> None:
    seed = load_seed(None)

    jdoe = seed.user("jdoe@example.com")
    assert jdoe is not None
    assert (jdoe.password, jdoe.first_name, jdoe.last_name, jdoe.status) == (
        "Password",
        "John",
        "Doe",
        "active",
    )
    assert [(a.context_identifier, a.name, a.primary) for a in jdoe.accounts] == [
        (EXAMPLE_INC, "Example, Inc.", True)
    ]
    assert seed.environment == "sandbox"
    assert seed.legacy.max_failures == 5


def test_default_seed_has_a_multi_account_user_with_one_primary_and_one_disabled() -> None:
    seed = load_seed(None)
    multi = seed.user("multi@example.com")

    assert multi is not None
    assert (multi.first_name, multi.last_name) == ("Mary", "Multi")
    assert len(multi.accounts) == 4
    assert sum(a.primary for a in multi.accounts) == 1
    assert [a.name for a in multi.accounts if a.disabled] == ["Multi Archive"]
    # The legacy side lists only the accounts she can use.
    assert [a.name for a in seed.legacy_accounts(multi)] == [a.name for a in multi.usable_accounts]
    assert len(multi.usable_accounts) == 3


def test_disabled_is_per_user_and_defaults_to_false() -> None:
    data = valid()
    data["users"][1]["accounts"].append({"context_identifier": EXAMPLE_INC, "name": "X", "disabled": True})

    seed = parse(data)

    a, b = seed.users
    assert [x.disabled for x in a.accounts] == [False]
    assert [x.disabled for x in b.accounts] == [False, True]
    assert seed.legacy_accounts(b) == b.accounts[:1]


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("locked@example.com", "locked"),
        ("inactive@example.com", "inactive"),
        ("expired@example.com", "expired_password"),
    ],
)
def test_default_seed_has_one_user_per_refusal(username: str, status: str) -> None:
    user = load_seed(None).user(username)

    assert user is not None
    assert (user.status, user.password, len(user.accounts)) == (status, "Password", 1)


def test_the_bundled_directory_file_names_the_seeds_users_as_the_seed_does() -> None:
    seed = load_seed(None)
    directory = yaml.safe_load(Path(bundled_directory_path()).read_text(encoding="utf-8"))

    assert directory["users"] == {
        u.username: {"firstName": u.first_name, "lastName": u.last_name} for u in seed.users
    }
    assert "password" not in Path(bundled_directory_path()).read_text(encoding="utf-8").lower()


def test_default_seed_api_users() -> None:
    seed = load_seed(None)
    today = dt.date.today()

    described = {
        a.username: (a.scope.kind, a.scope.user, a.scope.environments, a.expires < today, a.revoked)
        for a in seed.api_users
    }

    assert described == {
        "bridge-demo": ("organisation", None, (), False, False),
        "scope-user": ("user", "jdoe@example.com", (), False, False),
        "scope-env": ("environment", None, ("sandbox",), False, False),
        "scope-other-env": ("environment", None, ("ca1",), False, False),
        "expired-api": ("organisation", None, (), True, False),
        "revoked-api": ("organisation", None, (), False, True),
    }
    assert {a.username: a.key for a in seed.api_users} == API_KEYS
    assert all(len(a.key) == 32 for a in seed.api_users)


def test_usernames_are_looked_up_case_insensitively() -> None:
    seed = load_seed(None)
    assert seed.user("JDoe@Example.COM") is seed.user("jdoe@example.com")
    assert seed.api_user("BRIDGE-DEMO") is seed.api_user("bridge-demo")


def test_a_valid_custom_seed_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(valid()), encoding="utf-8")

    seed = load_seed(str(path))

    assert [u.username for u in seed.users] == ["a@example.com", "b@example.com"]
    assert seed.source == str(path)
    assert seed.users[1].status == "active"  # the default


# -- refusals -----------------------------------------------------------------------


def change(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    data = valid()
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            change(("users", 1, "status"), "foo"),
            "users[1]: status 'foo' is not one of active, locked, inactive, expired_password",
        ),
        (
            change(("users", 1, "username"), "A@example.com"),
            "username 'A@example.com' appears twice",
        ),
        (
            change(("users", 0, "accounts", 0, "primary"), False),
            "users[0]: exactly one account must be primary, 0 are",
        ),
        (
            change(
                ("users", 0, "accounts"),
                [
                    {"context_identifier": EXAMPLE_INC, "name": "X", "primary": True},
                    {"context_identifier": GUID, "name": "Y", "primary": True},
                ],
            ),
            "exactly one account must be primary, 2 are",
        ),
        (change(("users", 0, "accounts"), []), "exactly one account must be primary, 0 are"),
        (
            change(("users", 0, "accounts", 0, "context_identifier"), "821ae27f-not-a-guid"),
            "users[0].accounts[0]: context_identifier '821ae27f-not-a-guid' is not a GUID",
        ),
        (
            change(("users", 0, "password"), 1234),
            "users[0]: password must be a non-empty string",
        ),
        (change(("users", 0, "colour"), "red"), "users[0]: unknown key 'colour'"),
        (
            change(("users", 0, "accounts", 0, "disabled"), True),
            "users[0]: the primary account cannot be disabled",
        ),
        (
            change(("users", 0, "accounts", 0, "disabled"), "yes"),
            "users[0].accounts[0]: disabled must be true or false",
        ),
        (change(("wrap_token",), True), "unknown key 'wrap_token'"),
        (change(("users", 0, "first_name"), _DELETE), "users[0]: first_name is required"),
        (change(("users",), _DELETE), "users is required"),
        (change(("users",), []), "users: at least one user is needed"),
        (change(("environment",), ""), "environment must be a non-empty string"),
        (
            change(("api_users", 0, "scope"), {"kind": "team"}),
            "api_users[0].scope: kind 'team' is not one of organisation, user, environment",
        ),
        (
            change(("api_users", 0, "scope"), {"kind": "user", "user": "ghost@example.com"}),
            "user 'ghost@example.com' is not one of the seed's users",
        ),
        (
            change(("api_users", 0, "scope"), {"kind": "environment", "environments": []}),
            "environments must be a non-empty list of names",
        ),
        (change(("api_users", 0, "expires"), "soon"), "expires 'soon' is not a date"),
        (change(("api_users", 0, "revoked"), "no"), "revoked must be true or false"),
        (change(("api_users", 0, "username"), "a@example.com"), "is also an eSign user"),
        (
            change(("legacy",), {"extra_accounts": {"ghost@example.com": []}}),
            "legacy.extra_accounts: user 'ghost@example.com' is not one",
        ),
        (
            change(
                ("legacy",),
                {"extra_accounts": {"a@example.com": [{"context_identifier": EXAMPLE_INC, "name": "X"}]}},
            ),
            f"account {EXAMPLE_INC} is already one of the user's",
        ),
        (
            change(("legacy",), {"lockout": {"max_failures": 0}}),
            "legacy.lockout: max_failures must be a whole number of at least 1",
        ),
        (["not", "a", "mapping"], "seed.yaml:1: the seed must be a mapping"),
    ],
)
def test_invalid_seeds_are_refused_naming_file_and_problem(data: object, message: str) -> None:
    with pytest.raises(SeedError) as refused:
        parse(data)
    assert str(refused.value).startswith("seed.yaml")
    assert message in str(refused.value)


def test_one_account_with_two_names_is_refused() -> None:
    data = change(("users", 1, "accounts", 0, "context_identifier"), EXAMPLE_INC)

    with pytest.raises(SeedError, match="named 'Y' here but 'X' elsewhere"):
        parse(data)


def test_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = yaml.safe_dump(change(("users", 1, "status"), "foo"), sort_keys=False)
    path.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "status: foo" in row)

    with pytest.raises(SeedError) as refused:
        load_seed(str(path))

    assert str(refused.value).startswith(f"{path}:{line}: users[1]: status 'foo'")
    assert refused.value.line == line
    assert refused.value.source == str(path)


def test_duplicate_yaml_keys_are_refused() -> None:
    text = "environment: sandbox\nenvironment: ca1\norganisation: o\nusers: []\n"

    with pytest.raises(SeedError, match=r"^dup\.yaml:2: top level: key 'environment' appears twice"):
        parse_seed(text, "dup.yaml")


def test_yaml_syntax_errors_name_the_line() -> None:
    with pytest.raises(SeedError, match=r"^broken\.yaml:2: not valid YAML: mapping values"):
        parse_seed("environment: sandbox\norganisation: a: b\n", "broken.yaml")


def test_a_missing_file_is_a_seed_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"

    with pytest.raises(SeedError, match=r"missing\.yaml: cannot read the seed"):
        load_seed(str(missing))


def test_seed_errors_are_value_errors() -> None:
    assert issubclass(SeedError, ValueError)


def test_the_seed_is_frozen() -> None:
    seed = load_seed(None)
    with pytest.raises(AttributeError):
        seed.environment = "ca1"  # type: ignore[misc]
    with pytest.raises(TypeError):
        seed.legacy.extra_accounts["x"] = ()  # type: ignore[index]
