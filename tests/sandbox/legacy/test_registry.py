"""The registry of legacy users and accounts, without HTTP: what the operations rely on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.sandbox import load_seed
from bridge.sandbox.legacy import Registry
from bridge.sandbox.legacy.registry import Conflict

from ..conftest import EXAMPLE_INC

SALES = "d29e2e80-aaf7-4865-a11c-cf9e2a05d1a7"
HOLDINGS = "06fd91ef-dab3-4d55-8b2c-214401174fbc"
EUROPE = "4ed5cdfd-2302-42be-ace6-72a8ec6bcbbb"


@pytest.fixture
def registry() -> Registry:
    return Registry(load_seed(None))


def test_users_start_as_the_seed_has_them_on_the_legacy_side(registry: Registry) -> None:
    multi = registry.user("MULTI@example.com")

    assert multi is not None
    # The disabled membership is not one the legacy side knows.
    assert [(m.context_identifier, m.primary) for m in multi.memberships] == [
        (HOLDINGS, True),
        (EUROPE, False),
        (EXAMPLE_INC, False),
    ]
    assert [(u.username, u.locked, u.inactive, u.password_expired) for u in registry.members(EXAMPLE_INC)][
        2:
    ] == [
        ("locked@example.com", True, False, False),
        ("inactive@example.com", False, True, False),
        ("expired@example.com", False, False, True),
    ]


def test_leaving_the_primary_account_makes_the_next_one_primary(registry: Registry) -> None:
    registry.leave("multi@example.com", HOLDINGS.upper())

    multi = registry.user("multi@example.com")
    assert multi is not None
    assert [(m.context_identifier, m.primary) for m in multi.memberships] == [
        (EUROPE, True),
        (EXAMPLE_INC, False),
    ]


def test_a_parent_account_user_may_manage_the_children_not_the_other_way(registry: Registry) -> None:
    jdoe = registry.user("jdoe@example.com")
    assert jdoe is not None
    seller = replace(
        jdoe,
        username="seller@example.com",
        memberships=(replace(jdoe.memberships[0], context_identifier=SALES),),
    )

    assert registry.may_manage(jdoe, SALES)
    assert not registry.may_manage(seller, EXAMPLE_INC)
    assert not registry.may_manage(jdoe, HOLDINGS)


def test_an_account_cannot_be_moved_below_itself(registry: Registry) -> None:
    example = registry.account(EXAMPLE_INC)
    assert example is not None

    with pytest.raises(Conflict, match="cannot be moved below itself"):
        registry.replace_account(replace(example, parent=SALES))
    with pytest.raises(Conflict):
        registry.replace_account(replace(example, parent=EXAMPLE_INC))


def test_a_rename_onto_a_taken_name_is_refused_and_reset_forgets_every_change(registry: Registry) -> None:
    jdoe = registry.user("jdoe@example.com")
    assert jdoe is not None
    with pytest.raises(Conflict, match=r"'multi@example\.com' already exists"):
        registry.replace_user("jdoe@example.com", replace(jdoe, username="multi@example.com"))
    registry.replace_user("jdoe@example.com", replace(jdoe, username="john@example.com"))
    registry.send_credentials("john@example.com", "pw")

    registry.reset()

    assert registry.user("john@example.com") is None
    assert registry.user("jdoe@example.com") == jdoe
    assert registry.sent_credentials("john@example.com") is None
