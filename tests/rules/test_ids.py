"""The id table on every store (real Redis included): legacy pairs, minted ints that two
instances agree on, collisions, and the int_id/guid filters in a rule's answer."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.tokens import TokenIssuer
from bridge.errors import ConfigError
from bridge.rules.engine import EngineContext, RuleEngine
from bridge.rules.ids import MINT_CEILING, MINT_FLOOR, IdMap, candidate, int_key, learn_pairs
from bridge.rules.model import compile_rule
from bridge.store.base import Store

GUID = "880189cb-1acb-44bc-a8b3-4ad2a24f06a9"


def test_a_learned_pair_reads_both_ways_and_survives_a_new_instance(store: Store) -> None:
    assert IdMap(store).learn("company", 60001, GUID.upper()) == "written"
    other = IdMap(store)  # another instance on the same store: nothing in its memory
    assert other.int_of("company", GUID) == 60001
    assert other.guid_of("company", "60001") == GUID
    assert other.guid_of("employee", 60001) is None  # kinds are apart
    assert other.learn("company", 60001, GUID) == "known"


def test_an_unknown_guid_gets_the_same_minted_int_on_every_instance(store: Store) -> None:
    guid = str(uuid.uuid4())
    first = IdMap(store).int_of("company", guid)
    assert first == candidate("company", guid, 0)
    assert first is not None and MINT_FLOOR <= first <= MINT_CEILING
    assert IdMap(store).int_of("company", guid) == first
    assert IdMap(store).guid_of("company", first) == guid


def test_instances_racing_on_one_guid_all_get_one_int(store: Store) -> None:
    guid, results = str(uuid.uuid4()), []
    # The first candidate is another GUID's: every racer must move on to the same second one.
    IdMap(store).learn("company", candidate("company", guid, 0), str(uuid.uuid4()))

    def mint() -> None:
        results.append(IdMap(store).int_of("company", guid))

    threads = [threading.Thread(target=mint) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {candidate("company", guid, 1)}


def test_a_legacy_pair_replaces_a_minted_int_but_never_a_legacy_one(store: Store) -> None:
    table, guid = IdMap(store), str(uuid.uuid4())
    minted = table.int_of("company", guid)
    assert table.learn("company", 60002, guid) == "written"
    assert IdMap(store).int_of("company", guid) == 60002
    assert IdMap(store).guid_of("company", minted) == guid  # an int once handed out still works
    assert table.learn("company", 60003, guid) == "kept"
    assert table.learn("company", 60002, str(uuid.uuid4())) == "taken"
    assert IdMap(store).int_of("company", guid) == 60002


def test_learn_pairs_matches_legacy_and_rest_items_by_their_shared_fields(tmp_path: Path) -> None:
    from bridge.store import MemoryStore

    rule = _rule(tmp_path, LEARNING)
    legacy = {"List_GetAllResult": {"Company": [
        {"ID": 60001, "Number": 1, "Name": "Acme Bouw B.V."},
        {"ID": 60101, "Number": 1, "Name": "Bakkerij de Vries B.V."},
        {"ID": 70000, "Number": 5, "Name": "Twice"},
        {"ID": 70001, "Number": 5, "Name": "twice"},   # not unique: never guessed
    ]}}
    steps = {"companies": {"companies": [
        {"companyId": GUID, "number": 1, "name": "Acme Bouw B.V."},
        {"companyId": "c02befb3-493d-4721-92a3-e6df2a6b3856", "number": 1,
         "name": "Bakkerij de Vries B.V."},
        {"companyId": str(uuid.uuid4()), "number": 5, "name": "Twice"},
    ]}}
    table = IdMap(MemoryStore())
    assert learn_pairs(table, rule.learn_ids, legacy, steps) == {"written": 2}
    assert table.int_of("company", GUID, mint=False) == 60001
    assert table.guid_of("company", 60101) == "c02befb3-493d-4721-92a3-e6df2a6b3856"
    assert table.guid_of("company", 70000) is None


def test_the_filters_render_ints_from_guids_and_guids_from_ints(store: Store,
                                                                 tmp_path: Path) -> None:
    rule = _rule(tmp_path, LEARNING)
    table = IdMap(store)
    table.learn("company", 60001, GUID)
    engine = RuleEngine(EngineContext(
        upstreams={}, store=store, tokens=TokenIssuer(store),
        lockout=Lockout(store, LockoutPolicy()), secrets={}, vars={}, token_ttl=60,
        state_key=b"k" * 32, ids=table))
    stranger = str(uuid.uuid4())
    outcome = engine.run(rule, {"body": {"CompanyId": 60001, "Guid": stranger}, "header": {}})
    assert outcome.result == {"R": {"Back": GUID, "Known": 60001,
                                    "Minted": candidate("company", stranger, 0)}}
    assert store.get(int_key("company", candidate("company", stranger, 0))) == stranger

    dry = RuleEngine(engine.context).run(rule, {"body": {"CompanyId": 1, "Guid": str(uuid.uuid4())},
                                                "header": {}}, dry_run=True)
    assert dry.result is not None and "Back" not in dry.result["R"]
    minted = dry.result["R"]["Minted"]
    assert store.get(int_key("company", minted)) is None  # a dry run records nothing


@pytest.mark.parametrize(("section", "message"), [
    ("learn_ids: {company: {legacy: {items: answer.X, id: ID, match: N}}}", "learn_ids.company.rest"),
    ("learn_ids: {company: {legacy: {items: X, id: ID, match: N},"
     " rest: {items: steps.x.y, id: g, match: n}}}", "starts with answer."),
    ("learn_ids: {company: {legacy: {items: answer.X, id: ID, match: [N, M]},"
     " rest: {items: steps.x.y, id: g, match: n}}}", "as many fields"),
])
def test_learn_ids_mistakes_are_told(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _rule(tmp_path, "operation: X\nresult: {A: b}\n" + section + "\n")
    assert any(message in str(p) and ":3" in str(p) for p in caught.value.problems), \
        caught.value.problems


LEARNING = """
operation: List_GetAll
input:
  company: body.CompanyId
  guid: body.Guid
result:
  R:
    Back: "{{ input.company | guid('company') }}"
    Known: "{{ 'GUID' | int_id('company') }}"
    Minted: "{{ input.guid | int_id('company') }}"
learn_ids:
  company:
    legacy: {items: answer.List_GetAllResult.Company, id: ID, match: [Number, Name]}
    rest: {items: steps.companies.companies, id: companyId, match: [number, name]}
""".replace("'GUID'", f"'{GUID}'")


def _rule(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "rule.yaml"
    path.write_text(text)
    return compile_rule(str(path))


def test_an_instance_sees_a_minted_int_replaced_by_another_at_once(store: Store) -> None:
    guid, one, other = str(uuid.uuid4()), IdMap(store), IdMap(store)
    minted = one.int_of("company", guid)
    assert other.int_of("company", guid) == minted
    other.learn("company", 60009, guid)
    assert one.int_of("company", guid) == 60009
