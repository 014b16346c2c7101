"""The `contexts:` section (bridge/contexts.py): read with problems at their lines, and the
holder of an account from the table, else the directory file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bridge.config import load_config
from bridge.contexts import ContextHolders, ContextSettings
from bridge.directory import DirectoryFile
from bridge.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
CONTEXT = "821ae27f-027c-4f21-a2e5-1667fc9b650a"
SHARED = "06fd91ef-dab3-4d55-8b2c-214401174fbc"


def _config(tmp_path: Path, contexts: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "wsdl": str(REPO / "wsdl" / "DocumentNOW.wsdl"),
        "mappings": [str(REPO / "mappings" / "assuresign")],
        "upstreams": {"account": {"base_url": "https://account.example"},
                      "esign": {"base_url": "https://esign.example"}},
        "contexts": contexts,
    }))
    return path


def test_the_section_is_read(tmp_path: Path) -> None:
    config = load_config(str(_config(tmp_path, {
        "require_token": True, "from_directory": False,
        "holders": {CONTEXT.upper(): " ops@example.org "}})))
    assert config.contexts == ContextSettings(holders={CONTEXT: "ops@example.org"},
                                              from_directory=False, require_token=True)
    assert load_config(str(_config(tmp_path, None))).contexts == ContextSettings()


def test_problems_at_their_lines(tmp_path: Path) -> None:
    path = _config(tmp_path, {"require_token": "sometimes", "holdrs": {},
                              "holders": {"acme": "ops@example.org", CONTEXT: ""}})
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    text = path.read_text().splitlines()
    problems = {p.message: p.line for p in caught.value.problems}
    for words, key in (("require_token must be", "require_token"), ("holdrs", "holdrs"),
                       ("'acme' is not a ContextIdentifier", "acme"),
                       ("the holder is a user name", CONTEXT)):
        message = next(m for m in problems if words in m)
        assert key in text[problems[message] - 1], (message, problems[message])


def test_the_table_first_then_the_directory_files_holders(tmp_path: Path) -> None:
    directory = tmp_path / "directory.yaml"
    directory.write_text(yaml.safe_dump({"users": {
        "Zed@example.com": {"accounts": [{"contextIdentifier": SHARED, "isPrimary": True}]},
        "amy@example.com": {"accounts": [{"contextIdentifier": CONTEXT, "isPrimary": True},
                                         {"contextIdentifier": SHARED, "isPrimary": False}]},
        "bob@example.com": {"accounts": [{"contextIdentifier": SHARED.upper()}]},
    }}))
    holders_of = DirectoryFile(str(directory)).holders
    holders = ContextHolders(ContextSettings(holders={CONTEXT: "ops@example.org"}), holders_of)
    assert holders.holder(CONTEXT.upper()) == "ops@example.org"
    # Whose primary account it is first (zed), then by name (amy before bob).
    assert holders_of(SHARED) == ["zed@example.com", "amy@example.com", "bob@example.com"]
    assert holders.holder(f" {SHARED} ") == "zed@example.com"
    assert holders.holder("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d") is None
    table_only = ContextHolders(ContextSettings(from_directory=False), holders_of)
    assert table_only.holder(SHARED) is None
    # A broken directory file is logged and holds no one; it does not break the request.
    directory.write_text("users: [1, 2]\n")
    assert ContextHolders(ContextSettings(), holders_of).holder(SHARED) is None


def test_check_warns_when_no_one_holds_any_account(tmp_path: Path) -> None:
    from bridge.check import config_warnings
    from bridge.rules.model import compile_rule

    rules = {"GetSigningLinks": compile_rule(str(REPO / "mappings" / "assuresign" /
                                                  "get-signing-links.yaml"))}

    def warned(contexts: object, **more: object) -> bool:
        text = yaml.safe_load(_config(tmp_path, contexts).read_text())
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({**text, **more}))
        config = load_config(str(tmp_path / "config.yaml"))
        return any("no account holder is configured" in p.message
                   for p in config_warnings(config, rules))

    assert warned(None)
    assert warned({"from_directory": False}, directory={"file": str(tmp_path / "d.yaml")})
    assert not warned({"holders": {CONTEXT: "ops@example.org"}})
    assert not warned({"require_token": True})
    assert not warned(None, directory={"file": str(tmp_path / "d.yaml")})
