"""YAML loading keeps lines for every key and item, and refuses duplicates and Python tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.yamlfile import LocatedDict, LocatedList, load_yaml


def test_lines_of_keys_and_items(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("a: 1\nb:\n  c: 2\nlist:\n  - x\n  - y: 3\n")
    data = load_yaml(str(path))
    assert isinstance(data, LocatedDict)
    assert (data.line_of("a"), data.line_of("b"), data.line_of("list")) == (1, 2, 4)
    assert data["b"].line_of("c") == 3
    assert isinstance(data["list"], LocatedList)
    assert data["list"].item_lines == [5, 6]


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\na: 2\n", r"r.yaml:2: duplicate key 'a'"),
    ("a: [1,\n", r"r.yaml:2: YAML syntax"),
    ("a: !!python/object/apply:os.system ['true']\n", r"r.yaml:1: YAML"),
])
def test_errors_are_located(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_yaml(str(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(str(tmp_path / "absent.yaml"))
