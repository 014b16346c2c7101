"""The template language: paths, literals, filters, list mapping; errors at compile time."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.rules.template import (
    Each,
    Template,
    TemplateError,
    compile_value,
    reference_lines,
    references_in,
    render_value,
)
from bridge.yamlfile import LocatedDict, load_yaml

SCOPE = {
    "input": {"username": " Jo@Example.COM "},
    "steps": {"c": {"accounts": [{"id": "a", "isPrimary": False, "name": "A"},
                                 {"id": "b", "isPrimary": True, "name": "B"}]}},
    "flag": False,
}


@pytest.mark.parametrize(("source", "expected"), [
    ("plain text", "plain text"),
    ("{{ input.username }}", " Jo@Example.COM "),
    ("{{ input.username | strip | lower }}", "jo@example.com"),
    ("user={{ input.username | strip }}!", "user=Jo@Example.COM!"),
    ("{{ steps.c.accounts | where('isPrimary') | first | get('id') }}", "b"),
    ("{{ steps.c.accounts.0.name }}", "A"),
    ("{{ steps.c.accounts.9.name }}", None),
    ("{{ missing.path | default('fallback') }}", "fallback"),
    ("{{ flag }}", False),
    ("{{ flag | string }}", "false"),
    ("{{ steps.c.accounts | where('isPrimary') }}", [SCOPE["steps"]["c"]["accounts"][1]]),  # type: ignore[index]
    ("{{ 'a,b' }}", "a,b"),
    ("{{ 42 }}", 42),
    ("[{{ missing }}]", "[]"),
    ("{{ steps.c.accounts | reject('isPrimary') | first | get('id') }}", "a"),
    ("{{ missing | reject('isPrimary') }}", []),
    ("/users/{{ input.username | strip | urlencode }}/accounts", "/users/Jo%40Example.COM/accounts"),
    ("{{ 'a b/c?d#e' | urlencode }}", "a%20b%2Fc%3Fd%23e"),
    ("{{ missing | urlencode }}", None),
])
def test_render(source: str, expected: object) -> None:
    assert Template(source).render(SCOPE) == expected


@pytest.mark.parametrize(("source", "message"), [
    ("{{ x | shout }}", "unknown filter 'shout'"),
    ("{{ }}", "empty expression"),
    ("{{ x", "unbalanced"),
    ("x }}", "unbalanced"),
    ("{{ x | default }}", "filter default takes 1 argument"),
    ("{{ x + 1 }}", "is not a literal"),
    ("{{ __import__('os') }}", "is not a literal"),
])
def test_compile_errors(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        Template(source)


def test_each_builds_lists_and_its_references_exclude_the_loop_name() -> None:
    compiled = compile_value({"Accounts": {"UserAccount": {
        "each": "{{ steps.c.accounts }}", "as": "account",
        "map": {"Id": "{{ account.id }}", "Primary": "{{ account.isPrimary }}"}}}})
    assert render_value(compiled, SCOPE) == {"Accounts": {"UserAccount": [
        {"Id": "a", "Primary": False}, {"Id": "b", "Primary": True}]}}
    assert references_in(compiled) == {"steps.c.accounts"}
    assert render_value(compiled, {"steps": {}}) == {"Accounts": {"UserAccount": []}}


def test_each_takes_exactly_its_keys() -> None:
    with pytest.raises(TemplateError, match="exactly each, as and map"):
        compile_value({"each": "{{ x }}", "map": {}, "extra": 1})


LOCATED = """\
result:
  Name: "{{ input.username }}"
  Accounts:
    each: "{{ steps.c.accounts }}"
    as: account
    map:
      Id: "{{ account.id }}"
      Owner: "{{ input.username }}"
  Notes:
    - "{{ vars.note }}"
"""


def test_compiled_values_keep_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(LOCATED, encoding="utf-8")
    data = load_yaml(str(path))
    compiled = compile_value(data["result"], data.line_of("result"))
    # The containers keep the loader's positions, and render as before.
    assert isinstance(compiled, LocatedDict) and compiled.line_of("Accounts") == 3
    accounts = compiled["Accounts"]
    assert isinstance(accounts, Each) and (accounts.line, accounts.source.line) == (6, 4)
    assert render_value(compiled, {"input": {"username": "jo"}, "steps": {}, "vars": {}}) == {
        "Name": "jo", "Accounts": [], "Notes": [None]}
    # Each reference at the first line that makes it; the loop's own name is no reference.
    assert reference_lines(compiled) == {"input.username": 2, "steps.c.accounts": 4,
                                         "vars.note": 10}


def test_a_failing_value_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(LOCATED.replace("{{ vars.note }}", "{{ vars.note | shout }}"), encoding="utf-8")
    data = load_yaml(str(path))
    with pytest.raises(TemplateError, match="unknown filter 'shout'") as caught:
        compile_value(data["result"], data.line_of("result"))
    assert (caught.value.name, caught.value.line) == (0, 10)
