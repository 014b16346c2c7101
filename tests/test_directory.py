"""The account directory: the file and the learned entries, with accounts and names."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.directory import LocalDirectory, directory_keys, learn_directory, normalise_entry
from bridge.store import MemoryStore

ACCOUNT = {"contextIdentifier": "11111111-2222-3333-4444-555555555555", "name": "Filed",
           "isPrimary": True}


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "directory.yaml"
    path.write_text(text)
    return str(path)


def test_the_file_gives_names_and_accounts_each_optional(tmp_path: Path) -> None:
    path = _file(tmp_path, (
        "users:\n"
        "  Ann@Example.com: {firstName: Ann, lastName: ' Lee ', accounts: [{contextIdentifier: "
        "11111111-2222-3333-4444-555555555555, name: Filed, isPrimary: true}]}\n"
        "  bob@example.com: {firstName: Bob}\n"
        "  cy@example.com: {accounts: []}\n"
        "  dee@example.com:\n"))
    directory = LocalDirectory(("file",), MemoryStore(), path)

    assert directory.entry(" ann@example.COM ") == {
        "accounts": [ACCOUNT], "firstName": "Ann", "lastName": "Lee"}
    assert directory.entry("bob@example.com") == {"accounts": [], "firstName": "Bob"}
    assert directory.entry("cy@example.com") is None  # knows nothing of cy
    assert directory.entry("dee@example.com") is None
    assert directory.entry("eve@example.com") is None


def test_learned_entries_keep_the_names_beside_the_accounts() -> None:
    store = MemoryStore()
    learn_directory(store, " Mary@Example.com ", [ACCOUNT], {"firstName": "Mary", "lastName": "Multi"})
    learn_directory(store, "old@example.com", [ACCOUNT])  # an entry from before names were learned

    directory = LocalDirectory(("rest", "learned"), store, None)

    assert directory.entry("mary@example.com") == {
        "accounts": [ACCOUNT], "firstName": "Mary", "lastName": "Multi"}
    assert directory.entry("old@example.com") == {"accounts": [ACCOUNT]}
    assert store.get(directory_keys("mary@example.com")[0])["username"] == "Mary@Example.com"


@pytest.mark.parametrize(("sources", "first_name"), [
    (("rest", "file", "learned"), "Filed"),
    (("learned", "file"), "Learned"),
    (("rest",), None),
])
def test_the_own_sources_are_asked_in_the_configured_order(
    tmp_path: Path, sources: tuple[str, ...], first_name: str | None
) -> None:
    store = MemoryStore()
    learn_directory(store, "ann@example.com", [ACCOUNT], {"firstName": "Learned"})
    path = _file(tmp_path, "users:\n  ann@example.com: {firstName: Filed}\n")

    entry = LocalDirectory(sources, store, path).entry("ann@example.com")

    assert (entry or {}).get("firstName") == first_name


def test_an_unreadable_file_is_logged_and_knows_nobody(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    path = _file(tmp_path, "people: {}\n")
    assert LocalDirectory(("file",), MemoryStore(), path).entry("ann@example.com") is None
    assert "directory file unreadable" in caplog.text


def test_normalise_entry_keeps_text_names_only() -> None:
    assert normalise_entry({"firstName": 7, "lastName": None, "accounts": "x"}) == {
        "accounts": [], "firstName": "7"}
    assert normalise_entry("nope") is None
