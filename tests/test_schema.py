"""The settings reader: kinds, unknown keys with a suggestion, every problem with its line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.schema import Reader, duration, flag, unknown_key, whole
from bridge.yamlfile import load_yaml


@dataclass(frozen=True)
class Settings:
    tries: int = 3
    wait: float = 30.0
    loud: bool = False


KINDS = {"tries": whole(), "wait": duration, "loud": flag}


def test_an_unknown_key_names_the_closest_known_one() -> None:
    assert unknown_key("duraton", ["window", "duration", "max_duration"]) == (
        "unknown setting 'duraton': did you mean 'duration'? "
        "(known: duration, max_duration, window)")
    assert unknown_key("surname", {"firstName", "lastName"}, "key", " in learn_names") == (
        "unknown key 'surname' in learn_names (known: firstName, lastName)")


def test_read_reports_every_problem_with_its_line_and_leaves_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("tries: 0\nwait: soon\nlod: true\nextra: 1\n")
    reader = Reader(str(path))
    values = reader.read(load_yaml(str(path)), KINDS, also=("extra",))
    assert values == {}
    assert Settings(**values) == Settings()
    assert [str(p) for p in reader.problems] == [
        f"{path}:3: unknown setting 'lod': did you mean 'loud'? (known: extra, loud, tries, wait)",
        f"{path}:1: tries must be a whole number ≥ 1",
        f"{path}:2: wait: 'soon' is not a duration (e.g. 30s, 15m, 1h)",
    ]


def test_read_returns_only_the_keys_given(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("wait: 2m\n")
    reader = Reader(str(path))
    assert Settings(**reader.read(load_yaml(str(path)), KINDS)) == Settings(wait=120.0)
    assert reader.problems == []


def test_a_section_that_is_not_a_mapping_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("top: 1\nsection: [a, b]\n")
    reader = Reader(str(path))
    data = load_yaml(str(path))
    assert reader.section(data, "section") == {}
    assert reader.section(data, "absent") == {}
    assert [str(p) for p in reader.problems] == [f"{path}:2: section must be a mapping"]
