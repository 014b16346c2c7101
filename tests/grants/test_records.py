"""The grant changes on every store (memory, SQLite, and the Lua twins on a real Redis): the
lease that lets one instance spend a refresh token, the rotation, the end, save and drop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bridge.grants import records
from bridge.store.base import Store

KEY, INDEX = records.grant_key("nmbrs", "d1"), records.index_key("nmbrs")


def _saved(store: Store, expires_in: float = 3600) -> float:
    now = time.time()
    record = records.new_record("d1", "offline_access", "sealed-access", now + expires_in,
                                "sealed-refresh", now)
    assert store.update([KEY, INDEX], records.SAVE, [record, ["a@x", "b@x"],
                                                     records.RECORD_TTL]) == "ok"
    return now


def _lease(store: Store, holder: str, due: float, refused: str = "") -> dict:
    result: dict = store.update([KEY], records.LEASE, [holder, 30, due, refused])
    return result


def test_save_lease_rotate_on_every_store(store: Store) -> None:
    now = _saved(store)
    assert store.get(INDEX) == {"debtors": {"d1": store.get(INDEX)["debtors"]["d1"]},
                                "users": {"a@x": "d1", "b@x": "d1"}}
    # Not due: fresh, no lease taken.
    assert _lease(store, "h1", now + 60)["state"] == "fresh"
    # The access token that was refused upstream is due whatever its expiry says.
    assert _lease(store, "h1", now + 60, refused="sealed-access")["state"] == "leased"
    # Due: one holder gets the lease, another waits, the same holder may ask again.
    assert _lease(store, "h2", now + 7200)["state"] == "wait"
    assert _lease(store, "h1", now + 7200)["state"] == "leased"
    assert store.update([KEY], records.ROTATE, ["h1", "new-access", now + 7300, "new-refresh",
                                                records.RECORD_TTL]) == "ok"
    record = store.get(KEY)
    assert (record["access"], record["refresh"], record["rotations"]) == (
        "new-access", "new-refresh", 1)
    assert record["lease_holder"] == "" and record["lease_until"] == 0
    # After the rotation the others read the new token rather than refresh again.
    assert _lease(store, "h2", now + 7200)["state"] == "fresh"
    # A rotation whose lease ran out and was taken by another is told.
    assert _lease(store, "h3", now + 9000)["state"] == "leased"
    assert store.update([KEY], records.ROTATE, ["h1", "a3", now + 9100, "",
                                                records.RECORD_TTL]) == "lease_lost"
    assert store.get(KEY)["refresh"] == "new-refresh"  # no new refresh token: the old one kept


def test_end_releases_or_revokes_on_every_store(store: Store) -> None:
    now = _saved(store)
    assert _lease(store, "h1", now + 7200)["state"] == "leased"
    assert store.update([KEY], records.END, ["h1", "", ""]) == "ok"  # a failed call: released
    record = store.get(KEY)
    assert record["state"] == "active" and record["lease_holder"] == ""
    assert record["refresh"] == "sealed-refresh"
    assert _lease(store, "h2", now + 7200)["state"] == "leased"
    assert store.update([KEY], records.END, ["h2", records.REVOKED, "invalid_grant: gone"]) == "ok"
    record = store.get(KEY)
    assert (record["state"], record["problem"]) == ("revoked", "invalid_grant: gone")
    assert record["access"] == record["refresh"] == ""
    assert _lease(store, "h3", now + 7200) == {"state": "revoked", "record": record}
    assert store.update([records.grant_key("nmbrs", "none")], records.END, ["h", "", ""]) == "missing"
    assert _lease(store, "h3", now, refused="")["state"] == "revoked"


def test_a_grant_replaced_under_a_refresh_is_left_to_its_new_consent_on_every_store(
        store: Store) -> None:
    # h1 is refreshing the old grant when `connect` saves a new consent (and revokes the
    # old refresh token): neither h1's rotation nor its refusal touches the new grant.
    now = _saved(store)
    assert _lease(store, "h1", now + 7200)["state"] == "leased"
    renewed = records.new_record("d1", "offline_access", "consent-access", now + 3600,
                                 "consent-refresh", now)
    assert store.update([KEY, INDEX], records.SAVE, [renewed, [], records.RECORD_TTL]) == "ok"

    assert store.update([KEY], records.ROTATE, ["h1", "old-family-access", now + 3600,
                                                "old-family-refresh", records.RECORD_TTL]) \
        == "lease_lost"
    assert store.update([KEY], records.END, ["h1", records.REVOKED, "invalid_grant: x"]) \
        == "lease_lost"

    record = store.get(KEY)
    assert (record["state"], record["access"], record["refresh"]) == (
        "active", "consent-access", "consent-refresh")
    assert _lease(store, "h2", now + 60)["state"] == "fresh"


def test_drop_removes_the_grant_and_only_its_users_on_every_store(store: Store) -> None:
    _saved(store)
    other = records.new_record("d2", "s", "a", time.time() + 60, "r", time.time())
    store.update([records.grant_key("nmbrs", "d2"), INDEX], records.SAVE,
                 [other, ["c@x"], records.RECORD_TTL])
    assert store.update([KEY, INDEX], records.DROP, ["d1"]) == "ok"
    assert store.get(KEY) is None
    index = store.get(INDEX)
    assert set(index["debtors"]) == {"d2"} and index["users"] == {"c@x": "d2"}
    assert store.update([records.grant_key("nmbrs", "none"), INDEX], records.LEASE,
                        ["h", 30, 0, ""]) == {"state": "missing"}


def test_a_lease_no_longer_than_the_identity_calls_deadline_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The upstream's deadline is 4s (connect 1s + read 3s): a refresh may wait that long, so a
    # lease of 4s could run out under it and let another instance spend the same token.
    from bridge.errors import ConfigError
    from tests.grants.conftest import grants_config, load

    with pytest.raises(ConfigError) as caught:
        load(grants_config(tmp_path, "http://127.0.0.1:9", lease="4s"), monkeypatch)
    [problem] = [str(p) for p in caught.value.problems]
    assert "grants.nmbrs.lease (4s) must be longer than the deadline of upstream 'nmbrs' (4s)" \
        in problem and "config.yaml:" in problem
    assert load(grants_config(tmp_path, "http://127.0.0.1:9", lease="5s"), monkeypatch).grants
