"""Recorded traffic: secrets referenced (irreversibly, stable under one key), bounds, the file
format's errors by line; replay's secrets and its refusal to replay data changes off a sandbox."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bridge.migrate.compare import CompareRules, Side
from bridge.migrate.plan import Plan
from bridge.migrate.recording import (
    Recordings,
    RecordSettings,
    read_file,
    reference,
    shape,
    without_secrets,
    write_file,
)
from bridge.migrate.replay import CHANGES_DATA, NO_SECRET, Replayer, restore
from bridge.migrate.routing import Routing
from bridge.store import MemoryStore

KEY = b"k" * 32
REQUEST = {"body": {"Request": {"UserName": "jdoe@example.com", "Password": "Secret-1"}},
           "http": {"Authorization": "Bearer abc.def"}}


def test_secrets_become_references_that_do_not_give_them_back() -> None:
    kept = without_secrets(REQUEST, CompareRules(), KEY)
    password = kept["body"]["Request"]["Password"]
    assert password == reference(KEY, "Secret-1") and "Secret-1" not in str(kept)
    assert kept["http"]["Authorization"].startswith("ref-") and "abc.def" not in str(kept)
    assert kept["body"]["Request"]["UserName"] == "jdoe@example.com"
    assert reference(b"o" * 32, "Secret-1") != password  # another key, another reference


def test_replay_restores_the_given_secret_only_where_it_was_the_recorded_one() -> None:
    kept = without_secrets({"Password": "Secret-1"}, CompareRules(), KEY)
    wrong = without_secrets({"Password": "typo"}, CompareRules(), KEY)
    assert restore(kept, "Secret-1", KEY) == {"Password": "Secret-1"}
    # A recorded wrong password is replayed wrong (the reference itself), not as the right one.
    assert restore(wrong, "Secret-1", KEY) == wrong
    assert restore(wrong, "Secret-1", None) == {"Password": "Secret-1"}  # no key: trusted
    assert restore(kept, {"Password": "x"}, None) == {"Password": "x"}
    with pytest.raises(KeyError):
        restore(kept, None, KEY)


def test_captures_are_bounded_and_only_while_recording() -> None:
    store = MemoryStore()
    legacy = Side("result", {"R": {"Token": "tok-123456789", "Name": "A"}}, 2.0)
    off = Recordings(store, None, KEY)
    assert not off.wanted("Op")
    off.start(60, ["Op"], max_entries=2, max_age=3600)
    assert off.wanted("Op") and not off.wanted("Other")
    kept = [off.capture("Op", "/p", REQUEST, legacy, CompareRules(), False) for _ in range(3)]
    assert kept == [True, True, False]
    (first, _) = store.records("recordings", 0)
    assert first["legacy"]["data"]["R"]["Token"].startswith("ref-")
    off.stop()
    fresh = Recordings(store, None, KEY)
    assert not fresh.wanted("Op")
    assert Recordings(store, RecordSettings(), KEY).wanted("Anything")


def test_request_shapes_ignore_values_but_not_structure() -> None:
    def entry(user: str, password: str, kind: str = "result") -> dict[str, Any]:
        return {"operation": "Op", "request": {"U": user, "P": password},
                "legacy": {"kind": kind, "data": {"R": {"Accounts": [{"Id": user}]}}}}

    assert shape(entry("a", "x")) == shape(entry("b", "y"))
    assert shape(entry("a", "x")) != shape(entry("a", ""))
    assert shape(entry("a", "x")) != shape(entry("a", "x", "fault"))


def test_a_recording_file_is_checked_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_file(str(path), [{"operation": "Op", "request": {}, "legacy": {"kind": "result",
                                                                        "data": {}}}])
    assert len(read_file(str(path))) == 1
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"r.jsonl:3: not a JSON line"):
        read_file(str(path))
    path.write_text('{"format": "other"}\n')
    with pytest.raises(ValueError, match=r"r.jsonl:1: not a soap-bridge recording"):
        read_file(str(path))


def _replayer(changes_data: bool, sandbox: bool) -> Replayer:
    rule: Any = SimpleNamespace(changes_data=changes_data, verify=None)
    plan = Plan(rules={"Op": rule}, routing=Routing())
    service: Any = SimpleNamespace(operations={"Op": object()})
    engine: Any = SimpleNamespace(run=lambda *args, **kwargs: pytest.fail("must not run"))
    return Replayer(engine, service, lambda: plan, MemoryStore(), KEY, sandbox)


def test_data_changing_operations_replay_only_on_a_sandbox_unless_forced() -> None:
    entry = {"operation": "Op", "request": {}, "legacy": {"kind": "result", "data": {}}}
    assert _replayer(True, sandbox=False).one(entry, {}) == (None, CHANGES_DATA)
    needs_secret = {**entry, "request": {"Password": reference(KEY, "x")}}
    # Past the gate (a sandbox, or forced), a missing secret is what stops it here.
    assert _replayer(True, sandbox=True).one(needs_secret, {}) == (None, NO_SECRET)
    assert _replayer(True, sandbox=False).one(needs_secret, {}, force=True) == (None, NO_SECRET)


def test_the_record_setting_is_read_with_its_mistakes_by_line(tmp_path: Path) -> None:
    from bridge.config import load_config
    from bridge.errors import ConfigError
    from tests.servers import write_config

    good = load_config(str(write_config(tmp_path / "good", "http://127.0.0.1:9",
                                        record={"operations": ["AuthenticateUser"],
                                                "max_age": "2d"})))
    assert good.record == RecordSettings(("AuthenticateUser",), 10_000, 2 * 86400.0)
    with pytest.raises(ConfigError) as raised:
        load_config(str(write_config(tmp_path / "bad", "http://127.0.0.1:9",
                                     record={"max_entries": 0, "keep": True})))
    text = "\n".join(str(problem) for problem in raised.value.problems)
    assert "max_entries must be a whole number" in text and "keep" in text
    assert "config.yaml:" in text


def test_a_referenced_legacy_value_compares_equal_to_the_same_rest_value() -> None:
    from bridge.migrate.replay import settle

    recorded = without_secrets({"R": {"ExpiredPasswordUrl": "https://x/change", "Token": "t1"}},
                               CompareRules(), KEY)
    rest = {"R": {"ExpiredPasswordUrl": "https://x/change", "Token": "t2"}}
    settled = settle(recorded, rest, KEY)
    assert settled["R"]["ExpiredPasswordUrl"] == "https://x/change"  # the same value: equal
    assert settled["R"]["Token"] == recorded["R"]["Token"]  # another token: still the reference
    assert settle(recorded, rest, None)["R"]["Token"] == "t2"  # no key: assumed the same
    assert settle(recorded, {"R": {}}, KEY)["R"]["Token"] == recorded["R"]["Token"]


def test_a_broken_secrets_file_is_named_by_line(tmp_path: Path) -> None:
    from bridge.migrate.replay import load_secrets

    path = tmp_path / "secrets.yaml"
    path.write_text("jdoe@example.com: Password\nmulti: [unclosed\n")
    with pytest.raises(ValueError, match=r"secrets.yaml:3: not YAML"):
        load_secrets(str(path))
    path.write_text("- a list\n")
    with pytest.raises(ValueError, match="map each user name"):
        load_secrets(str(path))
